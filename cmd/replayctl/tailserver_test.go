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

// TestTailServer: tail --server follows through the GraphQL API with the
// same output and resume hint as the JetStream path, and a request the
// server refuses fails with exit 1.
func TestTailServer(t *testing.T) {
	f := newFixture(t)
	url := apitest.Start(t, f.store, api.Config{}, replay.Config{}).URL + "/graphql"

	before := f.append(t, "orders.eu", "created", numbered(1, 3)...)
	tctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	r := &tailRun{stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}, done: make(chan int, 1)}
	go func() {
		r.done <- run(tctx, []string{"tail", "--json", "--server", url, "--topic", "orders.*", "--after", before[0].ID.String(), "--limit", "4"},
			strings.NewReader(""), r.stdout, r.stderr)
	}()
	r.waitLines(t, 2)
	live := f.append(t, "orders.us", "created", numbered(4, 5)...)
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	got := lines[eventLine](t, r.stdout.String())
	want := append(append([]eventstore.Event{}, before[1:]...), live[:2]...)
	if !equal(lineIDs(got), ids(want)) {
		t.Fatalf("tail --server got %v, want %v", lineIDs(got), ids(want))
	}
	if got[0].Topic != "orders.eu" || got[0].Type != "created" || string(got[0].Data) != `{"n":2}` || got[0].Seq != 0 {
		t.Errorf("first line %+v", got[0])
	}
	last := live[1].ID.String()
	if s := r.stderr.String(); !strings.Contains(s, "--server "+url) || !strings.Contains(s, "--after "+last) {
		t.Errorf("stderr does not say where to resume (%s):\n%s", last, s)
	}

	res := cli(t, nil, "tail", "--server", url, "--topic", "orders.eu", "--after", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	if res.code != 1 || !strings.Contains(res.stderr, "CURSOR_NOT_FOUND") {
		t.Errorf("unknown cursor: exit %d, stderr:\n%s", res.code, res.stderr)
	}
}
