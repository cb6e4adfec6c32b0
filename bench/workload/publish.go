package workload

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/bench/rawjs"
)

// PublishRun is workload 5 for one server: Clients concurrent HTTP
// clients each sending publish mutations back to back for a while.
type PublishRun struct {
	Peer       string  `json:"peer"`
	FSync      string  `json:"fsync,omitempty"` // Rewind's NATS_SYNC
	Clients    int     `json:"clients"`
	Published  int64   `json:"published"`
	Rate       float64 `json:"rate"`
	Latency    Latency `json:"latency"`
	Server     Usage   `json:"server"`
	HarnessCPU float64 `json:"harness_cpu_percent"`
	Err        string  `json:"error,omitempty"`
}

// PublishResult holds every server's run and the raw JetStream floors,
// under each fsync policy.
type PublishResult struct {
	Runs []PublishRun `json:"runs"`
	Raw  []RawPublish `json:"raw"`
	Err  string       `json:"error,omitempty"`
}

// RawPublish is raw JetStream's publish rates under one fsync policy.
type RawPublish struct {
	FSync   string  `json:"fsync"`
	Async   float64 `json:"async_rate"`
	Sync    float64 `json:"sync_rate"`
	SyncP99 float64 `json:"sync_p99_ms"`
}

// Publish runs workload 5 against peer.
func (e *Env) Publish(ctx context.Context, peer, fsync string, clients int, d time.Duration) PublishRun {
	r := PublishRun{Peer: peer, Clients: clients}
	if peer == Rewind {
		r.FSync = fsync
	}
	if err := e.publish(ctx, peer, fsync, clients, d, &r); err != nil {
		r.Err = err.Error()
		e.logf("publish %s: %v", peer, err)
	}
	return r
}

func (e *Env) publish(ctx context.Context, peer, fsync string, clients int, d time.Duration, r *PublishRun) error {
	srv, err := e.start(ctx, peer, "", fsync)
	if err != nil {
		return err
	}
	defer srv.Stop()
	pub := newPublisher(srv.URL, clients)
	defer pub.close()
	// One request first, so that nothing is measured cold.
	if _, err := pub.publishOne(ctx, "publish", 0); err != nil {
		return err
	}
	if e.pprofURL != "" {
		done := e.takeProfile(ctx, d)
		defer func() {
			if err := <-done; err != nil {
				e.logf("profile: %v", err)
			}
		}()
	}
	m, hm := startMeter(srv.PID()), startMeter(0)
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
				if _, err := pub.publishOne(ctx, "publish", n.Load()); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				h.Record(time.Since(t))
				n.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	r.Server, r.HarnessCPU = m.stop(), hm.stop().CPUPercent
	if firstErr != nil {
		return firstErr
	}
	r.Published, r.Rate, r.Latency = n.Load(), float64(n.Load())/el.Seconds(), summarise(lat.Snapshot())
	e.logf("publish %s (fsync %s): %d clients, %.0f events/s, p50 %.2f ms p99 %.2f ms, server CPU %.0f%%, harness CPU %.0f%%", peer, fsync, clients, r.Rate, r.Latency.P50, r.Latency.P99, r.Server.CPUPercent, r.HarnessCPU)
	return nil
}

// RawPublish measures raw JetStream's async publish rate and its sync rate
// from clients goroutines under fsync policy fsync, each in a new folder.
func (e *Env) RawPublish(ctx context.Context, fsync string, clients int, d time.Duration, res *PublishResult) {
	dir := filepath.Join(e.Work, "raw-"+strings.NewReplacer("/", "_").Replace(fsync))
	a, err := rawjs.PublishAsync(ctx, dir+"-async", fsync, d)
	if err != nil {
		res.Err = fmt.Sprintf("raw async publish (fsync %s): %v", fsync, err)
		return
	}
	s, err := rawjs.PublishSync(ctx, dir+"-sync", fsync, clients, d)
	if err != nil {
		res.Err = fmt.Sprintf("raw sync publish (fsync %s): %v", fsync, err)
		return
	}
	res.Raw = append(res.Raw, RawPublish{FSync: fsync, Async: a.Rate, Sync: s.Rate, SyncP99: float64(s.Latency.Quantile(0.99)) / 1e6})
	e.logf("publish raw JetStream (fsync %s): async %.0f events/s, sync x%d %.0f events/s", fsync, a.Rate, clients, s.Rate)
}
