package workload

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/bench/rawjs"
	"github.com/rewind-dev/rewind/bench/wsclient"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/natsembed"
)

// replayTopic holds the stored events of workloads 2 and 3.
const replayTopic = "replay"

// stored is one event of the filled stream.
type stored struct {
	id  ulid.ULID
	seq uint64
	n   int64
}

// Dataset is a data folder holding a stream filled by two writers.
type Dataset struct {
	Dir      string
	Events   []stored // in stream order
	FillRate float64
}

// Fill writes n events on one topic into a new Rewind stream in dir,
// through Rewind's own eventstore from two concurrent writers (two stores,
// each with its own id generator), pipelined in batches. It fsyncs at an
// interval (and at shutdown): how the events got to disk does not matter
// to the reads that follow.
func Fill(ctx context.Context, dir string, n int) (*Dataset, error) {
	ns, err := natsembed.Start(natsembed.Config{DataDir: dir, SyncInterval: 2 * time.Minute})
	if err != nil {
		return nil, err
	}
	defer ns.Shutdown()
	ds := &Dataset{Dir: dir, Events: make([]stored, 0, n)}
	var mu sync.Mutex
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for w := range 2 {
		g.Go(func() error {
			nc, err := ns.Connect()
			if err != nil {
				return err
			}
			defer nc.Close()
			store, err := eventstore.Open(gctx, nc, eventstore.Config{})
			if err != nil {
				return err
			}
			// Writer w numbers its events w, w+2, w+4, ...
			for k := int64(w); k < int64(n); {
				batch := make([]eventstore.Event, 0, 2000)
				for ; k < int64(n) && len(batch) < cap(batch); k += 2 {
					batch = append(batch, eventstore.Event{Topic: replayTopic, Type: "message", Data: json.RawMessage(eventData(k))})
				}
				got, err := store.AppendBatch(gctx, batch)
				if err != nil {
					return err
				}
				mu.Lock()
				for _, ev := range got {
					num, _ := wsclient.Int(ev.Data, "n")
					ds.Events = append(ds.Events, stored{id: ev.ID, seq: ev.Seq, n: num})
				}
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	ds.FillRate = float64(n) / time.Since(start).Seconds()
	slices.SortFunc(ds.Events, func(a, b stored) int { return cmp.Compare(a.seq, b.seq) })
	return ds, nil
}

// ReplayResult is workload 2: one subscriber from the zero ULID reading
// every stored event, against the raw ordered-consumer read.
type ReplayResult struct {
	Events     int     `json:"events"`
	FillRate   float64 `json:"fill_rate"`
	Rewind     float64 `json:"rewind_events_per_sec"`
	RewindTime float64 `json:"rewind_seconds"`
	Raw        float64 `json:"raw_events_per_sec"`
	RawTime    float64 `json:"raw_seconds"`
	Server     Usage   `json:"server"`
	Missing    int64   `json:"missing"`
	Duplicates int64   `json:"duplicates"`
	Err        string  `json:"error,omitempty"`
}

// Replay runs workload 2 on ds.
func (e *Env) Replay(ctx context.Context, ds *Dataset) ReplayResult {
	r := ReplayResult{Events: len(ds.Events), FillRate: ds.FillRate}
	if err := e.replay(ctx, ds, &r); err != nil {
		r.Err = err.Error()
		e.logf("replay: %v", err)
	}
	return r
}

func (e *Env) replay(ctx context.Context, ds *Dataset, r *ReplayResult) error {
	raw, err := rawjs.Read(ctx, ds.Dir, int64(len(ds.Events)))
	if err != nil {
		return fmt.Errorf("raw read: %w", err)
	}
	r.Raw, r.RawTime = raw.Rate, raw.Elapsed.Seconds()
	e.logf("replay: raw JetStream ordered consumer %.0f events/s", r.Raw)

	srv, err := e.Start(ctx, Rewind, ds.Dir)
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
	c, err := e.Dialer.Dial(ctx, srv.URL+"/graphql")
	if err != nil {
		return err
	}
	defer c.Close()
	want := int64(len(ds.Events))
	var seen bitset
	var got, dups int64
	var fail string
	m := startMeter(srv.PID())
	start := time.Now()
	if err := c.Subscribe("1", EventsQuery, map[string]any{"topics": []string{replayTopic}, "after": "00000000000000000000000000"}); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Run(func(msg wsclient.Msg) bool {
			switch msg.Kind {
			case wsclient.KindNext:
				n, ok := wsclient.Int(msg.Payload, "n")
				if !ok {
					fail = fmt.Sprintf("unexpected result %.200s", msg.Payload)
					return false
				}
				if seen.set(n) {
					dups++
				}
				got++
				return got < want
			case wsclient.KindError, wsclient.KindComplete:
				fail = fmt.Sprintf("subscription ended after %d events: %.200s", got, msg.Payload)
				return false
			}
			return true
		})
	}()
	limit := 10 * time.Minute
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-time.After(limit):
		c.Close()
		<-done
		return fmt.Errorf("replay: %d of %d events after %s", got, want, limit)
	case <-ctx.Done():
		c.Close()
		<-done
		return ctx.Err()
	}
	el := time.Since(start)
	r.Server = m.stop()
	if fail != "" {
		return fmt.Errorf("replay: %s", fail)
	}
	r.Rewind, r.RewindTime = float64(got)/el.Seconds(), el.Seconds()
	for n := range want {
		if !seen.has(n) {
			r.Missing++
		}
	}
	r.Duplicates = dups
	e.logf("replay: Rewind %.0f events/s (%.2f of raw), %.1f µs CPU per event, %d missing, %d duplicates", r.Rewind, r.Rewind/r.Raw, r.Server.PerItem(want), r.Missing, r.Duplicates)
	return nil
}

// CursorResult is workload 3: subscriptions from random cursors into the
// stream, each on a freshly started server (nothing cached), timed from
// the subscribe message to the first replayed event.
type CursorResult struct {
	Peer    string  `json:"peer"`            // Rewind or RewindBaseline
	Round   int     `json:"round,omitempty"` // see Env.rounds
	Events  int     `json:"events"`
	Cursors int     `json:"cursors"`
	Latency Latency `json:"latency"`
	Wrong   int     `json:"wrong_first_event"`
	Err     string  `json:"error,omitempty"`
}

// Cursor runs workload 3 on ds with k random cursors against peer (Rewind
// or RewindBaseline). Every run draws the same cursors.
func (e *Env) Cursor(ctx context.Context, peer string, ds *Dataset, k int) CursorResult {
	r := CursorResult{Peer: peer, Events: len(ds.Events), Cursors: k}
	if err := e.cursor(ctx, peer, ds, k, &r); err != nil {
		r.Err = err.Error()
		e.logf("cursor %s: %v", peer, err)
	}
	return r
}

func (e *Env) cursor(ctx context.Context, peer string, ds *Dataset, k int, r *CursorResult) error {
	srv, err := e.Start(ctx, peer, ds.Dir)
	if err != nil {
		return err
	}
	defer srv.Stop()
	if e.pprofURL != "" {
		done := e.takeProfile(ctx, 5*time.Second)
		defer func() {
			if err := <-done; err != nil {
				e.logf("profile: %v", err)
			}
		}()
	}
	c, err := e.Dialer.Dial(ctx, srv.URL+"/graphql")
	if err != nil {
		return err
	}
	defer c.Close()
	// The reader hands over the first result of the operation being timed
	// and drops the rest, including results of operations being completed.
	var mu sync.Mutex
	current, firstc := "", make(chan []byte, 1)
	ended := make(chan error, 1)
	go func() {
		ended <- c.Run(func(m wsclient.Msg) bool {
			if m.Kind != wsclient.KindNext && m.Kind != wsclient.KindError {
				return true
			}
			mu.Lock()
			defer mu.Unlock()
			if current != "" && string(m.ID) == current {
				current = ""
				firstc <- append([]byte(nil), m.Payload...)
			}
			return true
		})
	}()
	rng := rand.New(rand.NewPCG(uint64(len(ds.Events)), 3))
	var h metrics.Hist
	for i := range k {
		j := rng.IntN(len(ds.Events) - 1)
		cur, next := ds.Events[j], ds.Events[j+1]
		op := "c" + strconv.Itoa(i)
		mu.Lock()
		current = op
		mu.Unlock()
		start := time.Now()
		if err := c.Subscribe(op, EventsQuery, map[string]any{"topics": []string{replayTopic}, "after": cur.id.String()}); err != nil {
			return err
		}
		var first []byte
		select {
		case first = <-firstc:
		case err := <-ended:
			return fmt.Errorf("connection ended: %v", err)
		case <-time.After(30 * time.Second):
			return fmt.Errorf("cursor %d: no event within 30s", i)
		case <-ctx.Done():
			return ctx.Err()
		}
		h.Record(time.Since(start))
		if n, ok := wsclient.Int(first, "n"); !ok || n != next.n {
			r.Wrong++
			e.logf("cursor %d: first event %.200s, want n=%d", i, first, next.n)
		}
		if err := c.Complete(op); err != nil {
			return err
		}
	}
	r.Latency = summarise(&h)
	e.logf("cursor %s: %d cursors, time to first event p50 %.1f ms p99 %.1f ms max %.1f ms", peer, k, r.Latency.P50, r.Latency.P99, r.Latency.Max)
	return nil
}
