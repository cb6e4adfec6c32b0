package replay

import (
	"cmp"
	"context"
	"iter"
	"slices"
	"time"
)

// The hub's list of running subscriptions: what an operator asks when a
// user says an event never came (which subscriptions are past it, which
// are behind), and what lag metrics are computed from. It is kept under a
// lock of its own, taken once when a subscription starts and once when it
// ends; listing it never holds the lock the live tail takes.

// SubscriptionInfo is what a subscription was started with.
type SubscriptionInfo struct {
	// ID numbers the hub's subscriptions in the order they started.
	ID     uint64
	Topics []string
	Types  []string
	// Label is how it came: the label of the context it was started with
	// (see WithLabel), such as the transport's protocol.
	Label string
	// Owner is Request.Owner.
	Owner   string
	Started time.Time
}

// Subscription phases, as SubscriptionState.Phase has them.
const (
	PhaseReplaying  = "replaying"   // reading stored events, not yet caught up
	PhaseLive       = "live"        // caught up: fed by the live tail
	PhaseCatchingUp = "catching_up" // its feed overflowed: reading stored events again
)

// SubscriptionState is where a running subscription is.
type SubscriptionState struct {
	SubscriptionInfo
	Phase string
	// Delivered is the sequence of the last event its transport took out
	// of its feed; 0 before the first.
	Delivered uint64
	// Pending is how many events wait in its feed for the transport.
	Pending int
	// Position is the sequence the subscription has got past: every
	// event of its topics up to it was delivered (or left out by its
	// filter), and none after it yet.
	Position uint64
	// Behind is how many stream sequences lie between the hub's head and
	// what the subscription has got past (delivered, or skipped as not
	// its own): 0 when it is live with nothing waiting. While it reads
	// storage it counts the stretch it has still to read, whether its
	// topics have events there or not.
	Behind uint64
}

type labelKey struct{}

// WithLabel returns ctx labelled for the subscriptions started with it:
// Hub.Subscriptions and the traces list them with it. Transports label
// their requests with their protocol.
func WithLabel(ctx context.Context, label string) context.Context {
	return context.WithValue(ctx, labelKey{}, label)
}

func labelOf(ctx context.Context) string {
	l, _ := ctx.Value(labelKey{}).(string)
	return l
}

// listed adds r to the hub's list and numbers it.
func (h *Hub) listed(r *run) {
	h.runsMu.Lock()
	defer h.runsMu.Unlock()
	h.nextID++
	r.id = h.nextID
	h.runs[r.id] = r
}

func (h *Hub) unlisted(r *run) {
	h.runsMu.Lock()
	defer h.runsMu.Unlock()
	delete(h.runs, r.id)
}

// Subscriptions yields the running subscriptions in the order they
// started, each as it is at the moment it is yielded. It costs a copy of
// the list (a pointer per subscription) and a sort; the lock it takes is
// not the live tail's.
func (h *Hub) Subscriptions() iter.Seq[SubscriptionState] {
	return func(yield func(SubscriptionState) bool) {
		h.runsMu.Lock()
		runs := make([]*run, 0, len(h.runs))
		for _, r := range h.runs {
			runs = append(runs, r)
		}
		h.runsMu.Unlock()
		slices.SortFunc(runs, func(a, b *run) int { return cmp.Compare(a.id, b.id) })
		head := h.Head() // once: the tail takes the same lock
		for _, r := range runs {
			if !yield(r.state(head)) {
				return
			}
		}
	}
}

func (r *run) info() SubscriptionInfo {
	return SubscriptionInfo{ID: r.id, Topics: r.req.Topics, Types: r.req.Types, Label: r.label, Owner: r.req.Owner, Started: r.started}
}

// state is where r is, with the hub's head at head.
func (r *run) state(head uint64) SubscriptionState {
	f := r.feed
	f.mu.Lock()
	pending, last := len(f.events), f.last
	var first uint64
	if pending > 0 {
		first = f.events[0].Seq
	}
	f.mu.Unlock()
	st := SubscriptionState{SubscriptionInfo: r.info(), Delivered: r.taken.Load(), Pending: pending}
	phase := r.phase.Load()
	st.Phase = phaseNames[phase]
	pos := last // got past: everything up to it was put or skipped...
	switch {
	case pending > 0:
		pos = first - 1 // ...but the transport has yet to take first
	case phase == phaseLive:
		pos = head
	}
	st.Position = min(pos, head)
	st.Behind = head - st.Position
	return st
}

const (
	phaseReplaying int32 = iota
	phaseLive
	phaseCatchingUp
)

var phaseNames = [...]string{PhaseReplaying, PhaseLive, PhaseCatchingUp}
