package replay

import (
	"cmp"
	"context"
	"slices"
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
//
// It holds what the stream holds, no more: a replay it serves delivers
// what one reading storage would. JetStream removes events as it stores
// others: the oldest of the new event's topic beyond MaxMsgsPerSubject,
// from the middle of the stream, then the stream's oldest beyond MaxMsgs.
// The window does the same, in the same order, as each event enters it,
// from the store's configuration: a topic's removed event leaves a hole,
// found by its sequence through a queue per topic, so an event costs
// O(log n) whatever the window holds, and holes are swept out when they
// are half the slots. Removal by age or by bytes depends on what the
// window cannot see (JetStream's clock, the size of stored headers): for
// those it takes the stream's first sequence from JetStream before each
// replay it serves (see sync), and from the hub's stall check.
//
// The two rules stay right while the window has not yet learnt what the
// front lost: a topic's stored events are its newest N that are not
// before the stream's first sequence, which is what the window keeps once
// told that sequence; and as front removals only take the oldest, the
// oldest event of a window holding more than MaxMsgs is no longer stored,
// and a window holding exactly MaxMsgs holds the whole stream.
type recent struct {
	maxEvents int
	maxBytes  int
	perTopic  int  // the store's MaxMsgsPerSubject, if the window can exceed it; 0: none
	maxStored int  // the store's MaxMsgs; 0: none
	askFirst  bool // the store also removes by age or bytes

	mu     sync.RWMutex
	slots  []slot // oldest first; a ring would save copies, a slice is simpler
	live   int    // slots holding an event
	holes  int    // slots whose event retention removed
	bytes  int
	from   uint64               // every stored event with a sequence >= from is in slots (0: none)
	whole  bool                 // and none is stored before from: the window is the whole stream
	topics map[string]*seqQueue // with perTopic: each topic's sequences in slots, oldest first

	// Counters of replayed deliveries by where they were read.
	fromMemory  atomic.Int64
	fromStorage atomic.Int64
}

// slot is one sequence of the window: its event, or a hole where
// retention removed it.
type slot struct {
	seq uint64
	ev  *eventstore.Event // nil: a hole
}

func bySeq(s slot, seq uint64) int { return cmp.Compare(s.seq, seq) }

// newRecent returns a window of at most maxEvents and maxBytes that keeps
// to the retention of a store configured by sc.
func newRecent(maxEvents, maxBytes int, sc eventstore.Config) *recent {
	w := &recent{maxEvents: maxEvents, maxBytes: maxBytes, maxStored: int(sc.MaxMsgs),
		askFirst: sc.MaxAge > 0 || sc.MaxBytes > 0}
	if per := sc.MaxMsgsPerSubject; per > 0 && per < int64(maxEvents) {
		w.perTopic, w.topics = int(per), map[string]*seqQueue{}
	}
	return w
}

func (w *recent) enabled() bool { return w.maxEvents > 0 }

func eventSize(ev *eventstore.Event) int { return 96 + len(ev.Topic) + len(ev.Type) + len(ev.Data) }

// add appends the next event of the stream and removes what JetStream
// removed when it stored it.
func (w *recent) add(ev *eventstore.Event) {
	if !w.enabled() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.from == 0:
		w.from = ev.Seq
	case ev.Seq < w.from:
		return // removed before the tail brought it (see retain)
	}
	w.slots = append(w.slots, slot{seq: ev.Seq, ev: ev})
	w.live++
	w.bytes += eventSize(ev)
	if w.perTopic > 0 {
		q := w.topics[ev.Topic]
		if q == nil {
			q = &seqQueue{}
			w.topics[ev.Topic] = q
		}
		q.push(ev.Seq)
		for q.len() > w.perTopic {
			w.punch(q.pop())
		}
	}
	w.trim()
}

// trim drops the oldest events while the window holds more than the
// stream does (MaxMsgs) or than it may hold itself. Holding exactly
// MaxMsgs, it holds the whole stream.
func (w *recent) trim() {
	drop := 0
	for {
		removed := w.maxStored > 0 && w.live > w.maxStored
		if !removed && w.live <= w.maxEvents && (w.bytes <= w.maxBytes || w.live <= 1) {
			break
		}
		for w.slots[drop].ev == nil {
			drop++
			w.holes--
		}
		w.forget(w.slots[drop].ev)
		drop++
		if !removed {
			w.whole = false // still stored, no longer here
		}
	}
	if w.maxStored > 0 && w.live == w.maxStored {
		w.whole = true
	}
	w.dropFront(drop)
}

// forget accounts for the window's oldest event leaving it.
func (w *recent) forget(ev *eventstore.Event) {
	w.live--
	w.bytes -= eventSize(ev)
	if w.perTopic > 0 {
		q := w.topics[ev.Topic]
		q.pop() // ev, the topic's oldest here
		if q.len() == 0 {
			delete(w.topics, ev.Topic)
		}
	}
}

// dropFront drops the first drop slots, whose events are forgotten, and
// the holes that follow them.
func (w *recent) dropFront(drop int) {
	for drop < len(w.slots) && w.slots[drop].ev == nil {
		drop++
		w.holes--
	}
	if drop == 0 {
		return
	}
	w.from = w.slots[drop-1].seq + 1
	// Reslicing would keep the dropped pointers alive in the backing
	// array; copy down once the dead prefix is large.
	if drop >= len(w.slots)/2 {
		w.slots = append(w.slots[:0:0], w.slots[drop:]...)
	} else {
		clear(w.slots[:drop])
		w.slots = w.slots[drop:]
	}
}

// punch makes a hole of the event at seq, removed from the middle of the
// stream, and sweeps the holes out once they are half the slots: a copy
// of n slots every n/2 holes or more.
func (w *recent) punch(seq uint64) {
	i, found := slices.BinarySearchFunc(w.slots, seq, bySeq)
	if !found || w.slots[i].ev == nil {
		return
	}
	w.bytes -= eventSize(w.slots[i].ev)
	w.slots[i].ev = nil
	w.live--
	w.holes++
	if w.holes > len(w.slots)/2 {
		kept := slices.DeleteFunc(w.slots, func(s slot) bool { return s.ev == nil })
		w.slots, w.holes = kept, 0
	}
}

// retain drops what precedes first, the stream's first sequence as
// JetStream gave it: the window then holds the whole stream. First only
// grows, so an answer applied late is a lower bound, and safe.
func (w *recent) retain(first uint64) {
	if !w.enabled() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.from == 0 || first < w.from {
		return // the stream may hold events before from: nothing learnt
	}
	drop := 0
	for ; drop < len(w.slots) && w.slots[drop].seq < first; drop++ {
		if ev := w.slots[drop].ev; ev != nil {
			w.forget(ev)
		} else {
			w.holes--
		}
	}
	w.dropFront(drop)
	w.from, w.whole = max(w.from, first), true
}

// holds reports whether every stored event after after is in the window.
func (w *recent) holds(after uint64) bool {
	return w.from != 0 && (after+1 >= w.from || w.whole)
}

// chunk copies up to max events with sequences in (after, until] into buf.
// ok is false when the window no longer holds every event after after.
func (w *recent) chunk(after, until uint64, max int, buf []*eventstore.Event) (_ []*eventstore.Event, ok bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.holds(after) {
		return buf[:0], false
	}
	lo, _ := slices.BinarySearchFunc(w.slots, after+1, bySeq)
	buf = buf[:0]
	for i := lo; i < len(w.slots) && len(buf) < max && w.slots[i].seq <= until; i++ {
		if ev := w.slots[i].ev; ev != nil {
			buf = append(buf, ev)
		}
	}
	return buf, true
}

// sync prepares a replay after after that the window may serve: where the
// store removes events by age or by bytes, it asks JetStream for the
// stream's first sequence, with a request sent after sync was called
// (eventstore.Store.State shares it with the calls made meanwhile), and
// drops what precedes it.
// Elsewhere it costs nothing.
func (w *recent) sync(ctx context.Context, store *eventstore.Store, after uint64) error {
	if !w.askFirst || !w.enabled() {
		return nil
	}
	w.mu.RLock()
	serves := w.holds(after)
	w.mu.RUnlock()
	if !serves {
		return nil // read from storage
	}
	st, err := store.State(ctx)
	if err != nil {
		return err
	}
	w.retain(st.FirstSeq)
	return nil
}

// prefill loads the last stretch of the stream as st describes it, with
// one storage read, so that the first replays after a start need none. It
// reads no more than the window can hold: the count bound, and the byte
// bound at the stream's average event size; the whole stream if that
// fits.
func (w *recent) prefill(ctx context.Context, store *eventstore.Store, st eventstore.State) error {
	if !w.enabled() {
		return nil
	}
	if st.Events == 0 {
		w.mu.Lock()
		w.from, w.whole = st.LastSeq+1, true
		w.mu.Unlock()
		return nil
	}
	n := uint64(w.maxEvents)
	if avg := st.Bytes / st.Events; avg > 0 {
		n = min(n, max(uint64(w.maxBytes)/avg, 1))
	}
	after, whole := st.FirstSeq-1, true
	if st.Events > n { // then its last n sequences hold n events or fewer
		after, whole = st.LastSeq-n, false
	}
	w.mu.Lock()
	w.from, w.whole = after+1, whole
	w.mu.Unlock()
	for ev, err := range store.Read(ctx, eventstore.Query{After: after, Until: st.LastSeq}) {
		if err != nil {
			w.mu.Lock()
			w.slots, w.live, w.holes, w.bytes, w.from, w.whole = nil, 0, 0, 0, 0, false
			clear(w.topics)
			w.mu.Unlock()
			return err
		}
		w.add(&ev)
	}
	return nil
}

// seqQueue is a topic's sequences in the window, oldest first.
type seqQueue struct {
	seqs []uint64
	head int // seqs[head:] are queued
}

func (q *seqQueue) len() int { return len(q.seqs) - q.head }

func (q *seqQueue) push(seq uint64) {
	if q.head > 0 && len(q.seqs) == cap(q.seqs) {
		// Reuse the popped front rather than grow (keep 1: no allocation).
		n := copy(q.seqs, q.seqs[q.head:])
		q.seqs, q.head = q.seqs[:n], 0
	}
	q.seqs = append(q.seqs, seq)
}

func (q *seqQueue) pop() uint64 {
	seq := q.seqs[q.head]
	q.head++
	if q.head == len(q.seqs) {
		q.seqs, q.head = q.seqs[:0], 0
	}
	return seq
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
