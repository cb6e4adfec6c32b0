package replay

import (
	"context"
	"slices"
	"sync"
	"testing"
)

// recordTask notes its name when it runs.
type recordTask struct {
	name string
	ran  *[]string
	mu   *sync.Mutex
	done *sync.WaitGroup
}

func (t recordTask) run() {
	t.mu.Lock()
	*t.ran = append(*t.ran, t.name)
	t.mu.Unlock()
	t.done.Done()
}

// TestPoolTakesOwnersInTurn: owners take turns, one task each, and each
// owner's tasks run in the order they came: an owner with a hundred tasks
// waiting delays another's by one task, not a hundred.
func TestPoolTakesOwnersInTurn(t *testing.T) {
	p := newFilterPool()
	p.workers = 1
	var ran []string
	var mu sync.Mutex
	var done sync.WaitGroup
	hog, other := &owner{name: "hog"}, &owner{name: "other"}
	push := func(o *owner, name string) {
		done.Add(1)
		p.push(o, recordTask{name: name, ran: &ran, mu: &mu, done: &done})
	}
	for i := range 100 {
		push(hog, "hog"+string(rune('0'+i%10)))
	}
	push(other, "other1")
	push(other, "other2")
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); p.run(ctx) }()
	done.Wait()
	cancel()
	<-stopped
	if i := slices.Index(ran, "other1"); i != 1 {
		t.Fatalf("the other owner's first task ran %dth: %v", i+1, ran[:5])
	}
	if i := slices.Index(ran, "other2"); i != 3 {
		t.Fatalf("the other owner's second task ran %dth: %v", i+1, ran[:5])
	}
	var hogs []string
	for _, n := range ran {
		if n[0] == 'h' {
			hogs = append(hogs, n)
		}
	}
	for i, n := range hogs {
		if want := "hog" + string(rune('0'+i%10)); n != want {
			t.Fatalf("the hog's task %d is %s, want %s: an owner's tasks run in order", i, n, want)
		}
	}
}

// TestQueue: first in, first out, through the copies that keep its array
// from growing.
func TestQueue(t *testing.T) {
	var q queue[int]
	next, want := 0, 0
	for round := range 50 {
		for range round % 7 * 30 {
			q.push(next)
			next++
		}
		for range round % 5 * 40 {
			v, ok := q.pop()
			if !ok {
				if q.len() != 0 || want != next {
					t.Fatalf("empty queue with %d of %d taken", want, next)
				}
				break
			}
			if v != want {
				t.Fatalf("got %d, want %d", v, want)
			}
			want++
		}
		if q.len() != next-want {
			t.Fatalf("len %d, want %d", q.len(), next-want)
		}
	}
	if cap(q.items) > 4*(next-want)+256 {
		t.Fatalf("array of %d for %d waiting", cap(q.items), next-want)
	}
}
