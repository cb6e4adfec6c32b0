// Package wstest is a small GraphQL-over-WebSocket client for tests that
// speaks both graphql-transport-ws and the legacy graphql-ws over real
// sockets, so tests see exactly what a client sees.
package wstest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The two subprotocols.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws"
)

// Message is one protocol message.
type Message struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Client is one WebSocket connection.
type Client struct {
	t     testing.TB
	Conn  *websocket.Conn
	Proto string
}

// Dial connects to a server's /graphql (http:// or ws:// URL) with proto.
func Dial(t testing.TB, url, proto string, header http.Header) *Client {
	t.Helper()
	c, err := TryDial(url, proto, header)
	if err != nil {
		t.Fatalf("dial %s (%s): %v", url, proto, err)
	}
	cl := &Client{t: t, Conn: c, Proto: proto}
	t.Cleanup(func() { _ = c.Close() })
	return cl
}

// Wrap makes a Client of a connection dialled otherwise (over TLS, say),
// closed when the test ends.
func Wrap(t testing.TB, c *websocket.Conn, proto string) *Client {
	t.Cleanup(func() { _ = c.Close() })
	return &Client{t: t, Conn: c, Proto: proto}
}

// TryDial connects and returns the error instead of failing the test.
func TryDial(url, proto string, header http.Header) (*websocket.Conn, error) {
	url = "ws" + strings.TrimPrefix(url, "http")
	d := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial(url, header)
	return c, err
}

// Send writes one message.
func (c *Client) Send(m Message) {
	c.t.Helper()
	if err := c.Conn.WriteJSON(m); err != nil {
		c.t.Fatalf("send %s: %v", m.Type, err)
	}
}

// Init sends connection_init and waits for connection_ack.
func (c *Client) Init() {
	c.t.Helper()
	c.Send(Message{Type: "connection_init", Payload: json.RawMessage(`{}`)})
	if m := c.Read(5 * time.Second); m.Type != "connection_ack" {
		c.t.Fatalf("got %s %s, want connection_ack", m.Type, m.Payload)
	}
}

// Subscribe starts operation id.
func (c *Client) Subscribe(id, query string, vars map[string]any) {
	c.t.Helper()
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	typ := "subscribe"
	if c.Proto == LegacyWS {
		typ = "start"
	}
	c.Send(Message{Type: typ, ID: id, Payload: payload})
}

// Stop ends operation id from the client side.
func (c *Client) Stop(id string) {
	typ := "complete"
	if c.Proto == LegacyWS {
		typ = "stop"
	}
	c.Send(Message{Type: typ, ID: id})
}

// Read returns the next message, answering pings and skipping keep-alives.
func (c *Client) Read(timeout time.Duration) Message {
	c.t.Helper()
	m, err := c.TryRead(timeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// TryRead is Read returning errors (a close frame among them).
func (c *Client) TryRead(timeout time.Duration) (Message, error) {
	deadline := time.Now().Add(timeout)
	for {
		_ = c.Conn.SetReadDeadline(deadline)
		var m Message
		if err := c.Conn.ReadJSON(&m); err != nil {
			return m, err
		}
		switch m.Type {
		case "ka", "pong":
			continue
		case "ping":
			_ = c.Conn.WriteJSON(Message{Type: "pong"})
			continue
		}
		return m, nil
	}
}

// IsData reports whether m carries a result.
func IsData(m Message) bool { return m.Type == "next" || m.Type == "data" }

// Result is a data message's payload.
type Result struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// Decode parses a data message's payload.
func Decode(t testing.TB, m Message) Result {
	t.Helper()
	var r Result
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		t.Fatalf("payload %s: %v", m.Payload, err)
	}
	return r
}

// ErrorCodes returns the extensions.code of each error in an error
// message's payload (a list of errors, or one error on the legacy
// protocol) or a data payload's errors.
func ErrorCodes(t testing.TB, m Message) []string {
	t.Helper()
	var list []struct {
		Extensions map[string]any `json:"extensions"`
	}
	var single struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	if err := json.Unmarshal(m.Payload, &list); err != nil && json.Unmarshal(m.Payload, &single) == nil && single.Message != "" {
		// The legacy protocol's error payload is one error.
		list = append(list, struct {
			Extensions map[string]any `json:"extensions"`
		}{single.Extensions})
	} else if err != nil {
		var r Result
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			t.Fatalf("error payload %s: %v", m.Payload, err)
		}
		for _, e := range r.Errors {
			list = append(list, struct {
				Extensions map[string]any `json:"extensions"`
			}{e.Extensions})
		}
	}
	var codes []string
	for _, e := range list {
		code, _ := e.Extensions["code"].(string)
		codes = append(codes, code)
	}
	return codes
}

// Event is the selection tests make of Event.
type Event struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	Time  string          `json:"time"`
}

// EventsQuery subscribes to events with every field of Event.
const EventsQuery = `subscription($topics: [String!]!, $after: ID, $types: [String!]) {
  events(topics: $topics, afterId: $after, types: $types) { id topic type data time }
}`

// Collect reads n events of operation id from field (e.g. "events").
func (c *Client) Collect(id, field string, n int, timeout time.Duration) []Event {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var out []Event
	for len(out) < n {
		m := c.Read(time.Until(deadline))
		if m.ID != id {
			continue
		}
		if !IsData(m) {
			c.t.Fatalf("after %d of %d events: got %s %s", len(out), n, m.Type, m.Payload)
		}
		r := Decode(c.t, m)
		if len(r.Errors) > 0 {
			c.t.Fatalf("errors in result: %s", m.Payload)
		}
		var ev Event
		if err := json.Unmarshal(r.Data[field], &ev); err != nil {
			c.t.Fatalf("event %s: %v", r.Data[field], err)
		}
		out = append(out, ev)
	}
	return out
}
