package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server/gsl"
	"go.opentelemetry.io/otel/trace"

	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventstore"
)

// ErrSlowConsumer ends a subscription whose reader took no event for
// Config.StallTimeout. Nothing is lost: the reader resumes with its cursor.
var ErrSlowConsumer = errors.New("slow consumer: no event was taken within the stall timeout; resume with the last id received")

// Config tunes a Hub. Zero values take the documented defaults.
type Config struct {
	// Buffer is how many live events wait for one subscriber before it is
	// moved back to reading from storage. It bounds a subscriber's memory.
	// Default 512.
	Buffer int
	// StallTimeout ends a subscription whose reader takes no event for this
	// long (ErrSlowConsumer). Default 30s.
	StallTimeout time.Duration
	// Observer is told what the hub and its subscriptions do (metrics).
	// Default: nothing.
	Observer Observer
	// RecentEvents and RecentBytes bound the window of newest events kept
	// in memory, from which replays are served without reading storage.
	// The window keeps to the store's retention (see recent), so it never
	// serves an event that storage has removed.
	// Defaults 100,000 and 64 MiB; RecentEvents < 0 turns it off.
	RecentEvents int
	RecentBytes  int
	// MaxFilterCost bounds the filter work one owner (Request.Owner) may
	// ask of this hub for every event: the sum, over its distinct filters,
	// of their evaluation steps (eventfilter.Filter.Size) plus 64 each for
	// their queue. A subscription whose new filter would go past it is
	// refused with ErrFilterBudget. Default DefaultMaxFilterCost; < 0: no
	// limit.
	MaxFilterCost int
	// Tracer, if set, traces subscriptions and deliveries (see
	// "Tracing of subscriptions" in trace.go). Default: none; then no
	// span is started and deliveries allocate nothing for tracing.
	Tracer trace.Tracer
}

// DefaultMaxFilterCost is Config.MaxFilterCost's default: some 1.2 ms of
// one core per event at most, whatever filters an owner holds (about 1,400
// simple filters, or 9 at every bound of eventfilter).
const DefaultMaxFilterCost = 100_000

func (c Config) withDefaults() Config {
	if c.Buffer <= 0 {
		c.Buffer = 512
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 30 * time.Second
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.RecentEvents == 0 {
		c.RecentEvents = 100_000
	}
	if c.RecentBytes <= 0 {
		c.RecentBytes = 64 << 20
	}
	if c.MaxFilterCost == 0 {
		c.MaxFilterCost = DefaultMaxFilterCost
	}
	return c
}

// Hub owns this instance's single live tail of the stream and the set of
// subscribers it fans out to. Publishing never waits for a subscriber.
type Hub struct {
	store *eventstore.Store
	cfg   Config
	log   *slog.Logger

	ready chan struct{} // closed once head is known and the tail runs

	recent *recent     // the newest events, shared by replays
	pool   *filterPool // where filters are evaluated

	mu   sync.Mutex
	head uint64 // sequence of the last event fanned out
	// tailErr is the live tail's last failure, at failedAt, forgotten
	// once the tail delivers an event (see TailErr).
	tailErr  error
	failedAt time.Time
	subs     *gsl.GenericSublist[*follower]
	n        int                      // registered followers
	filters  map[string]*sharedFilter // the distinct filters of every owner, by owner and key
	owners   map[string]*owner        // owners holding filters

	runsMu sync.Mutex // guards runs and nextID, never held with mu
	runs   map[uint64]*run
	nextID uint64
}

// NewHub returns a Hub on store; Run starts it. A nil log discards.
func NewHub(store *eventstore.Store, cfg Config, log *slog.Logger) *Hub {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{
		store:   store,
		recent:  newRecent(cfg.RecentEvents, cfg.RecentBytes, store.Config()),
		cfg:     cfg,
		log:     log,
		ready:   make(chan struct{}),
		subs:    gsl.NewSublist[*follower](),
		filters: map[string]*sharedFilter{},
		owners:  map[string]*owner{},
		pool:    newFilterPool(),
		runs:    map[uint64]*run{},
	}
}

// Run tails the stream from its current end until ctx ends, restarting the
// tail after the last event it fanned out if JetStream fails. It also runs
// the workers that evaluate filters, which end with it.
func (h *Hub) Run(ctx context.Context) error {
	pooled := make(chan struct{})
	go func() {
		defer close(pooled)
		h.pool.run(ctx)
	}()
	defer func() { <-pooled }()
	var st eventstore.State
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		var err error
		if st, err = h.store.State(ctx); err == nil {
			break
		}
		h.log.Warn("event store not ready; retrying", "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return nil
		}
	}
	if err := h.recent.prefill(ctx, h.store, st); err != nil {
		h.log.Warn("could not load recent events; replays read storage", "err", err)
	}
	h.mu.Lock()
	h.head = st.LastSeq
	h.mu.Unlock()
	close(h.ready)
	h.log.Info("live tail started", "after", st.LastSeq)

	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		tctx, cancel := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			h.watch(tctx, cancel)
		}()
		for ev, err := range h.store.Tail(tctx, h.Head()) {
			if err != nil {
				h.log.Warn("live tail failed; restarting", "err", err, "after", h.Head())
				h.mu.Lock()
				h.tailErr, h.failedAt = err, time.Now()
				h.mu.Unlock()
				break
			}
			backoff = 100 * time.Millisecond
			full := h.publish(&ev)
			h.cfg.Observer.TailEvent(&ev)
			if full > 0 {
				h.cfg.Observer.FilterOverflowed(full)
			}
		}
		cancel()
		<-watched
		if ctx.Err() == nil {
			h.cfg.Observer.TailRestarted()
		}
		if !sleep(ctx, backoff) {
			return nil
		}
	}
}

// stallCheck is how often the hub checks that its tail keeps up.
const stallCheck = 2 * time.Second

// watch cancels the tail when it stops making progress while the stream
// has events it has not delivered. The client library recovers its
// consumer by itself after most failures, but with backoffs of up to ten
// seconds, and a consumer lost with its server has been seen never to
// come back; a fresh tail after the last event fanned out costs nothing
// and bounds the pause.
func (h *Hub) watch(ctx context.Context, restart context.CancelFunc) {
	tick := time.NewTicker(stallCheck)
	defer tick.Stop()
	prev := h.Head()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		head := h.Head()
		sctx, cancel := context.WithTimeout(ctx, stallCheck)
		st, err := h.store.State(sctx)
		cancel()
		if err == nil {
			h.recent.retain(st.FirstSeq) // what age and bytes removed meanwhile
		}
		if err == nil && head == prev && st.LastSeq > head {
			h.log.Warn("live tail stalled; restarting it", "after", head, "stream_last", st.LastSeq)
			restart()
			return
		}
		prev = head
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// tailHold is how long a failure of the live tail counts in TailErr when
// no event has come since: longer than the longest pause between two
// restarts plus a stall check, so that a tail that fails at every
// attempt is never taken for one that runs, between two attempts.
const tailHold = 5*time.Second + stallCheck

// TailErr returns why the live tail cannot follow the stream now: its
// last failure, if that was less than 7 s ago and no event has been
// delivered since; nil while it runs. A JetStream that still answers
// stream requests may refuse consumers (a server cut off from the
// cluster's majority, say), so readiness asks this as well.
func (h *Hub) TailErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tailErr != nil && time.Since(h.failedAt) < tailHold {
		return h.tailErr
	}
	return nil
}

// Head returns the sequence of the last event fanned out.
func (h *Hub) Head() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.head
}

// Subscribers returns how many subscriptions follow the live tail now.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// publish hands ev to every matching follower without blocking. A
// follower catching up gets it on its live channel; one the hub feeds
// directly, in its feed. A follower whose buffer is full is dropped from
// the live set and catches up from storage: told so by the closing of its
// channel, or, fed directly, by a new catch-up goroutine.
//
// A follower with a filter is not given ev here: the tail, under the
// hub's lock, only matches topics and types, and hands ev once to each
// filter group that has followers wanting it, with the list of those
// followers; the group evaluates it on the filter pool, in order, and
// offers it to them if it passes. A group whose queue is full sends those
// followers back to storage as a full buffer does; publish returns how
// many groups were. No filter is ever evaluated here: one owner's filters
// never hold up another's delivery.
func (h *Hub) publish(ev *eventstore.Event) (full int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Seq <= h.head {
		return 0
	}
	h.head = ev.Seq
	h.tailErr = nil // the tail runs
	h.recent.add(ev)
	var overflowed []*follower
	var groups []*sharedFilter
	h.subs.Match(ev.Topic, func(f *follower) {
		if f.lastQueued == ev.Seq || !f.wantsType(ev.Type) {
			return // a second matching pattern of the same follower, or a type filtered out
		}
		f.lastQueued = ev.Seq
		if g := f.where; g != nil {
			if g.gather(ev.Seq, f) {
				groups = append(groups, g)
			}
			return
		}
		if f.direct {
			if !f.run.feed.put(ev) {
				overflowed = append(overflowed, f)
			}
			return
		}
		select {
		case f.live <- ev:
		default:
			overflowed = append(overflowed, f)
		}
	})
	if len(groups) > 0 {
		doc := eventfilter.NewDoc(ev.Data) // decoded by the first group that reads it
		for _, g := range groups {
			to := g.enqueue(ev, doc)
			if to == nil {
				continue
			}
			full++
			for _, f := range to {
				if f.cutOff() {
					overflowed = append(overflowed, f)
				}
			}
		}
	}
	// The sublist is locked during Match; remove afterwards.
	for _, f := range overflowed {
		h.removeLocked(f)
		switch {
		case f.direct:
			if f.run.ctx.Err() == nil && !f.run.feed.isEnded() {
				go f.run.catchUp(false)
			}
		case f.where == nil:
			close(f.live) // a filtered follower's closed when it was cut off
		}
	}
	return full
}

// follower is one subscription's registration in the live set.
type follower struct {
	run        *run
	where      *sharedFilter // its run's filter group; nil: no filter
	lastQueued uint64        // guarded by Hub.mu
	registered bool          // guarded by Hub.mu

	// Guarded by Hub.mu, and, with a filter, by mu as well, as the
	// group's worker delivers to it holding only mu.
	mu     sync.Mutex
	live   chan *eventstore.Event // while catching up
	direct bool                   // fed straight into run.feed
	cut    bool                   // with a filter: takes nothing more from its group
}

func (f *follower) wantsType(t string) bool { return len(f.run.types) == 0 || f.run.types[t] }

// register adds a follower for r to the live set and returns the head at
// that moment: every event after it will reach the follower's channel, in
// order, until the channel closes or the hub feeds r directly.
func (h *Hub) register(r *run) (*follower, uint64, error) {
	f := &follower{run: r, live: make(chan *eventstore.Event, h.cfg.Buffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := r.ctx.Err(); err != nil {
		return nil, 0, err
	}
	for i, p := range r.patterns {
		if err := h.subs.Insert(p, f); err != nil {
			for _, q := range r.patterns[:i] {
				_ = h.subs.Remove(q, f)
			}
			return nil, 0, fmt.Errorf("register %q: %w", p, err)
		}
	}
	f.registered = true
	f.where = r.group
	r.f = f
	h.n++
	return f, h.head, nil
}

// goDirect switches f to direct delivery if its live channel is empty,
// so that the hub puts further events straight into its run's feed and
// the run's goroutine can end. It reports whether it did.
func (h *Hub) goDirect(r *run, f *follower) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !f.registered || r.ctx.Err() != nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut || len(f.live) > 0 {
		return false
	}
	r.feed.advance(r.last)
	f.direct = true
	f.live = nil
	return true
}

func (h *Hub) unregister(f *follower) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(f)
}

func (h *Hub) removeLocked(f *follower) {
	if !f.registered {
		return
	}
	for _, p := range f.run.patterns {
		_ = h.subs.Remove(p, f)
	}
	f.registered = false
	if f.where != nil {
		f.mu.Lock()
		f.cut = true // its group's queue may still hold events for it
		f.mu.Unlock()
	}
	if f.run.f == f {
		f.run.f = nil
	}
	h.n--
}

// Ready is closed once the hub knows the stream's end and tails it.
func (h *Hub) Ready() <-chan struct{} { return h.ready }
