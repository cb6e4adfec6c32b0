package scalar

import (
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/rewind-dev/rewind/internal/flagvalue"
)

// MarshalTime writes an instant in RFC 3339 with its fraction of a second,
// as gqlgen's own Time does.
func MarshalTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t) }

// UnmarshalTime reads a Time argument (since) as replayctl --since reads
// it: an RFC 3339 instant (2026-12-07T10:00:00Z), a date (midnight UTC),
// or a duration meaning that long before now (10m, 2h, 1d). gqlgen's "2006-01-02
// 15:04:05" (UTC) and the empty string (no time) are still read as gqlgen
// reads them, for clients that sent them before.
func UnmarshalTime(v any) (time.Time, error) { return parseTime(v, time.Now()) }

func parseTime(v any, now time.Time) (time.Time, error) {
	if v == nil {
		return time.Time{}, nil
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("expected a string, got %T: %s", v, timeForms)
	}
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateTime, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, err := flagvalue.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: %s", s, timeForms)
}

// timeForms says what UnmarshalTime reads.
const timeForms = "use an RFC 3339 time such as 2026-12-07T10:00:00Z, a date (2026-12-07, UTC), or a duration before now such as 10m, 2h or 1d"
