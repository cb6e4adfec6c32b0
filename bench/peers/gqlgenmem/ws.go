package main

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// gorillaWS runs gqlgen's stock WebSocket transport on gorilla/websocket,
// with a write deadline, as Rewind's server first did: the baseline a team
// writes from gqlgen's documentation. (Kept here rather than shared so that
// the baseline does not change when Rewind's transport does.)
type gorillaWS struct{ up websocket.Upgrader }

func newGorillaWS() *gorillaWS {
	return &gorillaWS{up: websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		CheckOrigin:      func(*http.Request) bool { return true }, // loopback benchmark only
		Error:            func(http.ResponseWriter, *http.Request, int, error) {},
	}}
}

func (g *gorillaWS) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	up := g.up
	up.Subprotocols = opts.Subprotocols
	c, err := up.Upgrade(w, r, opts.ResponseHeader)
	if err != nil {
		return nil, err
	}
	return &wsConn{c: c}, nil
}

type wsConn struct {
	c         *websocket.Conn
	closeOnce sync.Once
}

func (c *wsConn) NextReader() (int, io.Reader, error) {
	t, r, err := c.c.NextReader()
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived, websocket.CloseGoingAway) {
		return t, nil, transport.ErrWebsocketClosed
	}
	return t, r, err
}

func (c *wsConn) WriteJSON(v any) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err := c.c.WriteJSON(v)
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		_ = c.Close()
	}
	return err
}

func (c *wsConn) WriteClose(code int, msg string) error {
	if len(msg) > 123 {
		msg = msg[:123]
	}
	return c.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, msg), time.Now().Add(time.Second))
}

func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.c.Close() })
	return err
}

func (c *wsConn) Subprotocol() string               { return c.c.Subprotocol() }
func (c *wsConn) SetReadLimit(n int64)              { c.c.SetReadLimit(n) }
func (c *wsConn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }
