package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/bench/wsclient"
)

// MixedConfig is workload 6: Rate events/s spread over Topics while
// Subscribers come and go, each resuming with the id of the last event it
// received (a reconnect storm).
type MixedConfig struct {
	Topics      int
	Subscribers int
	Rate        float64
	Duration    time.Duration
	// A session lasts between MinLife and MaxLife, then the client drops
	// its connection and reconnects after up to MaxPause.
	MinLife, MaxLife, MaxPause time.Duration
}

// MixedResult is workload 6's outcome. Latency counts live events only:
// those published after the session that received them had started.
type MixedResult struct {
	Peer        string      `json:"peer"`            // Rewind or RewindBaseline
	Round       int         `json:"round,omitempty"` // see Env.rounds
	Config      MixedConfig `json:"config"`
	Published   int64       `json:"published"`
	PublishRate float64     `json:"publish_rate"`
	Sessions    int64       `json:"sessions"`
	Deliveries  int64       `json:"deliveries"`
	Replayed    int64       `json:"replayed"`
	Gaps        int64       `json:"gaps"`
	Duplicates  int64       `json:"duplicates"`
	// Errors counts subscriptions the server ended with an error; the
	// client resumed each with its cursor, as a real one would.
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Latency    Latency `json:"latency"`
	// Latency by when the event was published: before the herd, in the
	// HerdWindow after it, and after that.
	BeforeHerd Latency `json:"before_herd"`
	InHerd     Latency `json:"in_herd"`
	AfterHerd  Latency `json:"after_herd"`
	Server     Usage   `json:"server"`
	HarnessCPU float64 `json:"harness_cpu_percent"`
	Err        string  `json:"error,omitempty"`
}

// HerdWindow is how long after the herd reconnect workload 6 counts
// events as published in it.
const HerdWindow = 2 * time.Second

// Mixed runs workload 6 against peer, Rewind or RewindBaseline (the other
// peers cannot resume).
func (e *Env) Mixed(ctx context.Context, peer string, cfg MixedConfig) MixedResult {
	r := MixedResult{Peer: peer, Config: cfg}
	if err := e.mixed(ctx, peer, cfg, &r); err != nil {
		r.Err = err.Error()
		e.logf("mixed %s: %v", peer, err)
	}
	return r
}

// topicState is what the publishers have published on one topic.
type topicState struct {
	last atomic.Int64 // n of the last acknowledged event, -1 for none
}

func (e *Env) mixed(ctx context.Context, peer string, cfg MixedConfig, r *MixedResult) error {
	srv, err := e.Start(ctx, peer, "")
	if err != nil {
		return err
	}
	defer srv.Stop()
	if e.pprofURL != "" {
		done := e.takeProfile(ctx, 10*time.Second)
		defer func() {
			if err := <-done; err != nil {
				e.logf("profile: %v", err)
			}
		}()
	}
	topics := make([]*topicState, cfg.Topics)
	for i := range topics {
		topics[i] = &topicState{}
		topics[i].last.Store(-1)
	}
	topicName := func(i int) string { return "mixed.t" + strconv.Itoa(i) }
	pub := newPublisher(srv.URL, cfg.Topics)
	defer pub.close()
	lat := &metrics.Shared{}
	var phases [3]metrics.Shared // before the herd, in its window, after
	var sessions, deliveries, replayed, gaps, dups, serrs atomic.Int64
	var firstErr atomic.Pointer[string]

	m, hm := startMeter(srv.PID()), startMeter(0)
	pubCtx, stopPub := context.WithTimeout(ctx, cfg.Duration)
	defer stopPub()
	start := time.Now()
	herdAt := start.Add(cfg.Duration / 2).UnixNano()
	// Publishers: one per topic, each waiting for its acknowledgement, so
	// that n is in stream order within a topic.
	pg, pgctx := errgroup.WithContext(pubCtx)
	perTopic := cfg.Rate / float64(cfg.Topics)
	interval := time.Duration(float64(time.Second) / perTopic)
	for i := range cfg.Topics {
		pg.Go(func() error {
			t0 := start.Add(time.Duration(rand.Int64N(int64(interval))))
			for k := int64(0); ; k++ {
				if wait := time.Until(t0.Add(time.Duration(k) * interval)); wait > 0 {
					select {
					case <-time.After(wait):
					case <-pgctx.Done():
						return nil
					}
				}
				if pgctx.Err() != nil {
					return nil
				}
				if _, err := pub.publishOne(ctx, topicName(i), k); err != nil {
					return fmt.Errorf("publish on %s: %w", topicName(i), err)
				}
				topics[i].last.Store(k)
			}
		})
	}

	// Subscribers. A harness failure stops the publishers too.
	sg, sgctx := errgroup.WithContext(ctx)
	context.AfterFunc(sgctx, stopPub)
	var pubDone atomic.Bool
	// Halfway through, every connection drops at once and every client
	// resumes at once with its cursor, while publishing goes on: the herd
	// that follows a server restart or a load balancer's failover.
	herd := make(chan struct{})
	var herdFired atomic.Bool
	herdTimer := time.AfterFunc(cfg.Duration/2, func() {
		herdFired.Store(true)
		e.logf("mixed: every connection drops now")
		close(herd)
	})
	defer herdTimer.Stop()
	for s := range cfg.Subscribers {
		sg.Go(func() error {
			rng := rand.New(rand.NewPCG(uint64(s), 6))
			ti := s % cfg.Topics
			var h metrics.Hist
			var ph [3]metrics.Hist
			defer func() {
				lat.Merge(&h)
				for i := range ph {
					phases[i].Merge(&ph[i])
				}
			}()
			last, lastID := int64(-1), ""
			// Sessions begin spread over a lifetime, as in a steady state.
			select {
			case <-time.After(time.Duration(rng.Int64N(int64(cfg.MaxLife)))):
			case <-sgctx.Done():
				return nil
			}
			finalTries := 0
			for {
				final := pubDone.Load()
				life := cfg.MinLife + time.Duration(rng.Int64N(int64(cfg.MaxLife-cfg.MinLife)+1))
				strict := lastID != "" // the next event must be last+1
				if final {
					if last >= topics[ti].last.Load() {
						return nil
					}
					if finalTries++; finalTries > 10 {
						return fmt.Errorf("subscriber %d: could not read to the end of %s in 10 sessions (last %d of %d)", s, topicName(ti), last, topics[ti].last.Load())
					}
					life = 30 * time.Second // until the topic's last event
					if lastID == "" {
						// Never received anything: read the topic from the start.
						lastID, strict = "00000000000000000000000000", true
					}
				}
				c, err := e.Dialer.Dial(sgctx, srv.URL+"/graphql")
				if err != nil {
					return fmt.Errorf("subscriber %d: %w", s, err)
				}
				sessions.Add(1)
				vars := map[string]any{"topics": []string{topicName(ti)}}
				if lastID != "" {
					vars["after"] = lastID
				}
				began := time.Now().UnixNano()
				if err := c.Subscribe("1", EventsQuery, vars); err != nil {
					c.Close()
					return fmt.Errorf("subscriber %d: %w", s, err)
				}
				var fail error
				timer := time.AfterFunc(life, func() { c.Close() })
				inHerd := !herdFired.Load()
				sessionDone := make(chan struct{})
				if inHerd {
					go func() {
						select {
						case <-herd:
							c.Close()
						case <-sessionDone:
						}
					}()
				}
				runErr := c.Run(func(msg wsclient.Msg) bool {
					switch msg.Kind {
					case wsclient.KindNext:
						now := time.Now().UnixNano()
						ts, n, ok := delivery(msg.Payload)
						id, ok2 := wsclient.Str(msg.Payload, "id")
						if !ok || !ok2 {
							fail = fmt.Errorf("subscriber %d: unexpected result %.200s", s, msg.Payload)
							return false
						}
						deliveries.Add(1)
						switch {
						case strict && n <= last:
							dups.Add(1)
							return true
						case strict && n > last+1:
							gaps.Add(n - last - 1)
						}
						strict = true
						last, lastID = n, string(id)
						if ts >= began {
							h.Record(time.Duration(now - ts))
							phase := 0
							if ts >= herdAt {
								phase = 1
								if ts >= herdAt+int64(HerdWindow) {
									phase = 2
								}
							}
							ph[phase].Record(time.Duration(now - ts))
						} else {
							replayed.Add(1)
						}
						if final && n >= topics[ti].last.Load() {
							return false
						}
					case wsclient.KindError:
						// A real client resumes with its cursor after an error.
						if serrs.Add(1) == 1 {
							txt := fmt.Sprintf("%.300s", msg.Payload)
							firstErr.Store(&txt)
							e.logf("mixed: subscriber %d: first error: %s", s, txt)
						}
						return false
					case wsclient.KindComplete:
						fail = fmt.Errorf("subscriber %d: subscription completed by the server", s)
						return false
					}
					return true
				})
				timer.Stop()
				close(sessionDone)
				c.Close()
				if fail != nil {
					return fail
				}
				if final && last >= topics[ti].last.Load() {
					return nil
				}
				if final && runErr != nil && !errors.Is(runErr, net.ErrClosed) {
					e.logf("mixed: subscriber %d: final session: %v", s, runErr)
				}
				if sgctx.Err() != nil {
					return sgctx.Err()
				}
				if inHerd && herdFired.Load() {
					continue // dropped by the herd: back at once, as every other client
				}
				time.Sleep(time.Duration(rng.Int64N(int64(cfg.MaxPause) + 1)))
			}
		})
	}
	perr := pg.Wait()
	took := time.Since(start)
	pubDone.Store(true)
	serr := sg.Wait()
	r.Server, r.HarnessCPU = m.stop(), hm.stop().CPUPercent
	for _, t := range topics {
		r.Published += t.last.Load() + 1
	}
	r.PublishRate = float64(r.Published) / took.Seconds()
	r.Sessions, r.Deliveries, r.Replayed = sessions.Load(), deliveries.Load(), replayed.Load()
	r.Gaps, r.Duplicates, r.Errors = gaps.Load(), dups.Load(), serrs.Load()
	if p := firstErr.Load(); p != nil {
		r.FirstError = *p
	}
	r.Latency = summarise(lat.Snapshot())
	r.BeforeHerd, r.InHerd, r.AfterHerd = summarise(phases[0].Snapshot()), summarise(phases[1].Snapshot()), summarise(phases[2].Snapshot())
	e.logf("mixed %s: %.0f events/s on %d topics, %d subscribers, %d sessions, %d deliveries (%d replayed), live p50 %.1f ms p99 %.1f ms (before the herd %.1f, in it %.1f, after %.1f), server CPU %.0f%%, harness CPU %.0f%%, %d gaps, %d duplicates, %d subscription errors",
		peer, r.PublishRate, cfg.Topics, cfg.Subscribers, r.Sessions, r.Deliveries, r.Replayed, r.Latency.P50, r.Latency.P99, r.BeforeHerd.P99, r.InHerd.P99, r.AfterHerd.P99,
		r.Server.CPUPercent, r.HarnessCPU, r.Gaps, r.Duplicates, r.Errors)
	if perr != nil {
		return perr
	}
	return serr
}
