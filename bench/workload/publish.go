package workload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/bench/rawjs"
)

// PublishRun is workload 5 for one server: Clients concurrent HTTP
// clients each sending publish mutations back to back for a while (Via
// PerMessage: with group commit off), or, with Batch set, batches of that
// many events (Via: BatchNDJSON or BatchMutation).
type PublishRun struct {
	Peer       string  `json:"peer"`
	FSync      string  `json:"fsync,omitempty"` // Rewind's NATS_SYNC
	Clients    int     `json:"clients"`
	Batch      int     `json:"batch,omitempty"` // events a request; 0: one publish mutation each
	Via        string  `json:"via,omitempty"`
	Published  int64   `json:"published"`
	Rate       float64 `json:"rate"`    // events/s
	Latency    Latency `json:"latency"` // of each request
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

// PublishPerMessage runs workload 5 against Rewind with group commit off
// (GROUP_COMMIT=false): one publish mutation per event, each its own
// JetStream publish, and under fsync always its own fsync. It is the
// per-message rate the batch runs compare with.
func (e *Env) PublishPerMessage(ctx context.Context, fsync string, clients int, d time.Duration) PublishRun {
	r := PublishRun{Peer: Rewind, FSync: fsync, Clients: clients, Via: PerMessage}
	if err := e.publish(ctx, Rewind, fsync, clients, d, &r, "GROUP_COMMIT=false"); err != nil {
		r.Err = err.Error()
		e.logf("publish per message: %v", err)
	}
	return r
}

func (e *Env) publish(ctx context.Context, peer, fsync string, clients int, d time.Duration, r *PublishRun, env ...string) error {
	srv, err := e.start(ctx, peer, "", fsync, env...)
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
	n, el, h, err := publishLoop(ctx, pub, "publish", clients, d)
	r.Server, r.HarnessCPU = m.stop(), hm.stop().CPUPercent
	if err != nil {
		return err
	}
	r.Published, r.Rate, r.Latency = n, float64(n)/el.Seconds(), summarise(h)
	what := peer
	if r.Via != "" {
		what += " " + r.Via
	}
	e.logf("publish %s (fsync %s): %d clients, %.0f events/s, p50 %.2f ms p99 %.2f ms, server CPU %.0f%%, harness CPU %.0f%%", what, fsync, clients, r.Rate, r.Latency.P50, r.Latency.P99, r.Server.CPUPercent, r.HarnessCPU)
	return nil
}

// publishLoop has clients goroutines publish on topic back to back, each
// waiting for its acknowledgement before the next, for d (see closedLoop).
func publishLoop(ctx context.Context, pub *publisher, topic string, clients int, d time.Duration) (int64, time.Duration, *metrics.Hist, error) {
	var seq atomic.Int64
	return closedLoop(ctx, clients, d, func(ctx context.Context) (int64, error) {
		_, err := pub.publishOne(ctx, topic, seq.Add(1)-1)
		return 1, err
	})
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

// How a batch run sends its batches.
const (
	BatchNDJSON   = "POST /publish"
	BatchMutation = "publishBatch"
)

// PublishBatch runs workload 5's batch run against Rewind under fsync:
// clients concurrent HTTP clients each sending batches of size events
// back to back, via BatchNDJSON or BatchMutation, for d. Every event of
// every batch must be stored.
func (e *Env) PublishBatch(ctx context.Context, fsync string, clients, size int, via string, d time.Duration) PublishRun {
	r := PublishRun{Peer: Rewind, FSync: fsync, Clients: clients, Batch: size, Via: via}
	if err := e.publishBatch(ctx, fsync, clients, size, via, d, &r); err != nil {
		r.Err = err.Error()
		e.logf("publish batches of %d %s: %v", size, via, err)
	}
	return r
}

func (e *Env) publishBatch(ctx context.Context, fsync string, clients, size int, via string, d time.Duration, r *PublishRun) error {
	srv, err := e.start(ctx, Rewind, "", fsync)
	if err != nil {
		return err
	}
	defer srv.Stop()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, IdleConnTimeout: time.Minute}
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	var n atomic.Int64
	send := func(ctx context.Context) error {
		lo := n.Add(int64(size)) - int64(size)
		return postBatch(ctx, hc, srv.URL, via, batchBody(via, size, lo))
	}
	// One batch first, so that nothing is measured cold.
	if err := send(ctx); err != nil {
		return err
	}
	m, hm := startMeter(srv.PID()), startMeter(0)
	sent, el, h, err := closedLoop(ctx, clients, d, func(ctx context.Context) (int64, error) { return int64(size), send(ctx) })
	r.Server, r.HarnessCPU = m.stop(), hm.stop().CPUPercent
	if err != nil {
		return err
	}
	r.Published, r.Rate, r.Latency = sent, float64(sent)/el.Seconds(), summarise(h)
	e.logf("publish batches of %d %s (fsync %s): %d clients, %.0f events/s, p50 %.2f ms p99 %.2f ms a batch, server CPU %.0f%%, harness CPU %.0f%%",
		size, via, fsync, clients, r.Rate, r.Latency.P50, r.Latency.P99, r.Server.CPUPercent, r.HarnessCPU)
	return nil
}

// batchBody is a request of size events numbered from lo on topic
// publish: NDJSON lines for POST /publish, or a publishBatch mutation
// selecting each event's sequence.
func batchBody(via string, size int, lo int64) []byte {
	b := make([]byte, 0, size*80+160)
	if via == BatchMutation {
		b = append(b, `{"query":"mutation($evs: [PublishInput!]!) { publishBatch(events: $evs) { sequence } }","variables":{"evs":[`...)
	}
	for i := range size {
		if via == BatchMutation && i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"topic":"publish","data":`...)
		b = append(b, eventData(lo+int64(i))...)
		b = append(b, '}')
		if via == BatchNDJSON {
			b = append(b, '\n')
		}
	}
	if via == BatchMutation {
		b = append(b, `]}}`...)
	}
	return b
}

// postBatch sends a batch and checks that every event of it was stored.
func postBatch(ctx context.Context, hc *http.Client, base, via string, body []byte) error {
	url, ctype := base+"/publish", "application/x-ndjson"
	if via == BatchMutation {
		url, ctype = base+"/graphql", "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("HTTP %s: %.300s", resp.Status, out)
	case via == BatchNDJSON && !bytes.Contains(out, []byte(`"failed":0,`)),
		via == BatchMutation && (bytes.Contains(out, []byte(`"errors"`)) || bytes.Contains(out, []byte(`null`))):
		return fmt.Errorf("events not stored: %.300s", out)
	}
	return nil
}
