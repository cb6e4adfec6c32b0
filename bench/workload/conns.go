package workload

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ConnsRun is workload 4 for one server: idle WebSocket connections with
// one live subscription each, what they cost the server in memory, and
// how long one event takes to reach them all.
type ConnsRun struct {
	Peer        string `json:"peer"`
	Round       int    `json:"round,omitempty"`
	Connections int    `json:"connections"`
	// Sources is how many loopback source addresses the connections came
	// from (one address has about 28,000 ephemeral ports).
	Sources     int     `json:"sources"`
	RSSBefore   int64   `json:"rss_before"`
	RSSAfter    int64   `json:"rss_after"`
	PerConn     float64 `json:"rss_per_connection"` // bytes
	ConnectTime float64 `json:"connect_seconds"`
	// Runtime is the server's Go runtime before and after, from its
	// /metrics (Rewind's); zero for a server without them.
	Runtime *RuntimeDelta `json:"runtime,omitempty"`
	// Settle is how long, after every subscription had an event, the
	// server's goroutines took to settle (see settle; a server with
	// runtime figures only): memory is read then, when the connections
	// are idle.
	Settle float64 `json:"settle_seconds,omitempty"`
	// Fanout is one event at a time to every connection.
	Fanout *ConnsFanout `json:"fanout,omitempty"`
	Err    string       `json:"error,omitempty"`
}

// RuntimeDelta is what the server's Go runtime reported before and after
// the connections were opened.
type RuntimeDelta struct {
	Before, After Runtime
}

// Runtime is a Go server's heap, goroutine stacks and goroutines, as its
// Prometheus Go collector reports them.
type Runtime struct {
	HeapInuse  int64 `json:"heap_inuse_bytes"`
	StackInuse int64 `json:"stack_inuse_bytes"`
	Goroutines int64 `json:"goroutines"`
}

// PerConn is the growth per connection of heap, stacks and goroutines.
func (d *RuntimeDelta) PerConn(n int) (heap, stack, goroutines float64) {
	f := float64(n)
	return float64(d.After.HeapInuse-d.Before.HeapInuse) / f,
		float64(d.After.StackInuse-d.Before.StackInuse) / f,
		float64(d.After.Goroutines-d.Before.Goroutines) / f
}

// ConnsFanout is the time from publishing one event (the publish time in
// its data) until it reached every connection, over Events events
// published one at a time, and each delivery's latency.
type ConnsFanout struct {
	Events int `json:"events"`
	// ToAll is the median over the events of the time until the last
	// connection had it; ToAllMax the slowest event's.
	ToAll    float64 `json:"to_all_ms"`
	ToAllMax float64 `json:"to_all_max_ms"`
	// P50 and P99 are over every delivery of every event.
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
}

// connsFanoutEvents is how many events measure the fan-out.
const connsFanoutEvents = 5

// fileMargin is what a server or the harness needs open besides the
// connections of workload 4 (its listeners, NATS, the publisher).
const fileMargin = 1024

// Conns runs workload 4 against peer.
func (e *Env) Conns(ctx context.Context, peer string, n int) ConnsRun {
	r := ConnsRun{Peer: peer, Connections: n, Sources: len(e.Dialer.LocalAddrs)}
	if err := e.conns(ctx, peer, n, &r); err != nil {
		r.Err = err.Error()
		e.logf("connections %s: %v", peer, err)
	}
	return r
}

// FileLimit reports why n connections cannot be measured here, if they
// cannot: each is an open file in the harness and one in the server, which
// inherits the harness's limit.
func FileLimit(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || uint64(n+fileMargin) <= lim.Cur {
		return nil
	}
	return fmt.Errorf("%d connections need %d open files in the harness and the server; the limit here is %d (ulimit -Hn; raising it needs CAP_SYS_RESOURCE)",
		n, n+fileMargin, lim.Cur)
}

func (e *Env) conns(ctx context.Context, peer string, n int, r *ConnsRun) error {
	if err := FileLimit(n); err != nil {
		return err
	}
	srv, err := e.Start(ctx, peer, "")
	if err != nil {
		return err
	}
	defer srv.Stop()
	const topic = "idle"
	pub := newPublisher(srv.URL, 1)
	defer pub.close()
	// A first connection and delivery warm every code path up, so that
	// the baseline holds what does not grow with connections.
	warm, err := openPool(ctx, e.Dialer, srv.URL, topic, 1)
	if err != nil {
		return err
	}
	defer warm.close()
	if err := deliverToAll(ctx, pub, topic, warm); err != nil {
		return err
	}
	before, err := srv.Usage()
	if err != nil {
		return err
	}
	rtBefore, rtErr := scrapeRuntime(ctx, srv.URL)
	start := time.Now()
	p, err := openPoolFor(ctx, e.Dialer, srv.URL, topic, n, subscription{noHist: true})
	if err != nil {
		return err
	}
	defer p.close()
	r.ConnectTime = time.Since(start).Seconds()
	if err := deliverToAll(ctx, pub, topic, p); err != nil {
		return err
	}
	if rtErr == nil {
		// Idle means the delivery is over: a Go server's goroutines that
		// wrote it (Rewind's drain workers linger for a second) end first.
		r.Settle = settle(ctx, srv.URL, rtBefore.Goroutines, n)
	}
	after, err := srv.Usage()
	if err != nil {
		return err
	}
	if rtErr == nil {
		if rtAfter, err := scrapeRuntime(ctx, srv.URL); err == nil {
			r.Runtime = &RuntimeDelta{Before: rtBefore, After: rtAfter}
		}
	}
	if isRewind(peer) && e.pprofURL != "" {
		for _, name := range []string{"heap", "goroutine"} {
			if err := e.fetchProfile(ctx, name); err != nil {
				e.logf("profile: %v", err)
			}
		}
		e.profileFile, e.pprofURL = "", ""
	}
	r.RSSBefore, r.RSSAfter = before.RSS, after.RSS
	r.PerConn = float64(after.RSS-before.RSS) / float64(n)
	f, err := connsFanout(ctx, pub, topic, p, connsFanoutEvents)
	if err != nil {
		return err
	}
	r.Fanout = f
	e.logf("connections %s: %d in %.1f s from %d addresses, settled after %.1f s, RSS %d -> %d MiB, %.1f KiB per connection; one event to all in %.0f ms (p99 %.0f ms)",
		peer, n, r.ConnectTime, r.Sources, r.Settle, before.RSS>>20, after.RSS>>20, r.PerConn/1024, f.ToAll, f.P99)
	return nil
}

// connsFanout publishes events one at a time, each once every connection
// of p has the one before, and measures how long each took to reach them
// all.
func connsFanout(ctx context.Context, pub *publisher, topic string, p *pool, events int) (*ConnsFanout, error) {
	var toAll []float64
	lats := make([]float64, 0, events*len(p.conns))
	for range events {
		p.startStep(pub.n.Load())
		if _, _, _, err := pub.paced(ctx, topic, 1, 1000, 1); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			st := p.stats(0, 0, false)
			if st.delivered >= int64(len(p.conns)) {
				break
			}
			if st.ended > 0 {
				return nil, fmt.Errorf("%d subscriptions ended during the fan-out (first: %s)", st.ended, st.firstEnd)
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, fmt.Errorf("%d of %d subscriptions did not receive an event within 60 s", int64(len(p.conns))-st.delivered, len(p.conns))
			}
			time.Sleep(5 * time.Millisecond)
		}
		slowest := 0.0
		for _, sc := range p.conns {
			sc.mu.Lock()
			ms := float64(sc.lastLat) / 1e6
			sc.mu.Unlock()
			lats = append(lats, ms)
			slowest = max(slowest, ms)
		}
		toAll = append(toAll, slowest)
	}
	slices.Sort(toAll)
	slices.Sort(lats)
	q := func(v []float64, f float64) float64 { return v[min(len(v)-1, int(f*float64(len(v))))] }
	return &ConnsFanout{Events: events, ToAll: q(toAll, 0.5), ToAllMax: toAll[len(toAll)-1], P50: q(lats, 0.5), P99: q(lats, 0.99)}, nil
}

// settledConns: a server has settled when it holds fewer goroutines than
// one per this many connections above its count before them.
const settledConns = 100

// settleStill: a server whose goroutines did not fall for this long has
// settled too, at what its connections hold (a goroutine each, for some).
const settleStill = 2 * time.Second

// settle waits until the server at url holds fewer than n/settledConns
// goroutines more than before, or its count stopped falling for
// settleStill, and returns the seconds it waited.
func settle(ctx context.Context, url string, before int64, n int) float64 {
	start := time.Now()
	lowest, fell := int64(-1), start
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		rt, err := scrapeRuntime(ctx, url)
		if err != nil || rt.Goroutines-before < int64(n/settledConns) {
			break
		}
		if lowest < 0 || rt.Goroutines < lowest {
			lowest, fell = rt.Goroutines, time.Now()
		}
		if time.Since(fell) >= settleStill {
			break
		}
		select {
		case <-ctx.Done():
			return time.Since(start).Seconds()
		case <-tick.C:
		}
	}
	return time.Since(start).Seconds()
}

// scrapeRuntime reads the Go collector's figures from the server's
// /metrics.
func scrapeRuntime(ctx context.Context, url string) (Runtime, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return Runtime{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Runtime{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Runtime{}, fmt.Errorf("/metrics: %s", resp.Status)
	}
	var rt Runtime
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "go_memstats_heap_inuse_bytes":
			dst = &rt.HeapInuse
		case "go_memstats_stack_inuse_bytes":
			dst = &rt.StackInuse
		case "go_goroutines":
			dst = &rt.Goroutines
		default:
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return Runtime{}, fmt.Errorf("/metrics %s: %w", name, err)
		}
		*dst = int64(v)
		found++
	}
	if err := sc.Err(); err != nil {
		return Runtime{}, err
	}
	if found < 3 {
		return Runtime{}, fmt.Errorf("/metrics: no Go runtime figures")
	}
	return rt, nil
}

// deliverToAll publishes until every connection of p has received an
// event: proof that every subscription is live.
func deliverToAll(ctx context.Context, pub *publisher, topic string, p *pool) error {
	// Connections are served in the order they came; the more there are,
	// the longer the last one may wait for its first event.
	limit := 60*time.Second + time.Duration(len(p.conns))*time.Millisecond
	deadline := time.Now().Add(limit)
	for {
		if _, _, _, err := pub.paced(ctx, topic, 1, 1000, 1); err != nil {
			return err
		}
		missing := 0
		wait := time.Now().Add(2 * time.Second)
		for {
			missing = 0
			for _, sc := range p.conns {
				sc.mu.Lock()
				if sc.count == 0 {
					missing++
				}
				sc.mu.Unlock()
			}
			if missing == 0 || time.Now().After(wait) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d subscriptions received nothing within %s", missing, len(p.conns), limit.Round(time.Second))
		}
	}
}
