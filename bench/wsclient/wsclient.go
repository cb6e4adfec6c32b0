// Package wsclient is the load generator's graphql-transport-ws client: one
// gorilla/websocket connection, one reading goroutine, and a parser that
// looks only at the top-level envelope and the few keys the benchmark needs,
// so that the client is never what limits a measurement.
package wsclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Subprotocol is the only protocol this client speaks.
const Subprotocol = "graphql-transport-ws"

// Kind is a message's type.
type Kind uint8

// The message kinds a server sends.
const (
	KindOther Kind = iota
	KindNext
	KindError
	KindComplete
	KindPing
	KindPong
	KindAck
)

var kinds = map[string]Kind{
	"next": KindNext, "error": KindError, "complete": KindComplete,
	"ping": KindPing, "pong": KindPong, "connection_ack": KindAck,
}

// Msg is one message from the server. Its slices point into the read
// buffer and are valid only during the handler call.
type Msg struct {
	Kind    Kind
	ID      []byte
	Payload []byte
}

// Conn is one WebSocket connection.
type Conn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	rbuf bytes.Buffer // owned by the reading goroutine
}

// Dialer opens connections; LocalAddrs spreads them over several loopback
// source addresses so that tens of thousands of connections (and their
// TIME_WAIT remains) do not exhaust one address's ephemeral ports.
type Dialer struct {
	LocalAddrs []string
	mu         sync.Mutex
	next       int
}

// Dial connects to url (http:// or ws://), sends connection_init and waits
// for connection_ack.
func (d *Dialer) Dial(ctx context.Context, url string) (*Conn, error) {
	url = "ws" + strings.TrimPrefix(url, "http")
	nd := &net.Dialer{Timeout: 10 * time.Second}
	if len(d.LocalAddrs) > 0 {
		d.mu.Lock()
		nd.LocalAddr = &net.TCPAddr{IP: net.ParseIP(d.LocalAddrs[d.next%len(d.LocalAddrs)])}
		d.next++
		d.mu.Unlock()
	}
	wd := websocket.Dialer{
		Subprotocols:     []string{Subprotocol},
		HandshakeTimeout: 10 * time.Second,
		NetDialContext:   nd.DialContext,
		ReadBufferSize:   4096,
		WriteBufferSize:  1024,
	}
	ws, resp, err := wd.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	c := &Conn{ws: ws}
	if err := c.send(`{"type":"connection_init","payload":{}}`); err != nil {
		ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("wait for connection_ack: %w", err)
		}
		m, err := Parse(b)
		if err != nil {
			ws.Close()
			return nil, err
		}
		if m.Kind == KindAck {
			break
		}
		if m.Kind != KindPing && m.Kind != KindPong && m.Kind != KindOther {
			ws.Close()
			return nil, fmt.Errorf("got %q before connection_ack", b)
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	return c, nil
}

func (c *Conn) send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

// Subscribe starts operation id.
func (c *Conn) Subscribe(id, query string, vars map[string]any) error {
	b, err := json.Marshal(map[string]any{
		"type": "subscribe", "id": id,
		"payload": map[string]any{"query": query, "variables": vars},
	})
	if err != nil {
		return err
	}
	return c.send(string(b))
}

// Complete stops operation id.
func (c *Conn) Complete(id string) error {
	return c.send(`{"type":"complete","id":` + strconv.Quote(id) + `}`)
}

// Run reads messages until the connection fails or closes, or handle
// returns false, answering pings itself. It returns nil when handle
// stopped it or the connection was closed by Close.
func (c *Conn) Run(handle func(Msg) bool) error {
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return nil
			}
			return err
		}
		c.rbuf.Reset()
		if _, err := c.rbuf.ReadFrom(r); err != nil {
			return err
		}
		m, err := Parse(c.rbuf.Bytes())
		if err != nil {
			return err
		}
		if m.Kind == KindPing {
			if err := c.send(`{"type":"pong"}`); err != nil {
				return err
			}
			continue
		}
		if !handle(m) {
			return nil
		}
	}
}

// bufPool recycles HTTP response buffers.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// SetReadDeadline bounds the next reads.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// Close closes the connection without a closing handshake, as a client
// that goes away does.
func (c *Conn) Close() error { return c.ws.Close() }

// CloseNormal sends a normal closure and closes.
func (c *Conn) CloseNormal() error {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	return c.ws.Close()
}

// Post sends a GraphQL request over HTTP and returns the response body.
func Post(ctx context.Context, hc *http.Client, url, query string, vars map[string]any) ([]byte, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	return PostRaw(ctx, hc, url, body)
}

// PostRaw posts a prepared JSON body to a GraphQL endpoint.
func PostRaw(ctx context.Context, hc *http.Client, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	out := bytes.Clone(buf.Bytes())
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("HTTP %s: %.300s", resp.Status, out)
	}
	if bytes.Contains(out, []byte(`"errors"`)) {
		return out, fmt.Errorf("GraphQL errors: %.300s", out)
	}
	return out, nil
}
