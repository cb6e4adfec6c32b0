package eventstore

import (
	"context"
	"testing"
	"time"
)

// TestTurns: a freed turn goes to the first waiter of the highest
// priority; a waiter whose context ends leaves the queue, and a turn
// granted to it as it gave up is handed on, not lost.
func TestTurns(t *testing.T) {
	ctx := context.Background()
	tr := newTurns(1)
	if err := tr.acquire(ctx, later); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 3)
	wait := func(name string, prio int) {
		if err := tr.acquire(ctx, prio); err != nil {
			t.Error(err)
		}
		order <- name
		tr.release()
	}
	queued := func(n int) {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			tr.mu.Lock()
			got := len(tr.waiting[soon]) + len(tr.waiting[later])
			tr.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiters, want %d", got, n)
			}
		}
	}
	go wait("later 1", later)
	queued(1)
	go wait("later 2", later)
	queued(2)
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error)
	go func() { gaveUp <- tr.acquire(cctx, soon) }()
	queued(3)
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a waiter whose context ended got a turn")
	}
	go wait("soon", soon)
	queued(3)
	tr.release()
	for _, want := range []string{"soon", "later 1", "later 2"} {
		if got := <-order; got != want {
			t.Fatalf("turn went to %s, want %s", got, want)
		}
	}
	if err := tr.acquire(ctx, later); err != nil || tr.free != 0 {
		t.Fatalf("after every waiter: %v, %d free; want the one turn", err, tr.free)
	}
}
