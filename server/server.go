// Package server is Rewind's one composition root: NATS, event store, replay hub and HTTP routes.
// It owns their start and stop order: 503 while starting, a stop at once on what retrying cannot
// heal, the hub outliving the listener, clients drained before NATS closes. Public API.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/natsconn"
	"github.com/rewind-dev/rewind/natsembed"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/transport/connlimit"
	"github.com/rewind-dev/rewind/transport/gqlws"
	"github.com/rewind-dev/rewind/transport/sse"
)

// Defaults of the HTTP settings, declared once (cmd/server's flags show
// them in --help).
const (
	DefaultAddr        = ":8080"
	DefaultReadTimeout = 30 * time.Second
	DefaultIdleTimeout = 120 * time.Second
)

// Config configures a server. The zero value serves on :8080 from a
// JetStream embedded in NATS.Embedded.DataDir (required then). Each
// component's configuration is nested as it is and forwarded unchanged:
// its defaults are the component's (eventstore.Config, replay.Config,
// gqlws.Config, sse.Config, connlimit.Config, graph.Limits).
type Config struct {
	// NATS is where events are stored.
	NATS natsconn.Config
	// Store configures the event store opened on NATS. Its Logger defaults
	// to Logger.
	Store eventstore.Config
	// EventStore, if set, is served instead: the server then neither
	// connects to NATS nor opens or closes a store (tests, or an
	// application that owns its connection). NATS and Store are ignored.
	EventStore *eventstore.Store
	// Events, if set, declares typed event types (package eventschema):
	// the API gains their typed fields, and every append whose topic and
	// type match a declaration is checked against it. With EventStore set,
	// that store's own Check applies instead, and must be set.
	Events *eventschema.Schema
	// Federation serves the Apollo Federation v2 subgraph contract
	// (Query._service and _entities, Event and the typed envelopes as
	// entities keyed by id) for a gateway. Off (the default), the API is
	// exactly as without it.
	Federation bool
	// Hub configures the replay hub. Its Observer defaults to the metrics
	// when Metrics is set.
	Hub replay.Config

	// Addr is Run's listen address. Default DefaultAddr.
	Addr string
	// ReadTimeout bounds reading a whole request, body included (lifted
	// once a WebSocket is upgraded or an SSE body read); IdleTimeout, how
	// long a keep-alive connection waits for its next request. Defaults
	// DefaultReadTimeout and DefaultIdleTimeout.
	ReadTimeout time.Duration
	IdleTimeout time.Duration
	// ShutdownDelay is how long /readyz answers 503 at shutdown before
	// connections close, so that load balancers stop sending clients
	// first. Default 0.
	ShutdownDelay time.Duration

	// WebSocket configures the WebSocket transport: allowed origins,
	// timeouts, keep-alive, operations per socket (see gqlws.Config for
	// the defaults). The server sets its Connections, Logger, InitFunc and
	// MaxMessageBytes.
	WebSocket gqlws.Config
	// SSE configures the SSE transport; its KeepAlive and WriteTimeout
	// default to WebSocket's. The server sets its Connections and Logger.
	SSE sse.Config
	// Connections bounds WebSockets and SSE streams together (see
	// connlimit.Config for the defaults).
	Connections connlimit.Config
	// Limits bounds operations (see graph.Limits for the defaults); its
	// MaxPayload is the store's.
	Limits graph.Limits
	// ClientReads is how many storage reads one client runs at once: an
	// HTTP request, or a WebSocket connection or SSE stream with all its
	// subscriptions. Default DefaultClientReads (4).
	ClientReads int

	// Auth verifies bearer tokens; nil turns authentication off: every
	// request may do everything (local use only).
	Auth auth.Verifier
	// PublishRate, when positive, bounds each principal's appends per
	// second (bursts of PublishBurst).
	PublishRate  float64
	PublishBurst int

	// Logger receives the server's logs. Default: discard.
	Logger *slog.Logger
	// Metrics, if set, instruments requests, operations, NATS and the hub,
	// and is served at /metrics. Nil: no metrics. (Its package is internal
	// while its metric names settle: cmd/server sets it.)
	Metrics *metrics.Metrics
	// Draining is closed when the server begins shutting down: /readyz
	// answers 503 from then on. Nil: Run's own shutdown closes it.
	Draining <-chan struct{}

	// Tracing, if set, traces requests to /graphql (WebSocket and SSE
	// streams included) and /publish-message, continuing the caller's
	// trace context, appends (the store's Tracer) and subscriptions and
	// their deliveries (the hub's Tracer), unless Store or Hub have a
	// Tracer of their own (with EventStore set, that store's own Tracer
	// traces appends). Nil: no tracing, and none of it runs.
	Tracing trace.TracerProvider
	// Propagators read a caller's trace context from its request headers.
	// Default: W3C Trace Context and Baggage.
	Propagators propagation.TextMapPropagator
}

// tracerName names Rewind's spans' instrumentation scope.
const tracerName = "github.com/rewind-dev/rewind"

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ClientReads <= 0 {
		c.ClientReads = DefaultClientReads
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Store.Logger == nil {
		c.Store.Logger = c.Logger
	}
	if c.Events != nil && c.Store.Check == nil {
		c.Store.Check = c.Events.Check
	}
	if c.Tracing != nil {
		if c.Store.Tracer == nil {
			c.Store.Tracer = c.Tracing.Tracer(tracerName)
		}
		if c.Hub.Tracer == nil {
			c.Hub.Tracer = c.Tracing.Tracer(tracerName)
		}
		if c.Propagators == nil {
			c.Propagators = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		}
	}
	return c
}

// Validate reports the settings that cannot work. eventstore.Open checks
// the store's own.
func (c Config) Validate() error {
	var errs []error
	if c.EventStore == nil {
		if err := c.NATS.Validate(); err != nil {
			errs = append(errs, err)
		}
		if c.NATS.URL == "" && c.NATS.Embedded.DataDir == "" {
			errs = append(errs, errors.New("the embedded JetStream needs a data dir (--data-dir)"))
		}
		if c.Store.Replicas > 1 && c.NATS.URL == "" {
			errs = append(errs, fmt.Errorf("--replicas=%d needs a NATS cluster: use --replicas=1 with the embedded server, or --nats-url to connect to a cluster", c.Store.Replicas))
		}
		if c.NATS.URL == "" {
			if err := embeddedPayload(c.NATS.Embedded, c.Store.MaxPayload); err != nil {
				errs = append(errs, err)
			}
			if err := checkListenAddr("--nats-listen", c.NATS.Embedded.Listen); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := checkListenAddr("--addr", c.Addr); err != nil {
		errs = append(errs, err)
	}
	if c.ReadTimeout < 0 || c.IdleTimeout < 0 {
		errs = append(errs, errors.New("--read-timeout and --idle-timeout cannot be negative"))
	}
	if c.ShutdownDelay < 0 {
		errs = append(errs, errors.New("--shutdown-delay cannot be negative"))
	}
	if err := checkEvents(c.Events); err != nil {
		errs = append(errs, err) // a declared name clashes with Rewind's own
	}
	if c.Events != nil && c.EventStore != nil && c.EventStore.Config().Check == nil {
		// The store was opened without the declarations' check: appends
		// would go unchecked.
		errs = append(errs, errors.New("Events is set but EventStore checks nothing: open it with eventstore.Config{Check: events.Check}"))
	}
	if c.Federation && c.Limits.DisableIntrospection && c.Auth == nil {
		// With introspection off, _service is served to admin grants only,
		// and without authentication everyone is admin.
		errs = append(errs, errors.New("--introspection=false with --federation needs --auth=jwt: the subgraph schema (_service) is then served to admin grants only (give the gateway an admin token); without authentication anyone could read it"))
	}
	if c.PublishRate < 0 {
		errs = append(errs, errors.New("--publish-rate cannot be negative"))
	}
	return errors.Join(errs...)
}

// checkListenAddr refuses a listen address without a port, naming the
// flag and the form wanted ("27187" alone is a host to net.Listen).
func checkListenAddr(flag, addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		example := ":8080"
		if _, perr := strconv.ParseUint(addr, 10, 16); perr == nil {
			example = ":" + addr
		}
		return fmt.Errorf("%s %q: not host:port: use %s (every interface) or 127.0.0.1%s (this machine only)", flag, addr, example, example)
	}
	return nil
}

// embeddedPayload refuses a max payload that the embedded NATS server
// cannot carry, naming its ceiling: the NATS servers' max_payload, which
// the event store's own message speaks of, is not a setting here.
func embeddedPayload(c natsembed.Config, maxPayload int) error {
	limit := int(c.MaxPayload)
	if limit == 0 {
		limit = natsembed.DefaultMaxPayload
	}
	if ceiling := limit - eventstore.HeaderRoom; maxPayload > ceiling {
		return fmt.Errorf("--max-payload %d bytes is more than the embedded NATS server carries: at most %d bytes "+
			"(its max_payload, %d bytes, less %d for headers); set --max-payload to %dKiB or less, "+
			"or run a NATS server with a larger max_payload and connect to it with --nats-url",
			maxPayload, ceiling, limit, eventstore.HeaderRoom, ceiling>>10)
	}
	return nil
}

// Server is a Rewind server. Either Run it (it opens, serves and stops
// itself), or Open it, serve its Handler and run its Hub yourself, and
// Close it.
type Server struct {
	cfg      Config
	log      *slog.Logger
	gate     gate
	draining chan struct{}
	ready    chan struct{} // closed once Open succeeded

	mu      sync.Mutex
	opened  bool
	addr    net.Addr
	store   *eventstore.Store
	hub     *replay.Hub
	closers []func()
}

// New returns a server for cfg, or why cfg cannot work.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, draining: make(chan struct{}), ready: make(chan struct{})}
	if s.cfg.Draining == nil {
		s.cfg.Draining = s.draining
	}
	return s, nil
}

// Handler serves every route. Until Open has succeeded it answers 503
// ("starting", with why the start still waits): mount it, then Open.
func (s *Server) Handler() http.Handler { return &s.gate }

// Ready is closed once Open has succeeded and Handler serves the API.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the address Run listens on, nil before it listens.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Hub is the replay hub, nil before Open. Whoever serves Handler without
// Run runs it: go s.Hub().Run(ctx); Run does.
func (s *Server) Hub() *replay.Hub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hub
}

// Store is the event store, nil before Open.
func (s *Server) Store() *eventstore.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store
}

// Open connects to NATS and opens the event store, waiting while NATS or
// JetStream are not there yet (until ctx ends) and giving up at once on
// what retrying cannot heal, then builds the hub and the API behind
// Handler. Close releases what it opened.
func (s *Server) Open(ctx context.Context) error {
	s.mu.Lock()
	opened := s.opened
	s.opened = true
	s.mu.Unlock()
	if opened {
		return errors.New("server: Open called twice (Run opens the server itself)")
	}
	store := s.cfg.EventStore
	var nc *nats.Conn
	if store == nil {
		conn, err := s.connect(ctx)
		if err != nil {
			return err
		}
		s.addCloser(conn.Close)
		nc = conn.Conn
		store, err = openStore(ctx, nc, s.cfg.Store, s.log, s.gate.wait)
		if err != nil {
			return err
		}
	}
	m := s.cfg.Metrics
	hcfg := s.cfg.Hub
	if m != nil {
		if nc != nil {
			m.WatchNATS(nc)
		}
		if hcfg.Observer == nil {
			hcfg.Observer = m
		}
	}
	hub := replay.NewHub(store, hcfg, s.log)
	if m != nil {
		m.WatchHub(hub)
		m.WatchStream(hub, probe(store, hub, s.cfg.Draining))
	}
	s.mu.Lock()
	s.store, s.hub = store, hub
	s.mu.Unlock()
	h, err := newHandler(s.cfg, store, hub, m, s.log)
	if err != nil {
		return err
	}
	s.gate.open(h)
	close(s.ready)
	return nil
}

// Close closes what Open opened, last first: NATS, and the embedded
// server. Run calls it after the HTTP server has shut down.
func (s *Server) Close() {
	s.mu.Lock()
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

func (s *Server) addCloser(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, f)
}

// Run serves until ctx ends, then drains and stops. The listener opens
// first, so that health checks get 503 rather than a refused connection
// while NATS and the store are not there yet; a start that cannot succeed
// returns its error. At shutdown /readyz turns 503 for ShutdownDelay (if a
// client was ever served), subscriptions end (WebSockets close 1001, SSE
// streams end without complete), requests finish, and then NATS closes.
func (s *Server) Run(ctx context.Context) error {
	cfg := s.cfg
	log := s.log
	if cfg.Auth == nil {
		log.Warn("AUTHENTICATION IS OFF: anyone who can reach this server may read and publish every topic. " +
			"Use --auth=jwt anywhere but on your own machine.")
	} else {
		log.Info("authentication: JWT")
	}
	if cfg.Events != nil {
		logEvents(log, cfg.Events)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return listenError("--addr", cfg.Addr, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	// Requests, WebSockets included, live in serveCtx: cancelling it at
	// shutdown ends every subscription cleanly.
	serveCtx, cancelServe := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelServe()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// ReadTimeout covers the body too; net/http lifts it once the body
		// is read (and gorilla/websocket once it hijacks the connection),
		// so SSE streams and WebSockets outlive it. No WriteTimeout: it
		// would cut every SSE stream.
		ReadTimeout: cfg.ReadTimeout,
		IdleTimeout: cfg.IdleTimeout,
		BaseContext: func(net.Listener) context.Context { return serveCtx },
	}
	// What Open opens is closed after every request has ended.
	defer s.Close()
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
		if err := s.Open(gctx); err != nil {
			return startError(gctx, err)
		}
		close(started)
		log.Info("serving", "stream", s.Store().Config().Stream)
		// The hub outlives the listener: subscriptions keep their live
		// events while the server drains.
		return s.Hub().Run(serveCtx)
	})
	g.Go(func() error {
		<-gctx.Done()
		close(s.draining)
		select {
		case <-started:
			if cfg.ShutdownDelay > 0 {
				log.Info("shutting down: draining", "for", cfg.ShutdownDelay)
				time.Sleep(cfg.ShutdownDelay)
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

// logEvents says what --schema declared, so that a deployment's log shows
// which types it serves: the files, each event type with its type and
// topics, the unions, and every topic pattern once.
func logEvents(log *slog.Logger, s *eventschema.Schema) {
	var files, types, unions []string
	for _, src := range s.Sources {
		files = append(files, src.Name)
	}
	for _, e := range s.Events {
		types = append(types, fmt.Sprintf("%s (%s on %s)", e.Name, e.Type, strings.Join(e.Topics, " ")))
	}
	for _, u := range s.Unions {
		unions = append(unions, u.Name)
	}
	log.Info("typed events loaded", "files", strings.Join(files, ","), "types", strings.Join(types, ", "),
		"unions", strings.Join(unions, ","), "topics", strings.Join(declaredTopics(s), ","))
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

// natsPingInterval and natsMaxPingsOut bound how long a dead NATS
// connection goes unnoticed: 10 to 15 s.
const (
	natsPingInterval = 5 * time.Second
	natsMaxPingsOut  = 2
)

// connect returns a connection to the configured NATS, starting the
// embedded server when no URL is given.
func (s *Server) connect(ctx context.Context) (*natsconn.Conn, error) {
	cfg, log := s.cfg.NATS, s.log
	opts := []nats.Option{
		nats.Name("rewind"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// A connection whose server went silent (partitioned away, or the
		// TCP connection half-open) is noticed after MaxPingsOut pings
		// without an answer, and the client moves to another server of
		// the cluster. nats.go pings every two minutes: a Rewind cut off
		// from its NATS node could neither publish nor tail for four to
		// six minutes while the other nodes were a route away.
		nats.PingInterval(natsPingInterval),
		nats.MaxPingsOutstanding(natsMaxPingsOut),
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
	conn, err := natsconn.Connect(ctx, cfg, log, s.gate.wait, opts...)
	var locked *natsembed.LockedError
	switch {
	case errors.As(err, &locked):
		holder := "another process"
		if locked.PID != 0 {
			holder = fmt.Sprintf("process %d", locked.PID)
		}
		return nil, fmt.Errorf("--data-dir %s is in use by %s, probably another Rewind server: stop it, or give this one another --data-dir: %w",
			cfg.Embedded.DataDir, holder, natsembed.ErrLocked)
	case errors.Is(err, natsembed.ErrListen):
		return nil, listenError("--nats-listen", cfg.Embedded.Listen, err)
	case err != nil:
		return nil, err
	}
	if conn.Embedded != nil {
		log.Info("embedded JetStream started", "data_dir", cfg.Embedded.DataDir, "nats_url", conn.Embedded.ClientURL(),
			"fsync", syncName(cfg.Embedded))
	} else {
		log.Info("using external NATS", "connected", conn.ConnectedUrlRedacted())
	}
	return conn, nil
}

// syncName is the embedded server's fsync policy as --nats-sync spells it.
func syncName(c natsembed.Config) string {
	if c.SyncAlways || c.SyncInterval <= 0 {
		return "always"
	}
	return c.SyncInterval.String()
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
