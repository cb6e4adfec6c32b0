package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// BenchmarkFanout measures live deliveries per second from one tail to N
// in-process subscribers (no transport): the ceiling the hub puts on any
// transport above it.
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			n := testenv.StartNATS(b)
			store := n.Store(eventstore.Config{})
			hub := replay.NewHub(store, replay.Config{Buffer: 4096}, quiet)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = hub.Run(ctx) }()
			<-hub.Ready()
			const events = 2000
			var wg sync.WaitGroup
			var delivered atomic.Int64
			for range subs {
				sub, err := hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}, Live: true})
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range sub.C {
						delivered.Add(1)
					}
				}()
			}
			testenv.Eventually(b, 10e9, "subscribers", func() bool { return hub.Subscribers() == subs })
			batch := make([]eventstore.Event, events)
			for i := range batch {
				batch[i] = eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(`{"n":1}`)}
			}
			b.ResetTimer()
			for b.Loop() {
				target := delivered.Load() + int64(events*subs)
				if _, err := store.AppendBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
				testenv.Eventually(b, 60e9, "every delivery", func() bool { return delivered.Load() >= target })
			}
			b.StopTimer()
			b.ReportMetric(float64(events*subs*b.N)/b.Elapsed().Seconds(), "deliveries/s")
			cancel()
			wg.Wait()
		})
	}
}
