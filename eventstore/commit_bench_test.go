package eventstore_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/natsembed"
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

// BenchmarkAppendSyncAlways compares Append per message (group commit
// disabled) and with group commit, under fsync-always: from 64 and 256
// concurrent appenders (events/s), and from one appender waiting for each
// acknowledgement (the latency of an append at no load). Each mode has its
// own server; they take turns of 20 appends per appender, b.N appends each
// in all, so that the machine's slow spells (other work, a busy disk) weigh
// on both alike. The figures are the custom metrics; ns/op means little.
func BenchmarkAppendSyncAlways(b *testing.B) {
	for _, appenders := range []int{1, 64, 256} {
		b.Run("appenders="+strconv.Itoa(appenders), func(b *testing.B) {
			modes := []struct {
				name  string
				s     *eventstore.Store
				took  time.Duration
				lat   []time.Duration
				count int
			}{
				{name: "per-message", s: syncAlwaysStore(b, eventstore.Config{DisableGroupCommit: true})},
				{name: "group-commit", s: syncAlwaysStore(b, eventstore.Config{})},
			}
			ev := eventstore.Event{Topic: "bench", Type: "x", Data: json.RawMessage(`{"n":1,"padding":"0123456789012345678901234567890123456789"}`)}
			ctx := context.Background()
			b.ResetTimer()
			for left := b.N; left > 0; {
				k := min(left, 20*appenders)
				left -= k
				for i := range modes {
					m := &modes[i]
					lat, took := appendTurn(b, ctx, m.s, ev, appenders, k)
					m.took += took
					m.lat = append(m.lat, lat...)
					m.count += k
				}
			}
			b.StopTimer()
			rates := make([]float64, len(modes))
			for i, m := range modes {
				rates[i] = float64(m.count) / m.took.Seconds()
				slices.Sort(m.lat)
				b.ReportMetric(rates[i], m.name+"-events/s")
				b.ReportMetric(float64(m.lat[len(m.lat)/2].Microseconds())/1000, m.name+"-p50-ms")
				b.ReportMetric(float64(m.lat[len(m.lat)*99/100].Microseconds())/1000, m.name+"-p99-ms")
			}
			b.ReportMetric(rates[1]/rates[0], "ratio")
		})
	}
}

// appendTurn makes k appends of ev from n goroutines and returns their
// latencies and how long they took.
func appendTurn(b *testing.B, ctx context.Context, s *eventstore.Store, ev eventstore.Event, n, k int) ([]time.Duration, time.Duration) {
	var left atomic.Int64
	left.Store(int64(k))
	var mu sync.Mutex
	var lat []time.Duration
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			var mine []time.Duration
			for left.Add(-1) >= 0 {
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
	return lat, time.Since(start)
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
