package eventstore_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// benchEvents is the stream size for cursor benchmarks: 100,000 by
// default, REWIND_BENCH_EVENTS=1000000 for the full figure.
func benchEvents(b *testing.B) int {
	if n, err := strconv.Atoi(os.Getenv("REWIND_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

func fill(b *testing.B, s *eventstore.Store, n int) []eventstore.Event {
	b.Helper()
	ctx := context.Background()
	var all []eventstore.Event
	for len(all) < n {
		batch := make([]eventstore.Event, min(5000, n-len(all)))
		for i := range batch {
			batch[i] = eventstore.Event{Topic: "bench", Type: "x", Data: json.RawMessage(`{"n":1}`)}
		}
		got, err := s.AppendBatch(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, got...)
	}
	return all
}

// BenchmarkResolve measures turning a cursor id into a stream sequence in
// a large stream: from the cache of recent ids (a client reconnecting
// after a blip) and from storage (an old cursor, on an instance that never
// saw it).
func BenchmarkResolve(b *testing.B) {
	n := testenv.StartNATS(b)
	writer := n.Store(eventstore.Config{})
	evs := fill(b, writer, benchEvents(b))
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			ev := evs[len(evs)-1-rand.IntN(1000)]
			if seq, err := writer.Resolve(ctx, ev.ID); err != nil || seq != ev.Seq {
				b.Fatal(seq, err)
			}
		}
	})
	b.Run("storage", func(b *testing.B) {
		reader := n.Store(eventstore.Config{CacheSize: 1}) // every lookup misses the cache
		for b.Loop() {
			ev := evs[rand.IntN(len(evs))]
			if seq, err := reader.Resolve(ctx, ev.ID); err != nil || seq != ev.Seq {
				b.Fatal(seq, err)
			}
		}
	})
	b.Run("unknown", func(b *testing.B) {
		reader := n.Store(eventstore.Config{CacheSize: 1})
		for b.Loop() {
			_, err := reader.Resolve(ctx, ulid.MustNew(evs[rand.IntN(len(evs))].ID.Time(), ulid.DefaultEntropy()))
			if err == nil {
				b.Fatal("resolved an unknown id")
			}
		}
	})
}

// BenchmarkRead measures replay throughput from storage.
func BenchmarkRead(b *testing.B) {
	n := testenv.StartNATS(b)
	s := n.Store(eventstore.Config{})
	const size = 50_000
	fill(b, s, size)
	b.ResetTimer()
	for b.Loop() {
		count := 0
		for _, err := range s.Read(context.Background(), eventstore.Query{}) {
			if err != nil {
				b.Fatal(err)
			}
			count++
		}
		if count != size {
			b.Fatalf("read %d of %d", count, size)
		}
	}
	b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "events/s")
}
