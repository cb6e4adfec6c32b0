package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rewind-dev/rewind/eventstore"
)

// eventLine is an event as one NDJSON line: what events, tail, replay and
// export print, what a webhook receives and what import reads.
type eventLine struct {
	ID    string          `json:"id"`
	Seq   uint64          `json:"seq,omitempty"`
	Topic string          `json:"topic"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	Time  string          `json:"time,omitempty"`
}

// timeFormat is RFC 3339 with the milliseconds an id carries.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func toLine(ev *eventstore.Event) eventLine {
	return eventLine{
		ID: ev.ID.String(), Seq: ev.Seq, Topic: ev.Topic, Type: ev.Type,
		Data: ev.Data, Time: ev.Time().Format(timeFormat),
	}
}

// outputFlags choose between a table and NDJSON.
type outputFlags struct{ json, table bool }

func (o *outputFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print NDJSON, one object a line (the default when stdout is not a terminal)")
	fs.BoolVar(&o.table, "table", false, "print a table (the default on a terminal)")
}

func (o *outputFlags) useTable(stdout io.Writer) (bool, error) {
	if o.json && o.table {
		return false, usagef("--json and --table exclude each other")
	}
	return o.table || (!o.json && isTerminal(stdout)), nil
}

// eventPrinter writes events as table rows or NDJSON lines. Flush after
// the last one, or after each when following live events.
type eventPrinter struct {
	w      *bufio.Writer
	table  bool
	header bool
	enc    *json.Encoder
}

func newEventPrinter(w io.Writer, table bool) *eventPrinter {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &eventPrinter{w: bw, table: table, enc: enc}
}

const eventRow = "%8v  %-26s  %-24s  %-16s  %-12s  %s\n"

func (p *eventPrinter) print(ev *eventstore.Event) error {
	if !p.table {
		if err := p.enc.Encode(toLine(ev)); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	if !p.header {
		fmt.Fprintf(p.w, eventRow, "SEQ", "ID", "TIME", "TOPIC", "TYPE", "DATA")
		p.header = true
	}
	var seq any = ev.Seq
	if ev.Seq == 0 {
		seq = "-" // unknown: events followed through a server carry no sequence
	}
	_, err := fmt.Fprintf(p.w, eventRow, seq, ev.ID, ev.Time().Format(timeFormat), ev.Topic, ev.Type, shorten(ev.Data, 80))
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (p *eventPrinter) flush() error {
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// shorten returns data on one line, cut to at most n runes.
func shorten(data json.RawMessage, n int) string {
	var b bytes.Buffer
	if json.Compact(&b, data) != nil {
		b.Reset()
		b.Write(data)
	}
	s := strings.ReplaceAll(b.String(), "\n", " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// listFlag is a flag that may be repeated and takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeFormat)
}

// formatCount writes n with thousands separators.
func formatCount[T ~int | ~int64 | ~uint64](n T) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatBytes writes n in binary units.
func formatBytes[T ~int64 | ~uint64 | ~int32](n T) string {
	const unit = 1024
	f := float64(n)
	if f < unit {
		return fmt.Sprintf("%d B", int64(n))
	}
	exp := 0
	for f >= unit && exp < 5 {
		f /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[exp-1])
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it, for commands
// printed to be pasted back (patterns such as orders.> would redirect).
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._,-:/=", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// countOf writes n with its noun, singular for one: "1 event", "2,000 events".
func countOf[T ~int | ~int64 | ~uint64](n T, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return formatCount(n) + " " + noun + "s"
}
