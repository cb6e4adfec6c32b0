package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
)

// Lag by topic group.
//
// Per-subscription figures are aggregated by the subscription's topic
// group, never exported one series per subscription: a group is the
// first token of its topic patterns, as a pattern ("orders.>" for
// orders.eu.* and orders.>), or ">" when its patterns start differently or
// with a wildcard. The first maxGroups groups seen get series of their
// own, and any later one is counted under "other", so that clients
// choosing topics cannot grow the number of series without bound.

// maxGroups bounds the topic groups with series of their own.
const maxGroups = 64

// otherGroup is where topic groups past maxGroups are counted.
const otherGroup = "other"

type topicGroups struct {
	mu     sync.Mutex
	labels map[string]string // first token -> label
}

// of returns the group of a subscription to topics.
func (g *topicGroups) of(topics []string) string {
	root := ""
	for i, p := range topics {
		r, _, _ := strings.Cut(p, ".")
		if i > 0 && r != root {
			return ">"
		}
		root = r
	}
	if root == "" || root == "*" || root == ">" {
		return ">"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if l, ok := g.labels[root]; ok {
		return l
	}
	if len(g.labels) >= maxGroups {
		return otherGroup
	}
	l := root + ".>"
	g.labels[root] = l
	return l
}

// Subscribed implements replay.Observer: the subscription's series are
// resolved once, here.
func (m *Metrics) Subscribed(sub replay.SubscriptionInfo) replay.SubscriptionObserver {
	g := m.groups.of(sub.Topics)
	return &subscription{
		m:        m,
		live:     m.deliveryLatency.WithLabelValues(g, "live"),
		replayed: m.deliveryLatency.WithLabelValues(g, "replay"),
		caughtUp: m.caughtUp.WithLabelValues(g),
	}
}

type subscription struct {
	m              *Metrics
	live, replayed prometheus.Observer
	caughtUp       prometheus.Observer
}

// Delivered implements replay.SubscriptionObserver: the event's age, from
// its id's time (its append) to now, with its trace id as an exemplar
// when its append was sampled.
func (s *subscription) Delivered(ev *eventstore.Event, replayed bool, now time.Time) {
	o := s.live
	if replayed {
		o = s.replayed
	}
	// From the id, not ev.Time(), whose receiver would copy the event
	// into this frame.
	d := max(now.Sub(ulid.Time(ev.ID.Time())), 0).Seconds()
	if ev.Trace.IsSampled() {
		observeSampled(o, d, ev)
		return
	}
	o.Observe(d)
}

// observeSampled observes d with ev's trace id as an exemplar. It is a
// function of its own, never inlined, so that Delivered's frame stays
// small: deliveries run on short-lived goroutines (a WebSocket's drains),
// and a larger frame made each one grow its stack, some 8% of the
// server's CPU in a fan-out.
//
//go:noinline
func observeSampled(o prometheus.Observer, d float64, ev *eventstore.Event) {
	if eo, ok := o.(prometheus.ExemplarObserver); ok {
		eo.ObserveWithExemplar(d, prometheus.Labels{"trace_id": ev.Trace.TraceID().String()})
		return
	}
	o.Observe(d)
}

// CaughtUp implements replay.SubscriptionObserver.
func (s *subscription) CaughtUp(took time.Duration) { s.caughtUp.Observe(took.Seconds()) }

// Ended implements replay.SubscriptionObserver.
func (s *subscription) Ended(err error) {
	s.m.ends.WithLabelValues(replay.EndReason(err)).Inc()
}

// lagCollector computes, at each scrape, how far behind the hub's head
// the running subscriptions are, by topic group.
type lagCollector struct {
	hub      *replay.Hub
	groups   *topicGroups
	max, sum *prometheus.Desc
	count    *prometheus.Desc
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.max
	ch <- c.sum
	ch <- c.count
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	type agg struct {
		max, sum uint64
		n        int
	}
	by := map[string]*agg{}
	for st := range c.hub.Subscriptions() {
		g := c.groups.of(st.Topics)
		a := by[g]
		if a == nil {
			a = &agg{}
			by[g] = a
		}
		a.max = max(a.max, st.Behind)
		a.sum += st.Behind
		a.n++
	}
	for g, a := range by {
		ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(a.max), g)
		ch <- prometheus.MustNewConstMetric(c.sum, prometheus.GaugeValue, float64(a.sum), g)
		ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(a.n), g)
	}
}

// Probe answers what a scrape asks about this instance's JetStream:
// the stream's last sequence, or why JetStream does not answer; and why
// this instance is not ready (nil: it is), as /readyz decides.
type Probe func(ctx context.Context) (streamLast uint64, unavailable, notReady error)

// probeCollector asks Probe once per scrape.
type probeCollector struct {
	hub                           *replay.Hub
	probe                         Probe
	available, last, behind, read *prometheus.Desc
}

func (c *probeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.available
	ch <- c.last
	ch <- c.behind
	ch <- c.read
}

func (c *probeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	last, unavailable, notReady := c.probe(ctx)
	ch <- prometheus.MustNewConstMetric(c.available, prometheus.GaugeValue, flag(unavailable == nil))
	ch <- prometheus.MustNewConstMetric(c.read, prometheus.GaugeValue, flag(notReady == nil))
	if unavailable != nil {
		return // no figure is better than a wrong one
	}
	ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(last))
	var behind uint64
	if head := c.hub.Head(); last > head {
		behind = last - head
	}
	ch <- prometheus.MustNewConstMetric(c.behind, prometheus.GaugeValue, float64(behind))
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WatchStream exports, asking probe at each scrape, whether JetStream
// answers, whether this instance is ready, the stream's last sequence and
// how far the hub's live tail is behind it.
func (m *Metrics) WatchStream(h *replay.Hub, probe Probe) {
	m.reg.MustRegister(&probeCollector{
		hub:   h,
		probe: probe,
		available: prometheus.NewDesc("rewind_jetstream_available",
			"1 when JetStream answered for the stream at this scrape (and, on a cluster, its leader has a quorum).", nil, nil),
		read: prometheus.NewDesc("rewind_ready",
			"1 when this instance is ready at this scrape, as GET /readyz decides (not draining, JetStream answers, the live tail runs).", nil, nil),
		last: prometheus.NewDesc("rewind_stream_last_sequence",
			"The stream's last sequence at this scrape.", nil, nil),
		behind: prometheus.NewDesc("rewind_tail_lag_events",
			"Stream sequences between the stream's last and the last event this instance's live tail fanned out.", nil, nil),
	})
}

// cursorCodes are the error codes rewind_cursor_errors_total counts from
// responses.
var cursorCodes = map[string]bool{"CURSOR_NOT_FOUND": true, "CURSOR_EXPIRED": true}

// CursorError counts a cursor error with code. A code that is not a code
// (more than 40 bytes, or other than A-Z and _) counts as "OTHER".
func (m *Metrics) CursorError(code string) {
	if !isCode(code) {
		code = "OTHER"
	}
	m.cursorErrors.WithLabelValues(code).Inc()
}

func isCode(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}
