package gqlws_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/faultschema"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

// frame is a client frame as it goes over the wire: masked.
func frame(op int, fin bool, payload string) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	default:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	}
	key := []byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, key...)
	for i := range len(payload) {
		b = append(b, payload[i]^key[i%4])
	}
	return b
}

func text(m wstest.Message) []byte {
	b, _ := json.Marshal(m)
	return frame(websocket.TextMessage, true, string(b))
}

// TestCoalescedFramesAreRead: frames that reach the server in one
// segment are all handled, whatever their kind, and so are frames that
// come in pieces. Where a poller reports the socket readable, the bytes
// past the first message wait in the read buffer, which the socket no
// longer reports: a message left there would be stranded.
func TestCoalescedFramesAreRead(t *testing.T) {
	s := startFault(t, gqlws.Config{})
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			c := wstest.Dial(t, s.url, proto, nil)
			pongs := make(chan string, 10)
			c.Conn.SetPongHandler(func(p string) error { pongs <- p; return nil })
			raw := c.Conn.UnderlyingConn()
			subscribe := "subscribe"
			if proto == wstest.LegacyWS {
				subscribe = "start"
			}
			sub := func(id string) []byte {
				return text(wstest.Message{Type: subscribe, ID: id, Payload: json.RawMessage(`{"query":"{ ok }"}`)})
			}
			// One write: init, a ping, a subscribe, a pong, a subscribe
			// fragmented around a ping.
			var b bytes.Buffer
			b.Write(text(wstest.Message{Type: "connection_init"}))
			b.Write(frame(websocket.PingMessage, true, "p1"))
			b.Write(sub("a"))
			b.Write(frame(websocket.PongMessage, true, "unsolicited"))
			msg, _ := json.Marshal(wstest.Message{Type: subscribe, ID: "b", Payload: json.RawMessage(`{"query":"{ ok }"}`)})
			b.Write(frame(websocket.TextMessage, false, string(msg[:10])))
			b.Write(frame(websocket.PingMessage, true, "p2"))
			b.Write(frame(0 /* continuation */, true, string(msg[10:])))
			if _, err := raw.Write(b.Bytes()); err != nil {
				t.Fatal(err)
			}
			if m := c.Read(5 * time.Second); m.Type != "connection_ack" {
				t.Fatalf("got %s, want connection_ack", m.Type)
			}
			// Operations run side by side: each id's result, then its
			// complete.
			got := map[string][]string{}
			for range 4 {
				m := c.Read(5 * time.Second)
				got[m.ID] = append(got[m.ID], m.Type)
			}
			for _, id := range []string{"a", "b"} {
				if len(got[id]) != 2 || !wstest.IsData(wstest.Message{Type: got[id][0]}) || got[id][1] != "complete" {
					t.Fatalf("%s: got %v, want its result and complete", id, got[id])
				}
			}
			for _, want := range []string{"p1", "p2"} {
				select {
				case got := <-pongs:
					if got != want {
						t.Fatalf("pong %q, want %q", got, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("no pong for ping %q", want)
				}
			}
			// Pieces: a ping cut in two, and a subscribe cut inside its
			// header, then inside its payload; each piece waits a moment.
			pieces := sub("c")
			ping := frame(websocket.PingMessage, true, "p3")
			for _, p := range [][]byte{ping[:3], ping[3:], pieces[:1], pieces[1:9], pieces[9:]} {
				if _, err := raw.Write(p); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond) // the pieces must arrive apart
			}
			if m := c.Read(5 * time.Second); !wstest.IsData(m) || m.ID != "c" {
				t.Fatalf("got %s %s, want c's result", m.Type, m.ID)
			}
			if m := c.Read(5 * time.Second); m.Type != "complete" || m.ID != "c" {
				t.Fatalf("got %s %s, want c's complete", m.Type, m.ID)
			}
			select {
			case got := <-pongs:
				if got != "p3" {
					t.Fatalf("pong %q, want p3", got)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no pong for the ping in pieces")
			}
			// A control frame gorilla refuses is still refused: a ping
			// without FIN is a protocol error (1002).
			if _, err := raw.Write(frame(websocket.PingMessage, false, "bad")); err != nil {
				t.Fatal(err)
			}
			expectClose(t, c, websocket.CloseProtocolError)
		})
	}
}

// gqlwsGoroutines counts the goroutines running gqlws's code.
func gqlwsGoroutines(t *testing.T) int {
	t.Helper()
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "rewind/transport/gqlws.") {
			n++
		}
	}
	return n
}

// TestTLSConnectionsReadByGoroutine: a connection whose socket cannot be
// polled for readiness (TLS: bytes may wait decrypted in the TLS layer)
// holds a goroutine that reads it, and is served as any other: messages,
// keep-alives, the silence limit.
func TestTLSConnectionsReadByGoroutine(t *testing.T) {
	const keepAlive, writeTimeout = 50 * time.Millisecond, 50 * time.Millisecond
	schema := faultschema.New()
	srv := httptest.NewTLSServer(schema.Handler(gqlws.New(gqlws.Config{KeepAlive: keepAlive, WriteTimeout: writeTimeout, Logger: slog.New(slog.DiscardHandler)})))
	t.Cleanup(func() {
		schema.Release()
		srv.Close()
	})
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			d := websocket.Dialer{Subprotocols: []string{proto}, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
			ws, _, err := d.Dial("wss"+strings.TrimPrefix(srv.URL, "https")+"/graphql", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			before := gqlwsGoroutines(t)
			cl := wstest.Wrap(t, ws, proto)
			cl.Init()
			expectOK(t, cl, "q")
			if got := gqlwsGoroutines(t); got < 1 {
				t.Fatalf("%d goroutines in gqlws for an open TLS connection, want its reader", got)
			}
			// Keep-alives come, and a client that stops answering them is
			// cut off.
			keepAlives := 0
			for keepAlives < 3 {
				switch m := readRaw(t, cl); m.Type {
				case "ping":
					cl.Send(wstest.Message{Type: "pong"})
					keepAlives++
				case "ka":
					keepAlives++
				}
			}
			ws.SetPingHandler(func(string) error { return nil }) // no pong by itself either
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				if _, _, err := ws.NextReader(); err != nil {
					break
				}
			}
			testenv.Eventually(t, 5*time.Second, "its reader to end", func() bool { return gqlwsGoroutines(t) <= before })
		})
	}
}
