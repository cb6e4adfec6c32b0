package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// BenchmarkFanoutWhere is BenchmarkFanout's 1,000 live subscribers
// without a filter and across 10 distinct filters, in the same run: "pass"
// filters let every event through (the same deliveries as unfiltered, so
// the difference is the filters' cost: one decode and ten evaluations per
// event), "tenth" filters each keep a tenth of the events (k = j), as a
// dashboard's subscribers split by a field would. It reports events/s
// through the tail and deliveries/s.
func BenchmarkFanoutWhere(b *testing.B) {
	const subs, distinct, events = 1000, 10, 2000
	for _, mode := range []struct {
		name   string
		filter func(j int) string // subscriber group j's filter; "" none
		perEv  int                // deliveries per event
	}{
		{"unfiltered", func(int) string { return "" }, subs},
		{"10-filters-pass", func(j int) string { return fmt.Sprintf(`{"path":"k","ne":%d}`, -1-j) }, subs},
		{"10-filters-tenth", func(j int) string { return fmt.Sprintf(`{"path":"k","eq":%d}`, j) }, subs / distinct},
	} {
		b.Run(mode.name, func(b *testing.B) {
			n := testenv.StartNATS(b)
			store := n.Store(eventstore.Config{})
			hub := replay.NewHub(store, replay.Config{Buffer: 4096}, quiet)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = hub.Run(ctx) }()
			<-hub.Ready()
			var wg sync.WaitGroup
			var delivered atomic.Int64
			for i := range subs {
				req := replay.Request{Topics: []string{"t"}, Live: true}
				if spec := mode.filter(i % distinct); spec != "" {
					f, err := eventfilter.Parse([]byte(spec))
					if err != nil {
						b.Fatal(err)
					}
					req.Filter = f
				}
				sub, err := hub.Subscribe(ctx, req)
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
				batch[i] = eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(fmt.Sprintf(`{"k":%d,"status":"paid","total":12.5}`, i%distinct))}
			}
			b.ResetTimer()
			for b.Loop() {
				target := delivered.Load() + int64(events*mode.perEv)
				if _, err := store.AppendBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
				testenv.Eventually(b, 60e9, "every delivery", func() bool { return delivered.Load() >= target })
			}
			b.StopTimer()
			b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(events*mode.perEv*b.N)/b.Elapsed().Seconds(), "deliveries/s")
			cancel()
			wg.Wait()
		})
	}
}
