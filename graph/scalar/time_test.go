package scalar

import (
	"strings"
	"testing"
	"time"
)

// TestParseTime: Time arguments take what replayctl --since takes (RFC
// 3339, a date, a duration before now); anything else is refused with the
// forms taken.
func TestParseTime(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for in, want := range map[any]time.Time{
		"2026-12-07T10:00:00Z":          time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		"2026-12-07T10:00:00.123+01:00": time.Date(2026, 12, 7, 9, 0, 0, 123e6, time.UTC),
		"2026-12-07 10:00:00":           time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		"2026-12-07":                    time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC),
		"10m":                           now.Add(-10 * time.Minute),
		"1d12h":                         now.Add(-36 * time.Hour),
		"0s":                            now,
		"":                              {},
		nil:                             {},
	} {
		got, err := parseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []any{"yesterday", "10", "-10m", "2026-12-07T10:00", 1733565600} {
		_, err := parseTime(in, now)
		if err == nil || !strings.Contains(err.Error(), "RFC 3339 time such as 2026-12-07T10:00:00Z, a date (2026-12-07, UTC), or a duration before now such as 10m") {
			t.Errorf("%v: %v, want an error naming the forms", in, err)
		}
	}
}
