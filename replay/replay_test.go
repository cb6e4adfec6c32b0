package replay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	nats  *testenv.NATS
	store *eventstore.Store
	hub   *replay.Hub
}

func start(t *testing.T, cfg replay.Config) *env {
	t.Helper()
	n := testenv.StartNATS(t)
	e := &env{nats: n, store: n.Store(eventstore.Config{})}
	e.hub = startHub(t, e.store, cfg)
	return e
}

func startHub(t *testing.T, s *eventstore.Store, cfg replay.Config) *replay.Hub {
	t.Helper()
	hub := replay.NewHub(s, cfg, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	return hub
}

func (e *env) publish(t testing.TB, topic string, i int) eventstore.Event {
	ev, err := e.store.Append(context.Background(), eventstore.Event{Topic: topic, Type: "n", Data: json.RawMessage(fmt.Sprint(i))})
	if err != nil {
		t.Errorf("append: %v", err)
	}
	return ev
}

// receive reads n events from sub or fails after d.
func receive(t *testing.T, sub *replay.Subscription, n int, d time.Duration) []*eventstore.Event {
	t.Helper()
	var got []*eventstore.Event
	timeout := time.After(d)
	for len(got) < n {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				t.Fatalf("subscription ended after %d of %d events: %v", len(got), n, sub.Err())
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("received %d of %d events in %v", len(got), n, d)
		}
	}
	return got
}

func seqs[E interface {
	~*eventstore.Event | eventstore.Event
}](evs []E) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		switch e := any(ev).(type) {
		case *eventstore.Event:
			out[i] = e.Seq
		case eventstore.Event:
			out[i] = e.Seq
		}
	}
	return out
}

// TestSeam is the promise: subscribers starting from random cursors while
// events are appended at full speed each receive exactly the events after
// their cursor that match, in stream order, with no gap or duplicate where
// replay hands over to the live tail.
func TestSeam(t *testing.T) {
	e := start(t, replay.Config{Buffer: 64})
	const total = 3000
	topics := []string{"a.x", "a.y", "b"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	var published []eventstore.Event
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := range total {
			ev := e.publish(t, topics[i%len(topics)], i)
			mu.Lock()
			published = append(published, ev)
			mu.Unlock()
		}
	}()

	type result struct {
		req  replay.Request
		got  []*eventstore.Event
		from uint64
	}
	patterns := [][]string{{"a.x"}, {"a.*"}, {">"}, {"b", "a.y"}, {"a.>", "a.x"}}
	g, gctx := errgroup.WithContext(ctx)
	results := make([]*result, 24)
	for i := range results {
		// Start at a random moment, from a random cursor among what exists.
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond) // spreads start times; not synchronisation
		mu.Lock()
		var after uint64
		if n := len(published); n > 0 && i%4 != 0 {
			after = published[rand.IntN(n)].Seq
		}
		mu.Unlock()
		r := &result{req: replay.Request{Topics: patterns[i%len(patterns)], After: after}}
		if i%6 == 5 {
			r.req.Types = []string{"n"}
		}
		results[i] = r
		sub, err := e.hub.Subscribe(gctx, r.req)
		if err != nil {
			t.Fatal(err)
		}
		g.Go(func() error {
			want := expected(total, topics, r.req, after)
			for len(r.got) < want {
				select {
				case ev, ok := <-sub.C:
					if !ok {
						return fmt.Errorf("subscriber %d ended: %v", i, sub.Err())
					}
					r.got = append(r.got, ev)
				case <-gctx.Done():
					return fmt.Errorf("subscriber %d: %d of %d events", i, len(r.got), want)
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
		var want []uint64
		for _, ev := range published {
			if ev.Seq > r.req.After && matches(r.req, ev.Topic) {
				want = append(want, ev.Seq)
			}
		}
		if fmt.Sprint(seqs(r.got)) != fmt.Sprint(want) {
			t.Errorf("subscriber %d %+v: got %d events, want %d; first difference at %d", i, r.req, len(r.got), len(want), firstDiff(seqs(r.got), want))
		}
	}
}

// expected counts the events a request will get once all are published:
// events are published round-robin on topics with sequences 1..total.
func expected(total int, topics []string, req replay.Request, after uint64) int {
	n := 0
	for seq := after + 1; seq <= uint64(total); seq++ {
		if matches(req, topics[(seq-1)%uint64(len(topics))]) {
			n++
		}
	}
	return n
}

func matches(req replay.Request, topic string) bool {
	return eventstore.Query{Topics: req.Topics}.Matches(eventstore.Event{Topic: topic})
}

func firstDiff(a, b []uint64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestLiveOnly(t *testing.T) {
	e := start(t, replay.Config{})
	e.publish(t, "t", 0)
	testenv.Eventually(t, 5*time.Second, "hub to see the first event", func() bool { return e.hub.Head() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}, Live: true})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "subscription to register", func() bool { return e.hub.Subscribers() == 1 })
	e.publish(t, "t", 1)
	if got := receive(t, sub, 1, 5*time.Second); got[0].Seq != 2 {
		t.Fatalf("live subscription got seq %d, want 2", got[0].Seq)
	}
}

// TestSlowConsumer: a reader that stops reading does not hold up others
// and is not buffered without bound; when it reads again it gets every
// event, in order, from storage.
func TestSlowConsumer(t *testing.T) {
	e := start(t, replay.Config{Buffer: 8})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow, _ := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}})
	fast, _ := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}})
	testenv.Eventually(t, 5*time.Second, "both to register", func() bool { return e.hub.Subscribers() == 2 })
	const n = 500
	var want []uint64
	for i := range n {
		want = append(want, e.publish(t, "t", i).Seq)
	}
	if got := seqs(receive(t, fast, n, 20*time.Second)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fast subscriber got %v", got)
	}
	// The slow one overflowed its 8-event buffer and left the live set
	// instead of growing a queue.
	if got := e.hub.Subscribers(); got != 1 {
		t.Fatalf("live subscribers: %d, want 1 (the slow one must have fallen back to storage)", got)
	}
	if got := seqs(receive(t, slow, n, 20*time.Second)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("slow subscriber got %d events, first difference at %d", len(got), firstDiff(got, want))
	}
	// Caught up, it is live again.
	testenv.Eventually(t, 5*time.Second, "slow subscriber to rejoin the live set", func() bool { return e.hub.Subscribers() == 2 })
}

func TestStallTimeout(t *testing.T) {
	e := start(t, replay.Config{StallTimeout: 100 * time.Millisecond})
	e.publish(t, "t", 0)
	sub, _ := e.hub.Subscribe(context.Background(), replay.Request{Topics: []string{"t"}})
	select {
	case <-time.After(10 * time.Second):
		t.Fatal("stalled subscription was not ended")
	case _, ok := <-waitClosed(sub):
		if ok || !errors.Is(sub.Err(), replay.ErrSlowConsumer) {
			t.Fatalf("err = %v, want ErrSlowConsumer", sub.Err())
		}
	}
}

// waitClosed returns a channel closed once sub ends, without taking events
// from it while it runs.
func waitClosed(sub *replay.Subscription) <-chan struct{} {
	ch := make(chan struct{})
	go func() { _ = sub.Err(); close(ch) }()
	return ch
}

func TestCleanup(t *testing.T) {
	e := start(t, replay.Config{})
	for i := range 100 {
		e.publish(t, "t", i)
	}
	testenv.Eventually(t, 5*time.Second, "hub head", func() bool { return e.hub.Head() == 100 })
	baseConsumers := e.nats.Consumers("REWIND")
	baseGoroutines := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	var subs []*replay.Subscription
	for i := range 50 {
		sub, err := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}, After: uint64(i)})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	for _, sub := range subs[:25] {
		receive(t, sub, 1, 5*time.Second) // some mid-replay, some not started
	}
	cancel()
	for _, sub := range subs {
		if err := sub.Err(); err != nil {
			t.Fatalf("cancelled subscription: %v", err)
		}
	}
	testenv.Eventually(t, 10*time.Second, "live set to empty", func() bool { return e.hub.Subscribers() == 0 })
	testenv.Eventually(t, 10*time.Second, "consumers back to baseline", func() bool { return e.nats.Consumers("REWIND") == baseConsumers })
	testenv.Eventually(t, 10*time.Second, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseGoroutines })
}

// TestJetStreamRestart: the live tail survives JetStream going away and
// coming back, and subscribers see events from both sides with no gap.
func TestJetStreamRestart(t *testing.T) {
	e := start(t, replay.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, _ := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}})
	want := []uint64{e.publish(t, "t", 0).Seq}
	receive(t, sub, 1, 5*time.Second)
	e.nats.Stop()
	e.nats.Start()
	for i := range 5 {
		want = append(want, e.publish(t, "t", i+1).Seq)
	}
	got := append([]uint64{want[0]}, seqs(receive(t, sub, 5, 30*time.Second))...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestOneConsumerForManySubscribers: live subscribers share the hub's one
// tail; they add no JetStream consumer.
func TestOneConsumerForManySubscribers(t *testing.T) {
	e := start(t, replay.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	testenv.Eventually(t, 5*time.Second, "the hub's tail consumer", func() bool { return e.nats.Consumers("REWIND") == 1 })
	const n = 2000
	subs := make([]*replay.Subscription, n)
	for i := range subs {
		var err error
		if subs[i], err = e.hub.Subscribe(ctx, replay.Request{Topics: []string{[]string{"a", "b.*", ">"}[i%3]}, Live: true}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 10*time.Second, "all to register", func() bool { return e.hub.Subscribers() == n })
	if got := e.nats.Consumers("REWIND"); got != 1 {
		t.Fatalf("%d live subscribers use %d consumers, want 1", n, got)
	}
	ev := e.publish(t, "a", 1)
	for i, sub := range subs {
		if i%3 == 1 {
			continue // b.* does not match a
		}
		if got := receive(t, sub, 1, 10*time.Second); got[0].Seq != ev.Seq {
			t.Fatalf("subscriber %d got seq %d", i, got[0].Seq)
		}
	}
}

// TestReplaySurvivesJetStreamRestart: a replay whose storage read dies
// with JetStream resumes after the last event it delivered.
func TestReplaySurvivesJetStreamRestart(t *testing.T) {
	e := start(t, replay.Config{})
	const n = 2000
	batch := make([]eventstore.Event, n)
	for i := range batch {
		batch[i] = eventstore.Event{Topic: "t", Type: "n", Data: json.RawMessage(fmt.Sprint(i))}
	}
	stored, err := e.store.AppendBatch(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the hub to reach the end", func() bool { return e.hub.Head() == n })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, _ := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"t"}, After: 0})
	got := seqs(receive(t, sub, 300, 10*time.Second)) // mid-replay: the rest waits in storage
	e.nats.Stop()
	e.nats.Start()
	got = append(got, seqs(receive(t, sub, n-300, 60*time.Second))...)
	if want := seqs(stored); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d events, first difference at %d", len(got), firstDiff(got, want))
	}
}

// TestReconnectStormSharesReads: subscribers resuming at once near the end
// of the stream are served from the hub's recent window: no storage read
// per client, and each still gets exactly its sequence.
func TestReconnectStormSharesReads(t *testing.T) {
	for _, tc := range []struct {
		name   string
		recent int
	}{{"shared window", 0}, {"no window", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			n := testenv.StartNATS(t)
			store := n.Store(eventstore.Config{})
			const total = 5000
			batch := make([]eventstore.Event, total)
			for i := range batch {
				batch[i] = eventstore.Event{Topic: []string{"a", "b"}[i%2], Type: "n", Data: json.RawMessage(fmt.Sprint(i))}
			}
			stored, err := store.AppendBatch(context.Background(), batch)
			if err != nil {
				t.Fatal(err)
			}
			// A hub started after the events, as after a restart.
			hub := startHub(t, store, replay.Config{RecentEvents: tc.recent})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const clients = 300
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			delivered := 0
			for i := range clients {
				after := stored[total-1-rand.IntN(2000)].Seq
				topic := []string{"a", "b", ">"}[i%3]
				var want []uint64
				for _, ev := range stored {
					if ev.Seq > after && (topic == ">" || ev.Topic == topic) {
						want = append(want, ev.Seq)
					}
				}
				delivered += len(want)
				sub, err := hub.Subscribe(ctx, replay.Request{Topics: []string{topic}, After: after})
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					var got []uint64
					for len(got) < len(want) {
						ev, ok := <-sub.C
						if !ok {
							errs <- fmt.Errorf("ended early: %v", sub.Err())
							return
						}
						got = append(got, ev.Seq)
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						errs <- fmt.Errorf("client after %d: first difference at %d", after, firstDiff(got, want))
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			// The counters move just after each delivery is taken.
			testenv.Eventually(t, 5*time.Second, "the counters", func() bool {
				r := hub.ReplayReads()
				return r.FromMemory+r.FromStorage == int64(delivered)
			})
			reads := hub.ReplayReads()
			t.Logf("%d clients, %d replayed deliveries: %d from memory, %d from storage", clients, delivered, reads.FromMemory, reads.FromStorage)
			if tc.recent == 0 && (reads.FromStorage != 0 || reads.FromMemory != int64(delivered)) {
				t.Fatalf("with the window every replay should come from memory: %+v", reads)
			}
			if tc.recent < 0 && reads.FromStorage != int64(delivered) {
				t.Fatalf("without the window every replay reads storage: %+v", reads)
			}
		})
	}
}
