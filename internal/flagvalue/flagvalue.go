// Package flagvalue holds the flag.Value types the server and the admin
// CLI share, so that every duration, size and boolean flag of both accepts
// the same forms and says the same thing about a bad value.
package flagvalue

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
)

// DurationForms is what ParseDuration accepts, for help texts and errors.
const DurationForms = "a duration such as 90s, 15m, 12h or 30d"

// ErrDuration and ErrSize are the errors of a value that does not parse.
var (
	ErrDuration = errors.New("use " + DurationForms)
	ErrSize     = errors.New("use a size in bytes such as 1048576, 512KiB, 2MiB (binary, 2^20) or 2MB (SI, 10^6)")
	ErrBool     = errors.New("use true or false")
)

// ParseDuration reads a Go duration (90s, 1h30m) that may start with a
// number of days: 30d, 1d12h, 1.5d. A day is 24 hours: retention settings
// are written in days, and time.ParseDuration stops at hours.
func ParseDuration(s string) (time.Duration, error) {
	body, neg := strings.CutPrefix(s, "-")
	if !neg {
		body = strings.TrimPrefix(body, "+")
	}
	var days time.Duration
	if i := strings.IndexByte(body, 'd'); i >= 0 {
		n, err := strconv.ParseFloat(body[:i], 64)
		// ParseFloat takes forms a duration does not (1e3, Inf, 0x1p4);
		// the bound is what a time.Duration holds (about 106,751 days).
		if err != nil || n < 0 || n*float64(24*time.Hour) >= math.MaxInt64 || strings.ContainsFunc(body[:i], func(r rune) bool { return (r < '0' || r > '9') && r != '.' }) {
			return 0, ErrDuration
		}
		days = time.Duration(n * float64(24*time.Hour))
		if body = body[i+1:]; body == "" {
			body = "0"
		}
		if body[0] == '-' || body[0] == '+' {
			return 0, ErrDuration
		}
	}
	d, err := time.ParseDuration(body)
	if err != nil {
		return 0, ErrDuration
	}
	if d > math.MaxInt64-days {
		return 0, ErrDuration
	}
	d += days
	if neg {
		d = -d
	}
	return d, nil
}

// FormatDuration writes d as ParseDuration reads it, in days when it is a
// whole number of them (720h is 30d) and as time.Duration does otherwise.
func FormatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// Duration is a flag.Value for a time.Duration read by ParseDuration.
type Duration struct{ p *time.Duration }

// NewDuration returns a Duration that sets *p, which keeps its current
// value as the default.
func NewDuration(p *time.Duration) *Duration { return &Duration{p} }

func (d *Duration) String() string {
	if d == nil || d.p == nil {
		return "0s"
	}
	return FormatDuration(*d.p)
}

func (d *Duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d.p = v
	return nil
}

// ParseSize reads a byte count: a plain number, or one with a unit. KiB,
// MiB, GiB and TiB are binary (2^10, 2^20 ...); kB, MB, GB and TB are SI
// (10^3, 10^6 ...), as in docker's go-units. Units are case-insensitive
// and the B is optional (2M is 2MB); a space may separate the unit.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("sizes cannot be negative: %w", ErrSize)
	}
	// go-units reads the i of KiB but ignores it: which table it uses
	// decides whether M means 10^6 or 2^20.
	parse := units.FromHumanSize
	if strings.HasSuffix(strings.ToLower(s), "ib") {
		parse = units.RAMInBytes
	}
	n, err := parse(s)
	if err != nil || n < 0 {
		return 0, ErrSize
	}
	return n, nil
}

// Size is a flag.Value for a byte count read by ParseSize.
type Size[T ~int | ~int32 | ~int64] struct{ p *T }

// NewSize returns a Size that sets *p, which keeps its current value as
// the default.
func NewSize[T ~int | ~int32 | ~int64](p *T) *Size[T] { return &Size[T]{p} }

func (s *Size[T]) String() string {
	if s == nil || s.p == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*s.p), 10)
}

func (s *Size[T]) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	if int64(T(n)) != n {
		return fmt.Errorf("%d bytes is too large", n)
	}
	*s.p = T(n)
	return nil
}

// Bool is a flag.Value for a boolean that says which words it takes. It
// is a boolean flag: --name alone means true.
type Bool struct{ p *bool }

// NewBool returns a Bool that sets *p, which keeps its current value as
// the default.
func NewBool(p *bool) *Bool { return &Bool{p} }

func (b *Bool) String() string {
	if b == nil || b.p == nil {
		return "false"
	}
	return strconv.FormatBool(*b.p)
}

func (b *Bool) Set(s string) error {
	v, err := ParseBool(s)
	if err != nil {
		return err
	}
	*b.p = v
	return nil
}

// ParseBool reads true or false (and strconv.ParseBool's 1, t, F ...).
func ParseBool(s string) (bool, error) {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, ErrBool
	}
	return v, nil
}

// IsBoolFlag tells the flag package that --name needs no value.
func (b *Bool) IsBoolFlag() bool { return true }

// Strings is a flag.Value for a list that the flag may give in several
// times and each time as a comma-separated list (so that an environment
// variable can hold several: SCHEMA=a.graphqls,types/).
type Strings struct{ p *[]string }

// NewStrings returns a Strings that appends to *p.
func NewStrings(p *[]string) *Strings { return &Strings{p} }

func (s *Strings) String() string {
	if s == nil || s.p == nil {
		return ""
	}
	return strings.Join(*s.p, ",")
}

func (s *Strings) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*s.p = append(*s.p, item)
		}
	}
	return nil
}
