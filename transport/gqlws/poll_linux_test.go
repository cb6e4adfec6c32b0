//go:build linux

package gqlws_test

import (
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

// TestIdleConnectionsHoldNoGoroutine: on Linux a connection whose
// subscription waits for results holds no goroutine, over both
// subprotocols and while keep-alives come and go (graphql-ws's answered
// by WebSocket pongs alone): the poller's one goroutine reports the
// sockets readable, and a goroutine lives only while a message is read.
// Once the connections close, the poller stops too.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	const keepAlive = 100 * time.Millisecond
	s := startFault(t, gqlws.Config{KeepAlive: keepAlive})
	const n = 40
	clients := make([]*wstest.Client, n)
	answered := make(chan struct{}, 10*n)
	for i := range clients {
		c := dialInit(t, s.url, protos[i%2], nil)
		c.Subscribe("idle", "subscription { idle }", nil)
		if m := c.Read(5 * time.Second); !wstest.IsData(m) || m.ID != "idle" {
			t.Fatalf("client %d: got %s %s, want the idle subscription's result", i, m.Type, m.ID)
		}
		clients[i] = c
	}
	// The clients answer keep-alives: graphql-transport-ws's ping with a
	// pong message (TryRead), graphql-ws's WebSocket ping with a pong
	// frame (gorilla, while reading). They read on goroutines of their
	// own, which are not gqlws's.
	for _, c := range clients {
		c.Conn.SetPingHandler(func(p string) error {
			answered <- struct{}{}
			return c.Conn.WriteControl(websocket.PongMessage, []byte(p), time.Now().Add(time.Second))
		})
		go func() {
			for {
				if _, err := c.TryRead(time.Minute); err != nil {
					return
				}
			}
		}()
	}
	// Over several keep-alive intervals no goroutine of gqlws waits in a
	// read (one per connection did), but its poller; turns read what
	// came, and keep-alives are written, on goroutines that end.
	deadline := time.Now().Add(10 * keepAlive)
	most := 0
	for time.Now().Before(deadline) {
		most = max(most, gqlwsReaders(t))
		time.Sleep(keepAlive / 10)
	}
	if most > n/10 {
		t.Fatalf("up to %d goroutines of gqlws waiting in a read for %d idle connections", most, n)
	}
	if len(answered) < n/2 {
		t.Fatalf("%d keep-alive pings answered by graphql-ws clients, want several each", len(answered))
	}
	testenv.Eventually(t, 5*time.Second, "gqlws to hold its poller alone", func() bool { return gqlwsGoroutines(t) <= 1 })
	for _, c := range clients {
		_ = c.Conn.Close()
	}
	if !waitFor(5*time.Second, func() bool { return gqlwsGoroutines(t) == 0 }) {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
		for _, g := range strings.Split(b.String(), "\n\n") {
			if strings.Contains(g, "rewind/transport/gqlws.") {
				t.Log(g)
			}
		}
		t.Fatal("goroutines of gqlws left")
	}
	t.Logf("%d idle connections: at most %d goroutines of gqlws waiting in a read", n, most)
}

// gqlwsReaders counts the goroutines of gqlws waiting in a read of a
// socket, its poller's aside.
func gqlwsReaders(t *testing.T) int {
	t.Helper()
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "rewind/transport/gqlws.") && strings.Contains(g, "netpollblock") && !strings.Contains(g, "gqlws.(*poller).run") {
			n++
		}
	}
	return n
}

func waitFor(d time.Duration, f func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if f() {
			return true
		}
	}
	return false
}
