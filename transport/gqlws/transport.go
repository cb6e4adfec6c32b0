package gqlws

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/transport/connlimit"
)

// Config configures the transport. Zero values take the defaults.
type Config struct {
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to open a WebSocket; "*" allows any. Requests without an Origin header
	// (non-browser clients) are always allowed. Empty allows the server's
	// own host and localhost only, which stops cross-site WebSocket
	// hijacking from other sites' pages.
	AllowedOrigins []string
	// InitTimeout closes a socket that sends no connection_init (4408 on
	// graphql-transport-ws). Default 3s.
	InitTimeout time.Duration
	// KeepAlive is the interval of the server's ping (graphql-transport-ws,
	// which clients must answer with pong) or ka (graphql-ws, which has no
	// answer, so a WebSocket ping goes with it: clients answer those by
	// themselves). A connection from which nothing has come for two
	// intervals and WriteTimeout (no message, no pong; 40s by default) is
	// closed: it is half-open, its client gone without a FIN. Default 15s.
	KeepAlive time.Duration
	// MaxSubscriptions bounds the operations running on one connection; a
	// subscribe over it gets an error message. Default 200.
	MaxSubscriptions int
	// MaxMessageBytes bounds one message from the client (close 1009).
	// Default 1 MiB.
	MaxMessageBytes int64
	// WriteTimeout disconnects a client that stops reading (close 1013
	// when the close frame can still be sent). Default 10s.
	WriteTimeout time.Duration
	// InitFunc, if set, sees connection_init's payload and may refuse the
	// connection (close 4403, or connection_error on graphql-ws) or return
	// a context for the connection's operations and when the connection's
	// credentials expire (zero: never); the socket closes 4403 then.
	InitFunc func(ctx context.Context, payload map[string]any) (context.Context, time.Time, error)
	// OperationHeaders names the upgrade request's headers handed to each
	// operation (gqlgen's OperationContext.Headers), which every idle
	// connection keeps for as long as it is open; nil hands them all, as
	// gqlgen's own transport does, and an empty list none.
	OperationHeaders []string
	// Connections counts open sockets against the server's connection
	// limits, shared with the other transports that hold connections open
	// (503 or 429 before the upgrade). Default: a limiter of its own with
	// connlimit's defaults.
	Connections *connlimit.Limiter
	// Logger receives connection-level errors at debug level, refused
	// origins at info level and recovered panics at error level.
	Logger *slog.Logger
}

// Defaults of Config, declared once (command-line flags show them too).
const (
	DefaultInitTimeout      = 3 * time.Second
	DefaultKeepAlive        = 15 * time.Second
	DefaultMaxSubscriptions = 200
	DefaultMaxMessageBytes  = 1 << 20
	DefaultWriteTimeout     = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.InitTimeout <= 0 {
		c.InitTimeout = DefaultInitTimeout
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Connections == nil {
		c.Connections = connlimit.New(connlimit.Config{})
	}
	return c
}

// Transport is a gqlgen graphql.Transport for WebSocket upgrades.
type Transport struct {
	cfg      Config
	upgrader websocket.Upgrader
	writes   sync.Pool // gorilla's write buffers, held only while a message is written
	corks    sync.Pool // *[]byte: batches of frames being gathered (corkConn)
	reads    sync.Pool // *bufio.Reader: read buffers lent while a message is read (conn.lend)
	frames   sync.Pool // *[]byte: a result's message while a stream is drained
	drains   *workers  // run natively served streams' drains

	// polling reports readable sockets (see poll_linux.go): started with
	// the first connection it watches, stopped after the last.
	pollMu  sync.Mutex
	polling *poller

	mu      sync.Mutex
	down    bool // a server this transport serves was shut down
	servers map[*http.Server]*served
}

// served is what a transport knows of an http.Server it serves (or, under
// nil, of connections that came through none): its open connections.
type served struct {
	conns map[*conn]struct{}
	down  bool // the server's base context has ended
}

var _ graphql.Transport = (*Transport)(nil)

// New returns a transport for cfg.
func New(cfg Config) *Transport {
	cfg = cfg.withDefaults()
	t := &Transport{
		cfg:     cfg,
		servers: map[*http.Server]*served{},
		drains:  newWorkers(),
		corks: sync.Pool{New: func() any {
			b := make([]byte, 0, 16<<10)
			return &b
		}},
		reads: sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }},
		frames: sync.Pool{New: func() any {
			b := make([]byte, 0, 1024)
			return &b
		}},
	}
	// An idle connection keeps no buffer: read buffers are lent while a
	// message is read (gorilla reads through the hijacker's reader, see
	// hijacker), and write buffers come from a pool for the moment of a
	// write. Ten thousand idle subscribers then cost kilobytes each, not
	// tens of kilobytes.
	t.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     []string{TransportWS, LegacyWS},
		CheckOrigin:      OriginChecker(cfg.AllowedOrigins),
		WriteBufferSize:  4096,
		WriteBufferPool:  &t.writes,
	}
	return t
}

// Connections returns the limiter this transport's sockets count against,
// for the other transports that hold connections open to share.
func (t *Transport) Connections() *connlimit.Limiter { return t.cfg.Connections }

// Supports reports whether r asks for a WebSocket.
func (t *Transport) Supports(r *http.Request) bool { return websocket.IsWebSocketUpgrade(r) }

// AllowsOrigin reports whether r's Origin may open a WebSocket.
func (t *Transport) AllowsOrigin(r *http.Request) bool { return t.upgrader.CheckOrigin(r) }

// OriginChecker allows requests without an Origin, the listed origins, and,
// when none are listed, the request's own host and localhost.
func OriginChecker(allowed []string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" || slices.Contains(allowed, "*") || slices.ContainsFunc(allowed, func(a string) bool {
			return strings.EqualFold(strings.TrimRight(a, "/"), origin)
		}) {
			return true
		}
		if len(allowed) > 0 {
			return false
		}
		u, err := url.Parse(origin)
		if err != nil {
			return false
		}
		host := u.Hostname()
		return strings.EqualFold(u.Host, r.Host) || host == "localhost" || host == "127.0.0.1" || host == "::1"
	}
}

// Do serves one WebSocket until it closes.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !t.AllowsOrigin(r) {
		// Browsers only say the handshake failed: the log is where an
		// operator learns which origin to allow.
		t.cfg.Logger.Info("websocket: origin refused", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr, "host", r.Host)
		http.Error(w, "websocket: origin "+r.Header.Get("Origin")+" is not allowed", http.StatusForbidden)
		return
	}
	release, err := t.cfg.Connections.Acquire(connlimit.Addr(r))
	if err != nil {
		connlimit.Refuse(w, err)
		return
	}
	hj := &hijacker{ResponseWriter: w, t: t}
	ws, err := t.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		release()
		return // the upgrader has answered the request
	}
	c := &conn{
		t:       t,
		ws:      ws,
		cork:    hj.conn,
		in:      hj.in,
		lent:    hj.lent,
		exec:    exec,
		headers: operationHeaders(r.Header, t.cfg.OperationHeaders),
		reading: true, // see open
	}
	switch ws.Subprotocol() {
	case TransportWS:
		c.proto = transportProto{}
	case LegacyWS:
		c.proto = legacyProto{}
	default:
		c.closeWith(CloseSubprotocol, "Subprotocol not acceptable: use "+TransportWS+" or "+LegacyWS)
		_ = ws.Close()
		release()
		return
	}
	ws.SetReadLimit(t.cfg.MaxMessageBytes)
	// The handler returns, so that net/http releases what it holds for a
	// request (buffers, the handler chain's stack) for as long as the
	// socket stays open.
	c.open(r, release)
}

// track makes the server's shutdown reach c, which net/http leaves to its
// handler: Shutdown of any server this transport serves, or the end of the
// base context of c's server (how Rewind's server ends requests), cancels
// c's context and closes it 1001 (clients come back). One registry for
// every connection costs less than watching contexts for each.
func (t *Transport) track(c *conn, srv *http.Server) {
	t.mu.Lock()
	s := t.servers[srv]
	if s == nil {
		s = &served{conns: map[*conn]struct{}{}}
		t.servers[srv] = s
		if srv != nil {
			srv.RegisterOnShutdown(func() { t.goAway(nil) })
			if srv.BaseContext != nil {
				context.AfterFunc(srv.BaseContext(nil), func() { t.goAway(s) })
			}
		}
	}
	s.conns[c] = struct{}{}
	c.served = s
	down := t.down || s.down
	t.mu.Unlock()
	if down {
		c.goAway()
	}
}

// untrack forgets c, which has ended.
func (t *Transport) untrack(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(c.served.conns, c)
}

// goAway ends the connections of s, or with nil every connection, for the
// server's shutdown, and those that come after.
func (t *Transport) goAway(s *served) {
	t.mu.Lock()
	var conns []*conn
	for _, each := range t.servers {
		if s == nil || each == s {
			each.down = true
			for c := range each.conns {
				conns = append(conns, c)
			}
		}
	}
	t.down = t.down || s == nil
	t.mu.Unlock()
	for _, c := range conns {
		c.goAway()
	}
}

// operationHeaders keeps of h the headers named in keep (all when keep is
// nil), in a header of their own so that the request's can go.
func operationHeaders(h http.Header, keep []string) http.Header {
	if keep == nil {
		return h
	}
	out := http.Header{}
	for _, name := range keep {
		if v := h.Values(name); len(v) > 0 {
			out[http.CanonicalHeaderKey(name)] = v
		}
	}
	return out
}
