package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// result is what one run of the CLI produced.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs replayctl in-process with stdin and args.
func cli(t testing.TB, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a guard against hangs
	defer cancel()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr testenv.SyncBuffer
	code := run(ctx, args, stdin, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// ok fails the test unless r exited 0.
func (r result) ok(t testing.TB) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

// lines parses r's stdout as NDJSON into T.
func lines[T any](t testing.TB, out string) []T {
	t.Helper()
	var got []T
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, v)
	}
	return got
}

// fixture is a JetStream server with a store and the URL the CLI uses.
type fixture struct {
	nats  *testenv.NATS
	store *eventstore.Store
	url   string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	n := testenv.StartNATS(t)
	return &fixture{nats: n, store: n.Store(eventstore.Config{}), url: n.URL()}
}

// cli runs replayctl against f's server.
func (f *fixture) cli(t testing.TB, stdin io.Reader, args ...string) result {
	t.Helper()
	return cli(t, stdin, append([]string{"--nats-url", f.url}, args...)...)
}

// append stores one event per data on topic.
func (f *fixture) append(t testing.TB, topic, typ string, data ...string) []eventstore.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs := make([]eventstore.Event, len(data))
	for i, d := range data {
		evs[i] = eventstore.Event{Topic: topic, Type: typ, Data: json.RawMessage(d)}
	}
	out, err := f.store.AppendBatch(ctx, evs)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return out
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf(`{"n":%d}`, i))
	}
	return out
}

func ids(evs []eventstore.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID.String()
	}
	return out
}

func lineIDs(ls []eventLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTopics(t *testing.T) {
	f := newFixture(t)
	eu := f.append(t, "orders.eu", "created", `{"id":1}`, `{"id":2}`, `{"id":3}`)
	us := f.append(t, "orders.us", "created", `{"id":10}`)

	got := lines[topicLine](t, f.cli(t, nil, "topics").ok(t).stdout)
	if len(got) != 2 {
		t.Fatalf("got %d topics, want 2: %+v", len(got), got)
	}
	want := []struct {
		name          string
		events, bytes uint64
		first, last   eventstore.Event
	}{
		{"orders.eu", 3, 24, eu[0], eu[2]},
		{"orders.us", 1, 9, us[0], us[0]},
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Events != w.events || g.Bytes == nil || *g.Bytes != w.bytes ||
			g.FirstID != w.first.ID.String() || g.LastID != w.last.ID.String() ||
			g.FirstTime != w.first.Time().Format(timeFormat) || g.LastTime != w.last.Time().Format(timeFormat) {
			t.Errorf("topic %d: got %+v (bytes %v), want %+v", i, g, g.Bytes, w)
		}
	}

	table := f.cli(t, nil, "topics", "--table").ok(t).stdout
	for _, s := range []string{"TOPIC", "EVENTS", "BYTES", "orders.eu", "orders.us", eu[0].ID.String(), us[0].ID.String(), "24 B"} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}
	if noBytes := lines[topicLine](t, f.cli(t, nil, "topics", "--bytes=false").ok(t).stdout); noBytes[0].Bytes != nil {
		t.Errorf("--bytes=false still summed bytes: %+v", noBytes[0])
	}
}

func TestEvents(t *testing.T) {
	f := newFixture(t)
	a := f.append(t, "orders.eu", "created", numbered(1, 5)...)
	b := f.append(t, "orders.us", "cancelled", numbered(6, 7)...)
	c := f.append(t, "orders.eu", "cancelled", numbered(8, 9)...)
	all := append(append(append([]eventstore.Event{}, a...), b...), c...)

	got := lines[eventLine](t, f.cli(t, nil, "events").ok(t).stdout)
	if !equal(lineIDs(got), ids(all)) {
		t.Fatalf("every event: got %v, want %v", lineIDs(got), ids(all))
	}
	first := got[0]
	if first.Seq != 1 || first.Topic != "orders.eu" || first.Type != "created" || string(first.Data) != `{"n":1}` ||
		first.Time != a[0].Time().Format(timeFormat) {
		t.Errorf("first line: %+v", first)
	}

	cases := []struct {
		name string
		args []string
		want []eventstore.Event
	}{
		{"topic", []string{"--topic", "orders.us"}, b},
		{"pattern and type", []string{"--topic", "orders.*", "--type", "cancelled"}, append(append([]eventstore.Event{}, b...), c...)},
		{"two topics", []string{"--topic", "orders.us,orders.eu", "--type", "created"}, a},
		{"after", []string{"--topic", "orders.eu", "--after", a[2].ID.String()}, append(append([]eventstore.Event{}, a[3:]...), c...)},
		{"after and until", []string{"--after", a[0].ID.String(), "--until", b[0].ID.String()}, all[1:6]},
		{"until before after", []string{"--after", a[3].ID.String(), "--until", a[1].ID.String()}, nil},
		{"limit", []string{"--topic", "orders.eu", "--limit", "2"}, a[:2]},
		{"zero cursor", []string{"--after", "00000000000000000000000000", "--limit", "1"}, a[:1]},
		{"since an hour ago", []string{"--since", "1h", "--topic", "orders.us"}, b},
		{"since the future", []string{"--since", time.Now().Add(time.Hour).Format(time.RFC3339)}, nil},
		{"since after 2262", []string{"--since", "2300-01-01"}, nil}, // past Unix nanoseconds: not the start
		{"since 9999", []string{"--since", "9999-12-31T23:59:59Z"}, nil},
		{"since year 1", []string{"--since", "0001-01-01", "--topic", "orders.us"}, b},
		{"until the past", []string{"--until", "2001-01-01"}, nil},
		{"until now", []string{"--until", time.Now().Add(time.Second).Format(time.RFC3339Nano), "--type", "cancelled"}, append(append([]eventstore.Event{}, b...), c...)},
		{"last 3 on a pattern", []string{"--topic", "orders.*", "--last", "3"}, all[len(all)-3:]},
		{"last 2 of a type", []string{"--type", "created", "--last", "2"}, a[3:]},
		{"last beyond the history", []string{"--topic", "orders.us", "--last", "50"}, b},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := lines[eventLine](t, f.cli(t, nil, append([]string{"events"}, tc.args...)...).ok(t).stdout)
			if !equal(lineIDs(got), ids(tc.want)) {
				t.Errorf("got %v, want %v", lineIDs(got), ids(tc.want))
			}
		})
	}

	table := f.cli(t, nil, "events", "--table", "--topic", "orders.us").ok(t).stdout
	rows := strings.Split(strings.TrimSpace(table), "\n")
	if len(rows) != 3 || !strings.Contains(rows[0], "SEQ") || !strings.Contains(rows[0], "DATA") ||
		!strings.Contains(rows[1], b[0].ID.String()) || !strings.Contains(rows[1], `{"n":6}`) || !strings.Contains(rows[2], "cancelled") {
		t.Errorf("table:\n%s", table)
	}
}

func TestStats(t *testing.T) {
	f := newFixture(t)
	f.append(t, "orders.eu", "created", numbered(1, 4)...)
	f.append(t, "orders.us", "created", numbered(5, 5)...)

	var s statsJSON
	if err := json.Unmarshal([]byte(f.cli(t, nil, "stats", "--json").ok(t).stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.Stream != "REWIND" || s.Events != 5 || s.Topics != 2 || s.FirstSeq != 1 || s.LastSeq != 5 ||
		s.Storage != "file" || s.Retention != "limits" || s.Discard != "old" || s.Duplicates != "2m0s" ||
		s.Replicas != 1 || s.Bytes == 0 || len(s.Consumers) != 0 {
		t.Errorf("stats: %+v", s)
	}

	// A subscription in progress shows as a consumer.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tail := startTail(t, ctx, f, "--topic", "orders.eu", "--after", "00000000000000000000000000")
	tail.waitLines(t, 4)
	// The tail's live consumer may still be being created when its
	// replayed lines are out (they come from a direct get): wait for it.
	var table string
	testenv.Eventually(t, 10*time.Second, "the tail's consumer in stats", func() bool {
		table = f.cli(t, nil, "stats", "--table").ok(t).stdout
		return strings.Contains(table, "CONSUMER")
	})
	for _, want := range []string{"REWIND", "5 in 2 topics", "limits, discard old", "unlimited", "max per topic unlimited", "Dedup window  2m0s", "CONSUMER", "events.>"} {
		if !strings.Contains(table, want) {
			t.Errorf("stats table lacks %q:\n%s", want, table)
		}
	}
	cancel()
	tail.wait(t)
}

// TestStatsKeepPerTopic: the per-topic limit (--keep-per-topic) shows in
// stats, and the stream holds that many events of each topic.
func TestStatsKeepPerTopic(t *testing.T) {
	n := testenv.StartNATS(t)
	f := &fixture{nats: n, store: n.Store(eventstore.Config{MaxMsgsPerSubject: 2}), url: n.URL()}
	f.append(t, "prices.eur", "tick", numbered(1, 3)...)
	f.append(t, "prices.usd", "tick", numbered(4, 4)...)
	var s statsJSON
	if err := json.Unmarshal([]byte(f.cli(t, nil, "stats", "--json").ok(t).stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.MaxPerTopic != 2 || s.Events != 3 {
		t.Errorf("maxPerTopic %d, events %d; want 2 and 3", s.MaxPerTopic, s.Events)
	}
	if table := f.cli(t, nil, "stats", "--table").ok(t).stdout; !strings.Contains(table, "max per topic 2") {
		t.Errorf("stats table lacks the per-topic limit:\n%s", table)
	}
}

// tailRun is a tail command running in the background.
type tailRun struct {
	stdout, stderr *testenv.SyncBuffer
	done           chan int
}

func startTail(t testing.TB, ctx context.Context, f *fixture, args ...string) *tailRun {
	t.Helper()
	r := &tailRun{stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}, done: make(chan int, 1)}
	go func() {
		r.done <- run(ctx, append([]string{"--nats-url", f.url, "tail", "--json"}, args...), strings.NewReader(""), r.stdout, r.stderr)
	}()
	testenv.Eventually(t, 10*time.Second, "tail to start", func() bool {
		return strings.Contains(r.stderr.String(), "following")
	})
	return r
}

func (r *tailRun) waitLines(t testing.TB, n int) []eventLine {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("%d events from tail", n), func() bool {
		return strings.Count(r.stdout.String(), "\n") >= n
	})
	return lines[eventLine](t, r.stdout.String())
}

func (r *tailRun) wait(t testing.TB) int {
	t.Helper()
	select {
	case code := <-r.done:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop")
		return 0
	}
}

func TestTail(t *testing.T) {
	f := newFixture(t)
	before := f.append(t, "orders.eu", "created", numbered(1, 3)...)

	t.Run("replay then live", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		tail := startTail(t, ctx, f, "--topic", "orders.*", "--after", before[0].ID.String())
		tail.waitLines(t, 2)
		live := f.append(t, "orders.us", "created", numbered(4, 5)...)
		f.append(t, "payments.eu", "created", numbered(6, 6)...) // not followed
		live = append(live, f.append(t, "orders.eu", "shipped", numbered(7, 7)...)...)
		got := tail.waitLines(t, 5)
		want := append(append([]eventstore.Event{}, before[1:]...), live...)
		if !equal(lineIDs(got), ids(want)) {
			t.Fatalf("tail got %v, want %v", lineIDs(got), ids(want))
		}
		cancel() // Ctrl-C
		if code := tail.wait(t); code != exitInterrupted {
			t.Errorf("exit %d after interrupt, want 130 as the README says; stderr:\n%s", code, tail.stderr)
		}
		last := live[len(live)-1].ID.String()
		if s := tail.stderr.String(); !strings.Contains(s, "last id "+last) || !strings.Contains(s, "--after "+last) {
			t.Errorf("stderr does not say where to resume (%s):\n%s", last, s)
		}
	})

	t.Run("live only", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		tail := startTail(t, ctx, f, "--topic", "orders.eu", "--limit", "2", "--type", "created")
		f.append(t, "orders.eu", "shipped", numbered(10, 10)...)
		live := f.append(t, "orders.eu", "created", numbered(11, 13)...)
		if code := tail.wait(t); code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, tail.stderr)
		}
		got := lines[eventLine](t, tail.stdout.String())
		if !equal(lineIDs(got), ids(live[:2])) {
			t.Errorf("live tail got %v, want %v", lineIDs(got), ids(live[:2]))
		}
	})

	t.Run("table", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r := testenv.SyncBuffer{}
		var stderr testenv.SyncBuffer
		code := run(ctx, []string{"--nats-url", f.url, "tail", "--topic", "orders.eu", "--after", before[1].ID.String(), "--limit", "1", "--table"}, strings.NewReader(""), &r, &stderr)
		if code != 0 || !strings.Contains(r.String(), "SEQ") || !strings.Contains(r.String(), before[2].ID.String()) {
			t.Errorf("exit %d, table:\n%s\nstderr:\n%s", code, r.String(), stderr.String())
		}
	})
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"orders.eu":            "orders.eu",
		"orders.*":             "'orders.*'",
		"orders.>,payments.eu": "'orders.>,payments.eu'",
		"2026-05-01 12:00":     "'2026-05-01 12:00'",
		"it's":                 `'it'\''s'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	p := &progress{label: "export", total: 100_000, start: start}
	p.n = 25_000
	if got, want := p.line(start.Add(5*time.Second)), "export: 25,000 events, 5,000/s, 25%, ETA 15s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	p.total = 0
	if got, want := p.line(start.Add(5*time.Second)), "export: 25,000 events, 5,000/s"; got != want {
		t.Errorf("no total: got %q, want %q", got, want)
	}
	var quiet bytes.Buffer
	a := newApp(strings.NewReader(""), &quiet, &quiet)
	q := a.progress("x", 10)
	q.add(5)
	q.done()
	if quiet.Len() != 0 {
		t.Errorf("progress wrote to a non-terminal: %q", quiet.String())
	}
}
