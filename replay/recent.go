package replay

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/rewind-dev/rewind/eventstore"
)

// recent keeps the newest stretch of the stream in memory, bounded by
// count and bytes. The hub fills it from its one tail (and, at start, with
// one storage read of the stretch), and replays that fall inside it are
// served from it: when every client resumes at once, after a restart or a
// failover, the stretch they need is read from JetStream once, not once
// per client.
type recent struct {
	maxEvents int
	maxBytes  int

	mu     sync.RWMutex
	events []*eventstore.Event // oldest first; a ring would save copies, a slice is simpler
	bytes  int
	from   uint64 // every stored event with a sequence >= from is in events (0: none)

	// Counters of replayed deliveries by where they were read.
	fromMemory  atomic.Int64
	fromStorage atomic.Int64
}

func newRecent(maxEvents, maxBytes int) *recent {
	return &recent{maxEvents: maxEvents, maxBytes: maxBytes}
}

func (w *recent) enabled() bool { return w.maxEvents > 0 }

func eventSize(ev *eventstore.Event) int { return 96 + len(ev.Topic) + len(ev.Type) + len(ev.Data) }

// add appends the next event of the stream.
func (w *recent) add(ev *eventstore.Event) {
	if !w.enabled() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.from == 0 {
		w.from = ev.Seq
	}
	w.events = append(w.events, ev)
	w.bytes += eventSize(ev)
	drop := 0
	for len(w.events)-drop > w.maxEvents || (w.bytes > w.maxBytes && len(w.events)-drop > 1) {
		w.bytes -= eventSize(w.events[drop])
		drop++
	}
	if drop > 0 {
		w.from = w.events[drop-1].Seq + 1
		// Reslicing would keep the dropped pointers alive in the backing
		// array; copy down once the dead prefix is large.
		if drop >= len(w.events)/2 {
			w.events = append(w.events[:0:0], w.events[drop:]...)
		} else {
			clear(w.events[:drop])
			w.events = w.events[drop:]
		}
	}
}

// chunk copies up to max events with sequences in (after, until] into buf.
// ok is false when the window no longer holds every event after after.
func (w *recent) chunk(after, until uint64, max int, buf []*eventstore.Event) (_ []*eventstore.Event, ok bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.from == 0 || after+1 < w.from {
		return buf[:0], false
	}
	// Events are in sequence order: find the first after after.
	lo, hi := 0, len(w.events)
	for lo < hi {
		m := (lo + hi) / 2
		if w.events[m].Seq <= after {
			lo = m + 1
		} else {
			hi = m
		}
	}
	buf = buf[:0]
	for i := lo; i < len(w.events) && len(buf) < max && w.events[i].Seq <= until; i++ {
		buf = append(buf, w.events[i])
	}
	return buf, true
}

// prefill loads the last stretch of the stream as st describes it, with
// one storage read, so that the first replays after a start need none. It
// reads no more than the window can hold: the count bound, and the byte
// bound at the stream's average event size.
func (w *recent) prefill(ctx context.Context, store *eventstore.Store, st eventstore.State) error {
	if !w.enabled() || st.Events == 0 {
		return nil
	}
	n := uint64(w.maxEvents)
	if avg := st.Bytes / st.Events; avg > 0 {
		n = min(n, max(uint64(w.maxBytes)/avg, 1))
	}
	after := st.FirstSeq - 1
	if st.LastSeq-after > n {
		after = st.LastSeq - n
	}
	w.mu.Lock()
	w.from = after + 1
	w.mu.Unlock()
	for ev, err := range store.Read(ctx, eventstore.Query{After: after, Until: st.LastSeq}) {
		if err != nil {
			w.mu.Lock()
			w.events, w.bytes, w.from = nil, 0, 0
			w.mu.Unlock()
			return err
		}
		w.add(&ev)
	}
	return nil
}

// ReplayReads says where replayed events came from: memory (the recent
// window shared by every subscription) or storage (a read of their own).
type ReplayReads struct {
	FromMemory, FromStorage int64
}

// ReplayReads returns the counts since the hub started.
func (h *Hub) ReplayReads() ReplayReads {
	return ReplayReads{FromMemory: h.recent.fromMemory.Load(), FromStorage: h.recent.fromStorage.Load()}
}
