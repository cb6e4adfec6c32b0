package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func appendN(t *testing.T, s *eventstore.Store, topic string, n int) []eventstore.Event {
	t.Helper()
	out := make([]eventstore.Event, n)
	for i := range out {
		ev, err := s.Append(ctxT(t), eventstore.Event{Topic: topic, Type: "message", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		out[i] = ev
	}
	return out
}

func collect(t *testing.T, s *eventstore.Store, q eventstore.Query) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for ev, err := range s.Read(ctxT(t), q) {
		if err != nil {
			t.Fatalf("read %+v: %v", q, err)
		}
		out = append(out, ev)
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

func TestAppendAndRead(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	ctx := ctxT(t)
	a, err := s.Append(ctx, eventstore.Event{Topic: "orders.eu", Type: "created", Data: json.RawMessage(`{"id":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Append(ctx, eventstore.Event{Topic: "orders.us", Type: "paid", Data: json.RawMessage(`"x"`)})
	c, _ := s.Append(ctx, eventstore.Event{Topic: "users", Type: "created", Data: json.RawMessage(`[1,2]`)})
	if !(a.Seq < b.Seq && b.Seq < c.Seq) || a.ID.Compare(b.ID) >= 0 {
		t.Fatalf("sequences or ids not increasing: %v %v %v", a, b, c)
	}
	if d := time.Since(a.Time()); d < 0 || d > time.Minute {
		t.Fatalf("event time %v is not now", a.Time())
	}
	for _, tc := range []struct {
		name string
		q    eventstore.Query
		want []eventstore.Event
	}{
		{"all", eventstore.Query{}, []eventstore.Event{a, b, c}},
		{"one topic", eventstore.Query{Topics: []string{"users"}}, []eventstore.Event{c}},
		{"wildcard", eventstore.Query{Topics: []string{"orders.*"}}, []eventstore.Event{a, b}},
		{"full wildcard", eventstore.Query{Topics: []string{">"}}, []eventstore.Event{a, b, c}},
		{"overlapping patterns", eventstore.Query{Topics: []string{"orders.>", "orders.eu", "*.us"}}, []eventstore.Event{a, b}},
		{"types", eventstore.Query{Types: []string{"created"}}, []eventstore.Event{a, c}},
		{"after", eventstore.Query{After: a.Seq}, []eventstore.Event{b, c}},
		{"until", eventstore.Query{Until: b.Seq}, []eventstore.Event{a, b}},
		{"limit", eventstore.Query{Limit: 2}, []eventstore.Event{a, b}},
		{"nothing after end", eventstore.Query{After: c.Seq}, nil},
		{"no match", eventstore.Query{Topics: []string{"nope"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := collect(t, s, tc.q)
			if strings.Join(ids(got), ",") != strings.Join(ids(tc.want), ",") {
				t.Fatalf("got %v, want %v", ids(got), ids(tc.want))
			}
			for i := range got {
				if got[i].Topic != tc.want[i].Topic || got[i].Type != tc.want[i].Type || string(got[i].Data) != string(tc.want[i].Data) || got[i].Seq != tc.want[i].Seq {
					t.Fatalf("event %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
	got, err := s.Get(ctx, b.ID)
	if err != nil || got.Topic != "orders.us" || string(got.Data) != `"x"` {
		t.Fatalf("get: %+v %v", got, err)
	}
}

func TestIdempotency(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	ctx := ctxT(t)
	first, err := s.Append(ctx, eventstore.Event{Topic: "pay", Type: "charge", Data: json.RawMessage(`1`)}, eventstore.WithIdempotencyKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Append(ctx, eventstore.Event{Topic: "pay", Type: "charge", Data: json.RawMessage(`1`)}, eventstore.WithIdempotencyKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || again.Seq != first.Seq || string(again.Data) != "1" {
		t.Fatalf("repeated key: got %+v, want the original %+v", again, first)
	}
	other, _ := s.Append(ctx, eventstore.Event{Topic: "refund", Type: "charge", Data: json.RawMessage(`3`)}, eventstore.WithIdempotencyKey("k1"))
	if other.ID == first.ID {
		t.Fatal("the same key on another topic must append a new event")
	}
	// A retried append of the same id (as after a lost acknowledgement) stores nothing twice.
	plain, _ := s.Append(ctx, eventstore.Event{Topic: "pay", Type: "charge", Data: json.RawMessage(`4`)})
	retry, _ := s.Append(ctx, eventstore.Event{ID: plain.ID, Topic: "pay", Type: "charge", Data: json.RawMessage(`4`)})
	if n := len(collect(t, s, eventstore.Query{})); n != 3 || retry.Seq != plain.Seq {
		t.Fatalf("stream holds %d events, want 2 (retry got seq %d)", n, retry.Seq)
	}
}

// TestIdempotencyScopes: a key is private to its scope (the API's
// principal): the same key in another scope stores another event and
// shows nothing of the first; in the same scope it answers the original;
// used there for a different event it is refused, storing nothing.
func TestIdempotencyScopes(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	ctx := ctxT(t)
	charge := func(scope, data string) (eventstore.Event, error) {
		opts := []eventstore.AppendOption{eventstore.WithIdempotencyKey("k1")}
		if scope != "" {
			opts = append(opts, eventstore.WithIdempotencyScope(scope))
		}
		return s.Append(ctx, eventstore.Event{Topic: "pay", Type: "charge", Data: json.RawMessage(data)}, opts...)
	}
	a, err := charge("alice", `{"card":"alice's"}`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := charge("bob", `{"card":"bob's"}`)
	if err != nil || b.ID == a.ID || string(b.Data) != `{"card":"bob's"}` {
		t.Fatalf("the same key in another scope: got %+v, %v; want a new event of its own", b, err)
	}
	for _, scope := range []string{"", "alice:", "ali"} { // shared, and scopes that could read as alice's with the key
		if ev, err := charge(scope, `{"card":"alice's"}`); err != nil || ev.ID == a.ID {
			t.Fatalf("scope %q: got %+v, %v; want a new event", scope, ev, err)
		}
	}
	again, err := charge("alice", `{"card":"alice's"}`)
	if err != nil || again.ID != a.ID || again.Seq != a.Seq {
		t.Fatalf("the same key in the same scope: got %+v, %v; want the original %+v", again, err, a)
	}
	for _, tc := range []struct{ typ, data string }{{"charge", `{"card":"other"}`}, {"refund", `{"card":"alice's"}`}} {
		_, err := s.Append(ctx, eventstore.Event{Topic: "pay", Type: tc.typ, Data: json.RawMessage(tc.data)},
			eventstore.WithIdempotencyKey("k1"), eventstore.WithIdempotencyScope("alice"))
		if !errors.Is(err, eventstore.ErrKeyReused) || !errors.Is(err, eventstore.ErrInvalidEvent) || !strings.Contains(err.Error(), a.ID.String()) {
			t.Errorf("the key reused for a %s event with %s: %v; want ErrKeyReused naming the original", tc.typ, tc.data, err)
		}
	}
	if n := len(collect(t, s, eventstore.Query{})); n != 5 {
		t.Fatalf("stream holds %d events, want 5 (alice, bob, three other scopes)", n)
	}
}

func TestResolveWithSkewedWriters(t *testing.T) {
	n := testenv.StartNATS(t)
	writer := n.Store(eventstore.Config{})
	ctx := ctxT(t)
	// Three writers whose clocks are an hour fast, right, and a day slow,
	// interleaved: ULID order and stream order disagree.
	skews := []time.Duration{time.Hour, 0, -25 * time.Hour}
	var stored []eventstore.Event
	for i := range 30 {
		at := time.Now().Add(skews[i%3])
		id := ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy())
		ev, err := writer.Append(ctx, eventstore.Event{ID: id, Topic: "t", Type: "x", Data: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, ev)
	}
	reader := n.Store(eventstore.Config{}) // a fresh cache: every lookup goes to storage
	for i, ev := range stored {
		seq, err := reader.Resolve(ctx, ev.ID)
		if err != nil || seq != ev.Seq {
			t.Fatalf("event %d (skew %v): resolved to %d, %v; want %d", i, skews[i%3], seq, err, ev.Seq)
		}
		rest := collect(t, reader, eventstore.Query{After: seq})
		if len(rest) != len(stored)-i-1 || (len(rest) > 0 && rest[0].ID != stored[i+1].ID) {
			t.Fatalf("after event %d: got %d events starting %v", i, len(rest), ids(rest[:min(1, len(rest))]))
		}
	}
	if seq, err := reader.Resolve(ctx, ulid.ULID{}); err != nil || seq != 0 {
		t.Fatalf("zero id: %d, %v", seq, err)
	}
}

func TestErrors(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{MaxPayload: 100, MaxMsgs: 5})
	ctx := ctxT(t)
	evs := appendN(t, s, "t", 10) // the first five are dropped by retention
	big := json.RawMessage(`"` + strings.Repeat("x", 100) + `"`)
	for _, tc := range []struct {
		name string
		ev   eventstore.Event
		want error
	}{
		{"empty topic", eventstore.Event{Type: "x", Data: json.RawMessage(`1`)}, eventstore.ErrInvalidTopic},
		{"bad token", eventstore.Event{Topic: "a..b", Type: "x", Data: json.RawMessage(`1`)}, eventstore.ErrInvalidTopic},
		{"wildcard topic", eventstore.Event{Topic: "a.*", Type: "x", Data: json.RawMessage(`1`)}, eventstore.ErrInvalidTopic},
		{"space", eventstore.Event{Topic: "a b", Type: "x", Data: json.RawMessage(`1`)}, eventstore.ErrInvalidTopic},
		{"no type", eventstore.Event{Topic: "a", Data: json.RawMessage(`1`)}, eventstore.ErrInvalidEvent},
		{"not json", eventstore.Event{Topic: "a", Type: "x", Data: json.RawMessage(`{`)}, eventstore.ErrInvalidEvent},
		{"too large", eventstore.Event{Topic: "a", Type: "x", Data: big}, eventstore.ErrPayloadTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Append(ctx, tc.ev); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if n := len(collect(t, s, eventstore.Query{})); n != 5 {
		t.Fatalf("rejected appends stored something: %d events", n)
	}
	if _, err := eventstore.ParseID("not-an-id"); !errors.Is(err, eventstore.ErrInvalidID) {
		t.Fatalf("parse: %v", err)
	}
	// The writer remembers evs[0]'s sequence, but events after it are gone.
	if _, err := s.Resolve(ctx, evs[0].ID); !errors.Is(err, eventstore.ErrCursorExpired) {
		t.Fatalf("expired cursor from the cache: %v", err)
	}
	// evs[4] was removed but nothing after it: resuming there loses nothing.
	if seq, err := s.Resolve(ctx, evs[4].ID); err != nil || seq != evs[4].Seq {
		t.Fatalf("cursor just before the oldest retained event: %d %v", seq, err)
	}
	fresh := n.Store(eventstore.Config{MaxPayload: 100, MaxMsgs: 5})
	if _, err := fresh.Resolve(ctx, evs[0].ID); !errors.Is(err, eventstore.ErrCursorExpired) {
		t.Fatalf("expired cursor: %v", err)
	}
	if seq, err := fresh.Resolve(ctx, evs[7].ID); err != nil || seq != evs[7].Seq {
		t.Fatalf("retained cursor: %d %v", seq, err)
	}
	unknown := ulid.MustNew(ulid.Now(), ulid.DefaultEntropy())
	if _, err := fresh.Resolve(ctx, unknown); !errors.Is(err, eventstore.ErrCursorNotFound) {
		t.Fatalf("unknown cursor: %v", err)
	}
	if _, err := fresh.Get(ctx, unknown); !errors.Is(err, eventstore.ErrCursorNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
}

func TestTopics(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	a := appendN(t, s, "a.one", 3)
	b := appendN(t, s, "b", 1)
	got, more, err := s.Topics(ctxT(t), []string{">"}, eventstore.TopicPage{})
	if err != nil || more {
		t.Fatal(err)
	}
	want := []eventstore.TopicInfo{
		{Name: "a.one", Events: 3, FirstID: a[0].ID, LastID: a[2].ID},
		{Name: "b", Events: 1, FirstID: b[0].ID, LastID: b[0].ID},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestTopicsFiltered: Topics lists only the topics its patterns match,
// and what it asks of JetStream follows those topics, not the stream's:
// one topic of many costs one listing and its two reads.
func TestTopicsFiltered(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := ctxT(t)
	writer := n.Store(eventstore.Config{})
	for i := range 40 {
		appendN(t, writer, fmt.Sprintf("t.%d", i), 1)
	}
	a := appendN(t, writer, "a.one", 2)
	nc := n.Connect()
	s, err := eventstore.Open(ctx, nc, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		patterns []string
		topics   int
		requests uint64 // at most
	}{
		{[]string{"a.one"}, 1, 3},
		{[]string{"a.*", "a.one"}, 1, 3}, // a covered pattern is not listed again
		{nil, 0, 0},
		{[]string{"nothing.here"}, 0, 1},
		{[]string{"t.*", "t.1"}, 40, 1 + 2*40},
		{[]string{">"}, 41, 1 + 2*41},
	} {
		before := nc.Stats().OutMsgs
		got, _, err := s.Topics(ctx, tc.patterns, eventstore.TopicPage{})
		requests := nc.Stats().OutMsgs - before
		if err != nil || len(got) != tc.topics || requests > tc.requests {
			t.Errorf("Topics(%q): %d topics in %d requests, %v; want %d in at most %d", tc.patterns, len(got), requests, err, tc.topics, tc.requests)
		}
		if tc.topics == 1 && (got[0] != eventstore.TopicInfo{Name: "a.one", Events: 2, FirstID: a[0].ID, LastID: a[1].ID}) {
			t.Errorf("Topics(%q) = %+v", tc.patterns, got)
		}
	}
	if _, _, err := s.Topics(ctx, []string{"a..b"}, eventstore.TopicPage{}); !errors.Is(err, eventstore.ErrInvalidTopic) {
		t.Errorf("an invalid pattern: %v", err)
	}
}

// TestTopicsPaged: pages list every topic once, in name order; a page
// reads its own topics' first and last events only, and the listing is
// fetched once for the pages that follow it.
func TestTopicsPaged(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := ctxT(t)
	writer := n.Store(eventstore.Config{})
	var want []string
	for i := range 45 {
		name := fmt.Sprintf("t.%02d", i)
		appendN(t, writer, name, 1)
		want = append(want, name)
	}
	nc := n.Connect()
	s, err := eventstore.Open(ctx, nc, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	page := eventstore.TopicPage{Limit: 10}
	for pages := 0; ; pages++ {
		before := nc.Stats().OutMsgs
		topics, more, err := s.Topics(ctx, []string{"t.*"}, page)
		if err != nil {
			t.Fatal(err)
		}
		requests := nc.Stats().OutMsgs - before
		listing := uint64(0)
		if pages == 0 {
			listing = 1
		}
		if limit := listing + 2*uint64(len(topics)); requests > limit {
			t.Errorf("page %d: %d requests for %d topics, want at most %d", pages, requests, len(topics), limit)
		}
		for _, ti := range topics {
			got = append(got, ti.Name)
		}
		if !more {
			break
		}
		if len(topics) != 10 {
			t.Fatalf("page %d holds %d topics and more follow", pages, len(topics))
		}
		page.After = topics[len(topics)-1].Name
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages listed %v, want %v", got, want)
	}
	if topics, more, err := s.Topics(ctx, []string{"t.*"}, eventstore.TopicPage{After: "t.445", Limit: 10}); err != nil || more || len(topics) != 0 {
		t.Errorf("after the last: %v %v %v", topics, more, err)
	}
	if topics, _, err := s.Topics(ctx, []string{"t.*"}, eventstore.TopicPage{After: "t.2", Limit: 1}); err != nil || len(topics) != 1 || topics[0].Name != "t.20" {
		t.Errorf("after a name that is no topic: %v %v", topics, err)
	}
}

func TestReadReleasesConsumers(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	appendN(t, s, "t", 50)
	for ev, err := range s.Read(ctxT(t), eventstore.Query{}) {
		if err != nil || ev.Seq == 10 {
			break // leave early: the consumer must still go
		}
	}
	collect(t, s, eventstore.Query{})
	testenv.Eventually(t, 5*time.Second, "consumers to be deleted", func() bool { return n.Consumers("REWIND") == 0 })
}
