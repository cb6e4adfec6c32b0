package main

import (
	"context"
	"strings"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
)

// TestLatest: events --latest prints the newest event of each matching
// topic in stream order (with --type, a topic whose newest event is of
// another type is left out); tail --latest follows on from them live;
// --latest excludes the other start points.
func TestLatest(t *testing.T) {
	f := newFixture(t)
	f.append(t, "orders.eu", "created", numbered(1, 5)...)
	b := f.append(t, "orders.us", "cancelled", numbered(6, 7)...)
	c := f.append(t, "orders.eu", "cancelled", numbered(8, 9)...)
	single := f.append(t, "payments.eu", "created", numbered(10, 10)...)
	for _, tc := range []struct {
		name string
		args []string
		want []eventstore.Event
	}{
		{"every topic", nil, []eventstore.Event{b[1], c[1], single[0]}},
		{"pattern", []string{"--topic", "orders.*"}, []eventstore.Event{b[1], c[1]}},
		{"one topic", []string{"--topic", "orders.us"}, b[1:]},
		{"type of the newest", []string{"--type", "cancelled"}, []eventstore.Event{b[1], c[1]}},
		{"type hidden by a newer one", []string{"--topic", "orders.*", "--type", "created"}, nil},
		{"limit", []string{"--limit", "1"}, b[1:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lines[eventLine](t, f.cli(t, nil, append([]string{"events", "--latest"}, tc.args...)...).ok(t).stdout)
			if !equal(lineIDs(got), ids(tc.want)) {
				t.Errorf("got %v, want %v", lineIDs(got), ids(tc.want))
			}
		})
	}
	for _, args := range [][]string{{"events", "--latest", "--last", "2"}, {"tail", "--topic", "x", "--latest", "--after", b[0].ID.String()}} {
		if r := f.cli(t, nil, args...); r.code != exitUsage || !strings.Contains(r.stderr, "exclude each other") {
			t.Errorf("%v: exit %d, stderr %s", args, r.code, r.stderr)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tail := startTail(t, ctx, f, "--topic", "orders.*", "--latest")
	tail.waitLines(t, 2)
	live := f.append(t, "orders.us", "created", numbered(11, 11)...)
	f.append(t, "payments.eu", "created", numbered(12, 12)...) // not followed
	got := tail.waitLines(t, 3)
	if want := []eventstore.Event{b[1], c[1], live[0]}; !equal(lineIDs(got), ids(want)) {
		t.Fatalf("tail --latest got %v, want %v", lineIDs(got), ids(want))
	}
}
