package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// BenchmarkFanoutWebSocket publishes events over HTTP to subscribers on
// WebSockets of their own (graphql-transport-ws), through the whole
// server, and reports the process's CPU per delivery (server and the
// subscribers' reads, which only count frames) and deliveries per second:
// Rewind's events field, and a typed field (examples/schema) selecting
// every data field. It uses nothing but the server's HTTP surface and
// gorilla, so the same file measures older builds too:
//
//	go test ./server -run '^$' -bench FanoutWebSocket -benchtime 30x
func BenchmarkFanoutWebSocket(b *testing.B) {
	untyped := fanout{
		subscribe: `subscription { events(topics: ["fan"]) { id topic type data time } }`,
		publish:   `mutation { publish(topic: "fan", data: {order: 1, note: "fan-out", lines: [{sku: "A-1", qty: 2}]}) { id } }`,
	}
	typed := fanout{
		subscribe: `subscription { orderPlaced(topics: ["orders.fan"]) { id topic time live data { orderId total currency lines { sku qty } note } } }`,
		publish:   `mutation { publishOrderPlaced(topic: "orders.fan", data: {orderId: "1", total: 12.5, lines: [{sku: "A-1", qty: 2}], note: "fan-out"}) { id } }`,
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			untyped.run(b, start(b, api.Config{}, replay.Config{}), n)
		})
	}
	b.Run("typed/subscribers=1000", func(b *testing.B) {
		s, err := eventschema.Load("../examples/schema/orders.graphqls")
		if err != nil {
			b.Fatal(err)
		}
		typed.run(b, startWith(b, eventstore.Config{MaxPayload: 64 << 10, Check: s.Check}, api.Config{Events: s}, replay.Config{}), 1000)
	})
}

// fanout is what a fan-out's subscribers subscribe with and what its
// publisher sends.
type fanout struct{ subscribe, publish string }

func (f fanout) run(b *testing.B, e *env, n int) {
	wsURL := "ws" + strings.TrimPrefix(e.url, "http")
	var received atomic.Int64
	var readers sync.WaitGroup
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Sec-WebSocket-Protocol": {"graphql-transport-ws"}})
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
		send := func(m any) {
			if err := c.WriteJSON(m); err != nil {
				b.Fatal(err)
			}
		}
		send(map[string]any{"type": "connection_init"})
		if _, msg, err := c.ReadMessage(); err != nil || !bytes.Contains(msg, []byte("connection_ack")) {
			b.Fatalf("init: %s %v", msg, err)
		}
		send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": f.subscribe}})
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if bytes.Contains(msg, []byte(`"next"`)) {
					received.Add(1)
				}
			}
		}()
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
		readers.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for e.hub.Subscribers() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscriptions live", e.hub.Subscribers(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}

	const perIteration = 20 // events published at once
	body, _ := json.Marshal(map[string]any{"query": f.publish})
	publish := func() {
		resp, err := http.Post(e.url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Error(err)
			return
		}
		defer resp.Body.Close()
		var r struct{ Errors []any }
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Errors) > 0 {
			b.Errorf("publish: %v %v", err, r.Errors)
		}
	}
	before := cpuTime()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		var pub sync.WaitGroup
		for range perIteration {
			pub.Go(publish)
		}
		pub.Wait()
		want := int64((i + 1) * perIteration * n)
		deadline := time.Now().Add(30 * time.Second)
		for received.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d deliveries", received.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	deliveries := float64(received.Load())
	b.ReportMetric(float64(cpuTime()-before)/deliveries/1e3, "cpu-µs/delivery")
	b.ReportMetric(deliveries/time.Since(start).Seconds(), "deliveries/s")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
