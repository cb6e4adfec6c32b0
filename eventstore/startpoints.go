package eventstore

import (
	"context"
	"fmt"
)

// MaxLast bounds AfterLast's n: a start point, not an export.
const MaxLast = 100_000

// AfterLast returns the position after which the last n events q selects
// (its topics and types) lie, as the stream stands now: replaying after it
// yields exactly those n events, oldest first, then whatever follows. With
// fewer than n such events it returns 0, the start.
//
// It reads backwards in widening stretches, each scanned forward with the
// topics as consumer filters, so its cost follows the matching events it
// reads, not the stream's size; it holds at most n sequences.
func (s *Store) AfterLast(ctx context.Context, q Query, n int) (uint64, error) {
	if n < 1 || n > MaxLast {
		return 0, fmt.Errorf("%w: last must be between 1 and %d, got %d", ErrInvalidEvent, MaxLast, n)
	}
	if err := q.Validate(); err != nil {
		return 0, err
	}
	st, err := s.State(ctx)
	if err != nil {
		return 0, err
	}
	if st.Events == 0 {
		return st.LastSeq, nil
	}
	for window := uint64(max(4*n, 1024)); ; window *= 4 {
		from := st.FirstSeq
		if st.LastSeq >= window && st.LastSeq-window+1 > st.FirstSeq {
			from = st.LastSeq - window + 1
		}
		ring := make([]uint64, 0, n) // the last n matching sequences, oldest at next
		next, seen := 0, 0
		rq := q
		rq.After, rq.Until, rq.Limit = from-1, st.LastSeq, 0
		for ev, err := range s.Read(ctx, rq) {
			if err != nil {
				return 0, err
			}
			if len(ring) < n {
				ring = append(ring, ev.Seq)
			} else {
				ring[next] = ev.Seq
				next = (next + 1) % n
			}
			seen++
		}
		switch {
		case seen >= n:
			return ring[next] - 1, nil
		case from <= st.FirstSeq:
			return 0, nil // fewer than n in the whole stream: all of them
		}
	}
}
