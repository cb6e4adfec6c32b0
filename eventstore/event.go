package eventstore

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/oklog/ulid/v2"
	"go.opentelemetry.io/otel/trace"
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
	// Trace is the trace context of the span that appended the event, when
	// that span was sampled (see Config.Tracer): stored with the event, it
	// lets every delivery, wherever and whenever, link to the append.
	// Zero otherwise.
	Trace trace.SpanContext
}

// Time is the moment the event was created, as recorded in its id.
func (e Event) Time() time.Time { return ulid.Time(e.ID.Time()).UTC() }

// maxIDMillis is the latest time an event id may carry, in a ULID's Unix
// milliseconds: 9999-12-31T23:59:59.999Z. The ULID format goes on to 10889
// (7ZZZZZZZZZZZZZZZZZZZZZZZZZ), but RFC 3339, in which ids' times are
// shown, and JSON times stop at 9999: an id past it could be stored but
// its event not shown, so none is taken.
const maxIDMillis = 253_402_300_799_999

// errIDTooLate is why an id past maxIDMillis is refused.
var errIDTooLate = errors.New("its time is after 9999-12-31T23:59:59.999Z, the latest an id may carry")

// ParseID parses an event id: a ULID, case-insensitive, whose time is not
// after the year 9999. The zero id, 00000000000000000000000000, is valid: as a
// cursor it means the start of the stream, and no event has it.
func ParseID(s string) (ulid.ULID, error) {
	id, err := ulid.ParseStrict(s)
	if err == nil && id.Time() > maxIDMillis {
		err = errIDTooLate
	}
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
	if e.err == errIDTooLate {
		return "invalid id " + quote(s) + ": " + e.err.Error()
	}
	return "invalid id " + quote(s) + ": " + e.err.Error() + " (ids are 26-character ULIDs)"
}

func (e *idError) Unwrap() []error { return []error{ErrInvalidID, e.err} }

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
