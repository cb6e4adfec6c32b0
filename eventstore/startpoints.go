package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
)

// MaxLast bounds AfterLast's n: a start point, not an export.
const MaxLast = 100_000

// Start is where a read or a subscription begins, as a client names it:
// after the event with id After (the zero id is the beginning), with the
// Last events its query selects, with the first event stored at or after
// Since, or with the Latest event of each topic its query selects (see
// ReadLatest). At most one is set; the zero Start is live only: nothing
// stored before it begins is replayed.
//
// Latest is no single position (the newest events of many topics lie
// scattered over the stream), so StartAfter does not take it: a reader
// uses ReadLatest, a subscription replay's Request.Latest.
type Start struct {
	After  *ulid.ULID
	Last   *int
	Since  *time.Time
	Latest bool
}

// ParseStart reads a start point as a client gives it, nil (or a false
// latest) meaning not given: afterID an event id, last a count, since a
// time, latest the newest event of each topic. It checks what
// can be checked without the stream (see Validate) and reads the id
// (ErrInvalidID); the number of start points is checked first, so two of
// them are ErrStartConflict whatever their values.
func ParseStart(afterID *string, last *int, since *time.Time, latest *bool) (Start, error) {
	st := Start{Last: last, Since: since, Latest: latest != nil && *latest}
	if afterID != nil {
		st.After = &ulid.ULID{} // given: its value is read once it is the only one
	}
	if err := st.Validate(); err != nil {
		return Start{}, err
	}
	if afterID != nil {
		id, err := ParseID(*afterID)
		if err != nil {
			return Start{}, err
		}
		st.After = &id
	}
	return st, nil
}

// Validate reports a start point that no stream can serve: more than one
// given (ErrStartConflict), or a Last outside 1..MaxLast (ErrInvalidStart).
func (st Start) Validate() error {
	given := 0
	for _, set := range []bool{st.After != nil, st.Last != nil, st.Since != nil, st.Latest} {
		if set {
			given++
		}
	}
	if given > 1 {
		return fmt.Errorf("%w: %w: after, last, since and latest exclude each other", ErrInvalidStart, ErrStartConflict)
	}
	if st.Last != nil {
		if err := checkLast(*st.Last); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidStart, err)
		}
	}
	return nil
}

// StartAfter returns the stream position a read or a subscription of q
// (its topics and types) starting at st begins after: replaying after it
// yields the events st names, then whatever follows. After is the event's
// sequence (see Resolve, whose errors it returns as they are), Last the
// position AfterLast finds, Since the one before the first event stored at
// or after it (see SeqAt: any time is allowed). live reports the zero
// Start, and after is then 0: the caller decides what live means to it
// (the hub takes the stream's end when it registers; a read may start at
// the beginning). Latest is no position: it is ErrInvalidStart here.
func (s *Store) StartAfter(ctx context.Context, q Query, st Start) (after uint64, live bool, err error) {
	if err := st.Validate(); err != nil {
		return 0, false, err
	}
	if st.Latest {
		return 0, false, fmt.Errorf("%w: latest is not a position: use ReadLatest", ErrInvalidStart)
	}
	switch {
	case st.After != nil:
		after, err = s.Resolve(ctx, *st.After)
	case st.Last != nil:
		after, err = s.AfterLast(ctx, Query{Topics: q.Topics, Types: q.Types}, *st.Last)
	case st.Since != nil:
		var seq uint64
		seq, err = s.SeqAt(ctx, *st.Since)
		after = max(seq, 1) - 1
	default:
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	return after, false, nil
}

// checkLast refuses an n that AfterLast does not take.
func checkLast(n int) error {
	if n < 1 || n > MaxLast {
		return fmt.Errorf("last must be between 1 and %d, got %d", MaxLast, n)
	}
	return nil
}

// AfterLast returns the position after which the last n events q selects
// (its topics and types) lie, as the stream stands now: replaying after it
// yields exactly those n events, oldest first, then whatever follows. With
// fewer than n such events it returns 0, the start.
//
// It reads backwards in widening stretches, each scanned forward with the
// topics as consumer filters, so its cost follows the matching events it
// reads, not the stream's size; it holds at most n sequences.
func (s *Store) AfterLast(ctx context.Context, q Query, n int) (uint64, error) {
	if err := checkLast(n); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
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
