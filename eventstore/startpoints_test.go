package eventstore_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestAfterLast: the last n matching events, found however far back they
// lie behind other topics.
func TestAfterLast(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	ctx := ctxT(t)
	if after, err := s.AfterLast(ctx, eventstore.Query{Topics: []string{"rare"}}, 3); err != nil || after != 0 {
		t.Fatalf("empty stream: %d %v", after, err)
	}
	rare := appendN(t, s, "rare", 5)
	batch := make([]eventstore.Event, 5000)
	for i := range batch {
		batch[i] = eventstore.Event{Topic: "noise", Type: "n", Data: json.RawMessage(`1`)}
	}
	if _, err := s.AppendBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    eventstore.Query
		n    int
		want uint64
	}{
		{eventstore.Query{Topics: []string{"rare"}}, 3, rare[1].Seq},
		{eventstore.Query{Topics: []string{"rare"}}, 5, rare[0].Seq - 1},
		{eventstore.Query{Topics: []string{"rare"}}, 50, 0},
		{eventstore.Query{Topics: []string{"noise"}}, 1, rare[4].Seq + 4999},
		{eventstore.Query{Types: []string{"message"}}, 2, rare[2].Seq},
	} {
		if got, err := s.AfterLast(ctx, tc.q, tc.n); err != nil || got != tc.want {
			t.Errorf("AfterLast(%+v, %d) = %d, %v; want %d", tc.q, tc.n, got, err, tc.want)
		}
	}
	if _, err := s.AfterLast(ctx, eventstore.Query{}, 0); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Errorf("n = 0: %v", err)
	}
}

// TestStartAfter: each start point, resolved against a stream, gives the
// position its replay begins after; the zero Start is live; a start point
// no stream can serve is refused before any read, with the sentinel each
// front words in its own names.
func TestStartAfter(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	ctx := ctxT(t)
	a := appendN(t, s, "a", 3)
	b := appendN(t, s, "b", 3)
	var stored []time.Time // by sequence - 1
	for h, err := range s.Headers(ctx, eventstore.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, h.Stored)
	}
	id := func(u ulid.ULID) *ulid.ULID { return &u }
	n := func(i int) *int { return &i }
	at := func(t time.Time) *time.Time { return &t }
	missing := ulid.MustParse("01ARZ3NDEKTSV4RRFFQ69G5FAV")
	onA := eventstore.Query{Topics: []string{"a"}}
	for _, tc := range []struct {
		name  string
		q     eventstore.Query
		start eventstore.Start
		after uint64
		live  bool
		err   error // errors.Is; nil: none
	}{
		{"none is live", onA, eventstore.Start{}, 0, true, nil},
		{"after an id", onA, eventstore.Start{After: id(a[1].ID)}, a[1].Seq, false, nil},
		{"after the zero id", onA, eventstore.Start{After: id(ulid.ULID{})}, 0, false, nil},
		{"after an unknown id", onA, eventstore.Start{After: &missing}, 0, false, eventstore.ErrCursorNotFound},
		{"last of the query's topic", onA, eventstore.Start{Last: n(2)}, a[0].Seq, false, nil},
		{"last of every topic", eventstore.Query{}, eventstore.Start{Last: n(2)}, b[0].Seq, false, nil},
		{"last beyond the history", onA, eventstore.Start{Last: n(50)}, 0, false, nil},
		{"last zero", onA, eventstore.Start{Last: n(0)}, 0, false, eventstore.ErrInvalidStart},
		{"last too large", onA, eventstore.Start{Last: n(eventstore.MaxLast + 1)}, 0, false, eventstore.ErrInvalidStart},
		{"last at the bound", onA, eventstore.Start{Last: n(eventstore.MaxLast)}, 0, false, nil},
		{"since a stored time", onA, eventstore.Start{Since: at(stored[b[1].Seq-1])}, b[1].Seq - 1, false, nil},
		{"since long past", onA, eventstore.Start{Since: at(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))}, 0, false, nil},
		{"since the future", onA, eventstore.Start{Since: at(time.Now().Add(time.Hour))}, b[2].Seq, false, nil},
		{"since after 2262", onA, eventstore.Start{Since: at(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC))}, b[2].Seq, false, nil},
		{"after and last", onA, eventstore.Start{After: id(a[0].ID), Last: n(1)}, 0, false, eventstore.ErrStartConflict},
		{"last and since", onA, eventstore.Start{Last: n(1), Since: at(time.Now())}, 0, false, eventstore.ErrStartConflict},
		{"all three, last out of range", onA, eventstore.Start{After: &missing, Last: n(0), Since: at(time.Now())}, 0, false, eventstore.ErrStartConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			after, live, err := s.StartAfter(ctx, tc.q, tc.start)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || after != 0 || live {
					t.Fatalf("StartAfter = %d, %v, %v; want %v", after, live, err, tc.err)
				}
				if errors.Is(tc.err, eventstore.ErrStartConflict) && !errors.Is(err, eventstore.ErrInvalidStart) {
					t.Errorf("a conflict does not wrap ErrInvalidStart: %v", err)
				}
				return
			}
			if err != nil || after != tc.after || live != tc.live {
				t.Fatalf("StartAfter = %d, %v, %v; want %d, %v", after, live, err, tc.after, tc.live)
			}
		})
	}
}

// TestParseStart: the count of start points is checked before their
// values, so two of them are a conflict whatever they hold; then the id is
// read and last is bounded.
func TestParseStart(t *testing.T) {
	str := func(s string) *string { return &s }
	n := func(i int) *int { return &i }
	now := time.Now()
	const id = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	for _, tc := range []struct {
		name    string
		afterID *string
		last    *int
		since   *time.Time
		want    eventstore.Start
		err     error
	}{
		{"none", nil, nil, nil, eventstore.Start{}, nil},
		{"after", str(id), nil, nil, eventstore.Start{After: &[]ulid.ULID{ulid.MustParse(id)}[0]}, nil},
		{"last", nil, n(3), nil, eventstore.Start{Last: n(3)}, nil},
		{"since", nil, nil, &now, eventstore.Start{Since: &now}, nil},
		{"malformed id", str("01M8AB89"), nil, nil, eventstore.Start{}, eventstore.ErrInvalidID},
		{"malformed id and last", str("01M8AB89"), n(3), nil, eventstore.Start{}, eventstore.ErrStartConflict},
		{"after and since", str(id), nil, &now, eventstore.Start{}, eventstore.ErrStartConflict},
		{"last negative", nil, n(-1), nil, eventstore.Start{}, eventstore.ErrInvalidStart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := eventstore.ParseStart(tc.afterID, tc.last, tc.since, nil)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				if tc.err != eventstore.ErrStartConflict && errors.Is(err, eventstore.ErrStartConflict) {
					t.Fatalf("one start point reported as a conflict: %v", err)
				}
				return
			}
			if err != nil || !sameStart(got, tc.want) {
				t.Fatalf("ParseStart = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func sameStart(a, b eventstore.Start) bool {
	return (a.After == nil) == (b.After == nil) && (a.After == nil || *a.After == *b.After) &&
		(a.Last == nil) == (b.Last == nil) && (a.Last == nil || *a.Last == *b.Last) &&
		(a.Since == nil) == (b.Since == nil) && (a.Since == nil || a.Since.Equal(*b.Since))
}
