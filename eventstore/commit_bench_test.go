package eventstore_test

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/natsembed"
)

// syncAlwaysStore opens a store on an embedded JetStream, in process as the
// server runs it, that fsyncs before every acknowledgement (Rewind's
// default).
func syncAlwaysStore(b *testing.B, cfg eventstore.Config) *eventstore.Store {
	b.Helper()
	ns, err := natsembed.Start(natsembed.Config{DataDir: b.TempDir(), SyncAlways: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ns.Shutdown)
	nc, err := ns.Connect()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := eventstore.Open(ctx, nc, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAppendSyncAlways measures Append under fsync-always, per
// message and with group commit: from 64 concurrent appenders (events/s),
// and from one appender waiting for each acknowledgement (its latency, the
// cost of an append when nothing else is going on).
func BenchmarkAppendSyncAlways(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  eventstore.Config
	}{
		{"per-message", eventstore.Config{DisableGroupCommit: true}},
		{"group-commit", eventstore.Config{}},
	} {
		for _, appenders := range []int{1, 64, 256} {
			b.Run(mode.name+"/appenders="+strconv.Itoa(appenders), func(b *testing.B) {
				s := syncAlwaysStore(b, mode.cfg)
				ev := eventstore.Event{Topic: "bench", Type: "x", Data: json.RawMessage(`{"n":1,"padding":"0123456789012345678901234567890123456789"}`)}
				ctx := context.Background()
				var mu sync.Mutex
				var lat []time.Duration
				b.ResetTimer()
				var wg sync.WaitGroup
				work := make(chan struct{}, appenders)
				go func() {
					for range b.N {
						work <- struct{}{}
					}
					close(work)
				}()
				for range appenders {
					wg.Go(func() {
						var mine []time.Duration
						for range work {
							t := time.Now()
							if _, err := s.Append(ctx, ev); err != nil {
								b.Error(err)
								return
							}
							mine = append(mine, time.Since(t))
						}
						mu.Lock()
						lat = append(lat, mine...)
						mu.Unlock()
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
				}
			})
		}
	}
}

// BenchmarkAppendBatchSyncAlways measures AppendBatch (bulk loads) under
// fsync-always, 1,000 events a call.
func BenchmarkAppendBatchSyncAlways(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  eventstore.Config
	}{
		{"per-message", eventstore.Config{DisableGroupCommit: true}},
		{"group-commit", eventstore.Config{}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			s := syncAlwaysStore(b, mode.cfg)
			evs := make([]eventstore.Event, 1000)
			for i := range evs {
				evs[i] = eventstore.Event{Topic: "bench", Type: "x", Data: json.RawMessage(`{"n":1,"padding":"0123456789012345678901234567890123456789"}`)}
			}
			for b.Loop() {
				if _, err := s.AppendBatch(context.Background(), evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
