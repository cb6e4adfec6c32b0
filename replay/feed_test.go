package replay_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// attached is a subscription taken through its Feed, as a transport does.
type attached struct {
	feed *replay.Feed
	wake chan struct{}
}

func attach(t *testing.T, ctx context.Context, hub *replay.Hub, req replay.Request) *attached {
	t.Helper()
	a := &attached{wake: make(chan struct{}, 1)}
	var err error
	a.feed, err = hub.Attach(ctx, req, func() {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// take collects n events, taking whenever woken, or fails after d.
func (a *attached) take(t *testing.T, n int, d time.Duration) []*eventstore.Event {
	t.Helper()
	var got []*eventstore.Event
	timeout := time.After(d)
	for len(got) < n {
		select {
		case <-a.wake:
		case <-timeout:
			t.Fatalf("took %d of %d events in %v", len(got), n, d)
		}
		var done bool
		var err error
		got, done, err = a.feed.Take(got)
		if done && len(got) < n {
			t.Fatalf("feed ended after %d of %d events: %v", len(got), n, err)
		}
	}
	return got
}

// TestAttachedSubscriptionsHoldNoGoroutine: once caught up, a subscription
// taken through its feed is fed by the hub and costs no goroutine.
func TestAttachedSubscriptionsHoldNoGoroutine(t *testing.T) {
	e := start(t, replay.Config{})
	for i := range 10 {
		e.publish(t, "t", i)
	}
	testenv.Eventually(t, 5*time.Second, "hub head", func() bool { return e.hub.Head() == 10 })
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 200
	subs := make([]*attached, n)
	for i := range subs {
		subs[i] = attach(t, ctx, e.hub, replay.Request{Topics: []string{"t"}, After: uint64(i % 10)})
	}
	for i, a := range subs {
		a.take(t, 10-i%10, 10*time.Second)
	}
	testenv.Eventually(t, 10*time.Second, "all to be live", func() bool { return e.hub.Subscribers() == n })
	testenv.Eventually(t, 10*time.Second, "catch-up goroutines to end", func() bool { return runtime.NumGoroutine() <= base+5 })
	ev := e.publish(t, "t", 10)
	for i, a := range subs {
		if got := a.take(t, 1, 10*time.Second); got[0].Seq != ev.Seq {
			t.Fatalf("subscriber %d got seq %d, want %d", i, got[0].Seq, ev.Seq)
		}
	}
	cancel()
	testenv.Eventually(t, 10*time.Second, "live set to empty", func() bool { return e.hub.Subscribers() == 0 })
	for i, a := range subs {
		if _, done, err := a.feed.Take(nil); !done || err != nil {
			t.Fatalf("subscriber %d after cancel: done %v, err %v", i, done, err)
		}
	}
}

// TestDirectFeedOverflow: a subscription fed by the hub whose reader falls
// more than the buffer behind leaves the live set, catches up from storage
// and rejoins, delivering every event once and in order.
func TestDirectFeedOverflow(t *testing.T) {
	e := start(t, replay.Config{Buffer: 8})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := attach(t, ctx, e.hub, replay.Request{Topics: []string{"t"}, Live: true})
	testenv.Eventually(t, 5*time.Second, "to be live", func() bool { return e.hub.Subscribers() == 1 })
	var want []uint64
	for i := range 100 {
		want = append(want, e.publish(t, "t", i).Seq)
	}
	testenv.Eventually(t, 5*time.Second, "the slow reader to leave the live set", func() bool { return e.hub.Subscribers() == 0 })
	got := a.take(t, len(want), 20*time.Second)
	if fmt.Sprint(seqs(got)) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", seqs(got), want)
	}
	testenv.Eventually(t, 5*time.Second, "to rejoin the live set", func() bool { return e.hub.Subscribers() == 1 })
	ev := e.publish(t, "t", 100)
	if got := a.take(t, 1, 5*time.Second); got[0].Seq != ev.Seq {
		t.Fatalf("after rejoining got seq %d, want %d", got[0].Seq, ev.Seq)
	}
}

// TestCursorAheadOfHub: a subscription whose cursor is past what the hub
// has fanned out (the hub's tail lags the stream) receives only events
// after its cursor, also once the hub feeds it directly.
func TestCursorAheadOfHub(t *testing.T) {
	e := start(t, replay.Config{})
	for i := range 3 {
		e.publish(t, "t", i)
	}
	testenv.Eventually(t, 5*time.Second, "hub head", func() bool { return e.hub.Head() == 3 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := attach(t, ctx, e.hub, replay.Request{Topics: []string{"t"}, After: 8})
	testenv.Eventually(t, 5*time.Second, "to be live", func() bool { return e.hub.Subscribers() == 1 })
	var want []uint64
	for i := range 10 {
		if ev := e.publish(t, "t", 3+i); ev.Seq > 8 {
			want = append(want, ev.Seq)
		}
	}
	got := a.take(t, len(want), 10*time.Second)
	if fmt.Sprint(seqs(got)) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", seqs(got), want)
	}
}

// TestReplayWaitsThenStalls: a replay faster than its reader waits for
// room in the feed before nearly every event, hundreds of times, each wait
// ended by the reader well within the stall timeout, and delivers every
// event in order; once the reader stops taking, the next wait still ends
// the subscription with ErrSlowConsumer.
func TestReplayWaitsThenStalls(t *testing.T) {
	const stall = 300 * time.Millisecond
	e := start(t, replay.Config{Buffer: 2, StallTimeout: stall})
	const n = 600
	var want []uint64
	for i := range n {
		want = append(want, e.publish(t, "t", i).Seq)
	}
	a := attach(t, t.Context(), e.hub, replay.Request{Topics: []string{"t"}})
	got := a.take(t, n/2, 20*time.Second)
	if fmt.Sprint(seqs(got)) != fmt.Sprint(want[:len(got)]) {
		t.Fatalf("took %d events, first difference at %d", len(got), firstDiff(seqs(got), want))
	}
	var err error
	for done := false; !done; {
		select {
		case <-a.wake:
		case <-time.After(10 * time.Second):
			t.Fatal("the stalled replay was not ended")
		}
		ended, why := a.feed.Ended()
		done, err = ended, why
	}
	if !errors.Is(err, replay.ErrSlowConsumer) {
		t.Fatalf("ended with %v, want ErrSlowConsumer", err)
	}
}
