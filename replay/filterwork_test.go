package replay_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// TestWhereSeamSlowFilters is TestWhereSeam with filter workers that fall
// behind: the test stalls them while the stream grows by more than a
// filter group's queue holds (Buffer), so that groups overflow and send
// their followers back to storage again and again, across the seam of
// subscribers starting from random cursors. Each still receives exactly
// the events after its cursor that pass its filter, in stream order.
func TestWhereSeamSlowFilters(t *testing.T) {
	obs := &countingObserver{}
	n := testenv.StartNATS(t)
	e := &env{nats: n, store: n.Store(eventstore.Config{})}
	var stall sync.RWMutex // held by the test: the filter workers wait
	hub := replay.NewHub(e.store, replay.Config{Buffer: 8, Observer: obs}, quiet)
	hub.OnFilterTurn(func(start bool) {
		if start {
			stall.RLock() // waits while the test stalls the workers
			stall.RUnlock()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(ctx) }()
	defer func() { cancel(); <-hubDone }()
	<-hub.Ready()
	e.hub = hub

	topics := []string{"a.x", "a.y", "b"}
	const rounds, stalled, free = 30, 40, 10
	const total = rounds * (stalled + free)
	var mu sync.Mutex
	var published []eventstore.Event
	pubDone := make(chan error, 1)
	go func() {
		pubDone <- func() error {
			i := 0
			next := func() eventstore.Event {
				ev := eventstore.Event{Topic: topics[i%len(topics)], Type: "n", Data: filterData(i)}
				i++
				return ev
			}
			for range rounds {
				batch := make([]eventstore.Event, stalled)
				for j := range batch {
					batch[j] = next()
				}
				stall.Lock()
				stored, err := e.store.AppendBatch(ctx, batch)
				if err != nil {
					stall.Unlock()
					return err
				}
				// The tail hands all of them to the stalled groups: those
				// wanting more than Buffer of them overflow.
				last := stored[len(stored)-1].Seq
				for hub.Head() < last {
					if ctx.Err() != nil {
						stall.Unlock()
						return ctx.Err()
					}
					time.Sleep(time.Millisecond)
				}
				stall.Unlock()
				mu.Lock()
				published = append(published, stored...)
				mu.Unlock()
				for range free {
					ev, err := e.store.Append(ctx, next())
					if err != nil {
						return err
					}
					mu.Lock()
					published = append(published, ev)
					mu.Unlock()
				}
			}
			return nil
		}()
	}()

	type result struct {
		req  replay.Request
		c    whereCase
		got  []uint64
		want []uint64
	}
	patterns := [][]string{{"a.x"}, {"a.*"}, {">"}, {"b", "a.y"}}
	g, gctx := errgroup.WithContext(ctx)
	results := make([]*result, 24)
	for i := range results {
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond) // spreads start times; not synchronisation
		mu.Lock()
		var after uint64
		if n := len(published); n > 0 && i%4 != 0 {
			after = published[rand.IntN(n)].Seq
		}
		mu.Unlock()
		c := whereCases[i%len(whereCases)]
		r := &result{c: c, req: replay.Request{Topics: patterns[i%len(patterns)], After: after, Filter: mustFilter(t, c.spec)}}
		for seq := after + 1; seq <= total; seq++ {
			i := int(seq - 1)
			if matches(r.req, topics[i%len(topics)]) && c.keep(i) {
				r.want = append(r.want, seq)
			}
		}
		results[i] = r
		sub, err := hub.Subscribe(gctx, r.req)
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
					r.got = append(r.got, ev.Seq)
				case <-gctx.Done():
					return fmt.Errorf("subscriber %d %s: %d of %d events", i, r.c.spec, len(r.got), len(r.want))
				}
			}
			return nil
		})
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if !slices.Equal(r.got, r.want) {
			t.Errorf("subscriber %d %v %s after %d: got %d events, want %d; first difference at %d", i, r.req.Topics, r.c.spec, r.req.After, len(r.got), len(r.want), firstDiff(r.got, r.want))
		}
	}
	if obs.filterOverflow.Load() == 0 {
		t.Fatal("no filter group overflowed: the test proves nothing")
	}
	t.Logf("%d filter group overflows", obs.filterOverflow.Load())
}

// TestFiltersOffTheTail: while every filter worker is held, a subscriber
// without a filter still receives each event at once, and a filtered one
// receives nothing; once they run, it receives its events in order.
func TestFiltersOffTheTail(t *testing.T) {
	n := testenv.StartNATS(t)
	store := n.Store(eventstore.Config{})
	held := make(chan struct{})
	hub := replay.NewHub(store, replay.Config{}, quiet)
	hub.OnFilterTurn(func(start bool) {
		if start {
			<-held
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(ctx) }()
	defer func() { cancel(); <-hubDone }()
	<-hub.Ready()

	filtered, err := hub.Subscribe(ctx, replay.Request{Topics: []string{"a"}, Live: true, Filter: mustFilter(t, `{"path":"k","eq":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := hub.Subscribe(ctx, replay.Request{Topics: []string{"b"}, Live: true})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "both to follow", func() bool { return hub.Subscribers() == 2 })
	var want []uint64
	for i := range 20 {
		ev, err := store.Append(ctx, eventstore.Event{Topic: "a", Type: "n", Data: filterData(i)})
		if err != nil {
			t.Fatal(err)
		}
		if i%5 == 2 {
			want = append(want, ev.Seq)
		}
		ev, err = store.Append(ctx, eventstore.Event{Topic: "b", Type: "n", Data: filterData(i)})
		if err != nil {
			t.Fatal(err)
		}
		if got := receive(t, plain, 1, 10*time.Second); got[0].Seq != ev.Seq {
			t.Fatalf("unfiltered: got %d, want %d", got[0].Seq, ev.Seq)
		}
	}
	select {
	case ev := <-filtered.C:
		t.Fatalf("a filtered event (%d) came while the filter workers were held", ev.Seq)
	default:
	}
	close(held)
	if got := seqs(receive(t, filtered, len(want), 10*time.Second)); !slices.Equal(got, want) {
		t.Fatalf("filtered: got %v, want %v", got, want)
	}
}

// TestFilterBudget: an owner's distinct filters are charged to its own
// budget; the one past it is refused with ErrFilterBudget and nothing
// starts; a filter the owner holds already costs nothing more; another
// owner is not affected; ending subscriptions gives the budget back.
func TestFilterBudget(t *testing.T) {
	f1, f2, f3 := mustFilter(t, `{"path":"k","eq":1}`), mustFilter(t, `{"path":"k","eq":2}`), mustFilter(t, `{"path":"k","in":[1,2,3]}`)
	obs := &countingObserver{}
	e := start(t, replay.Config{Observer: obs, MaxFilterCost: replay.FilterCost(f1) + replay.FilterCost(f2) + replay.FilterCost(f3) - 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := func(ctx context.Context, owner, spec string) error {
		req := replay.Request{Topics: []string{"t"}, Live: true, Owner: owner}
		if spec != "" {
			req.Filter = mustFilter(t, spec)
		}
		_, err := e.hub.Subscribe(ctx, req)
		return err
	}
	aCtx, aCancel := context.WithCancel(ctx)
	for _, f := range []string{f1.Key(), f2.Key(), `{"path":"k","eq":1.0}`} { // the last is f1 again
		if err := sub(aCtx, "a", f); err != nil {
			t.Fatalf("a: %s: %v", f, err)
		}
	}
	err := sub(ctx, "a", f3.Key())
	if !errors.Is(err, replay.ErrFilterBudget) {
		t.Fatalf("a's third distinct filter: %v, want ErrFilterBudget", err)
	}
	t.Logf("refused: %v", err)
	if err := sub(ctx, "a", ""); err != nil {
		t.Fatalf("a without a filter: %v", err)
	}
	if err := sub(ctx, "b", f3.Key()); err != nil {
		t.Fatalf("b: %v", err)
	}
	if got := e.hub.DistinctFilters(); got != 3 {
		t.Fatalf("%d distinct filters, want 3 (two of a, one of b)", got)
	}
	if got := obs.refused.Load(); got != 1 {
		t.Fatalf("%d refusals observed, want 1", got)
	}
	aCancel()
	testenv.Eventually(t, 10*time.Second, "a's filters to go", func() bool { return e.hub.DistinctFilters() == 1 })
	if err := sub(ctx, "a", f3.Key()); err != nil {
		t.Fatalf("a after its other subscriptions ended: %v", err)
	}
}

// TestFilterWorkers: filters, live and replayed, are evaluated on at most
// GOMAXPROCS-1 workers (at least one) at once, whatever the number of
// filtered subscriptions.
func TestFilterWorkers(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			n := testenv.StartNATS(t)
			store := n.Store(eventstore.Config{})
			hub := replay.NewHub(store, replay.Config{Buffer: 16}, quiet)
			if got, want := hub.FilterWorkers(), max(1, procs-1); got != want {
				t.Fatalf("%d filter workers with GOMAXPROCS %d, want %d", got, procs, want)
			}
			var running, peak, turns atomic.Int32
			hub.OnFilterTurn(func(start bool) {
				if !start {
					running.Add(-1)
					return
				}
				turns.Add(1)
				now := running.Add(1)
				for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			hubDone := make(chan error, 1)
			go func() { hubDone <- hub.Run(ctx) }()
			defer func() { cancel(); <-hubDone }()
			<-hub.Ready()
			batch := make([]eventstore.Event, 500)
			for i := range batch {
				batch[i] = eventstore.Event{Topic: "t", Type: "n", Data: filterData(i)}
			}
			if _, err := store.AppendBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			// 60 subscriptions with 30 distinct filters, half replaying the
			// 500 events, half after them; then 500 more events.
			var subs []*replay.Subscription
			for i := range 60 {
				req := replay.Request{Topics: []string{"t"}, After: uint64(500 * (i % 2)), Filter: mustFilter(t, fmt.Sprintf(`{"path":"i","ne":%d}`, -1-i%30))}
				sub, err := hub.Subscribe(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				subs = append(subs, sub)
			}
			if _, err := store.AppendBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			for i, sub := range subs {
				receive(t, sub, 1000-500*(i%2), 60*time.Second)
			}
			if p := int(peak.Load()); p < 1 || p > hub.FilterWorkers() {
				t.Fatalf("%d tasks ran at once on %d workers", p, hub.FilterWorkers())
			}
			t.Logf("%d filter tasks, at most %d at once", turns.Load(), peak.Load())
		})
	}
}

// TestFilterWorkReleased: once filtered subscriptions end, their groups
// go; once the hub's context ends, its filter workers end with Run.
func TestFilterWorkReleased(t *testing.T) {
	n := testenv.StartNATS(t)
	store := n.Store(eventstore.Config{})
	for i := range 300 {
		if _, err := store.Append(context.Background(), eventstore.Event{Topic: "t", Type: "n", Data: filterData(i)}); err != nil {
			t.Fatal(err)
		}
	}
	base := runtime.NumGoroutine()
	hub := replay.NewHub(store, replay.Config{Buffer: 8}, quiet)
	hctx, hcancel := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(hctx) }()
	<-hub.Ready()
	ctx, cancel := context.WithCancel(context.Background())
	var subs []*replay.Subscription
	for i := range 40 {
		c := whereCases[i%len(whereCases)]
		sub, err := hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}, After: uint64(i * 5), Filter: mustFilter(t, c.spec), Owner: fmt.Sprint(i % 3)})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	for _, sub := range subs[:20] {
		receive(t, sub, 1, 10*time.Second) // some mid-replay, some not started
	}
	for i := range 100 { // live events, some of them queued for the groups
		if _, err := store.Append(ctx, eventstore.Event{Topic: "t", Type: "n", Data: filterData(300 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	for _, sub := range subs {
		<-waitClosed(sub)
		if err := sub.Err(); err != nil {
			t.Fatalf("cancelled subscription: %v", err)
		}
	}
	testenv.Eventually(t, 10*time.Second, "the live set to empty", func() bool { return hub.Subscribers() == 0 })
	testenv.Eventually(t, 10*time.Second, "the filter groups to go", func() bool { return hub.DistinctFilters() == 0 })
	hcancel()
	if err := <-hubDone; err != nil {
		t.Fatalf("hub: %v", err)
	}
	testenv.Eventually(t, 10*time.Second, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base })
}
