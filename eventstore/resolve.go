package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
)

// searchWindows are the widening time windows around an id's timestamp in
// which Resolve looks for it. Ids made by Rewind carry their writer's clock,
// which is close to the stream's clock, so the first window nearly always
// holds the event; events with a far-off clock (an import, a writer whose
// clock is wrong) are still found by the later, wider windows.
var searchWindows = []time.Duration{250 * time.Millisecond, 10 * time.Second, 10 * time.Minute, 24 * time.Hour}

// Resolve returns the stream sequence of the event with id. The zero id
// resolves to 0, the position before the first event.
//
// Ids are not ordered like the stream (writers' clocks differ), so Resolve
// looks the id up rather than comparing it: first in a cache of recent ids,
// then by scanning headers only in time windows around the id's timestamp,
// and finally across the whole stream. It returns ErrCursorExpired for an
// id older than the oldest retained event, ErrCursorNotFound for any other
// id that is not stored.
func (s *Store) Resolve(ctx context.Context, id ulid.ULID) (uint64, error) {
	if id == (ulid.ULID{}) {
		return 0, nil
	}
	if seq, ok := s.seqs.Get(id); ok {
		return seq, nil
	}
	st, err := s.State(ctx)
	if err != nil {
		return 0, err
	}
	if st.Events > 0 {
		at := ulid.Time(id.Time())
		for _, w := range searchWindows {
			from, until := at.Add(-w), at.Add(w)
			seq, err := s.find(ctx, id, scanSpec{startTime: &from, until: st.LastSeq}, until)
			if err != nil || seq != 0 {
				return seq, err
			}
		}
		seq, err := s.find(ctx, id, scanSpec{start: st.FirstSeq, until: st.LastSeq}, time.Time{})
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

// find scans headers from spec for id, stopping at stream time stopAt (if
// set). It returns 0 when the id is not in that stretch.
func (s *Store) find(ctx context.Context, id ulid.ULID, spec scanSpec, stopAt time.Time) (uint64, error) {
	spec.filters = []string{s.cfg.SubjectPrefix + ".>"}
	spec.headersOnly = true
	var found uint64
	err := s.scanRaw(ctx, spec, func(got ulid.ULID, seq uint64, stored time.Time) bool {
		if got == id {
			found = seq
			return false
		}
		return stopAt.IsZero() || !stored.After(stopAt)
	})
	if err != nil {
		return 0, fmt.Errorf("resolve cursor %s: %w", id, err)
	}
	return found, nil
}
