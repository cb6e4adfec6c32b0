package gqlws

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestSlotLosesNoWake: however wakes and drains interleave, one drain runs
// at a time and a drain starts after the last wake, so nothing waiting is
// left behind; wakes before the transport drives the slot are kept.
func TestSlotLosesNoWake(t *testing.T) {
	s := slot{workers: newWorkers()}
	var produced, seen atomic.Int64
	var running, overlap atomic.Int32
	produced.Add(1)
	s.Wake() // before drive: must not be lost
	s.drive(func() {
		for {
			s.mu.Lock()
			s.pending = false
			s.mu.Unlock()
			if running.Add(1) > 1 {
				overlap.Add(1)
			}
			seen.Store(produced.Load())
			running.Add(-1)
			if !s.again() {
				return
			}
		}
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 2000 {
				produced.Add(1)
				s.Wake()
			}
		})
	}
	wg.Wait()
	testenv.Eventually(t, 5*time.Second, "a drain after the last wake", func() bool { return seen.Load() == produced.Load() })
	if n := overlap.Load(); n > 0 {
		t.Fatalf("%d drains overlapped", n)
	}
}

// TestSlotKeepsWakeBeforeDrive: events that arrive while the resolver is
// still returning are drained once the transport takes over.
func TestSlotKeepsWakeBeforeDrive(t *testing.T) {
	s := slot{workers: newWorkers()}
	s.Wake()
	ran := make(chan struct{}, 1)
	s.drive(func() {
		ran <- struct{}{}
		s.again()
	})
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("a wake before the transport drove the slot was lost")
	}
}

// TestSlotEnds: what is registered to run at the operation's end runs
// once each, in order for those the slot keeps, however many there are,
// registered before the end or after it.
func TestSlotEnds(t *testing.T) {
	s := slot{workers: newWorkers()}
	life, end := context.WithCancel(t.Context())
	var mu sync.Mutex
	var ran []int
	done := make(chan struct{}, 8)
	register := func(i int) {
		s.onEnd(life, func() {
			mu.Lock()
			ran = append(ran, i)
			mu.Unlock()
			done <- struct{}{}
		})
	}
	for i := range 5 { // more than the slot keeps
		register(i)
	}
	mu.Lock()
	if len(ran) != 0 {
		t.Fatalf("ran %v before the end", ran)
	}
	mu.Unlock()
	end()
	register(5) // after the end: runs at once
	for range 6 {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("ran only %v", ran)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != 6 {
		t.Fatalf("ran %v, want each of 0-5 once", ran)
	}
	seen := map[int]bool{}
	kept := []int{}
	for _, i := range ran {
		if seen[i] {
			t.Fatalf("%d ran twice: %v", i, ran)
		}
		seen[i] = true
		if i < len(s.ends) {
			kept = append(kept, i)
		}
	}
	if !slices.IsSorted(kept) {
		t.Errorf("the slot's own ran out of order: %v", ran)
	}
	select {
	case <-done:
		t.Fatalf("more ran: %v", ran)
	default:
	}
}
