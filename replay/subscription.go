package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/rewind-dev/rewind/eventfilter"
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
	// Latest starts with the newest stored event of each topic Topics
	// match (see eventstore.ReadLatest, also for how Types apply), in
	// stream order, then goes live. After and Live are then ignored.
	// With a Filter, a topic whose newest event does not pass it is left
	// out, as with Types: its older events are not the topic's state.
	Latest bool
	// Filter keeps only events whose data passes it; nil keeps all. It
	// applies alike to replayed and live events, so a resume with the same
	// filter after the last id received is exactly-once. Live, the hub
	// evaluates each distinct filter (by Key) of each Owner once per event.
	Filter *eventfilter.Filter
	// Owner is who the subscription works for (the API passes the
	// principal's subject): its filters are evaluated in its own turns and
	// charged to its own budget (Config.MaxFilterCost). Requests without
	// one share the owner "".
	Owner string
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

// EndWith has onEnd end the subscription (register its end to run once
// it is over) instead of a context.AfterFunc on Attach's context, which
// then only bounds its reads: a transport that ends several things per
// operation registers them all at once.
func EndWith(onEnd func(end func())) Option {
	return func(r *run) { r.endWith = onEnd }
}

// OnEnd registers fn to be called with the reason a subscription failed
// just before it ends, so that a transport can report it in order. It is
// not called when the subscription ends by cancellation.
func OnEnd(fn func(error)) Option {
	return func(r *run) { r.onEnd = fn }
}

// OnCaughtUp registers fn to be called once, when the subscription has
// delivered every stored event it replays: every event it delivers from
// then on has a sequence above the one fn is given, and came live. It is
// called before that first live event is delivered.
func OnCaughtUp(fn func(seq uint64)) Option {
	return func(r *run) {
		if prev := r.onCaughtUp; prev != nil {
			// Options compose: a LiveMark and a caller's callback alike.
			r.onCaughtUp = func(seq uint64) { prev(seq); fn(seq) }
			return
		}
		r.onCaughtUp = fn
	}
}

// LiveMark is a subscription's caught-up point, which tells the events it
// replayed from those that came live: the caught-up signal that clients
// see as an event's live field. Pass Option to the subscription; the zero
// value means still replaying. Safe for concurrent use.
type LiveMark struct {
	caught atomic.Bool
	seq    atomic.Uint64
}

// Option records the subscription's caught-up point in m (see OnCaughtUp).
func (m *LiveMark) Option() Option {
	return OnCaughtUp(func(seq uint64) {
		m.seq.Store(seq)
		m.caught.Store(true)
	})
}

// CaughtUp reports whether the subscription has delivered every stored
// event it replays.
func (m *LiveMark) CaughtUp() bool { return m.caught.Load() }

// Live reports whether the subscription's event at seq came live.
func (m *LiveMark) Live(seq uint64) bool { return m.caught.Load() && seq > m.seq.Load() }

// Subscribe starts a subscription owned by ctx, delivered on a channel:
// cancelling ctx ends it and releases everything it holds. A reader that
// takes nothing from C for the hub's StallTimeout ends it with
// ErrSlowConsumer.
func (h *Hub) Subscribe(ctx context.Context, req Request, opts ...Option) (*Subscription, error) {
	s := &Subscription{done: make(chan struct{})}
	c, err := Relay[*eventstore.Event]{
		Convert: func(ev *eventstore.Event, _ bool) (*eventstore.Event, bool, error) { return ev, true, nil },
		End: func(err error) {
			s.err = err
			close(s.done)
		},
	}.Start(ctx, h, req, opts...)
	if err != nil {
		return nil, err
	}
	s.C = c
	return s, nil
}

// Relay hands a subscription's events to a channel, each as Convert makes
// it: the one way from a feed to a reader that takes values one at a time
// (Subscribe, and the channels of package deliver). One goroutine takes
// the events from the feed and sends their values; it ends when ctx does,
// or the subscription does, and then the channel closes.
type Relay[T any] struct {
	// Convert makes the value sent for ev; ok false skips ev; an error
	// ends the subscription with it. live is ev's caught-up signal (see
	// LiveMark).
	Convert func(ev *eventstore.Event, live bool) (v T, ok bool, err error)
	// Sending, if set, is told of each event just before its value is
	// sent (SSE writes the event's id).
	Sending func(ev *eventstore.Event)
	// End, if set, is called once, just before the channel closes, with
	// why the subscription ended: nil when ctx ended it.
	End func(err error)
	// Mark, if set, records the subscription's caught-up point; Relay
	// keeps one of its own otherwise.
	Mark *LiveMark
}

// Start starts the relay of a subscription of req owned by ctx. A reader
// that takes nothing for the hub's StallTimeout ends it with
// ErrSlowConsumer, also when the hub gives up first, its feed full.
func (rl Relay[T]) Start(ctx context.Context, h *Hub, req Request, opts ...Option) (<-chan T, error) {
	mark := rl.Mark
	if mark == nil {
		mark = &LiveMark{}
	}
	wake := make(chan struct{}, 1)
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	var onEnd func(error)
	opts = append(opts, mark.Option(), func(r *run) { onEnd = r.onEnd })
	actx, cancel := context.WithCancel(ctx)
	feed, err := h.Attach(actx, req, notify, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan T)
	go func() {
		defer close(out)
		defer cancel()
		err := rl.run(ctx, h, feed, out, wake, notify, mark)
		if errors.Is(err, ErrSlowConsumer) {
			h.cfg.Observer.SlowConsumer()
			if onEnd != nil {
				onEnd(err)
			}
		}
		if ctx.Err() != nil {
			err = nil // cancellation is the owner's doing
		}
		if err != nil && feed.r != nil {
			feed.r.finish(err) // the end's reason, for the observer and the tracer
		}
		if rl.End != nil {
			rl.End(err)
		}
	}()
	return out, nil
}

// run relays until the subscription or ctx ends, and says why.
func (rl Relay[T]) run(ctx context.Context, h *Hub, feed *Feed, out chan<- T, wake chan struct{}, notify func(), mark *LiveMark) error {
	var evs []*eventstore.Event
	for {
		select {
		case <-wake:
		case <-ctx.Done():
			return nil
		}
		var done bool
		var ended error
		evs, done, ended = feed.Take(evs[:0])
		for _, ev := range evs {
			v, ok, err := rl.Convert(ev, mark.Live(ev.Seq))
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if rl.Sending != nil {
				rl.Sending(ev)
			}
			if err := hand(ctx, out, v, wake, feed, notify, h.cfg.StallTimeout); err != nil {
				return err
			}
		}
		clear(evs)
		evs = evs[:0]
		if done {
			return ended
		}
	}
}

// hand sends v on out, waiting at most patience for the reader. A wake
// while it waits whose feed the hub has ended (ErrSlowConsumer: its feed
// full) ends the wait with that error; any other is passed on once v is
// sent. Only a wait, which is rare, costs a timer.
func hand[T any](ctx context.Context, out chan<- T, v T, wake <-chan struct{}, feed *Feed, notify func(), patience time.Duration) error {
	select {
	case out <- v:
		return nil
	default:
	}
	stall := time.NewTimer(patience)
	defer stall.Stop()
	woken := false
	for {
		select {
		case out <- v:
			if woken {
				notify()
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-stall.C:
			return ErrSlowConsumer
		case <-wake:
			if ended, err := feed.Ended(); ended && err != nil {
				return err
			}
			woken = true
		}
	}
}

// Attach starts a subscription owned by ctx that delivers into a Feed:
// notify is called, and must return at once, whenever events or the end
// are waiting in it after it was emptied. A subscription that has caught
// up holds no goroutine: the hub's tail puts live events straight into its
// feed. One whose feed fills (a reader slower than the stream) leaves the
// live set and catches up from the hub's window or from storage, at its
// own pace; one whose reader takes nothing for StallTimeout while it
// catches up ends with ErrSlowConsumer.
func (h *Hub) Attach(ctx context.Context, req Request, notify func(), opts ...Option) (*Feed, error) {
	if len(req.Topics) == 0 {
		return nil, fmt.Errorf("%w: at least one topic is required", eventstore.ErrInvalidTopic)
	}
	for _, p := range req.Topics {
		if err := eventstore.ValidatePattern(p); err != nil {
			return nil, err
		}
	}
	group, err := h.acquireFilter(req.Owner, req.Filter)
	if err != nil {
		h.cfg.Observer.FilterRefused()
		return nil, err
	}
	r := &run{hub: h, ctx: ctx, req: req, group: group, feed: newFeed(h.cfg.Buffer, notify)}
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
	r.label, r.started = labelOf(ctx), time.Now()
	h.listed(r)
	r.feed.r = r
	r.obs = h.cfg.Observer.Subscribed(r.info())
	if h.cfg.Tracer != nil {
		r.startSpan(ctx)
	}
	if r.endWith != nil {
		r.endWith(r.cancelled)
		r.endWith = nil // nothing of the transport kept
	} else {
		context.AfterFunc(ctx, r.cancelled)
	}
	go r.catchUp(true)
	return r.feed, nil
}

// run is one subscription: its request, its feed, and the state its
// catch-up goroutines (one at a time) and the hub share.
type run struct {
	hub      *Hub
	ctx      context.Context
	req      Request
	patterns []string
	types    map[string]bool
	feed     *Feed
	group    *sharedFilter // its filter's group; nil: no filter
	last     uint64        // sequence of the last event delivered or skipped over
	onEnd    func(error)
	endWith  func(end func()) // EndWith's, until Attach has used it

	onCaughtUp func(uint64)
	caughtUp   bool

	f        *follower // the live registration, guarded by Hub.mu
	released bool      // its group is given back; guarded by Hub.mu

	delivered, fromMemory int         // replayed deliveries, for the observer
	stall                 *time.Timer // deliver's wait for room in the feed, reused

	// What Hub.Subscriptions, the observer and the tracer are told.
	id        uint64
	label     string
	started   time.Time
	obs       SubscriptionObserver // nil: none
	phase     atomic.Int32         // phaseReplaying, phaseLive or phaseCatchingUp
	caught    atomic.Bool          // it has caught up, at caughtSeq
	caughtSeq atomic.Uint64
	taken     atomic.Uint64 // sequence of the last event the transport took
	finished  atomic.Bool

	span       trace.Span      // the start's; nil without a tracer
	tctx       context.Context // holds span: the parent of the other spans
	deliverCtx context.Context // the parent of delivery spans
}

// errDirect ends a catch-up goroutine whose subscription the hub now feeds.
var errDirect = errors.New("caught up: fed by the hub")

// catchUp runs the replay/live seam on its own goroutine until the hub
// takes over the subscription (or it ends). first is the subscription's
// start; later calls follow an overflow of its feed.
func (r *run) catchUp(first bool) {
	if !first {
		r.phase.Store(phaseCatchingUp)
		r.hub.cfg.Observer.Overflowed()
	}
	err := r.loop(r.ctx, first)
	if errors.Is(err, errDirect) {
		return
	}
	if r.ctx.Err() != nil {
		err = nil // cancellation is the owner's doing, not a failure
	}
	if err != nil && r.onEnd != nil {
		r.onEnd(err)
	}
	r.release()
	r.finish(err)
	r.feed.end(err)
}

// cancelled releases the subscription once its context ends.
func (r *run) cancelled() {
	r.release()
	r.finish(nil)
	r.feed.end(nil)
}

// finish takes the subscription off the hub's list and tells the
// observer and the tracer why it ended, once.
func (r *run) finish(err error) {
	if !r.finished.CompareAndSwap(false, true) {
		return
	}
	r.hub.unlisted(r)
	if r.obs != nil {
		r.obs.Ended(err)
	}
	r.traceEnd(err)
}

// handed is told the events the transport took out of the feed.
func (r *run) handed(evs []*eventstore.Event) {
	r.taken.Store(evs[len(evs)-1].Seq)
	tracing := r.span != nil
	if r.obs == nil && !tracing {
		return
	}
	now := time.Now()
	caught, at := r.caught.Load(), r.caughtSeq.Load()
	for _, ev := range evs {
		replayed := !caught || ev.Seq <= at
		if r.obs != nil {
			r.obs.Delivered(ev, replayed, now)
		}
		if tracing && ev.Trace.IsSampled() {
			r.traceDelivery(ev, replayed, now)
		}
	}
}

// release takes the subscription out of the live set and gives back its
// filter group, once: when its context ends or when it fails.
func (r *run) release() {
	h := r.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.f != nil {
		h.removeLocked(r.f)
	}
	if r.group != nil && !r.released {
		r.released = true
		h.releaseFilter(r.group)
	}
}

// loop is the replay/live seam. Each round first registers with the hub,
// which fixes head: events after head arrive on the live channel in
// order; events up to head are read from storage. Delivering only
// sequences above last makes the two halves meet with no gap and no
// duplicate. Once the live channel is empty the hub switches the
// subscription to direct delivery and the goroutine ends. When the live
// channel overflows (the reader is slower than the stream) the hub drops
// the follower; after draining what was queued the next round reads the
// missed stretch from storage, so memory stays bounded and nothing is
// lost.
func (r *run) loop(ctx context.Context, first bool) error {
	var latestUntil uint64 // the stream's end before a latest subscription registers
	if first {
		select {
		case <-r.hub.ready:
		case <-ctx.Done():
			return nil
		}
		r.last = r.req.After
		if r.req.Latest {
			// Latest means the newest of each topic as stored now, which
			// the hub may not have seen yet: read up to the stream's end.
			st, err := r.hub.store.State(ctx)
			if err != nil {
				return fmt.Errorf("latest subscription: %w", err)
			}
			r.last, latestUntil = 0, st.LastSeq
		} else if r.req.Live {
			// Live means after what is stored now, which the hub may not have
			// seen yet: take the stream's end, before registering.
			st, err := r.hub.store.State(ctx)
			if err != nil {
				return fmt.Errorf("live subscription: %w", err)
			}
			r.last = st.LastSeq
		}
	} else {
		r.last = r.feed.lastPut()
	}
	f, head, err := r.hub.register(r)
	if err != nil {
		return err
	}
	if until := max(head, latestUntil); first && r.req.Latest && until > 0 {
		// The seam of latest, at until (the later of the hub's head and
		// the stream's end before registering): the hub delivers every
		// event above head live, and the drain skips those up to until, so
		// the replay delivers, of the newest events of the topics, those at
		// or below until. The store takes its set of newest events when the
		// read begins, after until was fixed: a topic that got an event
		// above until in between is represented by that newer event alone,
		// which comes live; its older one is not replayed (it is no longer
		// the newest). Each event is delivered once, in stream order, and
		// nothing above until is missed.
		r.hub.cfg.Observer.ReplayStarted(until)
		began, delivered0 := time.Now(), r.delivered
		span := r.readSpan(0, until)
		err := r.retry(ctx, func() error { return r.readLatest(ctx, until) })
		r.hub.cfg.Observer.ReplayDone(r.delivered-delivered0, 0, time.Since(began))
		endRead(span, r.delivered-delivered0, 0, err)
		if err != nil {
			r.hub.unregister(f)
			return err
		}
		r.last = until
	}
	for {
		if head > r.last {
			r.hub.cfg.Observer.ReplayStarted(head - r.last)
			began, mem0 := time.Now(), r.fromMemory
			delivered0 := r.delivered
			span := r.readSpan(r.last, head)
			err := r.replay(ctx, head)
			r.hub.cfg.Observer.ReplayDone(r.delivered-delivered0, r.fromMemory-mem0, time.Since(began))
			endRead(span, r.delivered-delivered0, r.fromMemory-mem0, err)
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
			r.caughtSeq.Store(r.last)
			r.caught.Store(true)
			if r.obs != nil {
				r.obs.CaughtUp(time.Since(r.started))
			}
			r.traceCaughtUp(r.last)
			if r.onCaughtUp != nil {
				r.onCaughtUp(r.last)
			}
		}
		r.phase.Store(phaseLive)
		direct, err := r.drain(ctx, f)
		if direct {
			return errDirect
		}
		if err != nil || ctx.Err() != nil {
			r.hub.unregister(f)
			return err
		}
		if f, head, err = r.hub.register(r); err != nil {
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
	return r.retry(ctx, func() error { return r.read(ctx, head) })
}

// retry runs read until it succeeds, retrying while JetStream is
// unavailable for up to replayPatience. read resumes after r.last.
func (r *run) retry(ctx context.Context, read func() error) error {
	giveUp := time.Now().Add(replayPatience)
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		err := read()
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
	s := r.newSifter()
	if err := r.hub.recent.sync(ctx, r.hub.store, r.last); err != nil {
		return err
	}
	var buf []*eventstore.Event
	for r.last < head {
		var ok bool
		if buf, ok = r.hub.recent.chunk(r.last, head, 256, buf); !ok {
			break // the window has moved past us: read the rest from storage
		}
		if len(buf) == 0 {
			r.last = head // nothing stored in the stretch matches: done
			r.feed.advance(r.last)
			return nil
		}
		for _, ev := range buf {
			if q.Matches(*ev) {
				s.add(ev)
			}
		}
		k, err := s.flush(ctx, false)
		n += k
		r.fromMemory += k
		r.hub.recent.fromMemory.Add(int64(k))
		if err != nil {
			return err
		}
		r.last = buf[len(buf)-1].Seq
		r.feed.advance(r.last) // what was skipped counts as got past
	}
	if r.last >= head {
		return nil
	}
	q.After, q.Until = r.last, head
	for ev, err := range r.hub.store.Read(ctx, q) {
		if err != nil {
			return err // what waits in s is read again
		}
		s.add(&ev)
		if !s.full() {
			continue
		}
		k, err := s.flush(ctx, true)
		n += k
		r.hub.recent.fromStorage.Add(int64(k))
		if err != nil {
			return err
		}
	}
	k, err := s.flush(ctx, true)
	n += k
	r.hub.recent.fromStorage.Add(int64(k))
	return err
}

// readLatest delivers the newest stored event of each topic of the
// request, those at or below head, in stream order. Read again after a
// failure, it skips what it delivered already (at or below r.last).
func (r *run) readLatest(ctx context.Context, head uint64) error {
	n := 0
	defer func() { r.hub.cfg.Observer.Replayed(n) }()
	q := eventstore.Query{Topics: r.req.Topics, Types: r.req.Types, Until: head}
	s := r.newSifter()
	for ev, err := range r.hub.store.ReadLatest(ctx, q) {
		if err != nil {
			return err
		}
		if ev.Seq <= r.last {
			continue // delivered before a failure
		}
		s.add(&ev)
		if !s.full() {
			continue
		}
		k, err := s.flush(ctx, false) // a topic whose newest fails the filter is left out
		n += k
		r.hub.recent.fromStorage.Add(int64(k))
		if err != nil {
			return err
		}
	}
	k, err := s.flush(ctx, false)
	n += k
	r.hub.recent.fromStorage.Add(int64(k))
	return err
}

// sifter gathers a replay's events and delivers, in order, those that
// pass its filter, evaluated a batch at a time on the hub's filter pool
// (run.sift). Without a filter, every event is delivered at once.
type sifter struct {
	r    *run
	size int
	evs  []*eventstore.Event
	pass []bool
}

func (r *run) newSifter() *sifter {
	size := 1
	if r.group != nil {
		size = r.group.perTurn
	}
	return &sifter{r: r, size: size}
}

func (s *sifter) add(ev *eventstore.Event) { s.evs = append(s.evs, ev) }

func (s *sifter) full() bool { return len(s.evs) >= s.size }

// flush delivers the gathered events that pass and returns how many it
// delivered; skip advances r.last past those that do not.
func (s *sifter) flush(ctx context.Context, skip bool) (int, error) {
	if len(s.evs) == 0 {
		return 0, nil
	}
	defer func() {
		clear(s.evs)
		s.evs = s.evs[:0]
	}()
	var err error
	if s.pass, err = s.r.sift(ctx, s.evs, s.pass); err != nil {
		return 0, err
	}
	n := 0
	for i, ev := range s.evs {
		if !s.pass[i] {
			if skip {
				s.r.last = ev.Seq
			}
			continue
		}
		if err := s.r.deliver(ctx, ev); err != nil {
			return n, err
		}
		n++
		s.r.delivered++
	}
	return n, nil
}

// drain delivers what waits in the live channel until the hub, finding it
// empty, switches the subscription to direct delivery (true), the channel
// closes (overflow) or ctx ends.
func (r *run) drain(ctx context.Context, f *follower) (bool, error) {
	for {
		select {
		case ev, ok := <-f.live:
			if !ok {
				r.hub.cfg.Observer.Overflowed()
				return false, nil
			}
			if ev.Seq <= r.last {
				continue
			}
			if err := r.deliver(ctx, ev); err != nil {
				return false, err
			}
		default:
			if r.hub.goDirect(r, f) {
				return true, nil
			}
			if ctx.Err() != nil {
				return false, nil
			}
		}
	}
}

func (r *run) deliver(ctx context.Context, ev *eventstore.Event) error {
	err := r.feed.putWait(ctx, ev, r.hub.cfg.StallTimeout, &r.stall)
	switch {
	case err == nil:
		r.last = ev.Seq
		return nil
	case errors.Is(err, ErrSlowConsumer):
		r.hub.cfg.Observer.SlowConsumer()
		return err
	default:
		return nil // cancelled: the caller sees ctx
	}
}
