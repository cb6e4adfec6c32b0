// Command server runs Rewind: a GraphQL API whose subscriptions replay
// stored events after a cursor and then follow live ones. With no
// --nats-url it embeds a JetStream server storing in --data-dir.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/api"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/internal/natsauth"
	"github.com/rewind-dev/rewind/internal/natsembed"
	"github.com/rewind-dev/rewind/replay"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	log, err := newLogger(os.Stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("server stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	nc, closeNATS, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeNATS()

	store, err := openStore(ctx, nc, eventstore.Config{
		Stream:     cfg.stream,
		MaxPayload: cfg.maxPayload,
		Replicas:   cfg.replicas,
		Duplicates: cfg.duplicates,
		MaxAge:     cfg.maxAge,
		MaxMsgs:    cfg.maxMsgs,
		MaxBytes:   cfg.maxBytes,
		Logger:     log,

		DisableGroupCommit: cfg.perMessage,
	}, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.WatchNATS(nc)
	hub := replay.NewHub(store, replay.Config{Observer: m}, log)
	m.WatchHub(hub)

	apiCfg, err := cfg.api(log)
	if err != nil {
		return err
	}
	draining := make(chan struct{})
	apiCfg.Metrics, apiCfg.Draining = m, draining
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Requests, WebSockets included, live in serveCtx: cancelling it at
	// shutdown ends every subscription cleanly.
	serveCtx, cancelServe := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelServe()
	srv := &http.Server{
		Handler:           api.New(apiCfg, store, hub, log),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return serveCtx },
	}

	g, gctx := errgroup.WithContext(ctx)
	// The hub outlives the listener: subscriptions keep their live events
	// while the server drains.
	g.Go(func() error { return hub.Run(serveCtx) })
	g.Go(func() error {
		log.Info("listening", "addr", ln.Addr().String(), "graphiql", "http://"+ln.Addr().String()+"/graphql")
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		close(draining)
		if cfg.shutdownDelay > 0 {
			log.Info("shutting down: draining", "for", cfg.shutdownDelay)
			time.Sleep(cfg.shutdownDelay)
		}
		log.Info("shutting down")
		// Subscriptions end: WebSockets close 1001 and SSE streams end
		// without complete, and clients resume elsewhere with their cursor.
		cancelServe()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// connect returns a connection to the configured NATS, starting the
// embedded server when no URL is given, and a function that closes both.
func connect(ctx context.Context, cfg config, log *slog.Logger) (*nats.Conn, func(), error) {
	opts := []nats.Option{
		nats.Name("rewind"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if cfg.natsURL != "" {
		opts = append(opts, natsauth.Config{
			Creds: cfg.natsCreds, User: cfg.natsUser, Password: cfg.natsPassword, Token: cfg.natsToken,
			CA: cfg.natsCA, Cert: cfg.natsCert, Key: cfg.natsKey,
		}.Options()...)
		nc, err := connectExternal(ctx, cfg.natsURL, opts, log)
		if err != nil {
			return nil, nil, err
		}
		log.Info("using external NATS", "connected", nc.ConnectedUrlRedacted())
		return nc, nc.Close, nil
	}
	always, interval, _ := cfg.syncPolicy() // validated with the flags
	ns, err := natsembed.Start(natsembed.Config{DataDir: cfg.dataDir, Listen: cfg.natsListen, SyncAlways: always, SyncInterval: interval})
	if err != nil {
		return nil, nil, err
	}
	nc, err := ns.Connect(opts...)
	if err != nil {
		ns.Shutdown()
		return nil, nil, err
	}
	log.Info("embedded JetStream started", "data_dir", cfg.dataDir, "nats_url", ns.ClientURL(), "fsync", cfg.natsSync)
	return nc, func() { nc.Close(); ns.Shutdown() }, nil
}

// connectExternal connects to a NATS server or cluster, waiting while no
// server answers (they may be starting) but failing at once when one
// refuses the credentials or the TLS handshake: retrying cannot fix those.
func connectExternal(ctx context.Context, urls string, opts []nats.Option, log *slog.Logger) (*nats.Conn, error) {
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		nc, err := nats.Connect(urls, opts...)
		if err == nil {
			return nc, nil
		}
		var tlsErr *tls.CertificateVerificationError
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
			errors.Is(err, nats.ErrAuthRevoked) || errors.As(err, &tlsErr) ||
			strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:") {
			return nil, fmt.Errorf("connect to NATS: %w", err)
		}
		log.Warn("NATS not reachable; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to NATS: %w", err)
		case <-time.After(backoff):
		}
	}
}

// openStore opens the event store, waiting for JetStream to answer.
func openStore(ctx context.Context, nc *nats.Conn, cfg eventstore.Config, log *slog.Logger) (*eventstore.Store, error) {
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		store, err := eventstore.Open(octx, nc, cfg)
		cancel()
		if err == nil {
			return store, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, eventstore.ErrInvalidConfig) || errors.Is(err, eventstore.ErrStreamMismatch) {
			return nil, err
		}
		log.Warn("event store not ready; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
}
