package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventstore"
)

// ErrFilterBudget refuses a subscription whose filter would take its
// owner's distinct filters past Config.MaxFilterCost. Nothing was started;
// the same request may pass once the owner's other filtered subscriptions
// have ended.
var ErrFilterBudget = errors.New("filter budget exceeded")

// groupSteps is what a distinct filter costs in its owner's budget beyond
// its evaluation (eventfilter.Filter.Size): its queue, and its turns on
// the workers, for every event of its topics.
const groupSteps = 64

// FilterCost is what f costs its owner's budget (Config.MaxFilterCost)
// while the owner holds it: its evaluation steps (eventfilter.Filter.Size)
// and 64 for its queue and turns.
func FilterCost(f *eventfilter.Filter) int {
	nodes, values := f.Size()
	return nodes + values + groupSteps
}

// sharedFilter is a filter group: one distinct filter (by
// eventfilter.Key) of one owner, shared by every subscription of that
// owner that asked for it. The hub's tail only matches topics and types,
// and hands each event its followers want to the group, in order; the
// group evaluates it once, on the hub's filter pool, and puts it, if it
// passes, into each of those followers' live channel or feed. A group
// belongs to one owner so that its cost is charged to exactly one budget
// and its turns are that owner's.
//
// The seam holds as without filters. A follower is handed only events
// above the head it registered at (the tail gathers it for those alone),
// and its group takes them one turn at a time, in stream order, so they
// reach it in order. A follower that cannot take an event (its channel or
// feed is full, or its group's queue was) is cut off: it takes nothing more
// from the group, leaves the live set, and catches up from storage, with
// its filter, after the last event it was given, as when its own buffer
// fills. Events still queued for it are skipped, and read from storage.
type sharedFilter struct {
	hub     *Hub
	owner   *owner
	key     string // owner and filter
	filter  *eventfilter.Filter
	cost    int
	perTurn int

	refs    int    // subscriptions holding it; guarded by Hub.mu
	seq     uint64 // the event to is being gathered for; guarded by Hub.mu
	to      []*follower
	dropped atomic.Bool // no subscription holds it any more

	mu        sync.Mutex
	queue     queue[filterItem]
	scheduled bool // on the pool, or running: events are taken by one turn at a time
	batch     []filterItem
}

// filterItem is an event waiting for its group's evaluation, with the
// followers it is for: those registered when the tail fanned it out.
type filterItem struct {
	ev  *eventstore.Event
	doc *eventfilter.Doc // shared by every group evaluating ev
	to  []*follower
}

// acquireFilter returns owner's group for f, adding it if the owner's
// budget allows, and takes a reference on it; nil for no filter.
func (h *Hub) acquireFilter(ownerName string, f *eventfilter.Filter) (*sharedFilter, error) {
	if f == nil {
		return nil, nil
	}
	key := ownerName + "\x00" + f.Key()
	h.mu.Lock()
	defer h.mu.Unlock()
	g, ok := h.filters[key]
	if !ok {
		o := h.owners[ownerName]
		if o == nil {
			o = &owner{name: ownerName}
		}
		cost := FilterCost(f)
		if limit := h.cfg.MaxFilterCost; limit > 0 && o.cost+cost > limit {
			return nil, fmt.Errorf("%w: this filter costs %d and its principal's other distinct live filters %d, over the %d one principal may hold; end subscriptions with other filters, or share one",
				ErrFilterBudget, cost, o.cost, limit)
		}
		h.owners[ownerName] = o
		o.cost += cost
		o.groups++
		g = &sharedFilter{hub: h, owner: o, key: key, filter: f, cost: cost, perTurn: perTurn(cost)}
		h.filters[key] = g
	}
	g.refs++
	return g, nil
}

// releaseFilter drops a reference taken by acquireFilter; the group goes,
// with its queue, when the last one does. Called with Hub.mu held.
func (h *Hub) releaseFilter(g *sharedFilter) {
	if g.refs--; g.refs > 0 {
		return
	}
	g.dropped.Store(true)
	delete(h.filters, g.key)
	o := g.owner
	o.cost -= g.cost
	if o.groups--; o.groups == 0 {
		delete(h.owners, o.name)
	}
}

// gather notes, for the event the tail fans out, that f wants it; it
// reports whether g is new to the event. Called with Hub.mu held.
func (g *sharedFilter) gather(seq uint64, f *follower) (first bool) {
	if g.seq != seq {
		g.seq, g.to, first = seq, nil, true
	}
	g.to = append(g.to, f)
	return first
}

// enqueue hands the event gathered for to the group's queue, scheduling
// the group if it was idle. It returns the followers it was for if the
// queue is full: they must go back to storage. Called with Hub.mu held.
func (g *sharedFilter) enqueue(ev *eventstore.Event, doc *eventfilter.Doc) (full []*follower) {
	to := g.to
	g.to = nil
	g.mu.Lock()
	if g.queue.len() >= g.hub.cfg.Buffer {
		g.mu.Unlock()
		return to
	}
	g.queue.push(filterItem{ev: ev, doc: doc, to: to})
	schedule := !g.scheduled
	g.scheduled = true
	g.mu.Unlock()
	if schedule {
		g.hub.pool.push(g.owner, g)
	}
	return nil
}

// run is one turn of the group on a pool worker: it evaluates the next
// events of its queue, in order, and offers those that pass to their
// followers.
func (g *sharedFilter) run() {
	h := g.hub
	g.mu.Lock()
	if g.dropped.Load() {
		clear(g.queue.items)
		g.queue = queue[filterItem]{}
	}
	batch := g.batch[:0]
	for len(batch) < g.perTurn {
		it, ok := g.queue.pop()
		if !ok {
			break
		}
		batch = append(batch, it)
	}
	g.mu.Unlock()

	var cut []*follower
	for _, it := range batch {
		if !g.filter.Match(it.doc) {
			continue
		}
		for _, f := range it.to {
			if !f.offer(it.ev) {
				cut = append(cut, f)
			}
		}
	}
	if len(batch) > 0 {
		h.cfg.Observer.FiltersEvaluated(len(batch))
	}
	if len(cut) > 0 {
		h.overflowFiltered(cut)
	}
	clear(batch)
	g.batch = batch

	g.mu.Lock()
	more := g.queue.len() > 0
	g.scheduled = more
	g.mu.Unlock()
	if more {
		h.pool.push(g.owner, g) // after the other owners' turns
	}
}

// offer puts ev, which passed f's filter, into f's live channel or feed.
// When there is no room, f is cut off from its group: it takes nothing
// more from it, and reports false; whoever cut it removes it from the live
// set and, fed directly, starts its catch-up.
func (f *follower) offer(ev *eventstore.Event) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut {
		return true // gone, or catching up from storage: not its concern
	}
	if f.direct {
		if f.run.feed.put(ev) {
			return true
		}
	} else {
		select {
		case f.live <- ev:
			return true
		default:
		}
	}
	f.cutLocked()
	return false
}

// cutOff cuts f off from its group and reports whether it was still
// attached (then the caller handles the overflow).
func (f *follower) cutOff() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut {
		return false
	}
	f.cutLocked()
	return true
}

// cutLocked cuts f off: nothing is put for it from now on, and, if it is
// still catching up, its live channel closes, which tells its goroutine to
// read the rest from storage. f.mu is held.
func (f *follower) cutLocked() {
	f.cut = true
	if !f.direct {
		close(f.live)
	}
}

// overflowFiltered takes filtered followers that a worker cut off out of
// the live set, and starts the catch-up of those fed directly.
func (h *Hub) overflowFiltered(cut []*follower) {
	h.mu.Lock()
	for _, f := range cut {
		h.removeLocked(f)
	}
	h.mu.Unlock()
	for _, f := range cut {
		if f.direct && f.run.ctx.Err() == nil && !f.run.feed.isEnded() {
			go f.run.catchUp(false)
		}
	}
}

// sift sets pass[i] to whether evs[i] passes r's filter, evaluated on the
// hub's filter pool in r's owner's turns, so that replays take no more
// cores than live evaluation does; it returns ctx's error if ctx ends.
func (r *run) sift(ctx context.Context, evs []*eventstore.Event, pass []bool) ([]bool, error) {
	pass = slices.Grow(pass[:0], len(evs))[:len(evs)]
	if r.group == nil {
		for i := range pass {
			pass[i] = true
		}
		return pass, nil
	}
	return pass, r.hub.pool.sift(ctx, r.group.owner, r.group.filter, r.group.perTurn, evs, pass)
}
