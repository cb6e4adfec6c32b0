package workload

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewind-dev/rewind/bench/metrics"
)

// closedLoop has clients goroutines call op back to back for d, each
// waiting for its call to return before the next, and returns the items
// the calls reported, how long they took, and each call's latency. A
// goroutine stops at its first error; the first error is returned.
func closedLoop(ctx context.Context, clients int, d time.Duration, op func(context.Context) (items int64, err error)) (int64, time.Duration, *metrics.Hist, error) {
	lat := &metrics.Shared{}
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var h metrics.Hist
			defer lat.Merge(&h)
			for time.Since(start) < d && ctx.Err() == nil {
				t := time.Now()
				items, err := op(ctx)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				h.Record(time.Since(t))
				n.Add(items)
			}
		})
	}
	wg.Wait()
	return n.Load(), time.Since(start), lat.Snapshot(), firstErr
}
