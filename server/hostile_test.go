package server_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

// TestHostileClients: a client that never reads, one that floods
// subscribe messages, one that sends garbage and one that never sends
// connection_init are each cut off with their code, while a well-behaved
// client on the same server receives every event.
func TestHostileClients(t *testing.T) {
	e := start(t, api.Config{WebSocket: gqlws.Config{WriteTimeout: time.Second, InitTimeout: time.Second, MaxSubscriptions: 50}}, replay.Config{Buffer: 64})

	good := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	good.Init()
	good.Subscribe("g", wstest.EventsQuery, map[string]any{"topics": []string{"t"}})
	testenv.Eventually(t, 5*time.Second, "the good client", func() bool { return e.hub.Subscribers() == 1 })

	// The good client reads on its own, noting each event's latency.
	var mu sync.Mutex
	var latencies []time.Duration
	var gotIDs []string
	goodDone := make(chan struct{})
	const n = 300
	go func() {
		defer close(goodDone)
		for len(gotIDs) < n {
			m, err := good.TryRead(30 * time.Second)
			if err != nil {
				return
			}
			var r struct {
				Data struct{ Events wstest.Event }
			}
			_ = json.Unmarshal(m.Payload, &r)
			var d struct{ Sent int64 }
			_ = json.Unmarshal(r.Data.Events.Data, &d)
			mu.Lock()
			gotIDs = append(gotIDs, r.Data.Events.ID)
			latencies = append(latencies, time.Since(time.Unix(0, d.Sent)))
			mu.Unlock()
		}
	}()

	// 1. Never reads: subscribes to big events and stops reading.
	sleeper := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	sleeper.Init()
	sleeper.Subscribe("s", wstest.EventsQuery, map[string]any{"topics": []string{"big"}})
	// 2. Floods subscribe messages: past the limit each gets an error,
	// and a reused id closes the socket 4409.
	flood := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	flood.Init()
	for i := range 60 {
		flood.Subscribe(fmt.Sprint(i), wstest.EventsQuery, map[string]any{"topics": []string{"flood"}})
	}
	// 3. Garbage frames.
	garbage := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	garbage.Init()
	_ = garbage.Conn.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0x00, 0x13})
	// 4. Never sends connection_init.
	silent := wstest.Dial(t, e.url, wstest.TransportWS, nil)

	var want []string
	pad := strings.Repeat("x", 60<<10) // n of these overfill the sleeper's socket buffers
	for range n {
		want = append(want, e.publish(t, "t", map[string]any{"sent": time.Now().UnixNano()}).ID)
		e.publish(t, "big", map[string]any{"pad": pad})
	}

	var errs int
	for range 10 {
		if m := flood.Read(5 * time.Second); m.Type == "error" && wstest.ErrorCodes(t, m)[0] == "TOO_MANY_SUBSCRIPTIONS" {
			errs++
		}
	}
	if errs != 10 {
		t.Errorf("the flood's 10 subscriptions past the limit got %d errors", errs)
	}
	flood.Subscribe("0", wstest.EventsQuery, map[string]any{"topics": []string{"flood"}})
	expectClose(t, flood, 4409, "already exists")
	expectClose(t, garbage, 4400, "Invalid message")
	expectClose(t, silent, 4408, "initialisation timeout")
	// The sleeper is cut off when a write to it times out: its
	// subscription goes while it still has not read a thing.
	testenv.Eventually(t, 30*time.Second, "only the good client left", func() bool { return e.hub.Subscribers() == 1 })
	read := 0
	for {
		if _, err := sleeper.TryRead(5 * time.Second); err != nil {
			break
		}
		read++
	}
	if read >= n {
		t.Fatalf("the sleeper got all %d events: it was never cut off", read)
	}

	<-goodDone
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(gotIDs, want) {
		t.Fatalf("the good client got %d of %d events", len(gotIDs), n)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	t.Logf("the good client received all %d events beside four hostile clients; latency p50 %v, p99 %v, max %v",
		n, latencies[n/2].Round(time.Microsecond), latencies[n*99/100].Round(time.Microsecond), latencies[n-1].Round(time.Microsecond))
}
