package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
)

// Request says what a subscription receives.
type Request struct {
	// Topics are topic patterns (NATS wildcards * and >); at least one.
	Topics []string
	// Types keeps only events of these types; empty means all.
	Types []string
	// After is the stream sequence of the last event the client has; the
	// subscription starts with the next stored event. Ignored when Live.
	After uint64
	// Live starts at the current end of the stream: no replay.
	Live bool
}

// Subscription delivers a Request's events on C, in stream order, each
// exactly once. C closes when the context ends or the subscription fails;
// Err then says why (nil after cancellation).
type Subscription struct {
	C    <-chan *eventstore.Event
	done chan struct{}
	err  error
}

// Err returns why the subscription ended; call it after C is closed.
func (s *Subscription) Err() error {
	<-s.done
	return s.err
}

// Option adjusts one subscription.
type Option func(*run)

// OnEnd registers fn to be called with the reason a subscription failed
// just before C closes, so that a transport can report it in order. It is
// not called when the subscription ends by cancellation.
func OnEnd(fn func(error)) Option {
	return func(r *run) { r.onEnd = fn }
}

// OnCaughtUp registers fn to be called once, when the subscription has
// delivered every stored event it replays: every event it delivers from
// then on has a sequence above the one fn is given, and came live. It is
// called before that first live event is sent.
func OnCaughtUp(fn func(seq uint64)) Option {
	return func(r *run) { r.onCaughtUp = fn }
}

// Subscribe starts a subscription owned by ctx: cancelling ctx ends it and
// releases everything it holds.
func (h *Hub) Subscribe(ctx context.Context, req Request, opts ...Option) (*Subscription, error) {
	if len(req.Topics) == 0 {
		return nil, fmt.Errorf("%w: at least one topic is required", eventstore.ErrInvalidTopic)
	}
	for _, p := range req.Topics {
		if err := eventstore.ValidatePattern(p); err != nil {
			return nil, err
		}
	}
	out := make(chan *eventstore.Event)
	s := &Subscription{C: out, done: make(chan struct{})}
	r := &run{hub: h, req: req, out: out, stall: time.NewTimer(time.Hour)}
	if len(req.Types) > 0 {
		r.types = make(map[string]bool, len(req.Types))
		for _, t := range req.Types {
			r.types[t] = true
		}
	}
	r.patterns = slices.Clone(req.Topics)
	for _, opt := range opts {
		opt(r)
	}
	go func() {
		defer close(s.done)
		defer close(out)
		defer r.stall.Stop()
		s.err = r.loop(ctx)
		if ctx.Err() != nil {
			s.err = nil // cancellation is the owner's doing, not a failure
		}
		if s.err != nil && r.onEnd != nil {
			r.onEnd(s.err)
		}
	}()
	return s, nil
}

type run struct {
	hub      *Hub
	req      Request
	patterns []string
	types    map[string]bool
	out      chan<- *eventstore.Event
	stall    *time.Timer
	last     uint64 // sequence of the last event delivered or skipped over
	onEnd    func(error)

	onCaughtUp func(uint64)
	caughtUp   bool

	delivered, fromMemory int // replayed deliveries, for the observer
}

// loop is the replay/live seam. Each round first registers with the hub,
// which fixes head: events after head arrive on the live channel in
// order; events up to head are read from storage. Delivering only
// sequences above last makes the two halves meet with no gap and no
// duplicate. When the live channel overflows (the reader is slower than
// the stream) the hub drops the follower; after draining what was queued
// the next round reads the missed stretch from storage, so memory stays
// bounded and nothing is lost.
func (r *run) loop(ctx context.Context) error {
	select {
	case <-r.hub.ready:
	case <-ctx.Done():
		return nil
	}
	r.last = r.req.After
	if r.req.Live {
		// Live means after what is stored now, which the hub may not have
		// seen yet: take the stream's end, before registering.
		st, err := r.hub.store.State(ctx)
		if err != nil {
			return fmt.Errorf("live subscription: %w", err)
		}
		r.last = st.LastSeq
	}
	f, head, err := r.hub.register(r.patterns, r.types)
	if err != nil {
		return err
	}
	for {
		if head > r.last {
			r.hub.cfg.Observer.ReplayStarted(head - r.last)
			began, mem0 := time.Now(), r.fromMemory
			delivered0 := r.delivered
			err := r.replay(ctx, head)
			r.hub.cfg.Observer.ReplayDone(r.delivered-delivered0, r.fromMemory-mem0, time.Since(began))
			if err != nil {
				r.hub.unregister(f)
				return err
			}
			r.last = head
		}
		if !r.caughtUp {
			// The first time replay meets the live feed: later storage
			// reads (after an overflow) are catching up, not replaying.
			r.caughtUp = true
			if r.onCaughtUp != nil {
				r.onCaughtUp(r.last)
			}
		}
		if err := r.follow(ctx, f); err != nil || ctx.Err() != nil {
			r.hub.unregister(f)
			return err
		}
		if f, head, err = r.hub.register(r.patterns, r.types); err != nil {
			return err
		}
	}
}

// replayPatience is how long a replay keeps retrying reads that fail
// because JetStream is unavailable (a server restarting, a leader being
// elected) before the subscription fails.
const replayPatience = 30 * time.Second

// replay delivers stored events in (last, head]. A read that fails on the
// way resumes after the last event delivered, so a storage hiccup costs a
// pause, not an error, and never a gap or a repeat.
func (r *run) replay(ctx context.Context, head uint64) error {
	giveUp := time.Now().Add(replayPatience)
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		err := r.read(ctx, head)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, eventstore.ErrUnavailable) || time.Now().After(giveUp) {
			return fmt.Errorf("replay after %d: %w", r.last, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// read delivers the events of (last, head], from the hub's recent window
// while it holds them and from storage otherwise.
func (r *run) read(ctx context.Context, head uint64) error {
	n := 0
	defer func() { r.hub.cfg.Observer.Replayed(n) }()
	q := eventstore.Query{Topics: r.req.Topics, Types: r.req.Types}
	var buf []*eventstore.Event
	for r.last < head {
		var ok bool
		if buf, ok = r.hub.recent.chunk(r.last, head, 256, buf); !ok {
			break // the window has moved past us: read the rest from storage
		}
		if len(buf) == 0 {
			r.last = head // nothing stored in the stretch matches: done
			return nil
		}
		for _, ev := range buf {
			if q.Matches(*ev) {
				if err := r.deliver(ctx, ev); err != nil {
					return err
				}
				n++
				r.delivered++
				r.fromMemory++
				r.hub.recent.fromMemory.Add(1)
			}
			r.last = ev.Seq
		}
	}
	if r.last >= head {
		return nil
	}
	q.After, q.Until = r.last, head
	for ev, err := range r.hub.store.Read(ctx, q) {
		if err != nil {
			return err
		}
		if err := r.deliver(ctx, &ev); err != nil {
			return err
		}
		n++
		r.delivered++
		r.hub.recent.fromStorage.Add(1)
	}
	return nil
}

// follow delivers live events until the follower's channel closes
// (overflow) or ctx ends.
func (r *run) follow(ctx context.Context, f *follower) error {
	for {
		select {
		case ev, ok := <-f.live:
			if !ok {
				r.hub.cfg.Observer.Overflowed()
				return nil
			}
			if ev.Seq <= r.last {
				continue
			}
			if err := r.deliver(ctx, ev); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (r *run) deliver(ctx context.Context, ev *eventstore.Event) error {
	select {
	case r.out <- ev:
		r.last = ev.Seq
		return nil
	default:
	}
	r.stall.Reset(r.hub.cfg.StallTimeout)
	defer r.stall.Stop()
	select {
	case r.out <- ev:
		r.last = ev.Seq
		return nil
	case <-ctx.Done():
		return nil
	case <-r.stall.C:
		r.hub.cfg.Observer.SlowConsumer()
		return ErrSlowConsumer
	}
}
