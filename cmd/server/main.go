// Command server runs Rewind: a GraphQL API whose subscriptions replay
// stored events after a cursor and then follow live ones. With no
// --nats-url it embeds a JetStream server storing in --data-dir.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/api"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/natsembed"
	"github.com/rewind-dev/rewind/replay"
)

type config struct {
	addr           string
	dataDir        string
	natsURL        string
	natsListen     string
	allowedOrigins string
	maxPayload     int
	logLevel       string
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", env("ADDR", ":8080"), "HTTP listen address (ADDR)")
	fs.StringVar(&c.dataDir, "data-dir", env("DATA_DIR", "./data"), "embedded JetStream's data folder (DATA_DIR)")
	fs.StringVar(&c.natsURL, "nats-url", env("NATS_URL", ""), "NATS server or cluster URLs, comma-separated; empty embeds one (NATS_URL)")
	fs.StringVar(&c.natsListen, "nats-listen", env("NATS_LISTEN", ""), "also serve the embedded NATS on this host:port, e.g. for the admin CLI (NATS_LISTEN)")
	fs.StringVar(&c.allowedOrigins, "allowed-origins", env("ALLOWED_ORIGINS", ""), "browser origins allowed to open WebSockets, comma-separated, * for any; empty: same host and localhost (ALLOWED_ORIGINS)")
	maxPayload, err := envInt("MAX_PAYLOAD", 1<<20)
	if err != nil {
		return c, err
	}
	fs.IntVar(&c.maxPayload, "max-payload", maxPayload, "largest event data in bytes (MAX_PAYLOAD)")
	fs.StringVar(&c.logLevel, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.maxPayload <= 0 {
		return c, errors.New("--max-payload must be positive")
	}
	return c, nil
}

// env reads a setting from the environment; unset and empty are the same,
// as compose files often write X=${X}.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not a whole number", key, v)
	}
	return n, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "server: --log-level:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("server stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	nc, closeNATS, err := connect(cfg, log)
	if err != nil {
		return err
	}
	defer closeNATS()

	store, err := openStore(ctx, nc, eventstore.Config{MaxPayload: cfg.maxPayload}, log)
	if err != nil {
		return err
	}
	hub := replay.NewHub(store, replay.Config{}, log)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Requests, WebSockets included, live in serveCtx: cancelling it at
	// shutdown ends every subscription cleanly.
	serveCtx, cancelServe := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelServe()
	srv := &http.Server{
		Handler:           api.New(api.Config{AllowedOrigins: splitList(cfg.allowedOrigins)}, store, hub, log),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return serveCtx },
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return hub.Run(gctx) })
	g.Go(func() error {
		log.Info("listening", "addr", ln.Addr().String(), "graphiql", "http://"+ln.Addr().String()+"/graphql")
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		cancelServe()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// connect returns a connection to the configured NATS, starting the
// embedded server when no URL is given, and a function that closes both.
func connect(cfg config, log *slog.Logger) (*nats.Conn, func(), error) {
	opts := []nats.Option{
		nats.Name("rewind"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if cfg.natsURL != "" {
		nc, err := nats.Connect(cfg.natsURL, append(opts, nats.RetryOnFailedConnect(true))...)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to %s: %w", cfg.natsURL, err)
		}
		log.Info("using external NATS", "url", cfg.natsURL)
		return nc, nc.Close, nil
	}
	ns, err := natsembed.Start(natsembed.Config{DataDir: cfg.dataDir, Listen: cfg.natsListen})
	if err != nil {
		return nil, nil, err
	}
	nc, err := ns.Connect(opts...)
	if err != nil {
		ns.Shutdown()
		return nil, nil, err
	}
	log.Info("embedded JetStream started", "data_dir", cfg.dataDir, "nats_url", ns.ClientURL())
	return nc, func() { nc.Close(); ns.Shutdown() }, nil
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
		log.Warn("event store not ready; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
}
