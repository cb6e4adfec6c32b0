package replay_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/telemetry"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// BenchmarkFanoutTracing is BenchmarkFanout with 100 subscribers and
// tracing off (no tracer), on with 1% of appends and subscriptions
// sampled, and on at 100%, as cmd/server samples (by parent, and every
// delivery of a sampled append), into an SDK with a batch processor and
// an exporter that discards: the cost of the spans, not of a network.
func BenchmarkFanoutTracing(b *testing.B) {
	for _, tc := range []struct {
		name  string
		ratio float64 // < 0: off
	}{{"off", -1}, {"sampled=1%", 0.01}, {"sampled=100%", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			const subs, events = 100, 2000
			var scfg eventstore.Config
			var hcfg replay.Config
			hcfg.Buffer = 4096
			if tc.ratio >= 0 {
				tp := sdktrace.NewTracerProvider(
					sdktrace.WithSampler(telemetry.Sampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(tc.ratio)))),
					sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				scfg.Tracer, hcfg.Tracer = tp.Tracer("bench"), tp.Tracer("bench")
			}
			n := testenv.StartNATS(b)
			store := n.Store(scfg)
			hub := replay.NewHub(store, hcfg, quiet)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = hub.Run(ctx) }()
			<-hub.Ready()
			var wg sync.WaitGroup
			var delivered atomic.Int64
			for range subs {
				sub, err := hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}, Live: true})
				if err != nil {
					b.Fatal(err)
				}
				wg.Go(func() {
					for range sub.C {
						delivered.Add(1)
					}
				})
			}
			testenv.Eventually(b, 10e9, "subscribers", func() bool { return hub.Subscribers() == subs })
			// Appends one by one, each its own span (and its own sampling
			// decision), 50 at once: a batch would be a single span.
			evs := make([]eventstore.Event, events)
			for i := range evs {
				evs[i] = eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(`{"n":1}`)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				target := delivered.Load() + int64(events*subs)
				var pub sync.WaitGroup
				for w := range 50 {
					pub.Go(func() {
						for i := w; i < events; i += 50 {
							if _, err := store.Append(ctx, evs[i]); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				pub.Wait()
				testenv.Eventually(b, 60e9, "every delivery", func() bool { return delivered.Load() >= target })
			}
			b.StopTimer()
			b.ReportMetric(float64(events*subs*b.N)/b.Elapsed().Seconds(), "deliveries/s")
			cancel()
			wg.Wait()
		})
	}
}
