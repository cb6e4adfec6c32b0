package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// whereCase is a filter and, written independently in Go, what it keeps of
// the events filterData makes.
type whereCase struct {
	spec string
	keep func(i int) bool
}

// filterData is event i's data: k cycles 0..4, status is paid for even i,
// and odd i have no total.
func filterData(i int) json.RawMessage {
	status := "open"
	if i%2 == 0 {
		status = "paid"
	}
	if i%2 == 1 {
		return json.RawMessage(fmt.Sprintf(`{"i":%d,"k":%d,"status":%q}`, i, i%5, status))
	}
	return json.RawMessage(fmt.Sprintf(`{"i":%d,"k":%d,"status":%q,"total":%d}`, i, i%5, status, i%100))
}

var whereCases = []whereCase{
	{`{"path":"k","eq":2}`, func(i int) bool { return i%5 == 2 }},
	{`{"path":"status","eq":"paid"}`, func(i int) bool { return i%2 == 0 }},
	{`{"and":[{"path":"status","eq":"paid"},{"path":"total","gte":50}]}`, func(i int) bool { return i%2 == 0 && i%100 >= 50 }},
	{`{"or":[{"path":"k","in":[0,4]},{"path":"total","exists":false}]}`, func(i int) bool { return i%5 == 0 || i%5 == 4 || i%2 == 1 }},
	{`{"not":{"path":"total","lt":90}}`, func(i int) bool { return i%2 == 1 || i%100 >= 90 }},
	{`{"path":"total","ne":10}`, func(i int) bool { return i%2 == 1 || i%100 != 10 }},
}

func mustFilter(t testing.TB, spec string) *eventfilter.Filter {
	t.Helper()
	f, err := eventfilter.Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestWhereSeam is TestSeam with filters: subscribers with a filter,
// starting from random cursors while events are appended at full speed,
// each receive exactly the events after their cursor that the test's own
// predicate keeps, in stream order, across the replay/live seam and the
// catch-ups of a small live buffer.
func TestWhereSeam(t *testing.T) {
	e := start(t, replay.Config{Buffer: 16})
	const total = 3000
	topics := []string{"a.x", "a.y", "b"}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var mu sync.Mutex
	var published []eventstore.Event
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := range total {
			ev, err := e.store.Append(ctx, eventstore.Event{Topic: topics[i%len(topics)], Type: "n", Data: filterData(i)})
			if err != nil {
				t.Errorf("append: %v", err)
				return
			}
			mu.Lock()
			published = append(published, ev)
			mu.Unlock()
		}
	}()
	type result struct {
		req  replay.Request
		c    whereCase
		got  []*eventstore.Event
		want []uint64
	}
	patterns := [][]string{{"a.x"}, {"a.*"}, {">"}, {"b", "a.y"}}
	g, gctx := errgroup.WithContext(ctx)
	results := make([]*result, 24)
	for i := range results {
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond) // spreads start times; not synchronisation
		mu.Lock()
		var after uint64
		if n := len(published); n > 0 && i%4 != 0 {
			after = published[rand.IntN(n)].Seq
		}
		mu.Unlock()
		c := whereCases[i%len(whereCases)]
		r := &result{c: c, req: replay.Request{Topics: patterns[i%len(patterns)], After: after, Filter: mustFilter(t, c.spec)}}
		// Sequences are 1..total, event i at i+1: what r must receive.
		for seq := after + 1; seq <= total; seq++ {
			i := int(seq - 1)
			if matches(r.req, topics[i%len(topics)]) && c.keep(i) {
				r.want = append(r.want, seq)
			}
		}
		results[i] = r
		sub, err := e.hub.Subscribe(gctx, r.req)
		if err != nil {
			t.Fatal(err)
		}
		g.Go(func() error {
			for len(r.got) < len(r.want) {
				select {
				case ev, ok := <-sub.C:
					if !ok {
						return fmt.Errorf("subscriber %d ended: %v", i, sub.Err())
					}
					r.got = append(r.got, ev)
				case <-gctx.Done():
					return fmt.Errorf("subscriber %d %s: %d of %d events", i, r.c.spec, len(r.got), len(r.want))
				}
			}
			return nil
		})
	}
	<-pubDone
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if got := seqs(r.got); !slices.Equal(got, r.want) {
			t.Errorf("subscriber %d %v %s after %d: got %d events, want %d; first difference at %d", i, r.req.Topics, r.c.spec, r.req.After, len(got), len(r.want), firstDiff(got, r.want))
		}
		if len(r.want) == 0 {
			t.Errorf("subscriber %d expects nothing: it proves nothing", i)
		}
	}
	// Overflows and catch-ups took and released filter references: none
	// is left once every subscriber has gone.
	cancel()
	testenv.Eventually(t, 10*time.Second, "the live set to empty", func() bool { return e.hub.Subscribers() == 0 })
	if got := e.hub.DistinctFilters(); got != 0 {
		t.Fatalf("%d distinct filters kept after every subscriber left", got)
	}
}

// TestWhereLatest: with a filter, latest gives each topic's newest event
// if it passes the filter, and leaves the topic out otherwise; then live
// events that pass.
func TestWhereLatest(t *testing.T) {
	e := start(t, replay.Config{})
	for _, p := range []struct{ topic, data string }{
		{"d.1", `{"on":true}`},  // 1
		{"d.2", `{"on":true}`},  // 2: d.2's newest
		{"d.1", `{"on":false}`}, // 3: d.1's newest does not pass
		{"d.3", `{"on":false}`}, // 4
		{"d.3", `{"on":true}`},  // 5: d.3's newest
	} {
		e.publishTyped(t, p.topic, "n", p.data)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"d.*"}, Latest: true, Filter: mustFilter(t, `{"path":"on","eq":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(receive(t, sub, 2, 10*time.Second)); !slices.Equal(got, []uint64{2, 5}) {
		t.Fatalf("latest with a filter: %v, want [2 5]", got)
	}
	testenv.Eventually(t, 5*time.Second, "the subscription to follow", func() bool { return e.hub.Subscribers() == 1 })
	e.publishTyped(t, "d.1", "n", `{"on":false}`) // 6
	e.publishTyped(t, "d.1", "n", `{"on":true}`)  // 7
	if got := seqs(receive(t, sub, 1, 10*time.Second)); !slices.Equal(got, []uint64{7}) {
		t.Fatalf("live with a filter: %v, want [7]", got)
	}
}

// countingObserver counts the hub's filter evaluations, overflows and
// refusals.
type countingObserver struct {
	evaluations    atomic.Int64
	tail           atomic.Int64
	filterOverflow atomic.Int64
	refused        atomic.Int64
}

func (o *countingObserver) TailEvent(*eventstore.Event)        { o.tail.Add(1) }
func (o *countingObserver) TailRestarted()                     {}
func (o *countingObserver) ReplayStarted(uint64)               {}
func (o *countingObserver) Replayed(int)                       {}
func (o *countingObserver) ReplayDone(int, int, time.Duration) {}
func (o *countingObserver) Overflowed()                        {}
func (o *countingObserver) SlowConsumer()                      {}
func (o *countingObserver) FiltersEvaluated(n int)             { o.evaluations.Add(int64(n)) }
func (o *countingObserver) FilterOverflowed(n int)             { o.filterOverflow.Add(int64(n)) }
func (o *countingObserver) FilterRefused()                     { o.refused.Add(1) }
func (o *countingObserver) Subscribed(replay.SubscriptionInfo) replay.SubscriptionObserver {
	return nil
}

// TestWhereEvaluatedOncePerFilter: 600 live subscribers holding three
// distinct filters (each written several ways, which share one key) and
// none: the hub evaluates three filters per event, not one per subscriber,
// and each subscriber still gets exactly its events.
func TestWhereEvaluatedOncePerFilter(t *testing.T) {
	obs := &countingObserver{}
	e := start(t, replay.Config{Observer: obs})
	spellings := [][]string{
		{`{"path":"k","eq":2}`, `{"path":"k","eq":2.0}`, `{"path":"k","eq":2e0}`},
		{`{"and":[{"path":"status","eq":"paid"},{"path":"total","gte":50}]}`, `{"and":[{"path":"total","gte":50},{"path":"status","eq":"paid"}]}`},
		{`{"path":"status","in":["open","x"]}`, `{"path":"status","in":["x","open","x"]}`},
	}
	keeps := []func(int) bool{
		func(i int) bool { return i%5 == 2 },
		func(i int) bool { return i%2 == 0 && i%100 >= 50 },
		func(i int) bool { return i%2 == 1 },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 600
	type follower struct {
		sub  *replay.Subscription
		keep func(int) bool
	}
	var subs []follower
	for i := range n {
		req := replay.Request{Topics: []string{"t"}, Live: true}
		keep := func(int) bool { return true }
		if c := i % 4; c < 3 {
			s := spellings[c][i%len(spellings[c])]
			req.Filter, keep = mustFilter(t, s), keeps[c]
		}
		sub, err := e.hub.Subscribe(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, follower{sub, keep})
	}
	testenv.Eventually(t, 10*time.Second, "all to register", func() bool { return e.hub.Subscribers() == n })
	if got := e.hub.DistinctFilters(); got != 3 {
		t.Fatalf("the live set holds %d distinct filters, want 3", got)
	}
	const events = 200
	batch := make([]eventstore.Event, events)
	for i := range batch {
		batch[i] = eventstore.Event{Topic: "t", Type: "n", Data: filterData(i)}
	}
	stored, err := e.store.AppendBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for j, f := range subs {
		var want []uint64
		for i, ev := range stored {
			if f.keep(i) {
				want = append(want, ev.Seq)
			}
		}
		if got := seqs(receive(t, f.sub, len(want), 20*time.Second)); !slices.Equal(got, want) {
			t.Fatalf("subscriber %d: first difference at %d of %d", j, firstDiff(got, want), len(want))
		}
	}
	testenv.Eventually(t, 5*time.Second, "the tail to fan out every event", func() bool { return obs.tail.Load() == events })
	// Filters are evaluated on the hub's workers, after the tail: wait for
	// the last evaluations, then check that there were no more.
	testenv.Eventually(t, 5*time.Second, "every evaluation", func() bool { return obs.evaluations.Load() >= 3*events })
	if got := obs.evaluations.Load(); got != 3*events {
		t.Fatalf("%d filter evaluations for %d events, %d subscribers and 3 distinct filters, want %d", got, events, n, 3*events)
	}
	cancel()
	testenv.Eventually(t, 10*time.Second, "the live set to empty", func() bool { return e.hub.Subscribers() == 0 })
	if got := e.hub.DistinctFilters(); got != 0 {
		t.Fatalf("%d distinct filters kept after every subscriber left", got)
	}
}

// TestLatestSurvivesJetStreamRestart: a latest read whose storage read
// dies with JetStream resumes after the last event it delivered: every
// topic's newest event once, in stream order, then live.
func TestLatestSurvivesJetStreamRestart(t *testing.T) {
	e := start(t, replay.Config{})
	const topics = 2000
	batch := make([]eventstore.Event, 0, 2*topics)
	for round := range 2 {
		for i := range topics {
			batch = append(batch, eventstore.Event{Topic: fmt.Sprintf("d.%d", i), Type: "n", Data: json.RawMessage(fmt.Sprint(round))})
		}
	}
	stored, err := e.store.AppendBatch(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the hub to reach the end", func() bool { return e.hub.Head() == uint64(len(stored)) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"d.*"}, Latest: true})
	if err != nil {
		t.Fatal(err)
	}
	got := seqs(receive(t, sub, 300, 10*time.Second)) // mid-read: the rest waits in storage
	e.nats.Stop()
	e.nats.Start()
	got = append(got, seqs(receive(t, sub, topics-300, 60*time.Second))...)
	if want := seqs(stored[topics:]); !slices.Equal(got, want) {
		t.Fatalf("got %d events, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	testenv.Eventually(t, 30*time.Second, "the subscription to follow", func() bool { return e.hub.Subscribers() == 1 })
	live := e.publish(t, "d.7", 2)
	if got := receive(t, sub, 1, 30*time.Second); got[0].Seq != live.Seq {
		t.Fatalf("live after latest: seq %d, want %d", got[0].Seq, live.Seq)
	}
}
