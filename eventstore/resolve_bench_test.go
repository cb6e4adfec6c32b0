package eventstore_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// stored is where an event went: kept without pointers, so that a
// million of them cost the garbage collector nothing to scan.
type stored struct {
	id  ulid.ULID
	seq uint64
}

// fillTwoWriters stores n events on topic "bench" from two stores writing
// at once, each with its own id generator, in pipelined batches of 2,000,
// as rewind-bench fills its stream. It returns them in stream order.
func fillTwoWriters(b *testing.B, n *testenv.NATS, size int) []stored {
	b.Helper()
	var (
		mu  sync.Mutex
		all = make([]stored, 0, size)
	)
	g, ctx := errgroup.WithContext(context.Background())
	for w := range 2 {
		s := n.Store(eventstore.Config{})
		g.Go(func() error {
			for k := w; k < size; {
				batch := make([]eventstore.Event, 0, 2000)
				for ; k < size && len(batch) < cap(batch); k += 2 {
					batch = append(batch, eventstore.Event{Topic: "bench", Type: "message", Data: json.RawMessage(`{"n":` + strconv.Itoa(k) + `}`)})
				}
				got, err := s.AppendBatch(ctx, batch)
				if err != nil {
					return err
				}
				mu.Lock()
				for _, ev := range got {
					all = append(all, stored{ev.ID, ev.Seq})
				}
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	slices.SortFunc(all, func(a, b stored) int { return cmp.Compare(a.seq, b.seq) })
	return all
}

// BenchmarkCursor is rewind-bench's workload 3 without the server around
// it: a cursor at a random event of a stream filled by two writers, on a
// NATS server just restarted (nothing in its block cache) and a store
// that never saw the ids, timed to the resolved sequence (resolve-p50/p99)
// and to the first event a replay after it yields (first-event-p50/p99).
// It also reports the share of lookups the near lookup's direct gets did
// not answer, which scanned headers (scanned-%): unlike the times, it does
// not depend on the machine's load. The stream holds benchEvents events
// (REWIND_BENCH_EVENTS).
func BenchmarkCursor(b *testing.B) {
	n := testenv.StartNATS(b)
	evs := fillTwoWriters(b, n, benchEvents(b))
	n.Stop()
	n.Start()
	reader := n.Store(eventstore.Config{})
	ctx := context.Background()
	st, err := reader.State(ctx)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(len(evs)), 3))
	var resolve, first []time.Duration
	scanned := 0
	for b.Loop() {
		j := rng.IntN(len(evs) - 1)
		turns := reader.ScanTurns()
		start := time.Now()
		seq, err := reader.Resolve(ctx, evs[j].id)
		if err != nil || seq != evs[j].seq {
			b.Fatalf("resolve %s: %d, %v; want %d", evs[j].id, seq, err, evs[j].seq)
		}
		resolved := time.Since(start)
		if reader.ScanTurns() > turns {
			scanned++
		}
		var got eventstore.Event
		for ev, err := range reader.Read(ctx, eventstore.Query{Topics: []string{"bench"}, After: seq, Until: st.LastSeq}) {
			if err != nil {
				b.Fatal(err)
			}
			got = ev
			break
		}
		if got.ID != evs[j+1].id {
			b.Fatalf("after %s: first event %s, want %s", evs[j].id, got.ID, evs[j+1].id)
		}
		resolve = append(resolve, resolved)
		first = append(first, time.Since(start))
	}
	reportPercentiles(b, "resolve", resolve)
	reportPercentiles(b, "first-event", first)
	b.ReportMetric(100*float64(scanned)/float64(len(resolve)), "scanned-%")
}

// reportPercentiles reports the median and 99th percentile of ds in
// milliseconds.
func reportPercentiles(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	at := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), name+"-p50-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
}

// BenchmarkCursorUnderUnknownIDs is BenchmarkCursor's lookups (without the
// replay after them) while eight clients look up ids that are not stored,
// with times inside the stream's span, as fast as they are answered: the
// bound on scans keeps those from slowing the lookups that find their id
// near its time. It reports the lookups' percentiles and the most scans
// that ran at once.
func BenchmarkCursorUnderUnknownIDs(b *testing.B) {
	n := testenv.StartNATS(b)
	begin := time.Now()
	evs := fillTwoWriters(b, n, benchEvents(b))
	span := time.Since(begin)
	reader := n.Store(eventstore.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	var g errgroup.Group
	for i := range 8 {
		g.Go(func() error {
			rng := rand.New(rand.NewPCG(uint64(i), 5))
			for ctx.Err() == nil {
				at := begin.Add(time.Duration(rng.Int64N(int64(span))))
				_, err := reader.Resolve(ctx, ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()))
				if err != nil && ctx.Err() == nil && !errors.Is(err, eventstore.ErrCursorNotFound) {
					return err
				}
			}
			return nil
		})
	}
	rng := rand.New(rand.NewPCG(uint64(len(evs)), 3))
	var resolve []time.Duration
	for b.Loop() {
		j := rng.IntN(len(evs))
		start := time.Now()
		seq, err := reader.Resolve(context.Background(), evs[j].id)
		if err != nil || seq != evs[j].seq {
			b.Fatalf("resolve %s: %d, %v; want %d", evs[j].id, seq, err, evs[j].seq)
		}
		resolve = append(resolve, time.Since(start))
	}
	cancel()
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	reportPercentiles(b, "resolve", resolve)
	b.ReportMetric(float64(reader.PeakScans()), "peak-scans")
}
