// Command rewind-pprof is Rewind's server wired as cmd/server wires it
// (embedded JetStream in DATA_DIR with NATS_SYNC, default store, hub and
// HTTP surface),
// plus net/http/pprof on PPROF_ADDR (loopback only), for profiling under
// rewind-bench's load. It is a bench tool, not a way to run Rewind.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/api"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/natsembed"
	"github.com/rewind-dev/rewind/replay"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
}

func envInt(key string, def int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr, dataDir, pprofAddr := os.Getenv("ADDR"), os.Getenv("DATA_DIR"), os.Getenv("PPROF_ADDR")
	if addr == "" || dataDir == "" {
		return errors.New("ADDR and DATA_DIR are required")
	}
	// NATS_SYNC as cmd/server reads it: always (its default) or an interval.
	ncfg := natsembed.Config{DataDir: dataDir, SyncAlways: true}
	if v := os.Getenv("NATS_SYNC"); v != "" && v != "always" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		ncfg.SyncAlways, ncfg.SyncInterval = false, d
	}
	ns, err := natsembed.Start(ncfg)
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	nc, err := ns.Connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	store, err := eventstore.Open(ctx, nc, eventstore.Config{})
	if err != nil {
		return err
	}
	hub := replay.NewHub(store, replay.Config{}, log)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	serveCtx, cancelServe := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelServe()
	acfg := api.Config{}
	if acfg.MaxConnections, err = envInt("MAX_CONNECTIONS", 10000); err != nil {
		return err
	}
	if acfg.MaxConnectionsPerAddress, err = envInt("MAX_CONNECTIONS_PER_ADDRESS", 1000); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api.New(acfg, store, hub, log),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return serveCtx },
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return hub.Run(gctx) })
	if pprofAddr != "" {
		if !strings.HasPrefix(pprofAddr, "127.") {
			return errors.New("PPROF_ADDR must be a loopback address")
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		ps := &http.Server{Addr: pprofAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error {
			if err := ps.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error { <-gctx.Done(); return ps.Close() })
	}
	g.Go(func() error {
		log.Info("listening", "addr", ln.Addr().String())
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		cancelServe()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}
