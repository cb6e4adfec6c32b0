package replay

import (
	"context"
	"sync"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
)

// Feed is a subscription's outbox: the subscription puts its events in,
// in order, and the transport takes them out whenever it is told there
// are some. It holds no goroutine of its own, so an idle subscription
// costs only its memory, and a transport can write everything pending at
// once.
type Feed struct {
	notify func() // told that events or the end are waiting
	r      *run   // told what the transport takes; nil in tests of the feed alone

	mu     sync.Mutex
	events []*eventstore.Event
	max    int
	ended  bool
	err    error
	last   uint64        // events up to this sequence were put or skipped
	space  chan struct{} // signalled when Take makes room
}

func newFeed(max int, notify func()) *Feed {
	return &Feed{notify: notify, max: max, space: make(chan struct{}, 1)}
}

// Take appends the waiting events to dst and returns it, with whether the
// subscription has ended: it has once Take returns done, having handed
// over every event put before the end, and err says why (nil when its
// context ended).
func (f *Feed) Take(dst []*eventstore.Event) (evs []*eventstore.Event, done bool, err error) {
	n := len(dst)
	f.mu.Lock()
	dst = append(dst, f.events...)
	clear(f.events)
	f.events = f.events[:0]
	done, err = f.ended, f.err
	f.mu.Unlock()
	select {
	case f.space <- struct{}{}:
	default:
	}
	if f.r != nil && len(dst) > n {
		f.r.handed(dst[n:])
	}
	return dst, done, err
}

// put adds ev unless the feed is full or has ended; it reports whether ev
// was dealt with: added, or skipped because the subscription is already
// past it (a cursor ahead of the hub's tail, which is still catching up
// with the stream). It never blocks: the hub calls it for live events.
func (f *Feed) put(ev *eventstore.Event) bool {
	f.mu.Lock()
	if ev.Seq <= f.last {
		f.mu.Unlock()
		return true
	}
	if f.ended || len(f.events) >= f.max {
		f.mu.Unlock()
		return false
	}
	f.events = append(f.events, ev)
	f.last = ev.Seq
	wake := len(f.events) == 1
	f.mu.Unlock()
	if wake {
		f.notify()
	}
	return true
}

// putWait adds ev, waiting while the feed is full: for at most patience
// (then ErrSlowConsumer) and until ctx ends (then ctx's error). A wait
// arms *stall, made on the first wait and reused by the next: a replay
// faster than its reader finds the feed full before nearly every event,
// and a timer made for each would cost more than the event's delivery.
// The caller owns *stall and waits one event at a time.
func (f *Feed) putWait(ctx context.Context, ev *eventstore.Event, patience time.Duration, stall **time.Timer) error {
	if f.put(ev) {
		return nil
	}
	if *stall == nil {
		*stall = time.NewTimer(patience)
	} else {
		(*stall).Reset(patience)
	}
	defer (*stall).Stop()
	for {
		select {
		case <-f.space:
			if f.put(ev) {
				return nil
			}
			if f.isEnded() {
				return context.Canceled
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-(*stall).C:
			return ErrSlowConsumer
		}
	}
}

// advance records that everything up to seq has been dealt with, put or
// filtered out: a catch-up after an overflow starts after it.
func (f *Feed) advance(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = max(f.last, seq)
}

// lastPut returns the sequence up to which events were put or skipped.
func (f *Feed) lastPut() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// Ended reports, without taking anything, whether the subscription has
// ended, and why (nil when its context ended): a reader blocked handing an
// event on can learn that the hub gave up on it (ErrSlowConsumer).
func (f *Feed) Ended() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended, f.err
}

func (f *Feed) isEnded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended
}

// end marks the end of the subscription, once: events already put are
// still taken first.
func (f *Feed) end(err error) {
	f.mu.Lock()
	if f.ended {
		f.mu.Unlock()
		return
	}
	f.ended, f.err = true, err
	f.mu.Unlock()
	f.notify()
}
