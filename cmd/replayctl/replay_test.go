package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
)

// webhook is a test receiver: it records the events it accepts and
// answers with what fail says for an event and attempt.
type webhook struct {
	mu       sync.Mutex
	accepted []eventLine
	attempts map[string]int
	fail     func(id string, attempt int) int // status to answer, 0: accept
	bad      []string                         // requests that broke the contract
}

func newWebhook(t *testing.T) (*webhook, string) {
	w := &webhook{attempts: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev eventLine
		w.mu.Lock()
		defer w.mu.Unlock()
		if err := json.Unmarshal(body, &ev); err != nil || r.Method != http.MethodPost ||
			r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Idempotency-Key") != ev.ID ||
			r.Header.Get("Rewind-Event-Id") != ev.ID || r.Header.Get("Authorization") != "Bearer s3cret" {
			w.bad = append(w.bad, string(body))
		}
		w.attempts[ev.ID]++
		if w.fail != nil {
			if code := w.fail(ev.ID, w.attempts[ev.ID]); code != 0 {
				http.Error(rw, "nope", code)
				return
			}
		}
		w.accepted = append(w.accepted, ev)
	}))
	t.Cleanup(srv.Close)
	return w, srv.URL
}

func (w *webhook) got() []eventLine {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]eventLine(nil), w.accepted...)
}

func TestReplayWebhook(t *testing.T) {
	f := newFixture(t)
	evs := f.append(t, "orders.eu", "created", numbered(1, 10)...)
	f.append(t, "orders.us", "created", numbered(11, 12)...)
	hook, url := newWebhook(t)
	flaky, broken := evs[3].ID.String(), evs[6].ID.String()
	fixed := false
	hook.fail = func(id string, attempt int) int {
		switch {
		case id == flaky && attempt <= 2:
			return http.StatusServiceUnavailable // retried
		case id == broken && !fixed:
			return http.StatusUnprocessableEntity // permanent
		}
		return 0
	}
	args := []string{"replay", "--topic", "orders.eu", "--to", url, "--backoff", "1ms", "--header", "Authorization: Bearer s3cret"}

	r := f.cli(t, nil, append(args, "--after", "00000000000000000000000000")...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	if got := lineIDs(hook.got()); !equal(got, ids(evs[:6])) {
		t.Fatalf("accepted %v, want %v", got, ids(evs[:6]))
	}
	resume := evs[5].ID.String()
	for _, want := range []string{"422", broken, "retrying", "delivering 6 events", "resume with: replayctl --nats-url " + f.url + " replay ",
		"--header 'Authorization: xxxxx'", "--after " + resume + "\n(put back the secrets shown as xxxxx)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "s3cret") {
		t.Errorf("stderr shows the webhook's credentials:\n%s", r.stderr)
	}

	fixed = true
	r = f.cli(t, nil, append(args, "--after", resume, "--rate", "1000/s")...).ok(t)
	if got := lineIDs(hook.got()); !equal(got, ids(evs)) {
		t.Fatalf("after resuming, accepted %v, want %v", got, ids(evs))
	}
	if !strings.Contains(r.stderr, "delivered 4 events") {
		t.Errorf("stderr: %s", r.stderr)
	}
	first := hook.got()[0]
	if first.Topic != "orders.eu" || first.Type != "created" || string(first.Data) != `{"n":1}` || first.Seq != evs[0].Seq || first.Time == "" {
		t.Errorf("webhook body: %+v", first)
	}
	if len(hook.bad) > 0 {
		t.Errorf("malformed requests: %v", hook.bad)
	}

	// A webhook that keeps failing is given up on after --retries.
	hook.fail = func(string, int) int { return http.StatusBadGateway }
	r = f.cli(t, nil, append(args, "--after", evs[7].ID.String(), "--retries", "2")...)
	if r.code != 1 || !strings.Contains(r.stderr, "gave up after 3 attempts") ||
		!strings.Contains(r.stderr, "--retries 2 --to "+url+" --topic orders.eu --after "+evs[7].ID.String()) {
		t.Errorf("exit %d; stderr:\n%s", r.code, r.stderr)
	}

	// A dry run sends nothing.
	before := len(hook.got())
	r = f.cli(t, nil, append(args, "--after", "00000000000000000000000000", "--dry-run")...).ok(t)
	if len(hook.got()) != before || !strings.Contains(r.stderr, "would deliver 10 events") {
		t.Errorf("dry run: stderr %s", r.stderr)
	}
}

func TestReplayStdout(t *testing.T) {
	f := newFixture(t)
	evs := f.append(t, "orders.eu", "created", numbered(1, 4)...)
	r := f.cli(t, nil, "replay", "--topic", "orders.eu", "--after", evs[0].ID.String(), "--until", evs[2].ID.String(), "--to", "stdout").ok(t)
	if got := lineIDs(lines[eventLine](t, r.stdout)); !equal(got, ids(evs[1:3])) {
		t.Errorf("got %v, want %v", got, ids(evs[1:3]))
	}
}

func TestReplayToTopic(t *testing.T) {
	f := newFixture(t)
	eu := f.append(t, "orders.eu", "created", numbered(1, 5)...)
	us := f.append(t, "orders.us", "cancelled", numbered(6, 7)...)
	src := append(append([]eventstore.Event{}, eu...), us...)
	args := []string{"replay", "--topic", "orders.*", "--to", "topic:audit.replayed"}
	copies := func() []eventLine {
		return lines[eventLine](t, f.cli(t, nil, "events", "--topic", "audit.replayed").ok(t).stdout)
	}

	r := f.cli(t, nil, append(args, "--after", "00000000000000000000000000", "--dry-run")...).ok(t)
	if !strings.Contains(r.stderr, "would deliver 7 events") {
		t.Errorf("dry run: %s", r.stderr)
	}
	if n, _ := f.store.CountTopics(t.Context(), "audit.>"); len(n) != 0 {
		t.Fatalf("a dry run appended: %v", n)
	}

	r = f.cli(t, nil, append(args, "--after", "00000000000000000000000000")...).ok(t)
	if !strings.Contains(r.stderr, "delivered 7 events") {
		t.Errorf("first run: %s", r.stderr)
	}
	got := copies()
	if len(got) != len(src) {
		t.Fatalf("%d copies, want %d", len(got), len(src))
	}
	for i, c := range got {
		var d replayed
		if err := json.Unmarshal(c.Data, &d); err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		s := src[i]
		if c.Type != s.Type || d.ReplayOf.ID != s.ID.String() || d.ReplayOf.Topic != s.Topic ||
			d.ReplayOf.Time != s.Time().Format(timeFormat) || string(d.Data) != string(s.Data) || c.ID == s.ID.String() {
			t.Errorf("copy %d = %+v (data %s), source %+v", i, c, c.Data, s)
		}
	}

	// The same range again, and a range inside it: nothing twice.
	for _, after := range []string{"00000000000000000000000000", eu[2].ID.String()} {
		r = f.cli(t, nil, append(args, "--after", after)...).ok(t)
		if !strings.Contains(r.stderr, "delivered 0 events") || !strings.Contains(r.stderr, "already there") {
			t.Errorf("rerun after %s: %s", after, r.stderr)
		}
	}
	if n := len(copies()); n != len(src) {
		t.Fatalf("after reruns, %d copies, want %d", n, len(src))
	}

	// New source events: a rerun copies only those.
	more := f.append(t, "orders.eu", "created", numbered(8, 9)...)
	r = f.cli(t, nil, append(args, "--after", "00000000000000000000000000")...).ok(t)
	if !strings.Contains(r.stderr, "delivered 2 events to topic:audit.replayed, skipped 7 already there") {
		t.Errorf("incremental run: %s", r.stderr)
	}
	got = copies()
	if len(got) != len(src)+len(more) {
		t.Fatalf("%d copies, want %d", len(got), len(src)+len(more))
	}
}

// TestReplayToTopicChecksSchema: copies appended by replay --to topic are
// checked like any append: a copy whose topic and type match a declaration
// must match its type, which the replayOf envelope does not.
func TestReplayToTopicChecksSchema(t *testing.T) {
	f := newFixture(t)
	f.append(t, "archive.eu", "placed", `{"orderId":"1","total":2,"lines":[]}`)
	r := f.cli(t, nil, "replay", "--topic", "archive.*", "--after", "00000000000000000000000000", "--to", "topic:orders.replayed", "--schema", exampleSchema)
	if r.code == 0 || !strings.Contains(r.stderr, "OrderPlaced data: orderId: required (ID!), missing") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if n, _ := f.store.CountTopics(t.Context(), "orders.>"); len(n) != 0 {
		t.Errorf("a refused copy was stored: %v", n)
	}
	f.cli(t, nil, "replay", "--topic", "archive.*", "--after", "00000000000000000000000000", "--to", "topic:audit.replayed", "--schema", exampleSchema).ok(t)
}
