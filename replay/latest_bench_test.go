package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// BenchmarkLatest10kTopics measures a latest subscription over 10,000
// topics with 3 events each (30,000 stored, plus 1,000 on a topic it does
// not match): the time to its first event and to caught up, when it has
// delivered the 10,000 newest events and follows live.
func BenchmarkLatest10kTopics(b *testing.B) {
	const topics, perTopic = 10_000, 3
	n := testenv.StartNATS(b)
	store := n.Store(eventstore.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for round := range perTopic {
		batch := make([]eventstore.Event, 0, 1000)
		for i := range topics {
			batch = append(batch, eventstore.Event{Topic: fmt.Sprintf("dev.%d.status", i), Type: "status", Data: json.RawMessage(fmt.Sprint(round))})
			if len(batch) == cap(batch) {
				if _, err := store.AppendBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	other := make([]eventstore.Event, 1000)
	for i := range other {
		other[i] = eventstore.Event{Topic: "other", Type: "x", Data: json.RawMessage(`1`)}
	}
	if _, err := store.AppendBatch(ctx, other); err != nil {
		b.Fatal(err)
	}
	hub := replay.NewHub(store, replay.Config{}, quiet)
	go func() { _ = hub.Run(ctx) }()
	<-hub.Ready()
	var first, caught time.Duration
	b.ResetTimer()
	for b.Loop() {
		sctx, stop := context.WithCancel(ctx)
		began := time.Now()
		done := make(chan time.Duration, 1)
		sub, err := hub.Subscribe(sctx, replay.Request{Topics: []string{"dev.>"}, Latest: true},
			replay.OnCaughtUp(func(uint64) { done <- time.Since(began) }))
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for range sub.C {
			if got++; got == 1 {
				first += time.Since(began)
			}
			if got == topics {
				break
			}
		}
		caught += <-done
		stop()
		if got != topics {
			b.Fatalf("got %d events, want %d: %v", got, topics, sub.Err())
		}
	}
	b.ReportMetric(float64(first.Microseconds())/1000/float64(b.N), "ms-to-first")
	b.ReportMetric(float64(caught.Microseconds())/1000/float64(b.N), "ms-to-caught-up")
	b.ReportMetric(0, "ns/op")
}
