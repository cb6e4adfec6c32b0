package gqlws

import "time"

// workerLinger is how long a drain worker waits for the next drain before
// it ends: long enough to carry a stream of events from one drain to the
// next, short enough that idle connections soon hold no goroutine.
const workerLinger = time.Second

// workers runs drains on goroutines that outlive one drain. A drain goes
// deeper than a new goroutine's first stack (rendering, metrics, the
// socket's write), so a goroutine per drain grew its stack each time:
// copying it cost as much CPU as rendering the results. A worker keeps
// the stack it grew. A drain never waits for a worker (one that blocks
// on a slow socket must not hold up others): with none idle, it gets a
// goroutine of its own, which then serves as a worker too. A worker ends
// when no drain came for workerLinger, so an idle transport holds none.
type workers struct {
	idle chan func() // unbuffered: a send succeeds only to a worker waiting
}

func newWorkers() *workers { return &workers{idle: make(chan func())} }

// run runs f on an idle worker, or on a new one.
func (w *workers) run(f func()) {
	select {
	case w.idle <- f:
	default:
		go w.work(f)
	}
}

func (w *workers) work(f func()) {
	linger := time.NewTimer(workerLinger)
	defer linger.Stop()
	for {
		f()
		f = nil // what the drain holds is not kept while the worker waits
		linger.Reset(workerLinger)
		select {
		case f = <-w.idle:
		case <-linger.C:
			return
		}
	}
}
