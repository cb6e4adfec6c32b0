package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/apitest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// TestWhere: events --where prints the events whose data passes (--limit
// counting those printed; with --latest a topic whose newest fails is left
// out); tail --where follows with the filter, from JetStream and through
// a server; a bad filter is a usage error that says why.
func TestWhere(t *testing.T) {
	f := newFixture(t)
	evs := f.append(t, "orders.eu", "created", numbered(1, 10)...) // {"n":1} .. {"n":10}
	us := f.append(t, "orders.us", "created", numbered(11, 12)...)
	over7 := `{"path":"n","gt":7}`
	for _, tc := range []struct {
		name string
		args []string
		want []eventstore.Event
	}{
		{"gt", []string{"--where", over7}, append(evs[7:10:10], us...)},
		{"and, in, not", []string{"--where", `{"and":[{"path":"n","in":[2,4,6,11]},{"not":{"path":"n","eq":4}}]}`}, []eventstore.Event{evs[1], evs[5], us[0]}},
		{"limit counts matches", []string{"--where", over7, "--limit", "2"}, evs[7:9]},
		{"topic and where", []string{"--topic", "orders.eu", "--where", over7}, evs[7:10]},
		{"latest", []string{"--latest", "--where", `{"path":"n","lte":10}`}, evs[9:10]}, // orders.us's newest, 12, fails
		{"absent path", []string{"--where", `{"path":"x","exists":true}`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lines[eventLine](t, f.cli(t, nil, append([]string{"events"}, tc.args...)...).ok(t).stdout)
			if !equal(lineIDs(got), ids(tc.want)) {
				t.Errorf("got %v, want %v", lineIDs(got), ids(tc.want))
			}
		})
	}
	for _, bad := range []struct{ where, says string }{
		{`{"path":"n"}`, `path "n" needs one operator`},
		{`{"path":"n","gt":1,"lt":5}`, "one operator per filter"},
		{`not json`, "invalid filter"},
	} {
		for _, cmd := range []string{"events", "tail"} {
			r := f.cli(t, nil, cmd, "--topic", "orders.eu", "--where", bad.where)
			if r.code != exitUsage || !strings.Contains(r.stderr, bad.says) {
				t.Errorf("%s --where %s: exit %d, stderr %s", cmd, bad.where, r.code, r.stderr)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tail := startTail(t, ctx, f, "--topic", "orders.*", "--after", evs[8].ID.String(), "--where", over7)
	tail.waitLines(t, 3) // 10, 11, 12
	f.append(t, "orders.eu", "created", numbered(3, 3)...)
	live := f.append(t, "orders.us", "created", numbered(30, 30)...)
	got := tail.waitLines(t, 4)
	if want := []eventstore.Event{evs[9], us[0], us[1], live[0]}; !equal(lineIDs(got), ids(want)) {
		t.Fatalf("tail --where got %v, want %v", lineIDs(got), ids(want))
	}

	url := apitest.Start(t, f.store, api.Config{}, replay.Config{}).URL + "/graphql"
	tctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	r := &tailRun{stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}, done: make(chan int, 1)}
	go func() {
		r.done <- run(tctx, []string{"tail", "--json", "--server", url, "--topic", "orders.*", "--after", evs[8].ID.String(), "--where", over7, "--limit", "5"},
			strings.NewReader(""), r.stdout, r.stderr)
	}()
	r.waitLines(t, 4)
	f.append(t, "orders.eu", "created", numbered(4, 4)...)
	liveServer := f.append(t, "orders.eu", "created", numbered(40, 40)...)
	if code := r.wait(t); code != 0 {
		t.Fatalf("tail --server --where: exit %d; stderr:\n%s", code, r.stderr)
	}
	if want := []eventstore.Event{evs[9], us[0], us[1], live[0], liveServer[0]}; !equal(lineIDs(lines[eventLine](t, r.stdout.String())), ids(want)) {
		t.Fatalf("tail --server --where got %v, want %v", lineIDs(lines[eventLine](t, r.stdout.String())), ids(want))
	}
	if s := r.stderr.String(); !strings.Contains(s, "--where") {
		t.Errorf("the resume hint does not keep --where:\n%s", s)
	}
}
