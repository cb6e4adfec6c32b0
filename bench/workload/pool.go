package workload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/bench/wsclient"
)

// pool is a set of WebSocket connections, each with one live
// subscription to one topic, that record every delivery: its latency from
// the publish time in the event, and its number n in a bitset, so that a
// step can be checked exactly for gaps and duplicates.
type pool struct {
	conns  []*subConn
	stepLo atomic.Int64 // deliveries of n >= stepLo count for the step
	noHist bool         // keep each delivery's latency in lastLat only
	wg     sync.WaitGroup
}

// subscription is what each connection of a pool subscribes to.
type subscription struct {
	// query is the subscription document; empty is EventsQuery. Its
	// variables are $topics and, with filters, $where.
	query string
	// filters > 0 gives connection i the filter k == i % filters, on the
	// k that the publisher sets to n % filters.
	filters int
	// noHist keeps no latency histogram per connection, only the last
	// delivery's latency: a histogram grows to its largest latency's
	// bucket, kilobytes, which a hundred thousand connections multiply.
	noHist bool
}

// where is connection i's filter, or nil.
func (s subscription) where(i int) map[string]any {
	if s.filters <= 0 {
		return nil
	}
	return map[string]any{"path": "k", "eq": i % s.filters}
}

type subConn struct {
	p *pool
	c *wsclient.Conn
	// class is the k this connection's filter keeps, of filters classes;
	// filters 0 keeps everything.
	class, filters int64

	mu    sync.Mutex
	hist  metrics.Hist
	seen  bitset
	count int64 // deliveries of this step
	dups  int64
	wrong int64 // deliveries the filter should have dropped
	last  int64 // Unix nanoseconds of the last delivery
	// lastLat is the last delivery's latency in nanoseconds.
	lastLat int64
	ended   string
}

type bitset []uint64

// set sets bit i and reports whether it was already set.
func (b *bitset) set(i int64) bool {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b)+64)...)
	}
	old := (*b)[w]&(1<<(i%64)) != 0
	(*b)[w] |= 1 << (i % 64)
	return old
}

func (b bitset) has(i int64) bool {
	w := int(i / 64)
	return w < len(b) && b[w]&(1<<(i%64)) != 0
}

// wants reports whether event number n passes this connection's filter.
func (sc *subConn) wants(n int64) bool { return sc.filters == 0 || n%sc.filters == sc.class }

// openPool dials n connections (up to 64 at a time) and subscribes each to
// topic, live, with the events subscription.
func openPool(ctx context.Context, d *wsclient.Dialer, url, topic string, n int) (*pool, error) {
	return openPoolFor(ctx, d, url, topic, n, subscription{})
}

// openPoolFor is openPool with the subscription sub.
func openPoolFor(ctx context.Context, d *wsclient.Dialer, url, topic string, n int, sub subscription) (*pool, error) {
	query := sub.query
	if query == "" {
		query = EventsQuery
	}
	p := &pool{conns: make([]*subConn, n), noHist: sub.noHist}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range n {
		g.Go(func() error {
			c, err := d.Dial(gctx, url+"/graphql")
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			sc := &subConn{p: p, c: c}
			vars := map[string]any{"topics": []string{topic}}
			if w := sub.where(i); w != nil {
				vars["where"] = w
				sc.class, sc.filters = int64(i%sub.filters), int64(sub.filters)
			}
			p.conns[i] = sc
			if err := c.Subscribe("1", query, vars); err != nil {
				return fmt.Errorf("subscribe %d: %w", i, err)
			}
			p.wg.Go(func() {
				err := c.Run(sc.handle)
				sc.mu.Lock()
				if sc.ended == "" && err != nil {
					sc.ended = err.Error()
				}
				sc.mu.Unlock()
			})
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (sc *subConn) handle(m wsclient.Msg) bool {
	switch m.Kind {
	case wsclient.KindNext:
		now := time.Now().UnixNano()
		ts, n, ok := delivery(m.Payload)
		sc.mu.Lock()
		defer sc.mu.Unlock()
		if !ok {
			sc.ended = fmt.Sprintf("unexpected result %.200s", m.Payload)
			return false
		}
		if sc.seen.set(n) {
			sc.dups++
		}
		if !sc.wants(n) {
			sc.wrong++
		}
		if n >= sc.p.stepLo.Load() {
			sc.count++
			if !sc.p.noHist {
				sc.hist.Record(time.Duration(now - ts))
			}
		}
		sc.last, sc.lastLat = now, now-ts
	case wsclient.KindError, wsclient.KindComplete:
		sc.mu.Lock()
		defer sc.mu.Unlock()
		sc.ended = fmt.Sprintf("subscription ended: %.200s", m.Payload)
		if m.Kind == wsclient.KindComplete {
			sc.ended = "subscription completed by the server"
		}
		return false
	}
	return true
}

// startStep resets the counters for deliveries of n >= lo.
func (p *pool) startStep(lo int64) {
	p.stepLo.Store(lo)
	for _, sc := range p.conns {
		sc.mu.Lock()
		sc.count = 0
		sc.hist = metrics.Hist{}
		sc.mu.Unlock()
	}
}

// stepStats are a step's totals across the pool.
type stepStats struct {
	delivered, missing, dups int64
	wrong                    int64
	last                     int64
	ended                    int
	firstEnd                 string
	hist                     *metrics.Hist
}

// stopWhy is workload 1's pass rule for a step whose deliveries are st:
// why it stops the ramp, or "" when it passes. err is the publishing's,
// p99 the deliveries' in milliseconds.
func (st stepStats) stopWhy(err error, p99 float64, maxP99 time.Duration, publishRate, rate float64) string {
	switch {
	case err != nil:
		return "publish failed: " + err.Error()
	case st.ended > 0:
		return fmt.Sprintf("%d subscriptions ended (%s)", st.ended, st.firstEnd)
	case st.missing > 0:
		return fmt.Sprintf("%d deliveries missing", st.missing)
	case st.dups > 0:
		return fmt.Sprintf("%d duplicates", st.dups)
	case st.wrong > 0:
		return fmt.Sprintf("%d deliveries the filter should have dropped", st.wrong)
	case p99 > float64(maxP99)/1e6:
		return fmt.Sprintf("p99 %.0f ms over %s", p99, maxP99)
	case publishRate < 0.9*rate:
		return fmt.Sprintf("publishing reached only %.0f of %.0f events/s", publishRate, rate)
	}
	return ""
}

// stats sums the pool's counters; with check it also counts the numbers in
// [lo, hi) some connection lacks.
func (p *pool) stats(lo, hi int64, check bool) stepStats {
	st := stepStats{hist: &metrics.Hist{}}
	for _, sc := range p.conns {
		sc.mu.Lock()
		st.delivered += sc.count
		st.dups += sc.dups
		st.wrong += sc.wrong
		st.last = max(st.last, sc.last)
		if sc.ended != "" {
			st.ended++
			if st.firstEnd == "" {
				st.firstEnd = sc.ended
			}
		}
		if check {
			st.hist.Merge(&sc.hist)
			for n := lo; n < hi; n++ {
				if sc.wants(n) && !sc.seen.has(n) {
					st.missing++
				}
			}
		}
		sc.mu.Unlock()
	}
	return st
}

// expected is how many deliveries of the numbers in [lo, hi) the pool's
// filters let through.
func (p *pool) expected(lo, hi int64) int64 {
	var sum int64
	for _, sc := range p.conns {
		if sc.filters == 0 {
			sum += hi - lo
			continue
		}
		for n := lo; n < hi; n++ {
			if sc.wants(n) {
				sum++
			}
		}
	}
	return sum
}

// waitDelivered waits until want deliveries were counted, a connection
// ended, or timeout passed.
func (p *pool) waitDelivered(ctx context.Context, want int64, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st := p.stats(0, 0, false)
		if st.delivered >= want || st.ended > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *pool) close() {
	for _, sc := range p.conns {
		if sc != nil {
			_ = sc.c.Close()
		}
	}
	p.wg.Wait()
}

// publisher sends publish mutations over HTTP keep-alive connections.
type publisher struct {
	url string
	hc  *http.Client
	n   atomic.Int64 // the next event number
	// typ, if set, is the event type published (a declared @event type for
	// the typed run); classes > 0 adds k = n % classes to the data.
	typ     string
	classes int
}

func newPublisher(url string, conns int) *publisher {
	pb := &publisher{}
	pb.init(url, conns)
	return pb
}

// init points pb at the server at url, with up to conns connections.
func (pb *publisher) init(url string, conns int) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	pb.url, pb.hc = url+"/graphql", &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func (pb *publisher) close() { pb.hc.CloseIdleConnections() }

// publishOne publishes event number n on topic.
func (pb *publisher) publishOne(ctx context.Context, topic string, n int64) ([]byte, error) {
	return wsclient.PostRaw(ctx, pb.hc, pb.url, typedPublishBody(topic, pb.typ, classedData(n, pb.classes)))
}

// paced publishes count events on topic at rate events/s from workers
// goroutines, numbering them from the publisher's counter, and returns the
// first number, how many were published and the time it took. It stops at
// the first error.
func (pb *publisher) paced(ctx context.Context, topic string, count int64, rate float64, workers int) (lo, published int64, took time.Duration, err error) {
	lo = pb.n.Load()
	var next, ok atomic.Int64
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			for {
				k := next.Add(1) - 1
				if k >= count {
					return nil
				}
				if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
					select {
					case <-time.After(wait):
					case <-gctx.Done():
						return nil
					}
				}
				if _, err := pb.publishOne(gctx, topic, lo+k); err != nil {
					return err
				}
				ok.Add(1)
			}
		})
	}
	err = g.Wait()
	pb.n.Add(count)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil {
		err = nil
	}
	return lo, ok.Load(), time.Since(start), err
}
