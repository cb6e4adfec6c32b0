package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
)

func (e *env) publishTyped(t testing.TB, topic, typ string, data string) eventstore.Event {
	ev, err := e.store.Append(context.Background(), eventstore.Event{Topic: topic, Type: typ, Data: json.RawMessage(data)})
	if err != nil {
		t.Errorf("append: %v", err)
	}
	return ev
}

// TestLatestThenLive: on a quiet stream, latest replays exactly the newest
// event of each matching topic in stream order (topics with one event and
// with many, across wildcards, with types), then every later match live.
func TestLatestThenLive(t *testing.T) {
	e := start(t, replay.Config{})
	for _, p := range []struct{ topic, typ string }{
		{"d.a.1", "n"}, // 1
		{"d.a.2", "n"}, // 2: d.a.2's only event
		{"d.a.1", "n"}, // 3
		{"x.y", "n"},   // 4
		{"d.b.1", "n"}, // 5
		{"d.a.1", "n"}, // 6: d.a.1's newest
		{"d.b.1", "m"}, // 7: d.b.1's newest, type m
		{"d.b.2", "m"}, // 8
	} {
		e.publishTyped(t, p.topic, p.typ, "0")
	}
	for _, tc := range []struct {
		req      replay.Request
		replayed []uint64
	}{
		{req: replay.Request{Topics: []string{"d.>"}}, replayed: []uint64{2, 6, 7, 8}},
		{req: replay.Request{Topics: []string{"d.a.*"}}, replayed: []uint64{2, 6}},
		{req: replay.Request{Topics: []string{"d.*.1", "x.>"}}, replayed: []uint64{4, 6, 7}},
		{req: replay.Request{Topics: []string{"d.>", "d.b.*"}}, replayed: []uint64{2, 6, 7, 8}},
		{req: replay.Request{Topics: []string{"d.>"}, Types: []string{"n"}}, replayed: []uint64{2, 6}},
		{req: replay.Request{Topics: []string{"none.>"}}},
	} {
		tc.req.Latest = true
		t.Run(fmt.Sprint(tc.req.Topics, tc.req.Types), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			caught := make(chan uint64, 1)
			sub, err := e.hub.Subscribe(ctx, tc.req, replay.OnCaughtUp(func(seq uint64) { caught <- seq }))
			if err != nil {
				t.Fatal(err)
			}
			got := seqs(receive(t, sub, len(tc.replayed), 10*time.Second))
			if !slices.Equal(got, tc.replayed) {
				t.Fatalf("replayed %v, want %v", got, tc.replayed)
			}
			select {
			case <-caught:
			case <-time.After(10 * time.Second):
				t.Fatal("never caught up")
			}
		})
	}
	// Live after latest: a fresh subscription per request, then publish.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := replay.Request{Topics: []string{"d.>"}, Types: []string{"n"}, Latest: true}
	caught := make(chan uint64, 1)
	sub, err := e.hub.Subscribe(ctx, req, replay.OnCaughtUp(func(seq uint64) { caught <- seq }))
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(receive(t, sub, 2, 10*time.Second)); !slices.Equal(got, []uint64{2, 6}) {
		t.Fatalf("replayed %v, want [2 6]", got)
	}
	if h := <-caught; h != 8 {
		t.Fatalf("caught up at %d, want 8", h)
	}
	e.publishTyped(t, "d.a.2", "n", "0") // 9
	e.publishTyped(t, "x.y", "n", "0")   // 10
	e.publishTyped(t, "d.b.2", "m", "0") // 11
	e.publishTyped(t, "d.b.2", "n", "0") // 12
	if got := seqs(receive(t, sub, 2, 10*time.Second)); !slices.Equal(got, []uint64{9, 12}) {
		t.Fatalf("live %v, want [9 12]", got)
	}
}

// TestLatestSeam is the seam under concurrent publishing: subscribers
// starting with latest at random moments each receive, in stream order
// and once each, (1) for the events at or below their caught-up point H,
// only the newest event of its topic at H, and of every matching topic
// that has events at or below H and none above, that newest one (a topic
// that got an event above H may be represented by that event alone: the
// replay reads the newest events as of a moment after H); (2) above H,
// every matching event, none missed.
func TestLatestSeam(t *testing.T) {
	e := start(t, replay.Config{Buffer: 64})
	const total = 2000
	var topics []string
	for _, g := range []string{"a", "b"} {
		for i := range 10 {
			topics = append(topics, fmt.Sprintf("d.%s.%d", g, i))
		}
	}
	topics = append(topics, "x.y")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	var published []eventstore.Event
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := range total {
			// d.a.0 gets one event only; the rest are spread at random,
			// with two types.
			topic := topics[1+rand.IntN(len(topics)-1)]
			if i == 0 {
				topic = "d.a.0"
			}
			typ := "n"
			if rand.IntN(3) == 0 {
				typ = "m"
			}
			ev := e.publishTyped(t, topic, typ, fmt.Sprint(i))
			mu.Lock()
			published = append(published, ev)
			mu.Unlock()
		}
	}()

	patterns := [][]string{{"d.>"}, {"d.a.*"}, {"d.*.1"}, {"d.a.1", "d.b.>"}, {"d.a.>", "d.*.1"}}
	type result struct {
		req    replay.Request
		got    []*eventstore.Event
		caught uint64
	}
	g, gctx := errgroup.WithContext(ctx)
	results := make([]*result, 20)
	for i := range results {
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond) // spreads start times; not synchronisation
		r := &result{req: replay.Request{Topics: patterns[i%len(patterns)], Latest: true}}
		if i%4 == 3 {
			r.req.Types = []string{"n"}
		}
		results[i] = r
		sub, err := e.hub.Subscribe(gctx, r.req, replay.OnCaughtUp(func(seq uint64) { r.caught = seq }))
		if err != nil {
			t.Fatal(err)
		}
		g.Go(func() error {
			for {
				select {
				case ev, ok := <-sub.C:
					if !ok {
						return fmt.Errorf("subscriber %d ended: %v", i, sub.Err())
					}
					r.got = append(r.got, ev)
					if string(ev.Data) == `"end"` {
						return nil
					}
				case <-gctx.Done():
					return fmt.Errorf("subscriber %d: no end after %d events", i, len(r.got))
				}
			}
		})
	}
	<-pubDone
	end := e.publishTyped(t, "d.a.1", "n", `"end"`) // every pattern matches it
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	all := append(published, end)
	for i, r := range results {
		q := eventstore.Query{Topics: r.req.Topics, Types: r.req.Types}
		h := r.caught
		newest := map[string]eventstore.Event{} // each topic's newest event at or below h
		later := map[string]bool{}              // topics with an event above h
		var live []uint64
		for _, ev := range all {
			if !(eventstore.Query{Topics: r.req.Topics}).Matches(ev) {
				continue
			}
			if ev.Seq <= h {
				newest[ev.Topic] = ev
				continue
			}
			later[ev.Topic] = true
			if q.Matches(ev) {
				live = append(live, ev.Seq)
			}
		}
		var replayed, gotLive []uint64
		for _, ev := range r.got {
			if ev.Seq <= h {
				replayed = append(replayed, ev.Seq)
				if n := newest[ev.Topic]; n.Seq != ev.Seq || !q.Matches(*ev) {
					t.Errorf("subscriber %d %+v (H %d): replayed %d on %s, whose newest at H is %d", i, r.req, h, ev.Seq, ev.Topic, n.Seq)
				}
			} else {
				gotLive = append(gotLive, ev.Seq)
			}
		}
		if !slices.IsSorted(seqs(r.got)) || len(slices.Compact(seqs(r.got))) != len(r.got) {
			t.Errorf("subscriber %d: not in stream order once each: %v", i, seqs(r.got))
		}
		for topic, ev := range newest {
			if !later[topic] && q.Matches(ev) && !slices.Contains(replayed, ev.Seq) {
				t.Errorf("subscriber %d %+v (H %d): topic %s's newest %d was not replayed", i, r.req, h, topic, ev.Seq)
			}
		}
		if !slices.Equal(gotLive, live) {
			t.Errorf("subscriber %d %+v (H %d): live %d events, want %d; first difference at %d", i, r.req, h, len(gotLive), len(live), firstDiff(gotLive, live))
		}
	}
}
