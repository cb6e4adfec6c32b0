package eventstore

import (
	"encoding/json"
	"time"

	"github.com/oklog/ulid/v2"
)

// Event is one stored event. Its ID is its identity; its Seq, the stream
// sequence, is its position: events are ordered by Seq, not by ID, because
// several writers' clocks may disagree.
type Event struct {
	ID    ulid.ULID
	Seq   uint64
	Topic string
	Type  string
	Data  json.RawMessage
}

// Time is the moment the event was created, as recorded in its id.
func (e Event) Time() time.Time { return ulid.Time(e.ID.Time()).UTC() }

// ParseID parses an event id (a ULID, case-insensitive).
func ParseID(s string) (ulid.ULID, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil {
		return ulid.ULID{}, &idError{s: s, err: err}
	}
	return id, nil
}

type idError struct {
	s   string
	err error
}

func (e *idError) Error() string {
	s := e.s
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "invalid id " + quote(s) + ": " + e.err.Error() + " (ids are 26-character ULIDs)"
}

func (e *idError) Unwrap() []error { return []error{ErrInvalidID, e.err} }

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
