package gqlws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
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
