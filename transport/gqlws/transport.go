package gqlws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/transport"
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

	down     context.Context // ends when a server this transport serves shuts down
	shutDown context.CancelFunc

	mu      sync.Mutex
	servers map[*http.Server]bool
}

var _ graphql.Transport = (*Transport)(nil)

// New returns a transport for cfg.
func New(cfg Config) *Transport {
	cfg = cfg.withDefaults()
	t := &Transport{
		cfg:     cfg,
		servers: map[*http.Server]bool{},
		corks: sync.Pool{New: func() any {
			b := make([]byte, 0, 16<<10)
			return &b
		}},
	}
	// An idle connection keeps only a small read buffer: client messages
	// are few and short, and write buffers come from a pool for the
	// moment of a write. Ten thousand idle subscribers then cost
	// kilobytes each, not tens of kilobytes.
	t.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     []string{TransportWS, LegacyWS},
		CheckOrigin:      OriginChecker(cfg.AllowedOrigins),
		ReadBufferSize:   512,
		WriteBufferSize:  4096,
		WriteBufferPool:  &t.writes,
	}
	t.down, t.shutDown = context.WithCancel(context.Background())
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
	hj := &hijacker{ResponseWriter: w, pool: &t.corks}
	ws, err := t.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		release()
		return // the upgrader has answered the request
	}
	c := &conn{
		t:       t,
		ws:      ws,
		cork:    hj.conn,
		exec:    exec,
		headers: r.Header,
		ops:     map[string]*operation{},
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
	// The connection gets a goroutine of its own and the handler returns,
	// so that net/http releases what it holds for a request (buffers, the
	// handler chain's stack) for as long as the socket stays open.
	ctx, stop := t.lifetime(r)
	go func() {
		defer release()
		defer stop()
		c.serve(ctx)
	}()
}

// lifetime returns the context a socket lives in once its handler has
// returned: the request's values, ended when the server shuts down — its
// base context ends (how Rewind's server ends requests) or Shutdown is
// called — and not when the request's handler returns. stop releases it.
func (t *Transport) lifetime(r *http.Request) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	stops := []func() bool{context.AfterFunc(t.down, cancel)}
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
		t.watch(srv)
		if srv.BaseContext != nil {
			stops = append(stops, context.AfterFunc(srv.BaseContext(nil), cancel))
		}
	}
	return ctx, func() {
		for _, s := range stops {
			s()
		}
		cancel()
	}
}

// watch makes srv's Shutdown end this transport's sockets: net/http leaves
// hijacked connections to their handler.
func (t *Transport) watch(srv *http.Server) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.servers[srv] {
		return
	}
	t.servers[srv] = true
	srv.RegisterOnShutdown(t.shutDown)
}

// message is one protocol message in either subprotocol.
type message struct {
	Type    string          `json:"type"`
	ID      *string         `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func idOf(m message) string {
	if m.ID == nil {
		return ""
	}
	return *m.ID
}

// conn is one WebSocket connection.
type conn struct {
	t       *Transport
	ws      *websocket.Conn
	cork    *corkConn // the socket under ws
	proto   proto
	exec    graphql.GraphExecutor
	headers http.Header

	writeMu sync.Mutex // gorilla allows one writer at a time

	opsCtx context.Context // the context operations run in, set at init

	mu     sync.Mutex
	ops    map[string]*operation // running operations by id
	acked  bool
	inited bool
	closed bool
	expiry *time.Timer    // closes the socket when the credentials expire
	wg     sync.WaitGroup // running operations
}

// serve reads and handles messages on the connection's own goroutine
// until the socket closes, then stops every operation and waits for them.
// Timers and the server's shutdown act through callbacks, so that an idle
// connection holds this one goroutine and nothing else. When ctx ends
// (server shutdown) clients are told to come back.
func (c *conn) serve(ctx context.Context) {
	opsCtx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		c.wg.Wait()
		_ = c.ws.Close()
	}()
	stopShutdown := context.AfterFunc(ctx, c.guarded("closing at shutdown", func() {
		c.closeWith(CloseGoingAway, "server shutting down; reconnect and resume")
	}))
	defer stopShutdown()
	initTimer := time.AfterFunc(c.t.cfg.InitTimeout, c.guarded("init timeout", func() {
		if !c.isAcked() {
			c.proto.initTimeout(c)
		}
	}))
	defer initTimer.Stop()
	ka := &keepAlive{c: c}
	ka.start()
	defer ka.stop()
	defer func() {
		c.mu.Lock()
		if c.expiry != nil {
			c.expiry.Stop()
		}
		c.mu.Unlock()
	}()
	c.read(opsCtx)
}

// read handles the client's messages until the socket closes or a message
// ends the connection. A panic while handling one (InitFunc's included)
// leaves the connection in a state nothing can vouch for: it is logged and
// the socket closes 1011; the server and its other connections go on.
func (c *conn) read(opsCtx context.Context) {
	defer func() {
		if v := recover(); v != nil {
			c.t.panicked("handling a client message", v, "subprotocol", c.ws.Subprotocol())
			c.closeWith(CloseInternalError, "Internal server error")
			_ = c.ws.Close()
		}
	}()
	// Without a read deadline a half-open connection (the client's
	// machine gone, a proxy or NAT that forgot it) would stay open until
	// the kernel gives up retransmitting the keep-alives, a quarter of an
	// hour later: small writes succeed into the socket's buffer, so the
	// write timeout never fires. Every message and every WebSocket pong
	// extends it (see heard): a live client answers each keep-alive.
	c.heard()
	c.ws.SetPongHandler(func(string) error {
		c.heard()
		return nil
	})
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.t.cfg.Logger.Debug("websocket read", "err", err)
			if errors.Is(err, websocket.ErrReadLimit) {
				c.linger()
			}
			return
		}
		c.heard()
		// A message that is not UTF-8 is invalid like any other that is
		// not JSON: decoding it would turn the bad bytes into U+FFFD,
		// inside event data too, and store what the client did not send.
		var m message
		if err := json.Unmarshal(data, &m); err != nil || m.Type == "" || !utf8.Valid(data) {
			m = message{Type: "\x00invalid"}
		}
		if !c.proto.handle(opsCtx, c, m) {
			return
		}
	}
}

// keepAlive sends the subprotocol's keep-alive message at every interval
// once the connection is acknowledged.
type keepAlive struct {
	c    *conn
	mu   sync.Mutex
	t    *time.Timer
	over bool
}

func (k *keepAlive) start() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.over {
		k.t = time.AfterFunc(k.c.t.cfg.KeepAlive, k.c.guarded("keep-alive", k.tick))
	}
}

func (k *keepAlive) tick() {
	if k.c.isAcked() {
		k.c.proto.keepAlive(k.c)
	}
	k.start()
}

// heard pushes the read deadline to two keep-alive intervals and the
// write timeout from now: two pings gone unanswered, as the Go client
// judges a server, and the write timeout for the last pong to come back.
// A live client that is slow to be scheduled is not taken for a dead one.
func (c *conn) heard() {
	_ = c.ws.SetReadDeadline(time.Now().Add(silenceLimit(c.t.cfg)))
}

// silenceLimit is how long a connection may send nothing.
func silenceLimit(c Config) time.Duration { return 2*c.KeepAlive + c.WriteTimeout }

func (k *keepAlive) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.over = true
	k.t.Stop()
}

func (c *conn) isAcked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked
}

// write sends one message that belongs to no operation; a client that
// cannot take it within the write timeout is disconnected.
func (c *conn) write(m any) bool { return c.writeFor(context.Background(), m) }

// writeFor sends one message of the operation whose context is opCtx,
// unless the operation is over (the client stopped it, or it ended). The
// check is made holding the write lock, and stop takes that lock after it
// cancels: once the reader has handled the client's complete, nothing more
// goes out for that id.
func (c *conn) writeFor(opCtx context.Context, m any) bool {
	b, err := json.Marshal(m)
	if err != nil {
		c.t.cfg.Logger.Error("websocket: encode message", "err", err)
		return false
	}
	return c.writeRaw(opCtx, b)
}

// writeRaw sends one text frame that is already JSON, as writeFor does.
func (c *conn) writeRaw(opCtx context.Context, b []byte) bool {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if opCtx.Err() != nil {
		return false
	}
	return c.writeLocked(b)
}

// writeLast sends the last message of the operation whose context is
// opCtx (its error or complete), as writeFor does. The operation is
// forgotten first, holding the write lock: the client may reuse its id as
// soon as it reads the message, and nothing of an operation that reuses
// the id can go out before it.
func (c *conn) writeLast(opCtx context.Context, m any) bool {
	b, err := json.Marshal(m)
	if err != nil {
		c.t.cfg.Logger.Error("websocket: encode message", "err", err)
		return false
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if opCtx.Err() != nil {
		return false
	}
	if forget, ok := opCtx.Value(forgetKey{}).(func()); ok {
		forget()
	}
	return c.writeLocked(b)
}

// forgetKey is the context key of an operation's forget function, which
// removes it from its connection's running operations (see writeLast).
type forgetKey struct{}

// writeLocked sends one text frame; c.writeMu is held.
func (c *conn) writeLocked(b []byte) bool {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.t.cfg.WriteTimeout))
	if err := c.writeFrame(b); err != nil {
		c.t.cfg.Logger.Debug("websocket write", "err", err)
		_ = c.ws.Close() // ends the reader, and with it every operation
		return false
	}
	return true
}

// writeFrame writes one text frame; c.writeMu is held. Should the write
// panic instead of returning, part of a frame may be out already and
// nothing can be framed after it: the socket is closed at once, and the
// panic goes on to the goroutine's recovery.
func (c *conn) writeFrame(b []byte) error {
	returned := false
	defer func() {
		if !returned {
			_ = c.ws.Close()
		}
	}()
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	returned = true
	return err
}

// writeResult sends a result message of type typ for the operation whose
// context is opCtx. The common case, data and nothing else, is framed by
// hand around the already-encoded data: encoding the response as a whole
// would scan and copy it again, once per subscriber of every event.
func (c *conn) writeResult(opCtx context.Context, typ, id string, r *graphql.Response) bool {
	if b, ok := resultFrame(typ, id, r); ok {
		return c.writeRaw(opCtx, b)
	}
	return c.writeFor(opCtx, outMsg{Type: typ, ID: id, Payload: r})
}

// resultFrame frames a result that has data and nothing else; ok is false
// for any other result.
func resultFrame(typ, id string, r *graphql.Response) ([]byte, bool) {
	if id == "" || len(r.Errors) > 0 || len(r.Extensions) > 0 || r.Label != "" || r.Path != nil || r.HasNext != nil || len(r.Data) == 0 {
		return nil, false
	}
	return appendDataFrame(make([]byte, 0, len(r.Data)+len(id)+48), typ, id, r.Data), true
}

// appendDataFrame appends a result message of type typ carrying data.
func appendDataFrame(b []byte, typ, id string, data []byte) []byte {
	return appendResultFrame(b, typ, id, data, nil)
}

// appendResultFrame appends a result message of type typ carrying data
// and, unless nil, errors (a JSON list).
func appendResultFrame(b []byte, typ, id string, data, errors []byte) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"payload":{"data":`...)
	b = append(b, data...)
	if errors != nil {
		b = append(b, `,"errors":`...)
		b = append(b, errors...)
	}
	return append(b, "}}"...)
}

// appendJSONString appends s as a JSON string. Operation ids are short
// and plain; anything else is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// closeWith sends a close frame with code and reason. The reader then sees
// the socket end.
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	reason = closeReason(reason)
	defer c.ws.Close()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}

// closeReason fits reason into a close frame: at most 123 bytes, cut at
// a character's boundary, since clients refuse a reason that is not UTF-8
// (and reasons quote what the client sent).
func closeReason(reason string) string {
	reason = strings.ToValidUTF8(reason, "\uFFFD")
	for len(reason) > 123 {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	return reason
}

// linger reads and discards what the client still sends, for a moment,
// after gorilla has sent close 1009 for an oversized message: closing at
// once with unread data would reset the connection, and the client would
// never see the close frame that tells it why.
func (c *conn) linger() {
	nc := c.ws.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, nc)
}

// init runs the connection_init hook. It returns the context operations
// run in and when the connection's credentials expire, or the refusal.
func (c *conn) init(ctx context.Context, payload json.RawMessage) (context.Context, time.Time, error) {
	var p map[string]any
	if len(payload) > 0 && string(payload) != "null" {
		if err := json.Unmarshal(payload, &p); err != nil {
			return ctx, time.Time{}, errInvalid("connection_init payload must be an object")
		}
	}
	if c.t.cfg.InitFunc == nil {
		return ctx, time.Time{}, nil
	}
	return c.t.cfg.InitFunc(ctx, p)
}

type invalidError string

func (e invalidError) Error() string { return string(e) }

func errInvalid(msg string) error { return invalidError(msg) }

// startResult says whether start began an operation, and if not, why.
type startResult int

const (
	started startResult = iota
	duplicate
	tooMany
)

// start runs operation id in its own goroutine, writing through out. With
// replace, a running operation with the same id is stopped first.
func (c *conn) start(ctx context.Context, id string, payload json.RawMessage, replace bool, out events) startResult {
	c.mu.Lock()
	running, replaced := c.ops[id]
	if replaced {
		if !replace {
			c.mu.Unlock()
			return duplicate
		}
		running.cancel() // the legacy protocol restarts an operation whose id is reused
		delete(c.ops, id)
	}
	if len(c.ops) >= c.t.cfg.MaxSubscriptions {
		c.mu.Unlock()
		c.quiesce(replaced)
		return tooMany
	}
	opCtx, cancel := context.WithCancel(ctx)
	op := &operation{cancel: cancel}
	c.ops[id] = op
	c.wg.Add(1)
	c.mu.Unlock()
	c.quiesce(replaced) // nothing of the replaced operation after the new one's messages

	forget := func() {
		c.mu.Lock()
		if c.ops[id] == op { // not an operation that replaced this one
			delete(c.ops, id)
		}
		c.mu.Unlock()
	}
	opCtx = context.WithValue(opCtx, forgetKey{}, forget)
	var once sync.Once
	release := func() {
		once.Do(func() {
			forget()
			cancel()
			c.wg.Done()
		})
	}
	go func() {
		// A panic anywhere in the operation (gqlgen creating its context,
		// a resolver, the executor) ends this operation only: the client
		// gets an error for it, and the connection and the server go on.
		defer func() {
			if v := recover(); v != nil {
				c.t.panicked("running an operation", v, "id", id, "subprotocol", c.ws.Subprotocol())
				out.errors(opCtx, id, internalError())
				release()
			}
		}()
		if !c.execute(opCtx, id, payload, out, release) {
			release()
		}
	}()
	return started
}

// quiesce waits, when an operation was just cancelled, for a write of it
// under way to end: writes check their operation holding the write lock,
// so after quiesce nothing more of it is sent.
func (c *conn) quiesce(cancelled bool) {
	if cancelled {
		c.writeMu.Lock()
		c.writeMu.Unlock() //nolint:staticcheck // an empty critical section: a barrier
	}
}

// operation is one running operation's handle.
type operation struct{ cancel context.CancelFunc }

// stop cancels operation id; it reports whether it was running. Once it
// returns, nothing more is sent for id: the client's complete (or stop)
// may come while the operation is still starting (its resolver resolving
// a cursor, say), and by the protocol the server then stays silent about
// it.
func (c *conn) stop(id string) bool {
	c.mu.Lock()
	op, ok := c.ops[id]
	delete(c.ops, id)
	c.mu.Unlock()
	if ok {
		op.cancel()
	}
	c.quiesce(ok)
	return ok
}

// events is how an operation's outcome is written in one subprotocol.
// Each message is sent only while opCtx, the operation's context, is live
// (see writeFor); pass context.Background() for a message outside any
// operation. errors and complete are an operation's last message, and
// free its id (see writeLast).
type events interface {
	dataType() string // the type of a message carrying a result
	next(opCtx context.Context, id string, r *graphql.Response) bool
	errors(opCtx context.Context, id string, errs gqlerror.List) bool
	complete(opCtx context.Context, id string) bool
}

// execute runs one operation through gqlgen's executor, its context
// carrying the operation's transport.Delivery. A subscription whose
// resolver attaches a transport.Stream is handed over to serveNative, which
// calls release when it ends; execute then reports true.
func (c *conn) execute(ctx context.Context, id string, payload json.RawMessage, out events, release func()) bool {
	// Cancellation reaches the contexts derived below after this one: ask
	// this one whether the operation was stopped, or a subscription ended
	// by the stop could be taken for one that completed.
	opCtx := ctx
	var params graphql.RawParams
	start := graphql.Now()
	// Numbers stay json.Number, as gqlgen's HTTP transports decode them,
	// so that Int variables are not floats.
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil || params.Query == "" {
		out.errors(opCtx, id, gqlerror.List{{Message: "subscribe payload must be an object with a query", Extensions: map[string]any{"code": "BAD_USER_INPUT"}}})
		return false
	}
	params.Headers = c.headers
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	ctx = graphql.StartOperationTrace(ctx)
	rc, errs := c.exec.CreateOperationContext(ctx, &params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		out.errors(opCtx, id, resp.Errors)
		return false
	}
	sink := &errorSink{}
	var d transport.Delivery = sink
	var sl *slot
	if rc.Operation != nil && rc.Operation.Operation == "subscription" {
		sl = &slot{}
		d = subscription{sink, sl}
	}
	ctx = transport.With(graphql.WithOperationContext(ctx, rc), d)
	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	if sl != nil {
		// The resolver attaches its stream last, once nothing can fail.
		if st := sl.attached(); st != nil {
			c.serveNative(opCtx, id, sl, st, sink, out, release)
			return true
		}
	}
	first := true
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		// A subscription whose resolver failed before its first event is
		// an operation that failed: an error message, not data.
		if first && resp.Data == nil && len(resp.Errors) > 0 && rc.Operation != nil && rc.Operation.Operation == "subscription" {
			out.errors(opCtx, id, resp.Errors)
			return false
		}
		first = false
		if !out.next(opCtx, id, resp) {
			return false
		}
	}
	conclude(opCtx, id, sink, out)
	return false
}

// conclude tells the client how an operation whose results have all been
// sent ended: with the errors its resolver reported, or complete; nothing
// if the client or the connection stopped it (opCtx ended).
func conclude(opCtx context.Context, id string, sink *errorSink, out events) {
	if errs := sink.take(); len(errs) > 0 {
		out.errors(opCtx, id, errs)
		return
	}
	out.complete(opCtx, id)
}

// errorSink collects errors a resolver reports for its operation: the
// transport.Delivery of every operation this transport runs.
type errorSink struct {
	mu   sync.Mutex
	errs gqlerror.List
}

// ReportError makes the subscription end with an error message carrying
// err instead of complete, once its results have all been sent.
func (s *errorSink) ReportError(err *gqlerror.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

func (s *errorSink) take() gqlerror.List {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs
}

// subscription is the Delivery of a subscription: its errors, and the
// slot a native stream attaches to (transport.StreamSink).
type subscription struct {
	errs *errorSink
	slot *slot
}

var (
	_ transport.Delivery   = (*errorSink)(nil)
	_ transport.Delivery   = subscription{}
	_ transport.StreamSink = subscription{}
	_ transport.ResultSink = subscription{}
)

func (s subscription) ReportError(err *gqlerror.Error) { s.errs.ReportError(err) }
func (s subscription) Attach(st transport.Stream)      { s.slot.Attach(st) }

// AttachResults attaches a stream whose results may carry errors: the
// drain asks it for them (see drainGuarded).
func (s subscription) AttachResults(st transport.ResultStream) { s.slot.Attach(st) }
func (s subscription) Wake()                                   { s.slot.Wake() }

// proto is one subprotocol's handling of client messages.
type proto interface {
	// handle processes m; false means the connection is over.
	handle(ctx context.Context, c *conn, m message) bool
	initTimeout(c *conn)
	keepAlive(c *conn)
}

func fmtDup(id string) string { return fmt.Sprintf("Subscriber for %s already exists", id) }
