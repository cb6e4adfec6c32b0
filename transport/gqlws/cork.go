package gqlws

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// corkConn is the socket under gorilla: while corked, gorilla's frame
// writes gather in a buffer that uncork sends in one write. A burst of
// results (a replay, a busy topic) then costs one system call instead of
// one per message, and every frame still goes through gorilla, so frames
// gorilla writes by itself (pongs, close on an oversized message) stay
// whole and in order.
type corkConn struct {
	net.Conn
	pool *sync.Pool // of *[]byte, shared by the transport's connections

	mu     sync.Mutex
	corked bool
	buf    *[]byte
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		if c.buf == nil {
			c.buf = c.pool.Get().(*[]byte)
		}
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// SetWriteDeadline sets the socket's write deadline, except while corked:
// gorilla sets one before every frame it writes, and a corked frame goes
// to the buffer, not the socket. The write that sends the buffer sets its
// own (see sendLocked), so a burst costs one deadline, not one per frame.
func (c *corkConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

// cork holds writes back until uncork.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork sends what was held back, by deadline, and returns the buffer
// to the pool.
func (c *corkConn) uncork(deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	err := c.sendLocked(0, deadline)
	if c.buf != nil {
		if cap(*c.buf) <= maxPooledCork {
			c.pool.Put(c.buf)
		}
		c.buf = nil
	}
	return err
}

// flushOver sends what was held back, by deadline, once it exceeds limit
// bytes, and stays corked: a long burst goes out in slices, each with its
// own deadline, so that a client reading steadily is never cut off for
// the size of a burst.
func (c *corkConn) flushOver(limit int, deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(limit, deadline)
}

// sendLocked writes what was held back, if it is at least limit bytes,
// and empties the buffer. c.mu is held.
func (c *corkConn) sendLocked(limit int, deadline time.Time) error {
	if c.buf == nil || len(*c.buf) == 0 || len(*c.buf) < limit {
		return nil
	}
	defer func() { *c.buf = (*c.buf)[:0] }()
	if err := c.Conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := c.Conn.Write(*c.buf)
	return err
}

// maxPooledCork keeps an unusually large burst's buffer out of the pool.
const maxPooledCork = 1 << 20

// hijacker hands gorilla the hijacked socket wrapped in a corkConn, and a
// reader of it whose buffer is lent from the transport's pool (see
// conn.lend): with no ReadBufferSize, gorilla reads through the hijacked
// reader, for good, instead of a buffer of its own.
type hijacker struct {
	http.ResponseWriter
	t    *Transport
	conn *corkConn
	in   *bufio.Reader
	lent *bufio.Reader
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &corkConn{Conn: nc, pool: &h.t.corks}
	if brw.Reader.Buffered() > 0 {
		// The client sent data before the handshake's end: gorilla
		// refuses the upgrade when it sees it.
		return h.conn, brw, nil
	}
	r := h.t.reads.Get().(*bufio.Reader)
	r.Reset(h.conn)
	h.in, h.lent = &bufio.Reader{}, r
	*h.in = *r
	return h.conn, bufio.NewReadWriter(h.in, brw.Writer), nil
}
