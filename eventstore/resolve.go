package eventstore

import (
	"context"
	"fmt"
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
		return seq, nil
	}
	// An event found in the stream is a lossless place to resume: retention
	// removes the oldest events first, so every later one is still there.
	if seq, err := s.lookupNear(ctx, id); err != nil || seq != 0 {
		return seq, err
	}
	st, err := s.State(ctx)
	if err != nil {
		return 0, err
	}
	if st.Events > 0 {
		seq, err := s.search(ctx, id, st)
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

// search looks for id in the stream as it was in st: in the time windows
// first, then in a full scan. It returns 0 when the id is not stored.
func (s *Store) search(ctx context.Context, id ulid.ULID, st State) (uint64, error) {
	at := ulid.Time(id.Time())
	for _, w := range searchWindows {
		from, until := at.Add(-w.before), at.Add(w.after)
		r, err := s.find(ctx, id, scanSpec{startTime: &from, until: st.LastSeq}, until)
		if err != nil || r.seq != 0 {
			return r.seq, err
		}
		if r.first <= st.FirstSeq && r.last >= st.LastSeq {
			return 0, nil // this window held the whole stream
		}
	}
	// A full scan reads every header in the stream: bound how many run at
	// once so that a burst of unknown cursors cannot swamp JetStream.
	if err := s.fullScans.Acquire(ctx, 1); err != nil {
		return 0, err
	}
	defer s.fullScans.Release(1)
	r, err := s.find(ctx, id, scanSpec{start: st.FirstSeq, until: st.LastSeq}, time.Time{})
	return r.seq, err
}

// found is what one scan for an id saw: the id's sequence (0 if absent)
// and the range of sequences it read.
type found struct{ seq, first, last uint64 }

// find scans headers from spec for id, stopping at stream time stopAt (if
// set).
func (s *Store) find(ctx context.Context, id ulid.ULID, spec scanSpec, stopAt time.Time) (found, error) {
	// No filter: the stream holds only the store's subjects, and a filter
	// would make JetStream count what matches it when creating the consumer.
	spec.headersOnly = true
	var r found
	err := s.scanRaw(ctx, spec, func(got ulid.ULID, seq uint64, stored time.Time) bool {
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
		return true
	})
	if err != nil {
		return found{}, fmt.Errorf("resolve cursor %s: %w", id, err)
	}
	return r, nil
}
