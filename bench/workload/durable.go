package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/bench/rawjs"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/natsembed"
)

// Modes of workload 7's runs.
const (
	PerMessage  = "per-message"        // eventstore with group commit disabled
	GroupCommit = "group-commit"       // eventstore as configured by default
	RawSync     = "raw-jetstream-sync" // nats.go synchronous publishes, no eventstore
)

// DurableConfig sizes workload 7.
type DurableConfig struct {
	// Appenders are the concurrencies of the throughput runs; the first is
	// the target's.
	Appenders []int `json:"appenders"`
	// Slice is how long one mode runs before the next takes over.
	Slice time.Duration `json:"slice"`
	// Rounds: at each concurrency the modes take turns this many times,
	// each on its own stream, so that a burst of other work on the
	// machine (or a slow spell of its disk) weighs on all of them alike.
	Rounds int `json:"rounds"`
	// HTTPClients publish over HTTP to Rewind's server with group commit
	// off, then on, for HTTPDuration each; 0 skips this part.
	HTTPClients  int           `json:"http_clients"`
	HTTPDuration time.Duration `json:"http_duration"`
}

// DurableSize is workload 7's size in a quick or a full run.
func DurableSize(quick bool) DurableConfig {
	if quick {
		return DurableConfig{Appenders: []int{64}, Slice: 500 * time.Millisecond, Rounds: 2, HTTPClients: 16, HTTPDuration: time.Second}
	}
	return DurableConfig{Appenders: []int{64, 256, 1024}, Slice: 2 * time.Second, Rounds: 5, HTTPClients: 64, HTTPDuration: 10 * time.Second}
}

// DurableRun is one mode at one concurrency, over all its turns.
type DurableRun struct {
	Mode      string  `json:"mode"`
	Appenders int     `json:"appenders"`
	Events    int64   `json:"events"`
	Seconds   float64 `json:"seconds"`
	Rate      float64 `json:"rate"`
	Latency   Latency `json:"latency"`
	// Batched events were stored by atomic batches, Batches of them.
	Batched int64 `json:"batched,omitempty"`
	Batches int64 `json:"batches,omitempty"`
}

// DurableHTTP is Rewind's server under workload 5's publishers, with group
// commit off or on.
type DurableHTTP struct {
	Mode string `json:"mode"`
	PublishRun
}

// DurableResult is workload 7: Rewind's append path under fsync-always,
// per message and with group commit, in the same run.
type DurableResult struct {
	Config     DurableConfig `json:"config"`
	Throughput []DurableRun  `json:"throughput"`
	Idle       []DurableRun  `json:"idle"` // one appender: the latency of an append at no load
	HTTP       []DurableHTTP `json:"http"`
	Errors     []string      `json:"errors,omitempty"`
}

// Run returns the figures of mode at appenders concurrent appenders.
func (r *DurableResult) Run(mode string, appenders int) *DurableRun {
	for i := range r.Throughput {
		if t := &r.Throughput[i]; t.Mode == mode && t.Appenders == appenders {
			return t
		}
	}
	return nil
}

// Ratio is group commit's rate over per-message's at the target's
// concurrency, 0 if either is missing.
func (r *DurableResult) Ratio() (groupCommit, perMessage *DurableRun, ratio float64) {
	if len(r.Config.Appenders) == 0 {
		return nil, nil, 0
	}
	a := r.Config.Appenders[0]
	g, p := r.Run(GroupCommit, a), r.Run(PerMessage, a)
	if g == nil || p == nil || p.Rate == 0 {
		return g, p, 0
	}
	return g, p, g.Rate / p.Rate
}

// Failures lists errors and modes that stored nothing.
func (r *DurableResult) Failures() []string {
	if r == nil {
		return nil
	}
	out := slices.Clone(r.Errors)
	for _, t := range append(slices.Clone(r.Throughput), r.Idle...) {
		if t.Events == 0 {
			out = append(out, fmt.Sprintf("durable publish %s x%d: nothing stored", t.Mode, t.Appenders))
		}
	}
	for _, h := range r.HTTP {
		if h.Err != "" || h.Published == 0 {
			out = append(out, fmt.Sprintf("durable publish over HTTP, %s: %d published %s", h.Mode, h.Published, h.Err))
		}
	}
	return out
}

// Durable runs workload 7: at each concurrency, then with one appender,
// the modes take turns on their own streams; then Rewind's server over
// HTTP with group commit off and on.
func (e *Env) Durable(ctx context.Context, cfg DurableConfig) DurableResult {
	res := DurableResult{Config: cfg}
	for _, n := range cfg.Appenders {
		runs, err := e.durableTurns(ctx, []string{PerMessage, GroupCommit, RawSync}, n, cfg)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%d appenders: %v", n, err))
		}
		res.Throughput = append(res.Throughput, runs...)
	}
	idle, err := e.durableTurns(ctx, []string{PerMessage, GroupCommit}, 1, cfg)
	if err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("one appender: %v", err))
	}
	res.Idle = idle
	if g, p, ratio := res.Ratio(); ratio > 0 {
		e.logf("durable publish (fsync always) x%d: group commit %.0f vs per message %.0f events/s: %.1fx", g.Appenders, g.Rate, p.Rate, ratio)
	}
	if cfg.HTTPClients == 0 {
		return res
	}
	for _, mode := range []string{PerMessage, GroupCommit} {
		if ctx.Err() != nil {
			return res
		}
		saved := e.RewindEnv
		if mode == PerMessage {
			e.RewindEnv = append(slices.Clone(saved), "GROUP_COMMIT=false")
		}
		pr := e.Publish(ctx, Rewind, "always", cfg.HTTPClients, cfg.HTTPDuration)
		e.RewindEnv = saved
		res.HTTP = append(res.HTTP, DurableHTTP{Mode: mode, PublishRun: pr})
	}
	return res
}

// durableTurns opens a stream for each mode, lets the modes take turns
// appending from n goroutines, then checks that every stream holds
// exactly what was acknowledged.
func (e *Env) durableTurns(ctx context.Context, modes []string, n int, cfg DurableConfig) ([]DurableRun, error) {
	targets := make([]*appendTarget, len(modes))
	defer func() {
		for _, t := range targets {
			if t != nil {
				t.close()
			}
		}
	}()
	for i, mode := range modes {
		e.mu.Lock()
		e.n++
		dir := filepath.Join(e.Work, fmt.Sprintf("durable-%02d-%s", e.n, mode))
		e.mu.Unlock()
		t, err := openTarget(ctx, dir, mode)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", mode, err)
		}
		targets[i] = t
	}
	runs := make([]DurableRun, len(modes))
	hists := make([]metrics.Hist, len(modes))
	for range cfg.Rounds {
		for i, t := range targets {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			events, el, err := t.turn(ctx, n, cfg.Slice, &hists[i])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.mode, err)
			}
			runs[i].Events += events
			runs[i].Seconds += el.Seconds()
		}
	}
	for i, t := range targets {
		r := &runs[i]
		r.Mode, r.Appenders = t.mode, n
		r.Rate, r.Latency = float64(r.Events)/r.Seconds, summarise(&hists[i])
		var err error
		if r.Batched, r.Batches, err = t.check(ctx, r.Events); err != nil {
			return nil, fmt.Errorf("%s: %w", t.mode, err)
		}
		e.logf("durable publish (fsync always) %s x%d: %.0f events/s, p50 %.3f ms, p99 %.3f ms", t.mode, n, r.Rate, r.Latency.P50, r.Latency.P99)
	}
	return runs, nil
}

// appendTarget is one mode's stream on its own embedded JetStream, which
// fsyncs before every acknowledgement.
type appendTarget struct {
	mode  string
	dir   string
	ns    *natsembed.Server
	nc    *nats.Conn
	store *eventstore.Store   // per-message, group-commit
	js    jetstream.JetStream // raw-jetstream-sync
	next  atomic.Int64        // events' numbers
}

func openTarget(ctx context.Context, dir, mode string) (*appendTarget, error) {
	t := &appendTarget{mode: mode, dir: dir}
	ns, err := natsembed.Start(natsembed.Config{DataDir: dir, SyncAlways: true})
	if err != nil {
		return nil, err
	}
	t.ns = ns
	if t.nc, err = ns.Connect(); err != nil {
		t.close()
		return nil, err
	}
	if mode == RawSync {
		if t.js, err = jetstream.New(t.nc); err == nil {
			_, err = t.js.CreateStream(ctx, jetstream.StreamConfig{
				Name: rawjs.Stream, Subjects: []string{rawjs.Subject}, Storage: jetstream.FileStorage,
				Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, Duplicates: 2 * time.Minute,
				MaxMsgs: -1, MaxBytes: -1, MaxMsgSize: 1<<20 + 1024, AllowDirect: true,
			})
		}
	} else {
		t.store, err = eventstore.Open(ctx, t.nc, eventstore.Config{DisableGroupCommit: mode == PerMessage})
	}
	if err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (t *appendTarget) close() {
	if t.nc != nil {
		t.nc.Close()
	}
	t.ns.Shutdown()
	os.RemoveAll(t.dir)
}

// append stores one event and waits for its acknowledgement.
func (t *appendTarget) append(ctx context.Context) error {
	data := eventData(t.next.Add(1))
	if t.store != nil {
		_, err := t.store.Append(ctx, eventstore.Event{Topic: "durable", Type: "message", Data: json.RawMessage(data)})
		return err
	}
	id := nuid.Next()
	_, err := t.js.PublishMsg(ctx, &nats.Msg{
		Subject: "events.durable", Data: data,
		Header: nats.Header{"Rewind-Id": {id}, "Rewind-Type": {"message"}},
	}, jetstream.WithMsgID(id), jetstream.WithExpectStream(rawjs.Stream))
	return err
}

// turn appends from n goroutines for d and returns how many events were
// acknowledged, in how long, recording each append's latency into h.
func (t *appendTarget) turn(ctx context.Context, n int, d time.Duration, h *metrics.Hist) (int64, time.Duration, error) {
	count, el, lat, err := closedLoop(ctx, n, d, func(ctx context.Context) (int64, error) { return 1, t.append(ctx) })
	h.Merge(lat)
	return count, el, err
}

// check verifies that the stream holds exactly the acked events, and
// counts those stored by atomic batches, and the batches, from the
// messages' headers.
func (t *appendTarget) check(ctx context.Context, acked int64) (batched, batches int64, err error) {
	js, err := jetstream.New(t.nc)
	if err != nil {
		return 0, 0, err
	}
	st, err := js.Stream(ctx, rawjs.Stream)
	if err != nil {
		return 0, 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	if info.State.Msgs != uint64(acked) {
		return 0, 0, fmt.Errorf("the stream holds %d events, %d appends were acknowledged", info.State.Msgs, acked)
	}
	cons, err := js.OrderedConsumer(ctx, rawjs.Stream, jetstream.OrderedConsumerConfig{HeadersOnly: true})
	if err != nil {
		return 0, 0, err
	}
	it, err := cons.Messages()
	if err != nil {
		return 0, 0, err
	}
	defer it.Stop()
	last := ""
	for left := info.State.Msgs; left > 0; left-- {
		m, err := it.Next()
		if err != nil {
			return 0, 0, err
		}
		if id := m.Headers().Get("Nats-Batch-Id"); id != "" {
			batched++
			if id != last {
				batches++
			}
			last = id
		}
	}
	return batched, batches, nil
}
