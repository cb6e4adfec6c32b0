package gqlws

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
)

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

// conn is one WebSocket connection. Where a poller can tell that its
// socket is readable (see poll_linux.go), an idle connection holds no
// goroutine and no read buffer: a goroutine reads what came, with a
// buffer lent for the moment (see turn), and ends. Elsewhere a goroutine
// of its own reads it (see readLoop). Timers and the server's shutdown
// act through callbacks either way.
type conn struct {
	t       *Transport
	ws      *websocket.Conn
	cork    *corkConn     // the socket under ws
	in      *bufio.Reader // gorilla's reader of the socket
	lent    *bufio.Reader // the pooled reader whose buffer in has, if any (see lend)
	proto   proto
	exec    graphql.GraphExecutor
	headers http.Header

	// ctx ends with the connection or the server: it has the request's
	// values, connection_init's hook gets it, and operations run in what
	// the hook returns.
	ctx    context.Context
	cancel context.CancelFunc
	// release gives back the connection's place in the connection
	// limits; end calls it.
	release func()
	served  *served // the server it came through (Transport.track)
	// poller reports, under key, when the socket is readable; nil when a
	// goroutine of the connection's own reads it.
	poller *poller
	key    uint64

	writeMu sync.Mutex // gorilla allows one writer at a time

	opsCtx context.Context // the context operations run in, set at init

	pulse pulse

	mu        sync.Mutex
	ops       []*operation // running operations
	acked     bool
	inited    bool
	closed    bool           // a close frame was sent
	reading   bool           // a goroutine is reading the socket
	dead      bool           // the socket is closed
	ended     bool           // end has run
	initTimer *time.Timer    // until the init timeout has passed
	expiry    *time.Timer    // closes the socket when the credentials expire
	wg        sync.WaitGroup // running operations
}

// open starts serving the connection upgraded from r; release is called
// once the connection has ended. c.reading is true until open is done, so
// that nothing ends the connection halfway through.
func (c *conn) open(r *http.Request, release func()) {
	// The request's values, but not its end: its handler returns now.
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(r.Context()))
	c.release = release
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	c.t.track(c, srv)
	c.mu.Lock()
	c.initTimer = time.AfterFunc(c.t.cfg.InitTimeout, c.guarded("init timeout", func() {
		c.mu.Lock()
		c.initTimer = nil // nothing left to stop
		c.mu.Unlock()
		if !c.isAcked() {
			c.proto.initTimeout(c)
		}
	}))
	c.mu.Unlock()
	// Without a limit on silence a half-open connection (the client's
	// machine gone, a proxy or NAT that forgot it) would stay open until
	// the kernel gives up retransmitting the keep-alives, a quarter of an
	// hour later: small writes succeed into the socket's buffer, so the
	// write timeout never fires. Every message and every WebSocket pong
	// counts (see heard): a live client answers each keep-alive.
	c.pulse.start(c)
	c.ws.SetPongHandler(func(string) error {
		c.heard()
		return nil
	})
	if !c.t.pollReads(c) {
		go c.readLoop()
		return
	}
	c.giveBack() // nothing was read yet
	c.idle()
}

// kill closes the socket, for a write that failed or a close frame sent:
// the connection then ends, at once when no goroutine is reading it, or
// when the one reading it sees the socket closed.
func (c *conn) kill() {
	_ = c.ws.Close()
	c.mu.Lock()
	first := !c.dead
	c.dead = true
	reading := c.reading
	c.mu.Unlock()
	if first && !reading {
		// On a goroutine of its own: end waits for the operations, and
		// the caller may be one of them.
		go c.end()
	}
}

// end stops every operation and waits for them, closes the socket and
// gives back what the connection held. It runs once the socket is closed
// and no goroutine reads it.
func (c *conn) end() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	expiry, initTimer := c.expiry, c.initTimer
	c.mu.Unlock()
	if expiry != nil {
		expiry.Stop()
	}
	c.pulse.stop()
	if initTimer != nil {
		initTimer.Stop()
	}
	c.t.untrack(c)
	c.cancel()
	c.cancelOps()
	c.wg.Wait()
	_ = c.ws.Close()
	c.unpoll()
	c.giveBack()
	c.release()
}

// pulse is a connection's one timer. It sends the subprotocol's
// keep-alive every KeepAlive (counted from the end of the last one's
// write) once the connection is acknowledged, and closes a connection
// from which nothing has come for silenceLimit: two pings gone
// unanswered, as the Go client judges a server, and the write timeout for
// the last pong to come back. A live client that is slow to be scheduled
// is not taken for a dead one. The timer is set for whichever comes
// first; heard only records the time, so a message costs no timer update.
type pulse struct {
	heard atomic.Int64 // when the client last sent something, Unix ns

	mu       sync.Mutex
	timer    *time.Timer
	nextPing time.Time
	pinging  bool // a keep-alive is being written
	over     bool
}

func (p *pulse) start(c *conn) {
	now := time.Now()
	p.heard.Store(now.UnixNano())
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextPing = now.Add(c.t.cfg.KeepAlive)
	p.timer = time.AfterFunc(c.t.cfg.KeepAlive, c.guarded("keep-alive", c.beat))
}

// beat is the pulse's timer firing.
func (c *conn) beat() {
	p := &c.pulse
	p.mu.Lock()
	if p.over {
		p.mu.Unlock()
		return
	}
	now := time.Now()
	if silent := now.Sub(time.Unix(0, p.heard.Load())); silent >= silenceLimit(c.t.cfg) {
		p.over = true
		p.mu.Unlock()
		c.t.cfg.Logger.Debug("websocket read", "err", "nothing received for "+silent.Round(time.Millisecond).String())
		c.kill()
		return
	}
	ping := !p.pinging && !now.Before(p.nextPing)
	p.pinging = p.pinging || ping
	p.armLocked(c.t.cfg, now)
	p.mu.Unlock()
	if !ping {
		return
	}
	if c.isAcked() {
		c.proto.keepAlive(c)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now = time.Now()
	p.pinging, p.nextPing = false, now.Add(c.t.cfg.KeepAlive)
	if !p.over {
		p.armLocked(c.t.cfg, now)
	}
}

// armLocked sets the timer for the end of the silence limit or, unless a
// keep-alive is being written, the next keep-alive, whichever is first.
// p.mu is held.
func (p *pulse) armLocked(cfg Config, now time.Time) {
	due := time.Unix(0, p.heard.Load()).Add(silenceLimit(cfg))
	if !p.pinging && p.nextPing.Before(due) {
		due = p.nextPing
	}
	p.timer.Reset(due.Sub(now))
}

func (p *pulse) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.over = true
	p.timer.Stop()
}

// goAway ends the connection for the server's shutdown: its context ends,
// and the client is told to reconnect and resume.
func (c *conn) goAway() {
	c.cancel()
	c.cancelOps()
	go c.guarded("closing at shutdown", func() {
		c.closeWith(CloseGoingAway, "server shutting down; reconnect and resume")
	})()
}

// heard records that the client sent something: the silence limit runs
// from now.
func (c *conn) heard() { c.pulse.heard.Store(time.Now().UnixNano()) }

// silenceLimit is how long a connection may send nothing.
func silenceLimit(c Config) time.Duration { return 2*c.KeepAlive + c.WriteTimeout }

func (c *conn) isAcked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked
}

// closeWith sends a close frame with code and reason, and closes the
// socket.
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	reason = closeReason(reason)
	defer c.kill()
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
