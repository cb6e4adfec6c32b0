// Package metrics exposes Rewind's Prometheus metrics: connections and
// subscriptions by protocol, deliveries, replays and their lag, slow
// consumers, publish latency and NATS reconnects. Everything registers on
// the registry it is given; hot paths only touch pre-labelled atomics,
// never a lock of their own.
package metrics

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/deliver"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
)

// Protocols, as the protocol label has them.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws"
	SSE         = "graphql-sse"
	HTTP        = "http"
)

// Metrics holds the collectors. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	connections      *prometheus.GaugeVec
	connectionsTotal *prometheus.CounterVec
	subscriptions    *prometheus.GaugeVec
	subsTotal        *prometheus.CounterVec
	deliveries       *prometheus.CounterVec
	publish          *prometheus.HistogramVec

	replayEvents  prometheus.Counter
	replayPerSub  prometheus.Histogram
	replayTook    prometheus.Histogram
	replayMemory  prometheus.Counter
	catchingUp    prometheus.Gauge
	replayLag     prometheus.Histogram
	liveDelay     prometheus.Histogram
	overflows     prometheus.Counter
	slowConsumers prometheus.Counter
	tailRestarts  prometheus.Counter
	filterEvals   prometheus.Counter
	filterFull    prometheus.Counter
	filterRefused prometheus.Counter

	groups          *topicGroups
	deliveryLatency *prometheus.HistogramVec
	caughtUp        *prometheus.HistogramVec
	ends            *prometheus.CounterVec
	cursorErrors    *prometheus.CounterVec
}

var _ replay.Observer = (*Metrics)(nil)

// New registers Rewind's collectors, and Go's runtime and process ones, on
// reg.
func New(reg *prometheus.Registry) *Metrics {
	f := factory{reg}
	protocol := []string{"protocol"}
	m := &Metrics{
		reg: reg,
		connections: f.gaugeVec("rewind_connections",
			"Open long-lived connections: WebSockets by subprotocol, SSE streams.", protocol),
		connectionsTotal: f.counterVec("rewind_connections_total",
			"Long-lived connections opened: WebSockets by subprotocol, SSE streams.", protocol),
		subscriptions: f.gaugeVec("rewind_subscriptions",
			"Running GraphQL subscriptions by protocol.", protocol),
		subsTotal: f.counterVec("rewind_subscriptions_total",
			"GraphQL subscriptions started, by protocol.", protocol),
		deliveries: f.counterVec("rewind_deliveries_total",
			"Subscription results sent to clients (one per event), by protocol.", protocol),
		publish: f.histogramVec("rewind_publish_duration_seconds",
			"Time to append an event, from the request to JetStream's acknowledgement, by API and result.",
			prometheus.ExponentialBuckets(0.0005, 2, 15), []string{"api", "result"}),
		replayEvents: f.counter("rewind_replay_events_total",
			"Events subscriptions delivered from storage (replays and catch-ups) rather than from the live tail."),
		replayLag: f.histogram("rewind_replay_lag_events",
			"How far behind the live tail a subscription was when it started reading storage, in stream sequences.",
			prometheus.ExponentialBuckets(1, 4, 12)),
		replayPerSub: f.histogram("rewind_replay_events",
			"Events one replay or catch-up delivered before its subscription followed the live tail again.",
			prometheus.ExponentialBuckets(1, 4, 12)),
		replayTook: f.histogram("rewind_replay_duration_seconds",
			"Time one replay or catch-up took, from its first storage read to meeting the live tail.",
			prometheus.ExponentialBuckets(0.001, 4, 12)),
		replayMemory: f.counter("rewind_replay_memory_events_total",
			"Replayed events served from the hub's window of recent events: storage reads saved by sharing."),
		catchingUp: f.gauge("rewind_subscriptions_catching_up",
			"Subscriptions reading stored events to catch up now."),
		liveDelay: f.histogram("rewind_live_delay_seconds",
			"Time from an event's id (its append) to this instance's live tail fanning it out.",
			prometheus.ExponentialBuckets(0.0005, 2, 16)),
		overflows: f.counter("rewind_live_overflows_total",
			"Subscribers whose live buffer filled, sent back to catch up from storage."),
		slowConsumers: f.counter("rewind_slow_consumer_disconnects_total",
			"Subscriptions ended because their client took no event within the stall timeout (SLOW_CONSUMER)."),
		tailRestarts: f.counter("rewind_tail_restarts_total",
			"Restarts of the live tail after JetStream failed or the tail stalled."),
		filterEvals: f.counter("rewind_filter_evaluations_total",
			"Evaluations of live subscriptions' where filters on the hub's filter workers: one per distinct filter of a principal per event, however many subscribers share it."),
		filterFull: f.counter("rewind_filter_overflows_total",
			"Live events a filter's queue had no room for (it was 512 events behind): its subscribers went back to catch up from storage."),
		filterRefused: f.counter("rewind_filter_budget_refusals_total",
			"Subscriptions refused because their filter would take the principal's filters past --max-filter-cost."),

		groups: &topicGroups{labels: map[string]string{}},
		deliveryLatency: f.histogramVec("rewind_delivery_latency_seconds",
			"Time from an event's append (its id's time) to a subscription's transport taking it, by topic group and source (live: after the subscription caught up; replay: read back before). Exemplars carry the trace id of sampled appends.",
			prometheus.ExponentialBuckets(0.0005, 4, 14), []string{"topics", "source"}),
		caughtUp: f.histogramVec("rewind_subscription_catch_up_seconds",
			"Time from a subscription's start to its first meeting the live tail (start point, replay and catch-up), by topic group.",
			prometheus.ExponentialBuckets(0.001, 4, 12), []string{"topics"}),
		ends: f.counterVec("rewind_subscription_ends_total",
			"Subscriptions ended, by reason: closed (by the client or the server's shutdown), slow_consumer, cursor_expired, cursor_not_found, unavailable, error.",
			[]string{"reason"}),
		cursorErrors: f.counterVec("rewind_cursor_errors_total",
			"Operations answered with a cursor error, by code (CURSOR_NOT_FOUND, CURSOR_EXPIRED).",
			[]string{"code"}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	// OpenMetrics, when the scraper asks for it, carries the exemplars.
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// WatchNATS exports the connection's state and reconnections.
func (m *Metrics) WatchNATS(nc *nats.Conn) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "rewind_nats_reconnects_total",
			Help: "Reconnections of this instance's NATS connection (JetStream included).",
		}, func() float64 { return float64(nc.Stats().Reconnects) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rewind_nats_connected",
			Help: "1 while the NATS connection is up.",
		}, func() float64 {
			if nc.IsConnected() {
				return 1
			}
			return 0
		}),
	)
}

// WatchHub exports the hub's live subscribers and position.
func (m *Metrics) WatchHub(h *replay.Hub) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rewind_live_subscribers",
			Help: "Subscriptions registered with the live tail now.",
		}, func() float64 { return float64(h.Subscribers()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rewind_tail_sequence",
			Help: "Stream sequence of the last event the live tail fanned out.",
		}, func() float64 { return float64(h.Head()) }),
		&lagCollector{
			hub:    h,
			groups: m.groups,
			max: prometheus.NewDesc("rewind_subscriptions_lag_max_events",
				"The largest lag of this instance's running subscriptions of a topic group: stream sequences between the live tail's head and what the subscription has got past (see GET /debug/subscriptions).",
				[]string{"topics"}, nil),
			sum: prometheus.NewDesc("rewind_subscriptions_lag_sum_events",
				"The sum of the lags of this instance's running subscriptions of a topic group, in stream sequences.",
				[]string{"topics"}, nil),
			count: prometheus.NewDesc("rewind_subscriptions_running",
				"This instance's running subscriptions of a topic group, whatever their transport.",
				[]string{"topics"}, nil),
		},
	)
}

// TailEvent implements replay.Observer.
func (m *Metrics) TailEvent(ev *eventstore.Event) {
	if d := time.Since(ev.Time()); d >= 0 {
		m.liveDelay.Observe(d.Seconds())
	}
}

// TailRestarted implements replay.Observer.
func (m *Metrics) TailRestarted() { m.tailRestarts.Inc() }

// ReplayStarted implements replay.Observer.
func (m *Metrics) ReplayStarted(behind uint64) {
	m.replayLag.Observe(float64(behind))
	m.catchingUp.Inc()
}

// ReplayDone implements replay.Observer.
func (m *Metrics) ReplayDone(events, fromMemory int, took time.Duration) {
	m.catchingUp.Dec()
	m.replayPerSub.Observe(float64(events))
	m.replayTook.Observe(took.Seconds())
	m.replayMemory.Add(float64(fromMemory))
}

// Replayed implements replay.Observer.
func (m *Metrics) Replayed(n int) { m.replayEvents.Add(float64(n)) }

// Overflowed implements replay.Observer.
func (m *Metrics) Overflowed() { m.overflows.Inc() }

// SlowConsumer implements replay.Observer.
func (m *Metrics) SlowConsumer() { m.slowConsumers.Inc() }

// FiltersEvaluated implements replay.Observer.
func (m *Metrics) FiltersEvaluated(n int) { m.filterEvals.Add(float64(n)) }

// FilterOverflowed implements replay.Observer.
func (m *Metrics) FilterOverflowed(n int) { m.filterFull.Add(float64(n)) }

// FilterRefused implements replay.Observer.
func (m *Metrics) FilterRefused() { m.filterRefused.Inc() }

type protocolKey struct{}

// ProtocolOf is the protocol label of a request, as the metrics have it:
// graphql-transport-ws, graphql-ws, websocket (another subprotocol),
// graphql-sse, or "" for a plain request.
func ProtocolOf(r *http.Request) string { return protocolOf(r) }

// protocolOf classifies a request: a WebSocket by the subprotocol gorilla
// will pick (the client's first offer that the server speaks), SSE by its
// Accept header; "" for anything else.
func protocolOf(r *http.Request) string {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		for _, h := range r.Header.Values("Sec-Websocket-Protocol") {
			for _, p := range strings.Split(h, ",") {
				switch p = strings.TrimSpace(p); p {
				case TransportWS, LegacyWS:
					return p
				}
			}
		}
		return "websocket"
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return SSE
	}
	return ""
}

// Batch is the api label of POST /publish: one observation per request,
// whatever the number of events it appends.
const Batch = "batch"

// publishAPI is the api label of r's appends when r is one of the HTTP
// publish routes, else "".
func publishAPI(r *http.Request) string {
	if r.Method != http.MethodPost {
		return ""
	}
	switch r.URL.Path {
	case "/publish-message":
		return HTTP
	case "/publish":
		return Batch
	}
	return ""
}

// HTTP counts long-lived connections and labels the operations they carry
// with their protocol; it times POST /publish-message and POST /publish.
func (m *Metrics) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if api := publishAPI(r); api != "" {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r)
			result := "ok"
			if sw.status >= 400 {
				result = "error"
			}
			m.publish.WithLabelValues(api, result).Observe(time.Since(start).Seconds())
			return
		}
		proto := protocolOf(r)
		if proto == "" {
			next.ServeHTTP(w, r)
			return
		}
		m.connectionsTotal.WithLabelValues(proto).Inc()
		g := m.connections.WithLabelValues(proto)
		g.Inc()
		hw := &hijackCounter{ResponseWriter: w, open: g}
		defer func() {
			if !hw.hijacked {
				g.Dec()
			}
		}()
		next.ServeHTTP(hw, r.WithContext(context.WithValue(r.Context(), protocolKey{}, proto)))
	})
}

// hijackCounter counts a hijacked connection (a WebSocket, which outlives
// its handler) as open until it is closed.
type hijackCounter struct {
	http.ResponseWriter
	open     prometheus.Gauge
	hijacked bool
}

func (w *hijackCounter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	return &countedConn{Conn: nc, open: w.open}, brw, nil
}

func (w *hijackCounter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type countedConn struct {
	net.Conn
	open   prometheus.Gauge
	closed sync.Once
}

func (c *countedConn) Close() error {
	c.closed.Do(c.open.Dec)
	return c.Conn.Close()
}

// SyscallConn is the socket's: countedConn reads nothing itself, so the
// WebSocket transport may poll the socket for readiness instead of keeping
// a goroutine in a read for each idle connection.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("metrics: the connection has no file descriptor")
	}
	return sc.SyscallConn()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// GraphQL returns the gqlgen extension that counts subscriptions and their
// deliveries, and times mutations.
func (m *Metrics) GraphQL() graphql.HandlerExtension { return extension{m} }

type extension struct{ m *Metrics }

var (
	_ graphql.HandlerExtension     = extension{}
	_ graphql.OperationInterceptor = extension{}
)

func (extension) ExtensionName() string                   { return "RewindMetrics" }
func (extension) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation runs once per operation; the handler it returns runs
// once per result, so a subscription's deliveries cost one atomic add on a
// counter labelled in advance.
func (e extension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || oc.Operation == nil {
		return next(ctx)
	}
	switch oc.Operation.Operation {
	case ast.Subscription:
		proto, _ := ctx.Value(protocolKey{}).(string)
		if proto == "" {
			proto = HTTP
		}
		e.m.subsTotal.WithLabelValues(proto).Inc()
		running := e.m.subscriptions.WithLabelValues(proto)
		running.Inc()
		// The operation's context ends with it, on every transport; its
		// delivery's own holds none of the executor's state.
		deliver.OnEnd(ctx, running.Dec)
		delivered := e.m.deliveries.WithLabelValues(proto)
		// Native streams count their results themselves (deliver.Stream).
		h := next(deliver.WithCounter(ctx, delivered))
		return func(ctx context.Context) *graphql.Response {
			resp := h(ctx)
			if resp != nil && resp.Data != nil {
				delivered.Inc()
			}
			e.m.countCursorErrors(resp)
			return resp
		}
	case ast.Mutation:
		start := time.Now()
		h := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			resp := h(ctx)
			result := "ok"
			if resp == nil || len(resp.Errors) > 0 {
				result = "error"
			}
			e.m.publish.WithLabelValues("graphql", result).Observe(time.Since(start).Seconds())
			e.m.countCursorErrors(resp)
			return resp
		}
	}
	h := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := h(ctx)
		e.m.countCursorErrors(resp)
		return resp
	}
}

// countCursorErrors counts the cursor errors among resp's.
func (m *Metrics) countCursorErrors(resp *graphql.Response) {
	if resp == nil {
		return
	}
	for _, e := range resp.Errors {
		if code, _ := e.Extensions["code"].(string); cursorCodes[code] {
			m.CursorError(code)
		}
	}
}

// factory registers what it makes.
type factory struct{ reg prometheus.Registerer }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels []string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeVec(name, help string, labels []string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels []string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
