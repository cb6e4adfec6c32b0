package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	natsgo "github.com/nats-io/nats.go"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/proctest"
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

// benchSize is the stream size for the catch-up and storm benchmarks:
// 100,000 by default, REWIND_BENCH_EVENTS=1000000 for the full figures.
func benchSize() int {
	if n, err := strconv.Atoi(os.Getenv("REWIND_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

func fillStream(b *testing.B, store *eventstore.Store, n int) []eventstore.Event {
	b.Helper()
	var all []eventstore.Event
	for len(all) < n {
		batch := make([]eventstore.Event, min(1000, n-len(all)))
		for i := range batch {
			batch[i] = eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(`{"pad":"0123456789012345678901234567890123456789"}`)}
		}
		got, err := store.AppendBatch(context.Background(), batch)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, got...)
	}
	return all
}

// BenchmarkReconnectStorm: 2,000 clients resume within one moment at
// cursors spread over the last 10,000 events of the stream, on a hub
// started after the events were written (as after a restart), while live
// events keep coming. It reports the time until every client has caught
// up, storage reads per replayed delivery, and the latency of live events
// seen by a bystander meanwhile: with the recent window and without.
func BenchmarkReconnectStorm(b *testing.B) {
	for _, mode := range []struct {
		name   string
		recent int
	}{{"window", 0}, {"no-window", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			n := testenv.StartNATS(b)
			store := n.Store(eventstore.Config{})
			stored := fillStream(b, store, benchSize())
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				hub := replay.NewHub(store, replay.Config{RecentEvents: mode.recent, Buffer: 4096}, quiet)
				go func() { _ = hub.Run(ctx) }()
				<-hub.Ready()
				bystander, _ := hub.Subscribe(ctx, replay.Request{Topics: []string{"live"}, Live: true})
				var lat []time.Duration
				latDone := make(chan struct{})
				go func() {
					defer close(latDone)
					for ev := range bystander.C {
						var d struct{ Sent int64 }
						_ = json.Unmarshal(ev.Data, &d)
						lat = append(lat, time.Since(time.Unix(0, d.Sent)))
					}
				}()
				stopLive := make(chan struct{})
				go func() { // live events during the storm, 200/s
					tick := time.NewTicker(5 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stopLive:
							return
						case <-tick.C:
							_, _ = store.Append(ctx, eventstore.Event{Topic: "live", Type: "x", Data: json.RawMessage(fmt.Sprintf(`{"sent":%d}`, time.Now().UnixNano()))})
						}
					}
				}()
				const clients = 2000
				start := time.Now()
				var wg sync.WaitGroup
				want := int64(0)
				for i := range clients {
					after := stored[len(stored)-1-(i*5)%10_000].Seq
					want += int64(stored[len(stored)-1].Seq - after)
					sub, err := hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}, After: after})
					if err != nil {
						b.Fatal(err)
					}
					need := stored[len(stored)-1].Seq - after
					wg.Add(1)
					go func() {
						defer wg.Done()
						for got := uint64(0); got < need; got++ {
							if _, ok := <-sub.C; !ok {
								return
							}
						}
					}()
				}
				wg.Wait()
				caughtUp := time.Since(start)
				close(stopLive)
				reads := hub.ReplayReads()
				cancel()
				<-latDone
				slices.Sort(lat)
				b.ReportMetric(caughtUp.Seconds(), "s-until-all-caught-up")
				b.ReportMetric(float64(reads.FromStorage)/float64(max(want, 1)), "storage-reads/replayed")
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "live-p99-ms")
				}
			}
		})
	}
}

// BenchmarkCatchUp: one subscriber the whole stream behind catches up at
// storage speed while the heap stays bounded: it reports events/s and the
// largest heap in use seen during the catch-up.
func BenchmarkCatchUp(b *testing.B) {
	// JetStream runs in its own process, so that this process's memory is
	// Rewind's alone: the hub, one subscription and the NATS client.
	nats := proctest.StartNATSCluster(b, 1)
	nc, err := natsgo.Connect(nats.URLs())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	store, err := eventstore.Open(context.Background(), nc, eventstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	size := benchSize()
	fillStream(b, store, size)
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		hub := replay.NewHub(store, replay.Config{RecentEvents: -1}, quiet)
		go func() { _ = hub.Run(ctx) }()
		<-hub.Ready()
		runtime.GC()
		var peak uint64
		sample := func() {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		sample()
		base := peak
		sub, _ := hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}})
		start := time.Now()
		for i := range size {
			if _, ok := <-sub.C; !ok {
				b.Fatal(sub.Err())
			}
			if i%10_000 == 0 {
				sample()
			}
		}
		b.ReportMetric(float64(size)/time.Since(start).Seconds(), "events/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(peak-base)/(1<<20), "heap-growth-MiB")
		cancel()
	}
}
