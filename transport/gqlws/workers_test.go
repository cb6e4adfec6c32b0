package gqlws

import (
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestWorkers: a worker takes drain after drain; a drain that blocks
// holds up no other; and the workers end once idle.
func TestWorkers(t *testing.T) {
	w := newWorkers()
	ran := map[string]bool{} // the goroutines the drains ran on
	drain := func(done chan struct{}) func() {
		return func() {
			ran[goroutineID()] = true
			close(done)
		}
	}
	done := make(chan struct{})
	w.run(drain(done))
	<-done
	for range 100 {
		// Once idle, the worker that ran the first drain takes the next.
		done := make(chan struct{})
		deadline := time.Now().Add(10 * time.Second)
		for taken := false; !taken; {
			select {
			case w.idle <- drain(done):
				taken = true
			default:
				if time.Now().After(deadline) {
					t.Fatal("no worker waits for drains after one drain")
				}
				runtime.Gosched()
			}
		}
		<-done
	}
	if len(ran) != 1 {
		t.Fatalf("101 drains one after another ran on %d goroutines, want 1", len(ran))
	}

	blocked, release := make(chan struct{}), make(chan struct{})
	w.run(func() { close(blocked); <-release })
	<-blocked
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		w.run(wg.Done)
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("drains waited for a blocked one")
	}
	close(release)

	testenv.Eventually(t, 10*time.Second, "idle workers to end", func() bool {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		return !strings.Contains(b.String(), "gqlws.(*workers).work")
	})
}

// goroutineID is the calling goroutine's number, from its stack's first
// line ("goroutine 7 [running]:").
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

// deep uses about n KiB of stack, as a drain does (render, metrics, the
// socket's write).
//
//go:noinline
func deep(n int) byte {
	var pad [1000]byte
	if n == 0 {
		return pad[0]
	}
	pad[n%len(pad)] = byte(n)
	return deep(n-1) + pad[n%len(pad)]
}

// BenchmarkDrainGoroutines compares a goroutine per drain with the
// workers, for drains that use 8 KiB of stack.
func BenchmarkDrainGoroutines(b *testing.B) {
	const stackKiB = 8
	b.Run("goroutine-per-drain", func(b *testing.B) {
		done := make(chan struct{})
		for b.Loop() {
			go func() { deep(stackKiB); done <- struct{}{} }()
			<-done
		}
	})
	b.Run("workers", func(b *testing.B) {
		w := newWorkers()
		done := make(chan struct{})
		for b.Loop() {
			w.run(func() { deep(stackKiB); done <- struct{}{} })
			<-done
		}
	})
}
