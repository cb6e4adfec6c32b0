package eventstore_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestResolveNear: in a stream filled in bulk, where thousands of events
// carry the same millisecond, ids on each edge of the near lookup's first
// batch, of its sampled stretch and of its first samples resolve exactly;
// those within the stretch are found by the near lookup itself, whatever
// order the ids of one millisecond have in the stream, and with sampled
// messages removed.
//
// Every id is made a few milliseconds before the appends start, so the
// near lookup's stretch begins at the stream's first event and the edges
// are at known sequences.
func TestResolveNear(t *testing.T) {
	from := eventstore.FirstBatch + 1 // the sampled stretch: from..stretch
	stretch := eventstore.FirstBatch + eventstore.NearStretch
	sample := from + eventstore.NearStretch/(eventstore.Fanout+1) // the first one read
	size := stretch + 256
	edges := []int{ // sequences
		1, eventstore.FirstBatch, from, from + 1, sample - 1, sample, sample + 1,
		stretch/2 + 7, stretch - 1, stretch, stretch + 1, size,
	}
	for _, tc := range []struct {
		name string
		// entropy returns the id generator of writer w.
		entropy func(w int) io.Reader
		writers int
		removed []int // sequences deleted before the lookups
	}{
		{"one writer", func(int) io.Reader { return ulid.Monotonic(rand.Reader, 0) }, 1, nil},
		{"two writers interleaved", func(int) io.Reader { return ulid.Monotonic(rand.Reader, 0) }, 2, nil},
		{"random order within the millisecond", func(int) io.Reader { return rand.Reader }, 1, nil},
		{"sampled messages removed", func(int) io.Reader { return ulid.Monotonic(rand.Reader, 0) }, 1,
			[]int{from, sample, from + 4*(sample-from), stretch}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			// The near lookup reads what was stored up to NearAfter past
			// the id's time: the whole stretch must be stored within it,
			// which a loaded machine may miss. Such a run proves nothing,
			// so it is made again, a bounded number of times.
			var n *testenv.NATS
			var evs []eventstore.Event
			for attempt := 1; ; attempt++ {
				n = testenv.StartNATS(t)
				ms := ulid.Timestamp(time.Now().Add(-3 * time.Millisecond))
				gens := make([]io.Reader, tc.writers)
				for w := range gens {
					gens[w] = tc.entropy(w)
				}
				evs = make([]eventstore.Event, size)
				for i := range evs {
					evs[i] = eventstore.Event{ID: ulid.MustNew(ms, gens[i%tc.writers]), Topic: "bulk", Type: "x", Data: json.RawMessage(`{}`)}
				}
				var err error
				start := time.Now()
				if evs, err = n.Store(eventstore.Config{}).AppendBatch(ctx, evs); err != nil {
					t.Fatal(err)
				}
				took := time.Since(start)
				if took < eventstore.NearAfter-100*time.Millisecond {
					break
				}
				if attempt == 5 {
					t.Fatalf("storing %d events took %v five times, past the near lookup's %v: the machine is too loaded for this test", size, took, eventstore.NearAfter)
				}
				t.Logf("storing took %v, past the near lookup's %v: again", took, eventstore.NearAfter)
			}
			if evs[0].Seq != 1 || evs[size-1].Seq != uint64(size) {
				t.Fatalf("stored at sequences %d..%d, want 1..%d", evs[0].Seq, evs[size-1].Seq, size)
			}
			removed := map[int]bool{}
			if len(tc.removed) > 0 {
				js, err := jetstream.New(n.Connect())
				if err != nil {
					t.Fatal(err)
				}
				stream, err := js.Stream(ctx, "REWIND")
				if err != nil {
					t.Fatal(err)
				}
				for _, seq := range tc.removed {
					if err := stream.DeleteMsg(ctx, uint64(seq)); err != nil {
						t.Fatal(err)
					}
					removed[seq] = true
				}
			}
			reader := n.Store(eventstore.Config{}) // nothing cached: every lookup reads the stream
			for _, seq := range append(edges, tc.removed...) {
				id := evs[seq-1].ID
				got, err := reader.Resolve(ctx, id)
				switch {
				case removed[seq]:
					if !errors.Is(err, eventstore.ErrCursorNotFound) {
						t.Errorf("removed event at %d: resolved to %d, %v; want ErrCursorNotFound", seq, got, err)
					}
					continue
				case err != nil || got != uint64(seq):
					t.Errorf("event at %d: resolved to %d, %v", seq, got, err)
				}
				near, err := reader.LookupNear(ctx, id)
				if seq <= stretch && (err != nil || near != uint64(seq)) {
					t.Errorf("event at %d, within the near stretch 1..%d: near lookup gave %d, %v", seq, stretch, near, err)
				}
				if seq > stretch && (err != nil || (near != 0 && near != uint64(seq))) {
					t.Errorf("event at %d, past the near stretch 1..%d: near lookup gave %d, %v; want the event or 0", seq, stretch, near, err)
				}
			}
		})
	}
}

// TestResolveNearUnknown: an id that is not stored is not found by the
// near lookup, even when the samples around it share its millisecond and
// sort right next to it; Resolve then reports it unknown.
func TestResolveNearUnknown(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := ctxT(t)
	ms := ulid.Timestamp(time.Now().Add(-3 * time.Millisecond))
	gen := ulid.Monotonic(rand.Reader, 0)
	evs := make([]eventstore.Event, 2*(eventstore.FirstBatch+1024))
	for i := range evs {
		evs[i] = eventstore.Event{ID: ulid.MustNew(ms, gen), Topic: "bulk", Type: "x", Data: json.RawMessage(`{}`)}
	}
	// Every other id is kept back: the stream holds its neighbours only.
	var kept, missing []eventstore.Event
	for i, ev := range evs {
		if i%2 == 0 {
			kept = append(kept, ev)
		} else {
			missing = append(missing, ev)
		}
	}
	if _, err := n.Store(eventstore.Config{}).AppendBatch(ctx, kept); err != nil {
		t.Fatal(err)
	}
	reader := n.Store(eventstore.Config{})
	for _, ev := range []eventstore.Event{missing[0], missing[len(missing)/2], missing[len(missing)-1]} {
		if seq, err := reader.LookupNear(ctx, ev.ID); err != nil || seq != 0 {
			t.Errorf("near lookup of an id not stored: %d, %v", seq, err)
		}
		if seq, err := reader.Resolve(ctx, ev.ID); !errors.Is(err, eventstore.ErrCursorNotFound) {
			t.Errorf("resolve of an id not stored: %d, %v; want ErrCursorNotFound", seq, err)
		}
	}
}

// TestResolveNearLargeEvents: with events too large to sample cheaply,
// the near lookup reads headers instead, and still finds ids made in the
// same millisecond anywhere in its stretch.
func TestResolveNearLargeEvents(t *testing.T) {
	ctx := ctxT(t)
	data := json.RawMessage(`"` + strings.Repeat("x", 40<<10) + `"`)
	var n *testenv.NATS
	var evs []eventstore.Event
	// The ids' millisecond must be within the lookup's window of the time
	// JetStream stores them at (12 MB, with an fsync): on a loaded machine
	// that can take longer, and the lookup then rightly leaves them to the
	// scans. Store them again, with new ids, until it does not.
	for attempt := 1; ; attempt++ {
		n = testenv.StartNATS(t)
		ms := ulid.Timestamp(time.Now().Add(-3 * time.Millisecond))
		gen := ulid.Monotonic(rand.Reader, 0)
		evs = make([]eventstore.Event, 300)
		for i := range evs {
			evs[i] = eventstore.Event{ID: ulid.MustNew(ms, gen), Topic: "big", Type: "x", Data: data}
		}
		start := time.Now()
		var err error
		if evs, err = n.Store(eventstore.Config{}).AppendBatch(ctx, evs); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if took < eventstore.NearAfter-100*time.Millisecond {
			break
		}
		if attempt == 5 {
			t.Fatalf("storing took %v five times, past the near lookup's %v: the machine is too loaded for this test", took, eventstore.NearAfter)
		}
		t.Logf("storing took %v, past the near lookup's %v: again", took, eventstore.NearAfter)
	}
	reader := n.Store(eventstore.Config{})
	for _, i := range []int{0, 30, 31, 150, 299} {
		if seq, err := reader.LookupNear(ctx, evs[i].ID); err != nil || seq != evs[i].Seq {
			t.Errorf("event %d: near lookup gave %d, %v; want %d", i, seq, err, evs[i].Seq)
		}
	}
}

// TestSameWriter: ids that one monotonic generator makes in one
// millisecond, however many, count as one writer's; ids of another
// generator, or of another millisecond, do not.
func TestSameWriter(t *testing.T) {
	ms := ulid.Timestamp(time.Now())
	a, b := ulid.Monotonic(rand.Reader, 0), ulid.Monotonic(rand.Reader, 0)
	first := ulid.MustNew(ms, a)
	other := ulid.MustNew(ms, b)
	last := first
	for range 100_000 {
		last = ulid.MustNew(ms, a)
	}
	for _, tc := range []struct {
		name string
		x, y ulid.ULID
		want bool
	}{
		{"itself", first, first, true},
		{"100,000 ids apart", first, last, true},
		{"100,000 ids apart, the other way", last, first, true},
		{"another writer", first, other, false},
		{"another writer, the other way", other, last, false},
		{"another millisecond", first, ulid.MustNew(ms+1, a), false},
	} {
		if got := eventstore.SameWriter(tc.x, tc.y); got != tc.want {
			t.Errorf("%s: %s and %s: %v, want %v", tc.name, tc.x, tc.y, got, tc.want)
		}
	}
	// Across a carry into the top 16 bits of the entropy.
	var lo, hi ulid.ULID
	copy(lo[:], first[:6])
	copy(hi[:], first[:6])
	lo[7], hi[6] = 0xff, 0x01 // ...00ff ffff... and ...0100 0000...
	for i := 8; i < 16; i++ {
		lo[i] = 0xff
	}
	if !eventstore.SameWriter(lo, hi) || !eventstore.SameWriter(hi, lo) {
		t.Errorf("%s and %s, one apart across a carry: not the same writer", lo, hi)
	}
}

// TestResolveNearRuns: a stream filled in bulk by two writers, each
// storing runs of events of the same millisecond in turn, as writers of
// large batches do. The samples of the other writer's runs sort anywhere
// against an id; those of the id's writer bound it. Every id of the
// stretch is found by the near lookup's direct gets alone, without a scan.
func TestResolveNearRuns(t *testing.T) {
	for _, run := range []int{37, 300, 1500} {
		t.Run(fmt.Sprintf("runs of %d", run), func(t *testing.T) {
			ctx := ctxT(t)
			stretch := eventstore.FirstBatch + eventstore.NearStretch
			var n *testenv.NATS
			var evs []eventstore.Event
			for attempt := 1; ; attempt++ {
				n = testenv.StartNATS(t)
				ms := ulid.Timestamp(time.Now().Add(-3 * time.Millisecond))
				gens := []io.Reader{ulid.Monotonic(rand.Reader, 0), ulid.Monotonic(rand.Reader, 0)}
				evs = make([]eventstore.Event, stretch)
				for i := range evs {
					evs[i] = eventstore.Event{ID: ulid.MustNew(ms, gens[i/run%2]), Topic: "bulk", Type: "x", Data: json.RawMessage(`{}`)}
				}
				var err error
				start := time.Now()
				if evs, err = n.Store(eventstore.Config{}).AppendBatch(ctx, evs); err != nil {
					t.Fatal(err)
				}
				took := time.Since(start)
				if took < eventstore.NearAfter-100*time.Millisecond {
					break
				}
				if attempt == 5 {
					t.Fatalf("storing %d events took %v five times, past the near lookup's %v: the machine is too loaded for this test", stretch, took, eventstore.NearAfter)
				}
				t.Logf("storing took %v, past the near lookup's %v: again", took, eventstore.NearAfter)
			}
			reader := n.Store(eventstore.Config{})
			missed := 0
			for seq := eventstore.FirstBatch + 1; seq <= stretch; seq += 97 {
				got, err := reader.LookupDirect(ctx, evs[seq-1].ID)
				switch {
				case err != nil || (got != 0 && got != uint64(seq)):
					t.Fatalf("event at %d: direct lookup gave %d, %v", seq, got, err)
				case got == 0:
					missed++
					t.Errorf("event at %d: left to the scans", seq)
				}
			}
			t.Logf("%d ids left to the scans", missed)
		})
	}
}
