package gqlws

import (
	"bufio"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// readBufferSize is a connection's read buffer while it reads. Client
// messages are few and short; longer ones are read past the buffer.
// gorilla takes a hijacked reader as its own only above 256 bytes.
const readBufferSize = 512

// readLoop reads and handles messages on the connection's own goroutine
// until the socket closes or a message ends the connection, then ends
// it: how a connection is read where no poller can report its socket
// readable (other systems, TLS).
func (c *conn) readLoop() {
	for c.readMessage() {
	}
	c.mu.Lock()
	c.reading, c.dead = false, true
	c.mu.Unlock()
	c.end()
}

// ready is the poller's report that the socket is readable (or closed by
// the client): a goroutine reads what came, unless one already does.
func (c *conn) ready() {
	c.mu.Lock()
	if c.dead || c.reading {
		c.mu.Unlock()
		return
	}
	c.reading = true
	c.mu.Unlock()
	go c.turn()
}

// turn reads and handles what the client sent, with a read buffer lent
// for the moment, until the buffer is empty: a message that came in the
// same read as the last would otherwise wait in it while the socket, all
// of its bytes read, has nothing more to report. The poller is then asked
// for the next readiness, and the goroutine ends.
func (c *conn) turn() {
	c.lend()
	ok := true
	for ok {
		ok = c.readNext()
		if c.in.Buffered() == 0 {
			break
		}
	}
	if !ok {
		c.mu.Lock()
		c.reading, c.dead = false, true
		c.mu.Unlock()
		_ = c.ws.Close()
		c.end()
		return
	}
	c.giveBack()
	c.idle()
}

// idle leaves the connection to the poller, or ends it if the socket was
// closed meanwhile.
func (c *conn) idle() {
	c.mu.Lock()
	c.reading = false
	dead := c.dead
	c.mu.Unlock()
	if dead {
		c.end() // kill left it to this reader
		return
	}
	// Once reading is false a report may start the next turn at once;
	// asking for it only now loses none.
	if err := c.rearm(); err != nil {
		c.t.cfg.Logger.Debug("websocket poll", "err", err)
		c.kill()
	}
}

// readNext handles a ping or pong at the head of what the client sent,
// if it is there whole, or else reads and handles one message. Gorilla's
// NextReader handles control frames too, but goes on to wait for a data
// message after them: on graphql-ws, whose keep-alive a client answers
// with a WebSocket pong only, that would hold a goroutine for each idle
// connection.
func (c *conn) readNext() bool {
	handled, err := c.controlFrame()
	if !handled {
		return c.readMessage()
	}
	if err != nil {
		c.t.cfg.Logger.Debug("websocket read", "err", err)
		return false
	}
	return true
}

// controlFrame reads a ping or pong frame at the head of the buffer if
// it is whole and valid, and runs gorilla's handler for it, as gorilla's
// reader does (whose state, between messages, it does not touch). It
// reports false for anything else, left to gorilla: a data frame, a close,
// a frame gorilla refuses, a read error.
func (c *conn) controlFrame() (handled bool, err error) {
	h, err := c.in.Peek(2)
	if err != nil {
		return false, nil
	}
	op, n := int(h[0]&0x0f), int(h[1]&0x7f)
	// FIN set, no RSV bits, masked (as every client frame is), at most
	// 125 bytes: what RFC 6455 asks of a control frame.
	if h[0]&0xf0 != 0x80 || h[1]&0x80 == 0 || n > 125 || (op != websocket.PingMessage && op != websocket.PongMessage) {
		return false, nil
	}
	f, err := c.in.Peek(2 + 4 + n)
	if err != nil {
		return false, nil
	}
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = f[6+i] ^ f[2+i%4]
	}
	_, _ = c.in.Discard(len(f))
	if op == websocket.PongMessage {
		return true, c.ws.PongHandler()(string(payload))
	}
	return true, c.ws.PingHandler()(string(payload))
}

// readMessage reads one message and handles it; false means the
// connection is over. A panic while handling one (InitFunc's included)
// leaves the connection in a state nothing can vouch for: it is logged
// and the socket closes 1011; the server and its other connections go on.
func (c *conn) readMessage() (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			c.t.panicked("handling a client message", v, "subprotocol", c.ws.Subprotocol())
			c.closeWith(CloseInternalError, "Internal server error")
			c.kill()
			ok = false
		}
	}()
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		c.t.cfg.Logger.Debug("websocket read", "err", err)
		if errors.Is(err, websocket.ErrReadLimit) {
			c.linger()
		}
		return false
	}
	c.heard()
	// A message that is not UTF-8 is invalid like any other that is
	// not JSON: decoding it would turn the bad bytes into U+FFFD,
	// inside event data too, and store what the client did not send.
	var m message
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" || !utf8.Valid(data) {
		m = message{Type: "\x00invalid"}
	}
	return c.proto.handle(c.ctx, c, m)
}

// lend gives the connection's reader, which gorilla holds for good, the
// buffer of a pooled reader. A bufio.Reader's buffer cannot be swapped,
// but the Reader can be assigned whole: gorilla's keeps its address and
// reads through the lent buffer until giveBack.
func (c *conn) lend() {
	if c.lent != nil {
		return
	}
	r := c.t.reads.Get().(*bufio.Reader)
	r.Reset(c.cork)
	*c.in = *r
	c.lent = r
}

// giveBack returns the lent buffer to the pool, unless bytes wait in it.
// Gorilla reads the socket only when asked to, so nothing touches the
// reader until the next lend.
func (c *conn) giveBack() {
	if c.lent == nil || c.in.Buffered() > 0 {
		return
	}
	*c.lent = *c.in
	c.lent.Reset(nil) // holds on to no socket in the pool
	*c.in = bufio.Reader{}
	c.t.reads.Put(c.lent)
	c.lent = nil
}
