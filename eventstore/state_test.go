package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// infoRequests counts the stream info requests JetStream receives for the
// default stream, seen by a subscriber of their subject on its own
// connection (it does not answer: JetStream does).
func infoRequests(t *testing.T, n *testenv.NATS) *atomic.Int64 {
	t.Helper()
	var count atomic.Int64
	nc := n.Connect()
	if _, err := nc.Subscribe("$JS.API.STREAM.INFO."+eventstore.DefaultStream, func(*nats.Msg) { count.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &count
}

// TestStateSharesRequests: calls made at once share stream info requests
// instead of sending one each, and each gets the stream's extent.
func TestStateSharesRequests(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	ctx := ctxT(t)
	want := appendN(t, s, "t", 3)[2].Seq
	requests := infoRequests(t, n)
	const calls = 200
	start := make(chan struct{})
	var g errgroup.Group
	for range calls {
		g.Go(func() error {
			<-start
			st, err := s.State(ctx)
			if err != nil {
				return err
			}
			if st.LastSeq != want || st.Events != 3 {
				return errors.New("wrong state")
			}
			return nil
		})
	}
	close(start)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the counter to see the requests", func() bool { return requests.Load() > 0 })
	if got := requests.Load(); got > calls/2 {
		t.Fatalf("%d concurrent State calls sent %d stream info requests, want at most %d", calls, got, calls/2)
	}
}

// TestStateIsNeverOlderThanTheCall: while other calls keep requests in
// flight, a State call made after an append returned sees that append.
// Sharing a request already on its way would not.
func TestStateIsNeverOlderThanTheCall(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	ctx := ctxT(t)
	busy, stop := context.WithCancel(ctx)
	var g errgroup.Group
	for range 8 {
		g.Go(func() error {
			for busy.Err() == nil {
				if _, err := s.State(busy); err != nil && busy.Err() == nil {
					return err
				}
			}
			return nil
		})
	}
	for i := range 200 {
		ev, err := s.Append(ctx, eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.LastSeq < ev.Seq {
			t.Fatalf("append %d stored at %d, then State said the stream ends at %d", i, ev.Seq, st.LastSeq)
		}
	}
	stop()
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestStateCallersOutliveACancelledOne: calls whose context ends, whether
// they were to send the shared request or only to wait for it, return
// their context's error; the others still get the state.
func TestStateCallersOutliveACancelledOne(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	ctx := ctxT(t)
	want := appendN(t, s, "t", 1)[0].Seq
	for round := range 20 {
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, 40)
		for i := range errs {
			wg.Go(func() {
				c := ctx
				if i%2 == 0 {
					cancelled, cancel := context.WithCancel(ctx)
					cancel()
					c = cancelled
				}
				<-start
				st, err := s.State(c)
				if err == nil && st.LastSeq != want {
					err = errors.New("wrong state")
				}
				errs[i] = err
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			switch {
			case i%2 == 0 && !errors.Is(err, context.Canceled):
				t.Fatalf("round %d: call %d, cancelled: %v, want context.Canceled", round, i, err)
			case i%2 == 1 && err != nil:
				t.Fatalf("round %d: call %d: %v", round, i, err)
			}
		}
	}
}
