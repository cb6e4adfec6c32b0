package eventstore_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestIDTimes: ParseID takes ids up to the last moment of 9999 and refuses
// later ones, which the ULID format allows but RFC 3339 cannot show, as
// invalid input (not as an outage, which clients retry); the store answers
// them, from whatever caller, as not found, and refuses to append one.
func TestIDTimes(t *testing.T) {
	last := ulid.MustNew(ulid.Timestamp(time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)), ulid.DefaultEntropy())
	if _, err := eventstore.ParseID(last.String()); err != nil {
		t.Errorf("an id of 9999-12-31T23:59:59.999Z: %v", err)
	}
	for _, s := range []string{
		ulid.MustNew(last.Time()+1, ulid.DefaultEntropy()).String(), // 10000-01-01
		"7ZZZZZZZZZZZZZZZZZZZZZZZZZ",                                // the latest ULID
	} {
		_, err := eventstore.ParseID(s)
		if !errors.Is(err, eventstore.ErrInvalidID) || !strings.Contains(err.Error(), "after 9999-12-31") {
			t.Errorf("ParseID(%s) = %v; want ErrInvalidID saying the time is after 9999", s, err)
		}
	}

	n := testenv.StartNATS(t)
	ctx := ctxT(t)
	s := n.Store(eventstore.Config{})
	appendN(t, s, "t", 3)
	late := ulid.MustParse("7ZZZZZZZZZZZZZZZZZZZZZZZZZ")
	if _, err := s.Resolve(ctx, late); !errors.Is(err, eventstore.ErrCursorNotFound) {
		t.Errorf("resolve an id after 9999: %v; want ErrCursorNotFound", err)
	}
	if _, err := s.Append(ctx, eventstore.Event{ID: late, Topic: "t", Type: "x", Data: json.RawMessage(`1`)}); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Errorf("append an id after 9999: %v; want ErrInvalidEvent", err)
	}
}

// TestZeroID: the zero id is a valid cursor, the start of the stream, and
// no event's id: Get answers not found rather than asking JetStream for
// sequence 0.
func TestZeroID(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := ctxT(t)
	s := n.Store(eventstore.Config{})
	appendN(t, s, "t", 2)
	zero, err := eventstore.ParseID("00000000000000000000000000")
	if err != nil || zero != (ulid.ULID{}) {
		t.Fatalf("ParseID(zero) = %s, %v", zero, err)
	}
	if seq, err := s.Resolve(ctx, zero); err != nil || seq != 0 {
		t.Errorf("resolve the zero id: %d, %v; want 0, the start", seq, err)
	}
	if ev, err := s.Get(ctx, zero); !errors.Is(err, eventstore.ErrCursorNotFound) {
		t.Errorf("get the zero id: %+v, %v; want ErrCursorNotFound", ev, err)
	}
}
