package eventstore

import (
	"context"
	"sync"
)

// turns is a counting semaphore whose waiters are served by priority, then
// in the order they came: a scan that is likely to find its id (the rest of
// the near lookup's stretch) goes before the window and full scans that
// unknown ids run, so these, however many, delay it by one chunk at most.
type turns struct {
	mu      sync.Mutex
	free    int
	waiting [2][]chan struct{} // by priority, first first
}

// Priorities of turns.
const (
	soon  = 0 // a scan of at most nearStretch sequences, likely to find its id
	later = 1 // window and full scans
)

func newTurns(n int) *turns { return &turns{free: n} }

// acquire waits for a turn at priority prio, or until ctx ends.
func (t *turns) acquire(ctx context.Context, prio int) error {
	t.mu.Lock()
	if t.free > 0 && len(t.waiting[soon]) == 0 && len(t.waiting[later]) == 0 {
		t.free--
		t.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	t.waiting[prio] = append(t.waiting[prio], ready)
	t.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		t.mu.Lock()
		defer t.mu.Unlock()
		select {
		case <-ready: // granted meanwhile: hand it on
			t.grant()
		default:
			q := t.waiting[prio]
			for i, c := range q {
				if c == ready {
					t.waiting[prio] = append(q[:i:i], q[i+1:]...)
					break
				}
			}
		}
		return ctx.Err()
	}
}

// release ends a turn.
func (t *turns) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.grant()
}

// grant gives a freed turn to the first waiter of the highest priority,
// or keeps it free. t.mu is held.
func (t *turns) grant() {
	for p := range t.waiting {
		if q := t.waiting[p]; len(q) > 0 {
			close(q[0])
			t.waiting[p] = q[1:]
			return
		}
	}
	t.free++
}
