// Command rewind-pprof is Rewind's server as server.New builds it for
// cmd/server (embedded JetStream in DATA_DIR with NATS_SYNC, default store,
// hub and HTTP surface, metrics at /metrics), plus net/http/pprof on PPROF_ADDR (loopback only),
// for profiling under rewind-bench's load, and typed events from SCHEMA. It is a bench tool, not a way to
// run Rewind.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/internal/natsflag"
	"github.com/rewind-dev/rewind/natsembed"
	"github.com/rewind-dev/rewind/server"
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
	sync := os.Getenv("NATS_SYNC")
	if sync == "" {
		sync = natsflag.DefaultSync
	}
	always, interval, err := natsflag.ParseSync(sync)
	if err != nil {
		return err
	}
	// Zero limits take the server's defaults, as cmd/server's flags do.
	cfg := server.Config{Addr: addr, Logger: log, Metrics: metrics.New(prometheus.NewRegistry())}
	cfg.NATS.Embedded = natsembed.Config{DataDir: dataDir, SyncAlways: always, SyncInterval: interval}
	if cfg.Connections.Max, err = envInt("MAX_CONNECTIONS", 0); err != nil {
		return err
	}
	if cfg.Connections.PerAddress, err = envInt("MAX_CONNECTIONS_PER_ADDRESS", 0); err != nil {
		return err
	}
	// SCHEMA declares typed events, as cmd/server's: the typed fan-out
	// subscribes to them.
	if file := os.Getenv("SCHEMA"); file != "" {
		if cfg.Events, err = eventschema.Load(file); err != nil {
			return fmt.Errorf("SCHEMA: %w", err)
		}
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
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
	return g.Wait()
}
