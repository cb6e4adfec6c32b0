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
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/api"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/internal/natsauth"
	"github.com/rewind-dev/rewind/natsembed"
	"github.com/rewind-dev/rewind/replay"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(context.Background(), os.Args[2:], os.Stdout, os.Stderr))
	}
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
	apiCfg, err := cfg.api(log)
	if err != nil {
		return err
	}
	draining := make(chan struct{})
	apiCfg.Draining = draining
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return listenError("--addr", cfg.addr, err)
	}
	// Requests, WebSockets included, live in serveCtx: cancelling it at
	// shutdown ends every subscription cleanly.
	serveCtx, cancelServe := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelServe()
	// The listener comes first: while NATS and the store are not there
	// yet, the gate answers health checks 503 instead of nothing.
	var gate gate
	srv := &http.Server{
		Handler:           &gate,
		ReadHeaderTimeout: 10 * time.Second,
		// ReadTimeout covers the body too; net/http lifts it once the body
		// is read (and gorilla/websocket once it hijacks the connection),
		// so SSE streams and WebSockets outlive it. No WriteTimeout: it
		// would cut every SSE stream.
		ReadTimeout: cfg.readTimeout,
		IdleTimeout: cfg.idleTimeout,
		BaseContext: func(net.Listener) context.Context { return serveCtx },
	}

	// What start opens is closed after every request has ended.
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	started := make(chan struct{})
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		log.Info("listening", "addr", ln.Addr().String(), "graphiql", browserURL(ln.Addr())+"/graphql")
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		nc, closeNATS, err := connect(gctx, cfg, log, gate.wait)
		if err != nil {
			return startError(gctx, err)
		}
		closers = append(closers, closeNATS)
		store, err := openStore(gctx, nc, eventstore.Config{
			Stream:     cfg.stream,
			MaxPayload: cfg.maxPayload,
			Replicas:   cfg.replicas,
			Duplicates: cfg.duplicates,
			MaxAge:     cfg.maxAge,
			MaxMsgs:    cfg.maxMsgs,
			MaxBytes:   cfg.maxBytes,
			Logger:     log,

			DisableGroupCommit: cfg.perMessage,
		}, log, gate.wait)
		if err != nil {
			return startError(gctx, err)
		}
		reg := prometheus.NewRegistry()
		m := metrics.New(reg)
		m.WatchNATS(nc)
		hub := replay.NewHub(store, replay.Config{Observer: m}, log)
		m.WatchHub(hub)
		apiCfg.Metrics = m
		gate.open(api.New(apiCfg, store, hub, log))
		close(started)
		log.Info("serving", "stream", cfg.stream)
		// The hub outlives the listener: subscriptions keep their live
		// events while the server drains.
		return hub.Run(serveCtx)
	})
	g.Go(func() error {
		<-gctx.Done()
		close(draining)
		select {
		case <-started:
			if cfg.shutdownDelay > 0 {
				log.Info("shutting down: draining", "for", cfg.shutdownDelay)
				time.Sleep(cfg.shutdownDelay)
			}
		default: // no client was ever served: nothing to drain
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

// startError is what a failed start returns: nothing when it was stopped
// (a signal, or another part of the server failed first, whose error is
// the one reported).
func startError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// listenError names the flag whose address cannot be listened on, with the
// system's reason alone: "--addr :8080: address already in use".
func listenError(flag, addr string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		err = sys.Err
	}
	return fmt.Errorf("%s %s: %w", flag, addr, err)
}

// browserURL is the address a browser on this machine opens for a
// listener: localhost for an unspecified host (:8080, [::]:8080).
func browserURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// connect returns a connection to the configured NATS, starting the
// embedded server when no URL is given, and a function that closes both.
func connect(ctx context.Context, cfg config, log *slog.Logger, waiting func(error)) (*nats.Conn, func(), error) {
	opts := []nats.Option{
		nats.Name("rewind"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			// err is nil when the connection is closed on purpose
			// (shutdown, a failed start): nothing went wrong then.
			if err == nil {
				log.Debug("nats connection closed")
				return
			}
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if cfg.natsURL != "" {
		opts = append(opts, natsauth.Config{
			Creds: cfg.natsCreds, User: cfg.natsUser, Password: cfg.natsPassword, Token: cfg.natsToken,
			CA: cfg.natsCA, Cert: cfg.natsCert, Key: cfg.natsKey,
		}.Options()...)
		nc, err := connectExternal(ctx, cfg.natsURL, opts, log, waiting)
		if err != nil {
			return nil, nil, err
		}
		log.Info("using external NATS", "connected", nc.ConnectedUrlRedacted())
		return nc, nc.Close, nil
	}
	always, interval, _ := cfg.syncPolicy() // validated with the flags
	ns, err := natsembed.Start(natsembed.Config{DataDir: cfg.dataDir, Listen: cfg.natsListen, SyncAlways: always, SyncInterval: interval})
	var locked *natsembed.LockedError
	switch {
	case errors.As(err, &locked):
		holder := "another process"
		if locked.PID != 0 {
			holder = fmt.Sprintf("process %d", locked.PID)
		}
		return nil, nil, fmt.Errorf("--data-dir %s is in use by %s, probably another Rewind server: stop it, or give this one another --data-dir: %w",
			cfg.dataDir, holder, natsembed.ErrLocked)
	case errors.Is(err, natsembed.ErrListen):
		return nil, nil, listenError("--nats-listen", cfg.natsListen, err)
	case err != nil:
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
func connectExternal(ctx context.Context, urls string, opts []nats.Option, log *slog.Logger, waiting func(error)) (*nats.Conn, error) {
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
		if waiting != nil {
			waiting(fmt.Errorf("connect to NATS: %w", err))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to NATS: %w", err)
		case <-time.After(backoff):
		}
	}
}

// openStore opens the event store, waiting for JetStream to answer, and
// tells waiting why each attempt failed. It gives up at once on what
// retrying cannot heal (see permanent).
func openStore(ctx context.Context, nc *nats.Conn, cfg eventstore.Config, log *slog.Logger, waiting func(error)) (*eventstore.Store, error) {
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
		if perr := permanent(err, cfg); perr != nil {
			return nil, perr
		}
		log.Warn("event store not ready; retrying", "err", err, "in", backoff)
		if waiting != nil {
			waiting(err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// JetStream API error codes (nats-server's jetstream_errors_generated.go)
// that nats.go does not name.
const (
	codeClusterNoPeers          jetstream.ErrorCode = 10005 // JSClusterNoPeersErrF
	codeInsufficientResources   jetstream.ErrorCode = 10023 // JSInsufficientResourcesErr
	codeMaximumStreams          jetstream.ErrorCode = 10027 // JSMaximumStreamsLimitErr
	codeMemoryExceeded          jetstream.ErrorCode = 10028 // JSMemoryResourcesExceededErr
	codeStorageExceeded         jetstream.ErrorCode = 10047 // JSStorageResourcesExceededErr
	codeStreamInvalidConfig     jetstream.ErrorCode = 10052 // JSStreamInvalidConfigF
	codeReplicasNotSupported    jetstream.ErrorCode = 10074 // JSStreamReplicasNotSupportedErr
	codeStreamSubjectOverlap    jetstream.ErrorCode = 10065 // JSStreamSubjectOverlapErr
	codeStreamMaxBytesRequired  jetstream.ErrorCode = 10113 // JSStreamMaxBytesRequired
	codeStreamMaxBytesExceeded  jetstream.ErrorCode = 10122 // JSStreamMaxStreamBytesExceeded
	codeReplicasNotUpdatable    jetstream.ErrorCode = 10061 // JSStreamReplicasNotUpdatableErr
	codeStreamNameExistRestored jetstream.ErrorCode = 10130 // JSStreamNameExistRestoreFailedErr
)

// permanent returns, saying what to change, an error of opening the store
// that retrying cannot heal: the configuration is refused, by Rewind or by
// JetStream. It returns nil for errors that may pass (no JetStream leader
// yet, a timeout), which are retried.
//
// A cluster missing servers answers "insufficient resources" too; the
// server stops rather than waits then, as a restart policy (compose,
// systemd, Kubernetes) starts it again, and a person sees the reason.
func permanent(err error, cfg eventstore.Config) error {
	if errors.Is(err, eventstore.ErrInvalidConfig) || errors.Is(err, eventstore.ErrStreamMismatch) {
		return err
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return nil
	}
	var fix string
	switch apiErr.ErrorCode {
	case codeReplicasNotSupported:
		fix = fmt.Sprintf("--replicas=%d needs a NATS cluster, and this NATS server is not clustered: use --replicas=1, or point --nats-url at a cluster", cfg.Replicas)
	case codeInsufficientResources, codeClusterNoPeers:
		fix = fmt.Sprintf("the NATS cluster cannot place a stream with --replicas=%d: it needs that many JetStream servers up with room to store; lower --replicas, or start more servers", cfg.Replicas)
	case codeReplicasNotUpdatable:
		fix = fmt.Sprintf("JetStream cannot change stream %s's replicas to %d: give --replicas its current value", cfg.Stream, cfg.Replicas)
	case codeStreamSubjectOverlap:
		fix = fmt.Sprintf("another stream on the NATS server already takes the subjects stream %s needs: pass that stream's name as --stream, or remove it", cfg.Stream)
	case jetstream.JSErrCodeStreamNameInUse, codeStreamNameExistRestored:
		fix = fmt.Sprintf("stream %s exists with settings JetStream will not change: pass another --stream, or recreate it", cfg.Stream)
	case codeMaximumStreams, codeMemoryExceeded, codeStorageExceeded, codeStreamMaxBytesExceeded:
		fix = "the NATS account's JetStream limits leave no room for the stream: raise them, or lower --max-bytes"
	case codeStreamMaxBytesRequired:
		fix = "the NATS account requires streams to have a size limit: set --max-bytes"
	case codeStreamInvalidConfig:
		fix = "JetStream refuses the stream's settings"
	case jetstream.JSErrCodeJetStreamNotEnabledForAccount:
		fix = "JetStream is not enabled for this NATS account: enable it in the NATS server's account configuration"
	default:
		return nil
	}
	return fmt.Errorf("%s: %w", fix, err)
}
