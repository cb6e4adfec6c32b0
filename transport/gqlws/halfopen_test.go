package gqlws_test

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

// TestHalfOpenClientClosed: a client that goes silent (it neither sends
// nor answers the server's pings, as when its packets stop without a
// FIN) is disconnected two keep-alive intervals and the write timeout
// after the last thing it sent. Before, small keep-alives went into the socket's buffer
// without error and such a connection stayed open until the kernel gave
// up retransmitting, a quarter of an hour later (found by
// cmd/server TestNetworkFaults).
func TestHalfOpenClientClosed(t *testing.T) {
	const keepAlive, writeTimeout = 100 * time.Millisecond, 200 * time.Millisecond
	s := startFault(t, gqlws.Config{KeepAlive: keepAlive, WriteTimeout: writeTimeout})
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			c := dialInit(t, s.url, proto, nil) // acknowledged
			// From here on the client reads the socket's bytes itself,
			// so that nothing answers the server's pings.
			start := time.Now()
			raw := c.Conn.UnderlyingConn()
			_ = raw.SetReadDeadline(start.Add(5 * time.Second))
			buf := make([]byte, 512)
			var err error
			for err == nil {
				_, err = raw.Read(buf)
			}
			bound := 2*keepAlive + writeTimeout
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the silent client's connection is still open after 5s (bound %v)", bound)
			}
			if !errors.Is(err, io.EOF) {
				t.Logf("connection ended with %v", err)
			}
			if took := time.Since(start); took < bound-50*time.Millisecond {
				t.Fatalf("closed %v after the client went silent, before two keep-alives and the write timeout (%v)", took, bound)
			}
		})
	}
}

// TestQuietClientKept: a client that reads but sends nothing of its own
// beyond what its protocol asks (pong to ping on graphql-transport-ws;
// on graphql-ws nothing but the WebSocket pongs that gorilla, like
// browsers, sends by itself) stays connected over many windows.
func TestQuietClientKept(t *testing.T) {
	const keepAlive, writeTimeout = 50 * time.Millisecond, 50 * time.Millisecond
	s := startFault(t, gqlws.Config{KeepAlive: keepAlive, WriteTimeout: writeTimeout})
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			c := dialInit(t, s.url, proto, nil)
			keepAlives := 0
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
				_ = c.Conn.SetReadDeadline(time.Now().Add(time.Second))
				var m wstest.Message
				if err := c.Conn.ReadJSON(&m); err != nil {
					t.Fatalf("after %d keep-alives: %v", keepAlives, err)
				}
				switch m.Type {
				case "ping":
					keepAlives++
					if err := c.Conn.WriteJSON(wstest.Message{Type: "pong"}); err != nil {
						t.Fatal(err)
					}
				case "ka":
					keepAlives++
				}
			}
			if keepAlives < 10 {
				t.Fatalf("%d keep-alives in 1s at a %v interval", keepAlives, keepAlive)
			}
			// Still served: a query answers.
			c.Subscribe("q", "{ ok }", nil)
			for {
				m := c.Read(5 * time.Second)
				if wstest.IsData(m) {
					break
				}
			}
		})
	}
}
