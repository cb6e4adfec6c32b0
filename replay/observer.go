package replay

import (
	"time"

	"github.com/rewind-dev/rewind/eventstore"
)

// Observer is told what a hub and its subscriptions do, for metrics. Its
// methods are called outside the hub's lock, on the goroutines doing the
// work, and must return at once.
type Observer interface {
	// TailEvent: the live tail fanned ev out to its subscribers.
	TailEvent(ev *eventstore.Event)
	// TailRestarted: the live tail failed or stalled and starts again
	// after the last event it fanned out.
	TailRestarted()
	// ReplayStarted: a subscription starts reading from storage, behind
	// stream sequences behind the live tail.
	ReplayStarted(behind uint64)
	// Replayed: a subscription delivered n events read from storage.
	Replayed(n int)
	// ReplayDone: a subscription's replay (or catch-up) that ReplayStarted
	// announced has ended, having delivered events, fromMemory of them
	// from the hub's recent window rather than from storage, in took.
	ReplayDone(events, fromMemory int, took time.Duration)
	// Overflowed: a subscriber's live buffer filled; it catches up from
	// storage.
	Overflowed()
	// SlowConsumer: a subscription ended with ErrSlowConsumer.
	SlowConsumer()
	// FiltersEvaluated: a filter group (one distinct Request.Filter of one
	// Request.Owner) evaluated n live events, each once for all its
	// subscribers, on the hub's filter workers.
	FiltersEvaluated(n int)
	// FilterOverflowed: n filter groups had no room for one live event
	// (they are Config.Buffer events behind): their subscribers that wanted
	// it catch up from storage, each then counted by Overflowed.
	FilterOverflowed(n int)
	// FilterRefused: a subscription was refused with ErrFilterBudget.
	FilterRefused()
	// Subscribed: a subscription started. What it returns is told about
	// that subscription's deliveries and end (nil: nothing), so that an
	// observer can resolve its labels once per subscription rather than
	// once per event.
	Subscribed(sub SubscriptionInfo) SubscriptionObserver
}

// SubscriptionObserver is told what one subscription does. Its methods
// are called on the goroutines doing the work and must return at once.
type SubscriptionObserver interface {
	// Delivered: the transport took ev out of the feed at now (one clock
	// reading for all the events it took at once); replayed says ev was
	// read from storage (or the hub's window) before the subscription
	// first caught up, rather than coming after.
	Delivered(ev *eventstore.Event, replayed bool, now time.Time)
	// CaughtUp: the subscription first met the live tail, took after it
	// started.
	CaughtUp(took time.Duration)
	// Ended: the subscription ended; err says why (nil: its owner
	// cancelled it).
	Ended(err error)
}

type nopObserver struct{}

func (nopObserver) TailEvent(*eventstore.Event)        {}
func (nopObserver) TailRestarted()                     {}
func (nopObserver) ReplayStarted(uint64)               {}
func (nopObserver) Replayed(int)                       {}
func (nopObserver) ReplayDone(int, int, time.Duration) {}
func (nopObserver) Overflowed()                        {}
func (nopObserver) SlowConsumer()                      {}
func (nopObserver) FiltersEvaluated(int)               {}
func (nopObserver) FilterOverflowed(int)               {}
func (nopObserver) FilterRefused()                     {}
func (nopObserver) Subscribed(SubscriptionInfo) SubscriptionObserver {
	return nil
}
