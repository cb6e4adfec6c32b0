package replay

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
)

// TestRecentMirrorsRetention drives the window with random events and
// checks it against a model of JetStream's limits, applied as JetStream
// applies them when it stores an event (the topic's oldest beyond
// MaxMsgsPerSubject, then the stream's oldest beyond MaxMsgs), with
// removals from the front that only the stream's first sequence tells
// (age, bytes): whatever it answers for a start, it answers what the
// stream holds after it; it answers for every start from its own front,
// and for every start while it holds the whole stream; and its memory
// stays within its bounds.
func TestRecentMirrorsRetention(t *testing.T) {
	for round := range 200 {
		rng := rand.New(rand.NewPCG(uint64(round), 7))
		sc := eventstore.Config{
			MaxMsgsPerSubject: []int64{0, 1, 2, 5}[rng.IntN(4)],
			MaxMsgs:           []int64{0, 3, 20, 200}[rng.IntN(4)],
		}
		maxEvents := []int{1, 10, 50, 1000}[rng.IntN(4)]
		w := newRecent(maxEvents, 1<<30, sc)
		topics := 1 + rng.IntN(6)
		var stream []*eventstore.Event // what JetStream holds, oldest first
		var seq uint64
		stale := false // the window was not told of the last removal from the front
		for step := range 300 {
			seq++
			ev := &eventstore.Event{Seq: seq, Topic: fmt.Sprint("t", rng.IntN(topics)), Data: []byte("1")}
			stream = append(stream, ev)
			if per := sc.MaxMsgsPerSubject; per > 0 {
				var same []int
				for i, e := range stream {
					if e.Topic == ev.Topic {
						same = append(same, i)
					}
				}
				if over := len(same) - int(per); over > 0 {
					stream = slices.Delete(stream, same[0], same[0]+1)
				}
			}
			if m := int(sc.MaxMsgs); m > 0 && len(stream) > m {
				stream = stream[len(stream)-m:]
			}
			w.add(ev)
			if rng.IntN(20) == 0 { // age or bytes removed the oldest few
				stream = stream[min(rng.IntN(4), len(stream)):]
				stale = true
			}
			if rng.IntN(10) == 0 { // the window is told the stream's first sequence
				first := seq + 1
				if len(stream) > 0 {
					first = stream[0].Seq
				}
				w.retain(first)
				stale = false
			}
			if stale {
				// Until told, the window may serve what age or bytes removed
				// (sync tells it before a replay); the rest of its state
				// stays right, as the checks once told show.
				continue
			}
			check := func(after uint64) {
				got, ok := w.chunk(after, seq, 1<<30, nil)
				var want []uint64
				for _, e := range stream {
					if e.Seq > after {
						want = append(want, e.Seq)
					}
				}
				if ok && !slices.Equal(seqsOf(got), want) {
					t.Fatalf("round %d step %d %+v max %d: after %d the window serves %v, the stream holds %v", round, step, sc, maxEvents, after, seqsOf(got), want)
				}
				if !ok && after+1 >= w.from {
					t.Fatalf("round %d step %d: after %d refused though the window starts at %d", round, step, after, w.from)
				}
			}
			for range 3 {
				check(uint64(rng.IntN(int(seq) + 1)))
			}
			check(0)
			if w.live > maxEvents || (sc.MaxMsgs > 0 && w.live > int(sc.MaxMsgs)) {
				t.Fatalf("round %d step %d: the window holds %d events, over its bounds", round, step, w.live)
			}
			if w.holes > len(w.slots)/2+1 || len(w.topics) > w.live {
				t.Fatalf("round %d step %d: %d slots for %d events (%d holes), %d topics", round, step, len(w.slots), w.live, w.holes, len(w.topics))
			}
		}
	}
}

// TestRecentWholeStream: a window that holds the whole stream (loaded
// from an empty one, or told its first sequence) serves a replay from the
// start; one that dropped stored events for room does not.
func TestRecentWholeStream(t *testing.T) {
	w := newRecent(3, 1<<30, eventstore.Config{})
	w.from, w.whole = 1, true // what prefill sets on an empty stream
	for seq := range uint64(3) {
		w.add(&eventstore.Event{Seq: seq + 1, Topic: "t"})
	}
	if got, ok := w.chunk(0, 3, 10, nil); !ok || len(got) != 3 {
		t.Fatalf("whole: %v, %v", seqsOf(got), ok)
	}
	w.add(&eventstore.Event{Seq: 4, Topic: "t"}) // 1 is still stored, no longer here
	if _, ok := w.chunk(0, 4, 10, nil); ok {
		t.Fatal("the window served from the start after dropping a stored event")
	}
	w.retain(3) // age removed 1 and 2
	if got, ok := w.chunk(0, 4, 10, nil); !ok || !slices.Equal(seqsOf(got), []uint64{3, 4}) {
		t.Fatalf("after retain(3): %v, %v", seqsOf(got), ok)
	}
}

func seqsOf(evs []*eventstore.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

// BenchmarkRecentAdd: what the tail pays per event to put it in a full
// window of 100,000, over 10,000 topics, with and without the store's
// retention to mirror (keep 2 per topic makes a hole per event).
func BenchmarkRecentAdd(b *testing.B) {
	for _, tc := range []struct {
		name string
		sc   eventstore.Config
	}{
		{"no retention", eventstore.Config{}},
		{"keep 2 per topic", eventstore.Config{MaxMsgsPerSubject: 2}},
		{"max msgs 50000", eventstore.Config{MaxMsgs: 50_000}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const window, topics = 100_000, 10_000
			names := make([]string, topics)
			for i := range names {
				names[i] = fmt.Sprint("devices.", i)
			}
			evs := make([]eventstore.Event, 4*window)
			for i := range evs {
				evs[i] = eventstore.Event{Topic: names[(i*7919)%topics], Type: "n", Data: []byte(`{"v":1}`)}
			}
			w := newRecent(window, 64<<20, tc.sc)
			var seq uint64
			next := func() {
				ev := &evs[seq%uint64(len(evs))]
				seq++
				ev.Seq = seq
				w.add(ev)
			}
			for range 2 * window { // full, holes and all
				next()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				next()
			}
		})
	}
}
