package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
)

// searchWindows are the widening stretches of stream time, around an id's
// timestamp, in which Resolve looks for it, each scanned forward and ended
// as soon as the id is found. An id made by Rewind carries its writer's
// clock at append and the stream stores the event moments later, so the
// first stretch, starting just before the id's time, nearly always holds
// it within a few hundred headers. Events stored far from their id's time
// (an import, a writer with a wrong clock) are found by the wider ones or
// by the final full scan.
var searchWindows = []struct{ before, after time.Duration }{
	{10 * time.Millisecond, 2 * time.Second},
	{2 * time.Second, time.Minute},
	{time.Minute, time.Hour},
	{time.Hour, 24 * time.Hour},
}

// Resolve returns the stream sequence of the event with id. The zero id
// resolves to 0, the position before the first event. It never returns a
// position from which a replay would silently skip removed events.
//
// Ids are not ordered like the stream (writers' clocks differ), so Resolve
// looks the id up rather than comparing it: first in a cache of recent ids,
// then with direct gets near the id's timestamp (see lookupNear), then by
// scanning headers only in time windows around it, and finally across the
// whole stream. It returns ErrCursorExpired for an id older than the oldest
// retained event, ErrCursorNotFound for any other id that is not stored.
//
// The cache and the direct gets cost a request or a few, and any number of
// lookups make them at once. The scans cost up to the whole stream's
// headers, so a store's lookups run at most maxScans of them at once, a
// chunk of headers per turn, the rest of the near stretch first; the others
// wait their turn, or until ctx ends. An id that is not stored costs a full
// scan whatever its time, as events may carry ids of any time (imports,
// writers with wrong clocks): the bound limits what unknown ids cost the
// others, not what they cost.
func (s *Store) Resolve(ctx context.Context, id ulid.ULID) (uint64, error) {
	if id == (ulid.ULID{}) {
		return 0, nil
	}
	if seq, ok := s.seqs.Get(id); ok {
		st, err := s.State(ctx)
		if err != nil {
			return 0, err
		}
		// A remembered sequence is still a lossless place to resume unless
		// retention has removed events after it.
		if seq+1 < st.FirstSeq {
			return 0, fmt.Errorf("cursor %s: events after it were removed by retention: %w", id, ErrCursorExpired)
		}
		// With a per-topic limit an event is removed from the middle of the
		// stream once its topic has newer ones. A remembered id proves the
		// event was stored, so its absence now proves it was superseded:
		// expired, not unknown. Without the memory (another process, a
		// restart) such an id is not found like any other.
		if s.cfg.MaxMsgsPerSubject > 0 && seq >= st.FirstSeq {
			if _, err := s.getSeq(ctx, seq); errors.Is(err, ErrCursorNotFound) {
				s.seqs.Remove(id)
				return 0, fmt.Errorf("cursor %s: its event was superseded by newer ones of its topic (keep per topic %d): %w",
					id, s.cfg.MaxMsgsPerSubject, ErrCursorExpired)
			} else if err != nil {
				return 0, err
			}
		}
		return seq, nil
	}
	// An event found in the stream is a lossless place to resume: retention
	// removes the oldest events first, so every later one is still there.
	seq, near, nearStop, err := s.lookupNear(ctx, id)
	if err != nil || seq != 0 {
		return seq, err
	}
	st, err := s.State(ctx)
	if err != nil {
		return 0, err
	}
	if st.Events > 0 {
		seq, err := s.search(ctx, id, st, near, nearStop)
		if err != nil || seq != 0 {
			return seq, err
		}
	}
	if st.FirstSeq > 1 {
		first, err := s.getSeq(ctx, st.FirstSeq)
		if err == nil && id.Compare(first.ID) < 0 {
			return 0, fmt.Errorf("cursor %s is older than the oldest retained event %s: %w", id, first.ID, ErrCursorExpired)
		}
	}
	return 0, fmt.Errorf("cursor %s: %w", id, ErrCursorNotFound)
}

// The scans of lookups, which cost up to the whole stream's headers.
const (
	// maxScans is how many scans a store's lookups run at once. A scan for
	// an id that is not stored reads every header in the stream, and ids
	// are the caller's input: without one bound over every scan of every
	// lookup, a burst of unknown ids would run a scan each and slow every
	// lookup behind them.
	maxScans = 2
	// scanChunk is how many headers a scan reads per turn: a long scan
	// gives its turn up between chunks, so a lookup likely to find its id
	// soon (see turns) waits for one chunk, not for whole scans.
	scanChunk = 2 * nearStretch
)

// search looks for id in the stream as it was in st: in the parts of the
// near lookup's stretch it left unread (up to nearStop), in the time
// windows, then in a full scan. It returns 0 when the id is not stored.
func (s *Store) search(ctx context.Context, id ulid.ULID, st State, near []scanSpec, nearStop time.Time) (uint64, error) {
	for _, spec := range near {
		r, err := s.find(ctx, id, spec, nearStop, soon)
		if err != nil || r.seq != 0 {
			return r.seq, err
		}
	}
	at := ulid.Time(id.Time())
	for _, w := range searchWindows {
		from, until, ok := window(at, w.before, w.after, st)
		if !ok {
			continue
		}
		r, err := s.find(ctx, id, scanSpec{startTime: &from, until: st.LastSeq}, until, later)
		if err != nil || r.seq != 0 {
			return r.seq, err
		}
		if r.first <= st.FirstSeq && r.last >= st.LastSeq {
			return 0, nil // this window held the whole stream
		}
	}
	// Whatever the id's time, an event may carry it that was stored at any
	// time (an import, a writer with a wrong clock): only reading every
	// header proves the id absent.
	r, err := s.find(ctx, id, scanSpec{start: st.FirstSeq, until: st.LastSeq}, time.Time{}, later)
	return r.seq, err
}

// window returns the stretch of storage time from before at to after it,
// kept within the times the stream in st was stored at; ok is false when
// nothing in st was stored in it. Keeping to the stream's times is what
// keeps the start in JetStream's range: it takes a start time as Unix
// nanoseconds, which wrap outside 1678..2262 and would start the scan
// anywhere. Starting at the first event's time starts where any earlier
// time would.
func window(at time.Time, before, after time.Duration, st State) (from, until time.Time, ok bool) {
	from, until = at.Add(-before), at.Add(after)
	if from.After(st.LastTime) || until.Before(st.FirstTime) {
		return time.Time{}, time.Time{}, false
	}
	if from.Before(st.FirstTime) {
		from = st.FirstTime
	}
	return from, until, true
}

// inNanoRange reports whether t can be given to JetStream as a start time:
// whether its Unix time in nanoseconds fits an int64.
func inNanoRange(t time.Time) bool {
	return !t.Before(time.Unix(0, math.MinInt64)) && !t.After(time.Unix(0, math.MaxInt64))
}

// gauge counts the scans of a store's lookups in progress, the most there
// have been at once, which is what the bound on scans promises, and the
// turns they took, which is what lookups that the near lookup could not
// answer cost.
type gauge struct{ now, peak, turns atomic.Int64 }

// enter counts one more in progress until the returned func is called.
func (g *gauge) enter() (leave func()) {
	g.turns.Add(1)
	n := g.now.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	return func() { g.now.Add(-1) }
}

// found is what one scan for an id saw: the id's sequence (0 if absent)
// and the range of sequences it read.
type found struct{ seq, first, last uint64 }

// find scans headers from spec for id, stopping at stream time stopAt (if
// set). It reads scanChunk headers per turn of the store's bound on scans,
// taken at priority prio.
func (s *Store) find(ctx context.Context, id ulid.ULID, spec scanSpec, stopAt time.Time, prio int) (found, error) {
	// No filter: the stream holds only the store's subjects, and a filter
	// would make JetStream count what matches it when creating the consumer.
	spec.headersOnly = true
	var r found
	for {
		more, err := s.findChunk(ctx, id, spec, stopAt, prio, &r)
		if err != nil {
			return found{}, fmt.Errorf("resolve cursor %s: %w", id, err)
		}
		if !more || (spec.until != 0 && r.last >= spec.until) {
			return r, nil
		}
		spec.start, spec.startTime = r.last+1, nil
	}
}

// findChunk is one turn of find: it reads up to scanChunk headers from
// spec into r and reports whether the scan goes on after them.
func (s *Store) findChunk(ctx context.Context, id ulid.ULID, spec scanSpec, stopAt time.Time, prio int, r *found) (more bool, err error) {
	if err := s.scans.acquire(ctx, prio); err != nil {
		return false, err
	}
	defer s.scans.release()
	defer s.scanning.enter()()
	n := 0
	err = s.scanRaw(ctx, spec, func(got ulid.ULID, seq uint64, stored time.Time) bool {
		if r.first == 0 {
			r.first = seq
		}
		r.last = seq
		if got == id {
			r.seq = seq
			return false
		}
		if !stopAt.IsZero() && stored.After(stopAt) {
			r.last = seq - 1 // the message past the window does not count as read
			return false
		}
		n++
		more = n == scanChunk
		return !more
	})
	return more, err
}
