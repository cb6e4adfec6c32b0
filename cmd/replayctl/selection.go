package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/flagvalue"
)

// selection is the range flags shared by events, replay and export: which
// topics and types, and where in the stream to start and stop.
type selection struct {
	topics, types listFlag
	after         string
	since         string
	until         string
	limit         int
	last          int
	latest        bool // --latest, which only commands that register it take

	start   eventstore.Start
	untilID ulid.ULID
	untilT  time.Time
}

func (s *selection) register(fs *flag.FlagSet, what string, limit bool) {
	fs.Var(&s.topics, "topic", "`topic` or pattern (* one token, final > one or more); repeat or comma-separate for several"+what)
	fs.Var(&s.types, "type", "keep only events of this `type`; repeat or comma-separate for several")
	fs.StringVar(&s.after, "after", "", "start after the event with this `id` (00000000000000000000000000: from the beginning)")
	fs.StringVar(&s.since, "since", "", "start with the first event stored at or after this `time` (RFC 3339, a date, or a duration ago such as 2h or 2d)")
	fs.StringVar(&s.until, "until", "", "stop after the event with this `id`, or after the last one stored at or before this time")
	fs.IntVar(&s.last, "last", 0, "start with the last `n` matching events (after --topic and --type filters)")
	if limit {
		fs.IntVar(&s.limit, "limit", 0, "stop after this many `events` (0: no limit)")
	}
}

// check validates the flags without touching the store.
func (s *selection) check(now time.Time) error {
	for _, t := range s.topics {
		if err := eventstore.ValidatePattern(t); err != nil {
			return usagef("--topic: %v", err)
		}
	}
	var err error
	if s.start, err = parseStart(s.after, s.since, s.last, s.latest, now); err != nil {
		return err
	}
	if s.limit < 0 {
		return usagef("--limit cannot be negative")
	}
	if s.until != "" {
		if id, err := eventstore.ParseID(s.until); err == nil {
			s.untilID = id
		} else if s.untilT, err = parseTime(s.until, now); err != nil {
			return usagef("--until %q: neither an event id nor a time (RFC 3339, a date, or a duration ago such as 2h or 2d)", s.until)
		}
	}
	return nil
}

// latestUsage describes --latest, the same for events and tail.
const latestUsage = "start with the newest stored event of each matching topic (with --type: a topic whose newest event is of another type is left out)"

// parseStart reads --after, --since, --last (0: not given) and --latest
// into a start point, its errors worded in the flags' names.
func parseStart(after, since string, last int, latest bool, now time.Time) (eventstore.Start, error) {
	var afterID *string
	var lastN *int
	var sinceT *time.Time
	if after != "" {
		afterID = &after
	}
	if last != 0 {
		lastN = &last
	}
	if since != "" {
		t, err := parseTime(since, now)
		if err != nil {
			return eventstore.Start{}, usagef("--since: %v", err)
		}
		sinceT = &t
	}
	st, err := eventstore.ParseStart(afterID, lastN, sinceT, &latest)
	switch {
	case errors.Is(err, eventstore.ErrStartConflict):
		return st, usagef("--after, --since, --last and --latest exclude each other")
	case errors.Is(err, eventstore.ErrInvalidID):
		return st, usagef("--after: %v", err)
	case errors.Is(err, eventstore.ErrInvalidStart):
		return st, usagef("--last must be between 1 and %d", eventstore.MaxLast)
	}
	return st, err
}

// startAfter resolves a start point read by parseStart against the store
// (see eventstore.StartAfter), naming --after in the errors of its id.
func startAfter(ctx context.Context, a *app, store *eventstore.Store, q eventstore.Query, st eventstore.Start) (after uint64, live bool, err error) {
	after, live, err = store.StartAfter(ctx, q, st)
	if err != nil && st.After != nil {
		return 0, false, cursorError(a, "after", *st.After, err)
	}
	return after, live, err
}

// parseTime reads an RFC 3339 time, a date (UTC), or a duration before now.
func parseTime(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, err := flagvalue.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-05-01T12:00:00Z), a date (2026-05-01) or a duration ago (90m, 2d)", s)
}

// open opens the store the selection reads and resolves the flags
// against it (see query).
func (s *selection) open(ctx context.Context, a *app) (*eventstore.Store, eventstore.Query, bool, error) {
	store, err := a.open(ctx, mustExist)
	if err != nil {
		return nil, eventstore.Query{}, false, err
	}
	q, ok, err := s.query(ctx, a, store)
	return store, q, ok, err
}

// query resolves the flags against the store. ok is false when the range
// is empty (e.g. --until before --after).
func (s *selection) query(ctx context.Context, a *app, store *eventstore.Store) (q eventstore.Query, ok bool, err error) {
	if err := checkTopics(ctx, a, store, s.topics); err != nil {
		return q, false, err
	}
	q = eventstore.Query{Topics: s.topics, Types: s.types, Limit: s.limit}
	// No start point reads from the beginning: after 0. Latest is no
	// position: the caller reads it with ReadLatest.
	if !s.start.Latest {
		if q.After, _, err = startAfter(ctx, a, store, q, s.start); err != nil {
			return q, false, err
		}
	}
	switch {
	case s.untilID != (ulid.ULID{}):
		if q.Until, err = resolve(ctx, a, store, "until", s.untilID); err != nil {
			return q, false, err
		}
	case !s.untilT.IsZero():
		seq, err := store.SeqAt(ctx, s.untilT.Add(time.Nanosecond))
		if err != nil {
			return q, false, err
		}
		q.Until = seq - 1
		if q.Until == 0 {
			return q, false, nil // nothing stored by then
		}
	}
	if s.until != "" && q.Until <= q.After {
		return q, false, nil
	}
	return q, true, nil
}

// checkTopics fails for a concrete topic, or a pattern, on which nothing is
// stored: most likely a typo, which would otherwise print nothing.
func checkTopics(ctx context.Context, a *app, store *eventstore.Store, topics []string) error {
	for _, t := range topics {
		n, err := store.CountTopics(ctx, t)
		if err != nil {
			return err
		}
		if len(n) == 0 {
			what := "topic"
			if strings.ContainsAny(t, "*>") {
				what = "topic matching"
			}
			return fmt.Errorf("no events on any %s %q in %s; 'replayctl topics' lists the topics", what, t, a.conn.where())
		}
	}
	return nil
}

// resolve looks an id given to --flag up in the store.
func resolve(ctx context.Context, a *app, store *eventstore.Store, flag string, id ulid.ULID) (uint64, error) {
	seq, err := store.Resolve(ctx, id)
	if err != nil {
		return 0, cursorError(a, flag, id, err)
	}
	return seq, nil
}

// cursorError words an error resolving the id given to --flag.
func cursorError(a *app, flag string, id ulid.ULID, err error) error {
	switch {
	case errors.Is(err, eventstore.ErrCursorNotFound):
		return fmt.Errorf("--%s %s: no event has this id in %s", flag, id, a.conn.where())
	case errors.Is(err, eventstore.ErrCursorExpired):
		return fmt.Errorf("--%s %s: the events after it were removed by the stream's retention; start from --since or from the oldest event ('replayctl topics')", flag, id)
	}
	return fmt.Errorf("--%s %s: %w", flag, id, err)
}
