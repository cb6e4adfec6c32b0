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

	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// BenchmarkFanoutWebSocket publishes events over HTTP to subscribers on
// WebSockets of their own (graphql-transport-ws, Rewind's events field),
// through the whole server, and reports the process's CPU per delivery
// (server and the subscribers' reads, which only count frames) and
// deliveries per second. It uses nothing but the server's HTTP surface
// and gorilla, so the same file measures older builds too:
//
//	go test ./server -run '^$' -bench FanoutWebSocket -benchtime 20x
func BenchmarkFanoutWebSocket(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			benchmarkFanout(b, n)
		})
	}
}

func benchmarkFanout(b *testing.B, n int) {
	e := start(b, api.Config{}, replay.Config{})
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
		send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
			"query":     `subscription($t: [String!]!) { events(topics: $t) { id topic type data time } }`,
			"variables": map[string]any{"t": []string{"fan"}},
		}})
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
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($d: JSON!) { publish(topic: "fan", data: $d) { id } }`,
		"variables": map[string]any{"d": map[string]any{"order": 1, "note": "fan-out"}},
	})
	publish := func() {
		resp, err := http.Post(e.url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Error(err)
			return
		}
		_ = resp.Body.Close()
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
