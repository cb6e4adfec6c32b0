package replay

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventstore"
)

// filterPool evaluates the filters of every subscription (Request.Filter),
// live and replayed, off the hub's tail and off its lock, on at most
// GOMAXPROCS-1 workers (at least one): however much filter work clients
// ask for, one core is left to the tail and to unfiltered delivery, and
// no more goroutines than that are ever running filters.
//
// Work waits in a queue per owner (Request.Owner), and owners take turns,
// round robin, one task each: a live filter's next events, or a replay's
// next events, up to turnSteps of work. An owner with thousands of
// expensive filters thus delays another owner's filtered events by at most
// one turn per owner with work waiting (well under a millisecond each),
// and unfiltered delivery not at all.
type filterPool struct {
	workers int
	signal  chan struct{} // 1-buffered: tasks are waiting
	stopped chan struct{} // closed once the workers have ended

	mu   sync.Mutex
	ring queue[*owner] // owners with tasks waiting, the next one first

	onTurn func(start bool) // for tests: called around every task
}

// turnSteps is what one task may evaluate, in eventfilter.Filter.Size
// steps (about 12 ns each): some 0.4 ms of work.
const turnSteps = 1 << 15

// maxTurnEvents bounds the events of one task when the filter is cheap.
const maxTurnEvents = 256

// perTurn is how many events of a filter costing cost one task evaluates.
func perTurn(cost int) int { return max(1, min(maxTurnEvents, turnSteps/max(cost, 1))) }

func newFilterPool() *filterPool {
	return &filterPool{
		workers: max(1, runtime.GOMAXPROCS(0)-1),
		signal:  make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
}

// task is a bounded piece of filter work.
type task interface{ run() }

// owner is one Request.Owner: what its distinct filters cost (its budget
// spent) and its tasks waiting for a worker.
type owner struct {
	name   string
	cost   int // guarded by Hub.mu
	groups int // distinct filters; guarded by Hub.mu

	tasks  queue[task] // guarded by filterPool.mu
	inRing bool        // guarded by filterPool.mu
}

// run starts the workers and returns once ctx has ended and they have
// stopped; from then on, evaluations run on their callers' goroutines.
func (p *filterPool) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range p.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(ctx)
		}()
	}
	wg.Wait()
	close(p.stopped)
}

func (p *filterPool) work(ctx context.Context) {
	for {
		t := p.next()
		if t == nil {
			select {
			case <-p.signal:
				continue
			case <-ctx.Done():
				return
			}
		}
		if p.onTurn != nil {
			p.onTurn(true)
		}
		t.run()
		if p.onTurn != nil {
			p.onTurn(false)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// next takes the next owner's next task, nil if none waits.
func (p *filterPool) next() task {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.ring.pop()
	if !ok {
		return nil
	}
	t, _ := o.tasks.pop()
	if o.tasks.len() > 0 {
		p.ring.push(o) // its next task waits for the other owners' turns
	} else {
		o.inRing = false
	}
	if p.ring.len() > 0 {
		p.wake() // another worker may take the next
	}
	return t
}

// push queues t in o's turn.
func (p *filterPool) push(o *owner, t task) {
	p.mu.Lock()
	o.tasks.push(t)
	if !o.inRing {
		o.inRing = true
		p.ring.push(o)
	}
	p.mu.Unlock()
	p.wake()
}

func (p *filterPool) wake() {
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// sift evaluates f on evs in o's turns, at most per events a task, and
// sets pass[i] for evs[i]; it returns ctx's error if ctx ends first.
func (p *filterPool) sift(ctx context.Context, o *owner, f *eventfilter.Filter, per int, evs []*eventstore.Event, pass []bool) error {
	for lo := 0; lo < len(evs); lo += per {
		hi := min(lo+per, len(evs))
		t := &siftTask{filter: f, evs: evs[lo:hi], pass: pass[lo:hi], done: make(chan struct{})}
		p.push(o, t)
		select {
		case <-t.done:
		case <-ctx.Done():
			if t.state.CompareAndSwap(queued, abandoned) {
				return ctx.Err()
			}
			<-t.done // a worker has it: a turn is short
			return ctx.Err()
		case <-p.stopped:
			t.run() // no worker is left: evaluate here, unless done already
			<-t.done
		}
	}
	return nil
}

// siftTask evaluates a replay's filter on a few of its events.
type siftTask struct {
	filter *eventfilter.Filter
	evs    []*eventstore.Event
	pass   []bool
	state  atomic.Int32
	done   chan struct{}
}

// States of a siftTask: waiting, taken by whoever evaluates it, or left
// by a replay that ended meanwhile.
const (
	queued int32 = iota
	taken
	abandoned
)

func (t *siftTask) run() {
	if !t.state.CompareAndSwap(queued, taken) {
		return
	}
	for i, ev := range t.evs {
		t.pass[i] = t.filter.MatchData(ev.Data)
	}
	close(t.done)
}

// queue is a first-in first-out queue.
type queue[T any] struct {
	items []T
	head  int
}

func (q *queue[T]) len() int { return len(q.items) - q.head }

func (q *queue[T]) push(v T) { q.items = append(q.items, v) }

func (q *queue[T]) pop() (T, bool) {
	var zero T
	if q.len() == 0 {
		return zero, false
	}
	v := q.items[q.head]
	q.items[q.head] = zero
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 64 && q.head >= len(q.items)/2:
		// Copy down, so that a queue that never empties does not keep
		// growing its array.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return v, true
}
