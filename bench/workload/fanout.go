package workload

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rewind-dev/rewind/bench/proc"
)

// FanoutConfig is workload 1: one topic, Subscribers WebSocket connections
// each with one live subscription, publishing over HTTP at rising rates
// until p99 latency passes MaxP99 or an event is lost.
type FanoutConfig struct {
	Subscribers int
	// StartDeliveries is the first step's deliveries/s (rate x subscribers);
	// each next step multiplies it by Factor, for at most Steps steps.
	StartDeliveries float64
	Factor          float64
	Steps           int
	StepTime        time.Duration
	MaxP99          time.Duration
	// Publishers is how many HTTP requests may be in flight at once.
	Publishers int
}

// The typed run's schema: the harness's event data as an @event type. ts
// is an ID because Unix nanoseconds do not fit GraphQL's 32-bit Int.
const (
	typedType   = "bench"
	typedSchema = `"The fan-out benchmark's event."
type BenchEvent @event(topics: "fanout", type: "bench") {
  "Publish time, Unix nanoseconds."
  ts: ID!
  "The publisher's sequence number."
  n: Int!
}
`
	// TypedQuery selects every field of the typed event, data included.
	TypedQuery = `subscription($topics: [String!]) { benchEvent(topics: $topics) { id topic time live data { ts n } } }`
	// FilteredQuery is EventsQuery with a where filter.
	FilteredQuery = `subscription($topics: [String!]!, $where: Filter) { events(topics: $topics, where: $where) { id topic type data time } }`
	// FanoutFilters is how many distinct filters the filtered run spreads
	// its subscribers over.
	FanoutFilters = 10
)

// FanoutStep is one rate.
type FanoutStep struct {
	Rate             float64 `json:"rate"` // events/s asked for
	Published        int64   `json:"published"`
	PublishRate      float64 `json:"publish_rate"`
	Expected         int64   `json:"expected"`
	Delivered        int64   `json:"delivered"`
	Missing          int64   `json:"missing"`
	Duplicates       int64   `json:"duplicates"`
	Unexpected       int64   `json:"unexpected,omitempty"` // deliveries a filter should have dropped
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Latency          Latency `json:"latency"`
	Server           Usage   `json:"server"`
	HarnessCPU       float64 `json:"harness_cpu_percent"`
	Pass             bool    `json:"pass"`
	Why              string  `json:"why,omitempty"`
}

// FanoutRun is one peer at one subscriber count.
type FanoutRun struct {
	Peer        string       `json:"peer"`
	Subscribers int          `json:"subscribers"`
	Round       int          `json:"round"`
	Steps       []FanoutStep `json:"steps"`
	Best        int          `json:"best"` // index of the last (fastest) passing step, -1 if none
	Err         string       `json:"error,omitempty"`
}

// BestStep is the fastest passing step, or the first step if none passed.
func (r *FanoutRun) BestStep() *FanoutStep {
	if len(r.Steps) == 0 {
		return nil
	}
	if r.Best >= 0 {
		return &r.Steps[r.Best]
	}
	return &r.Steps[0]
}

// Fanout runs workload 1 against peer with a fresh server.
func (e *Env) Fanout(ctx context.Context, peer string, cfg FanoutConfig) FanoutRun {
	run := FanoutRun{Peer: peer, Subscribers: cfg.Subscribers, Best: -1}
	if err := e.fanout(ctx, peer, cfg, &run); err != nil {
		run.Err = err.Error()
		e.logf("fan-out %s x%d: %v", peer, cfg.Subscribers, err)
	}
	return run
}

// startFanout starts the server for peer, a Rewind variant with what it
// needs, and says what its subscribers subscribe to and what the
// publisher sends.
func (e *Env) startFanout(ctx context.Context, peer string) (*proc.Server, subscription, *publisher, error) {
	var (
		srv *proc.Server
		sub subscription
		err error
	)
	pub := &publisher{}
	switch peer {
	case RewindTyped:
		file := filepath.Join(e.Work, "bench-schema.graphqls")
		if err := os.WriteFile(file, []byte(typedSchema), 0o644); err != nil {
			return nil, sub, nil, err
		}
		srv, err = e.start(ctx, Rewind, "", e.FSync, "SCHEMA="+file)
		sub.query, pub.typ = TypedQuery, typedType
	case RewindFiltered:
		srv, err = e.start(ctx, Rewind, "", e.FSync)
		sub.query, sub.filters, pub.classes = FilteredQuery, FanoutFilters, FanoutFilters
	default:
		srv, err = e.Start(ctx, peer, "")
	}
	return srv, sub, pub, err
}

func (e *Env) fanout(ctx context.Context, peer string, cfg FanoutConfig, run *FanoutRun) error {
	srv, sub, pub, err := e.startFanout(ctx, peer)
	if err != nil {
		return err
	}
	defer srv.Stop()
	const topic = "fanout"
	p, err := openPoolFor(ctx, e.Dialer, srv.URL, topic, cfg.Subscribers, sub)
	if err != nil {
		return err
	}
	defer p.close()
	pub.init(srv.URL, cfg.Publishers)
	defer pub.close()
	// Deliveries per event: with filters each event reaches a share of the
	// subscribers, so the ramp asks for the same deliveries/s as the
	// unfiltered run by publishing more events.
	perEvent := float64(cfg.Subscribers)
	if sub.filters > 0 {
		perEvent /= float64(sub.filters)
	}

	// Subscriptions start asynchronously: publish until every connection
	// has received an event, then every later event must reach all.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, _, err := pub.paced(ctx, topic, 1, 1000, 1); err != nil {
			return fmt.Errorf("warm-up publish: %w", err)
		}
		ready := 0
		for _, sc := range p.conns {
			sc.mu.Lock()
			if sc.count > 0 {
				ready++
			}
			sc.mu.Unlock()
		}
		if ready == len(p.conns) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d subscriptions received events after 30s", ready, len(p.conns))
		}
		time.Sleep(50 * time.Millisecond)
	}

	if peer == Rewind && e.pprofURL != "" {
		done := e.takeProfile(ctx, 30*time.Second)
		defer func() {
			if err := <-done; err != nil {
				e.logf("profile: %v", err)
			}
		}()
	}
	// The rate rises by Factor per step. The machine is shared, so a step
	// that fails is tried once more before the ramp stops; a first step that
	// fails twice halves the rate (at most three times) to find one that
	// passes.
	deliveries := cfg.StartDeliveries
	retried, lowered := false, 0
	for i := 0; i < cfg.Steps && ctx.Err() == nil; i++ {
		rate := deliveries / perEvent
		count := int64(math.Max(1, math.Round(rate*cfg.StepTime.Seconds())))
		step := e.fanoutStep(ctx, srv.PID(), p, pub, topic, cfg, rate, count)
		run.Steps = append(run.Steps, step)
		e.logf("fan-out %s x%d: %.0f ev/s -> %.0f deliveries/s, p50 %.1f ms p99 %.1f ms, server CPU %.0f%% (%.1f µs/delivery), harness CPU %.0f%% %s",
			peer, cfg.Subscribers, step.PublishRate, step.DeliveriesPerSec, step.Latency.P50, step.Latency.P99,
			step.Server.CPUPercent, step.Server.PerItem(step.Delivered), step.HarnessCPU, passWord(step.Pass, step.Why))
		switch {
		case step.Pass:
			run.Best = len(run.Steps) - 1
			deliveries *= cfg.Factor
			retried = false
		case step.Missing > 0 || step.Duplicates > 0 || step.Unexpected > 0 || strings.HasPrefix(step.Why, "publish failed") || strings.Contains(step.Why, "ended"):
			return nil // not noise: a real failure
		case !retried:
			retried = true
		case run.Best < 0 && lowered < 3:
			lowered++
			retried = false
			deliveries /= 2
		default:
			return nil
		}
	}
	if !srv.Alive() {
		return fmt.Errorf("%s exited during the run", peer)
	}
	return nil
}

func passWord(pass bool, why string) string {
	if pass {
		return "ok"
	}
	return "stop: " + why
}

func (e *Env) fanoutStep(ctx context.Context, pid int, p *pool, pub *publisher, topic string, cfg FanoutConfig, rate float64, count int64) FanoutStep {
	step := FanoutStep{Rate: rate}
	lo := pub.n.Load()
	p.startStep(lo)
	sm, hm := startMeter(pid), startMeter(0)
	start := time.Now()
	_, published, took, err := pub.paced(ctx, topic, count, rate, cfg.Publishers)
	step.Published = published
	step.PublishRate = float64(published) / took.Seconds()
	step.Expected = p.expected(lo, lo+published)
	p.waitDelivered(ctx, step.Expected, 3*time.Second+2*cfg.MaxP99)
	step.Server, step.HarnessCPU = sm.stop(), hm.stop().CPUPercent
	st := p.stats(lo, lo+count, true)
	step.Delivered, step.Missing, step.Duplicates, step.Unexpected = st.delivered, st.missing, st.dups, st.wrong
	if st.last > start.UnixNano() {
		step.DeliveriesPerSec = float64(st.delivered) / time.Duration(st.last-start.UnixNano()).Seconds()
	}
	step.Latency = summarise(st.hist)
	step.Why = st.stopWhy(err, step.Latency.P99, cfg.MaxP99, step.PublishRate, rate)
	step.Pass = step.Why == ""
	return step
}
