package server_test

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

const liveQuery = `subscription { events(topics: ["t"]) { id } }`

// subscribeMsg is a subscribe message for liveQuery with id, as raw JSON.
func subscribeMsg(id string) string {
	b, _ := json.Marshal(wstest.Message{Type: "subscribe", ID: id, Payload: json.RawMessage(`{"query":` + mustJSON(liveQuery) + `}`)})
	return string(b)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// raw sends one text frame as it is.
func raw(t *testing.T, c *wstest.Client, s string) {
	t.Helper()
	if err := c.Conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// expectClose reads until the server closes and checks the code and reason.
func expectClose(t *testing.T, c *wstest.Client, code int, reason string) {
	t.Helper()
	for {
		_, err := c.TryRead(5 * time.Second)
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("want close %d %q, got %v", code, reason, err)
		}
		if ce.Code != code || !strings.Contains(ce.Text, reason) {
			t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Text, code, reason)
		}
		return
	}
}

// expectOpen checks the socket still works: a ping gets its pong.
func expectOpen(t *testing.T, c *wstest.Client) {
	t.Helper()
	raw(t, c, `{"type":"ping","payload":{"n":1}}`)
	for {
		_ = c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m wstest.Message
		if err := c.Conn.ReadJSON(&m); err != nil {
			t.Fatalf("socket not usable: %v", err)
		}
		if m.Type == "pong" {
			if string(m.Payload) != `{"n":1}` {
				t.Fatalf("pong payload %s, want the ping's", m.Payload)
			}
			return
		}
	}
}

// TestTransportWSRules: every rule of graphql-transport-ws, over a raw socket.
func TestTransportWSRules(t *testing.T) {
	e := start(t, api.Config{WebSocket: gqlws.Config{InitTimeout: 300 * time.Millisecond, MaxSubscriptions: 3}}, replay.Config{})
	for _, tc := range []struct {
		name   string
		init   bool
		send   []string
		code   int
		reason string
	}{
		{"no connection_init", false, nil, 4408, "Connection initialisation timeout"},
		{"invalid JSON", true, []string{`{nope`}, 4400, "Invalid message"},
		{"no type", true, []string{`{"id":"1"}`}, 4400, "Invalid message"},
		{"unknown type", true, []string{`{"type":"hello"}`}, 4400, `unexpected type "hello"`},
		{"server-only type", true, []string{`{"type":"next","id":"1","payload":{}}`}, 4400, `unexpected type "next"`},
		{"subscribe before ack", false, []string{`{"type":"subscribe","id":"1","payload":{"query":"{hello}"}}`}, 4401, "Unauthorized"},
		{"second connection_init", true, []string{`{"type":"connection_init"}`}, 4429, "Too many initialisation requests"},
		{"subscribe without id", true, []string{`{"type":"subscribe","payload":{"query":"{hello}"}}`}, 4400, "needs an id"},
		{"subscribe without payload", true, []string{`{"type":"subscribe","id":"1"}`}, 4400, "needs an id and a payload"},
		{"complete without id", true, []string{`{"type":"complete"}`}, 4400, "needs an id"},
		{"init payload not an object", false, []string{`{"type":"connection_init","payload":[1]}`}, 4400, "must be an object"},
		{"duplicate id", true, []string{subscribeMsg("d"), subscribeMsg("d")}, 4409, "Subscriber for d already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
			if tc.init {
				c.Init()
			}
			for _, s := range tc.send {
				raw(t, c, s)
			}
			expectClose(t, c, tc.code, tc.reason)
		})
	}

	t.Run("ping, pong, errors and complete keep the socket open", func(t *testing.T) {
		c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		expectOpen(t, c) // ping is allowed before connection_init
		c.Init()
		expectOpen(t, c)
		raw(t, c, `{"type":"pong"}`) // an unsolicited pong is a heartbeat
		// A validation error is an error message; the socket stays open.
		c.Subscribe("bad", `subscription { nope }`, nil)
		if m := c.Read(5 * time.Second); m.Type != "error" || m.ID != "bad" || wstest.ErrorCodes(t, m)[0] != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("validation: %s %s", m.Type, m.Payload)
		}
		// A single-result operation: next, then complete.
		c.Subscribe("q", `{ hello }`, nil)
		if m := c.Read(5 * time.Second); m.Type != "next" || m.ID != "q" || !strings.Contains(string(m.Payload), "Hello") {
			t.Fatalf("query: %s %s", m.Type, m.Payload)
		}
		if m := c.Read(5 * time.Second); m.Type != "complete" || m.ID != "q" {
			t.Fatalf("query end: %s", m.Type)
		}
		// The id of a finished operation may be used again.
		c.Subscribe("q", `{ hello }`, nil)
		if m := c.Read(5 * time.Second); m.Type != "next" {
			t.Fatalf("reused id: %s %s", m.Type, m.Payload)
		}
		c.Read(5 * time.Second)
		// complete from the client stops a subscription; the server sends
		// nothing more for it.
		c.Subscribe("s", liveQuery, nil)
		testenv.Eventually(t, 5*time.Second, "the subscription", func() bool { return e.hub.Subscribers() == 1 })
		c.Stop("s")
		testenv.Eventually(t, 5*time.Second, "the subscription to end", func() bool { return e.hub.Subscribers() == 0 })
		expectOpen(t, c)
	})

	t.Run("subscriptions per connection are bounded", func(t *testing.T) {
		c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		c.Init()
		for _, id := range []string{"1", "2", "3"} {
			c.Subscribe(id, liveQuery, nil)
		}
		c.Subscribe("4", liveQuery, nil)
		m := c.Read(5 * time.Second)
		if m.Type != "error" || m.ID != "4" || wstest.ErrorCodes(t, m)[0] != "TOO_MANY_SUBSCRIPTIONS" {
			t.Fatalf("fourth subscription: %s %s", m.Type, m.Payload)
		}
		expectOpen(t, c)
	})

	t.Run("a message over the size limit closes 1009", func(t *testing.T) {
		c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		c.Init()
		raw(t, c, `{"type":"ping","payload":{"x":"`+strings.Repeat("x", 1<<20)+`"}}`)
		expectClose(t, c, websocket.CloseMessageTooBig, "")
	})
}

func TestNoSubprotocol(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4406 {
		t.Fatalf("no subprotocol: %v, want close 4406", err)
	}
}

// TestDuplicateIDDoesNotLeak: the operation a duplicate id collided with
// ends with the connection; nothing stays behind.
func TestDuplicateIDDoesNotLeak(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	e.publish(t, "t", 0) // the hub's tail is running: part of the baseline
	testenv.Eventually(t, 5*time.Second, "the hub's tail", func() bool { return e.hub.Head() == 1 })
	base := runtime.NumGoroutine()
	for range 20 {
		c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		c.Init()
		c.Subscribe("d", liveQuery, nil)
		c.Subscribe("d", liveQuery, nil)
		expectClose(t, c, 4409, "already exists")
		c.Conn.Close()
	}
	testenv.Eventually(t, 10*time.Second, "no subscriptions left", func() bool { return e.hub.Subscribers() == 0 })
	testenv.Eventually(t, 10*time.Second, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base })
}

// TestLegacyRules: the graphql-ws (subscriptions-transport-ws) protocol.
func TestLegacyRules(t *testing.T) {
	e := start(t, api.Config{WebSocket: gqlws.Config{InitTimeout: 300 * time.Millisecond, KeepAlive: 100 * time.Millisecond}}, replay.Config{})

	t.Run("init timeout", func(t *testing.T) {
		c := wstest.Dial(t, e.url, wstest.LegacyWS, nil)
		expectClose(t, c, 4408, "Connection initialisation timeout")
	})

	t.Run("messages", func(t *testing.T) {
		c := wstest.Dial(t, e.url, wstest.LegacyWS, nil)
		// start before connection_init fails that operation only.
		raw(t, c, `{"type":"start","id":"early","payload":{"query":"{hello}"}}`)
		if m := c.Read(5 * time.Second); m.Type != "error" || m.ID != "early" {
			t.Fatalf("start before init: %s %s", m.Type, m.Payload)
		}
		// connection_init is answered with connection_ack, then ka.
		raw(t, c, `{"type":"connection_init","payload":{}}`)
		_ = c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var ack, ka wstest.Message
		_ = c.Conn.ReadJSON(&ack)
		_ = c.Conn.ReadJSON(&ka)
		if ack.Type != "connection_ack" || ka.Type != "ka" {
			t.Fatalf("init answered %s, %s; want connection_ack, ka", ack.Type, ka.Type)
		}
		// Keep-alives keep coming.
		_ = c.Conn.ReadJSON(&ka)
		if ka.Type != "ka" {
			t.Fatalf("keep-alive: %s", ka.Type)
		}
		// Parsing errors are answered with connection_error and do not disconnect.
		for _, bad := range []string{`{nope`, `{"type":"bogus"}`, `{"type":"start","payload":{"query":"{hello}"}}`} {
			raw(t, c, bad)
			if m := c.Read(5 * time.Second); m.Type != "connection_error" {
				t.Fatalf("%s: got %s, want connection_error", bad, m.Type)
			}
		}
		// A query: data, then complete.
		c.Subscribe("q", `{ hello }`, nil)
		if m := c.Read(5 * time.Second); m.Type != "data" || m.ID != "q" {
			t.Fatalf("query: %s %s", m.Type, m.Payload)
		}
		if m := c.Read(5 * time.Second); m.Type != "complete" {
			t.Fatalf("query end: %s", m.Type)
		}
		// A validation error: one error object, and the socket stays open.
		c.Subscribe("v", `subscription { nope }`, nil)
		m := c.Read(5 * time.Second)
		var one struct{ Message string }
		if m.Type != "error" || json.Unmarshal(m.Payload, &one) != nil || one.Message == "" {
			t.Fatalf("validation: %s %s", m.Type, m.Payload)
		}
		// Reusing a running id replaces the operation: one subscription, not two.
		c.Subscribe("s", liveQuery, nil)
		c.Subscribe("s", liveQuery, nil)
		testenv.Eventually(t, 5*time.Second, "one subscription", func() bool { return e.hub.Subscribers() == 1 })
		// stop is answered with complete.
		c.Stop("s")
		if m := c.Read(5 * time.Second); m.Type != "complete" || m.ID != "s" {
			t.Fatalf("stop: %s %s", m.Type, m.ID)
		}
		testenv.Eventually(t, 5*time.Second, "no subscription", func() bool { return e.hub.Subscribers() == 0 })
		raw(t, c, `{"type":"connection_terminate"}`)
		expectClose(t, c, 1000, "terminated")
	})
}

// TestShutdownCloses1001: when the server shuts down, sockets close with
// 1001, which clients take as "reconnect and resume".
func TestShutdownCloses1001(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	e.shutdown()
	expectClose(t, c, 1001, "shutting down")
}
