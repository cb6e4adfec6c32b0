// Package gorillaws runs gqlgen's WebSocket transport on gorilla/websocket,
// with an origin check and a write deadline so that a client that stops
// reading is disconnected instead of blocking its connection forever.
package gorillaws

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/gqlws"
)

// Config configures the adapter.
type Config struct {
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to open a WebSocket; "*" allows any. Requests without an Origin header
	// (non-browser clients) are always allowed. Empty allows the server's
	// own host and localhost only.
	AllowedOrigins []string
	// WriteTimeout bounds one write to the client. Default 10s.
	WriteTimeout time.Duration
}

// Implementation is gqlgen's transport.WebsocketImplementation on gorilla.
type Implementation struct {
	checkOrigin  func(*http.Request) bool
	upgrader     websocket.Upgrader
	writeTimeout time.Duration
}

var _ transport.WebsocketImplementation = (*Implementation)(nil)

// New returns an adapter for cfg.
func New(cfg Config) *Implementation {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	return &Implementation{
		writeTimeout: cfg.WriteTimeout,
		checkOrigin:  OriginChecker(cfg.AllowedOrigins),
		upgrader: websocket.Upgrader{
			HandshakeTimeout: 10 * time.Second,
			CheckOrigin:      OriginChecker(cfg.AllowedOrigins),
			// gqlgen answers a failed upgrade itself; writing here too
			// would send two responses.
			Error: func(http.ResponseWriter, *http.Request, int, error) {},
		},
	}
}

// OriginChecker is gqlws.OriginChecker: the same policy for both transports.
var OriginChecker = gqlws.OriginChecker

// Accept upgrades the request, offering gqlgen's subprotocols.
func (i *Implementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	up := i.upgrader
	up.Subprotocols = opts.Subprotocols
	c, err := up.Upgrade(w, r, opts.ResponseHeader)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, writeTimeout: i.writeTimeout}, nil
}

type conn struct {
	c            *websocket.Conn
	writeTimeout time.Duration
	closeOnce    sync.Once
}

func (c *conn) NextReader() (int, io.Reader, error) {
	t, r, err := c.c.NextReader()
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived, websocket.CloseGoingAway) {
		return t, nil, transport.ErrWebsocketClosed
	}
	return t, r, err
}

// WriteJSON writes one message. gqlgen serialises writes; a write that
// cannot finish within the timeout means the client stopped reading, and
// the connection is closed so the reader ends and every subscription on
// it is released. The client resumes with its cursor.
func (c *conn) WriteJSON(v any) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	err := c.c.WriteJSON(v)
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		_ = c.Close()
	}
	return err
}

func (c *conn) WriteClose(code int, msg string) error {
	if len(msg) > 123 { // a close frame's reason is at most 123 bytes
		msg = msg[:123]
	}
	return c.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, msg), time.Now().Add(time.Second))
}

func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.c.Close() })
	return err
}

func (c *conn) Subprotocol() string               { return c.c.Subprotocol() }
func (c *conn) SetReadLimit(n int64)              { c.c.SetReadLimit(n) }
func (c *conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }
