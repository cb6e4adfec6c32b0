package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

const unknownCursor = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

// TestLagMetricsAndTraceparent: a publish carrying a caller's traceparent
// is a span under it, whose trace id the delivery latency histogram
// carries as an exemplar; deliveries are counted by topic group and
// source, running subscriptions and their lag by topic group, cursor
// errors by code over WebSocket and SSE, ends by reason; JetStream,
// readiness, the stream's end and the tail's lag at each scrape.
func TestLagMetricsAndTraceparent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	m := metrics.New(prometheus.NewRegistry())
	// The server traces the store it opens; this one is opened here.
	e := startWith(t, eventstore.Config{Tracer: tp.Tracer("test")}, api.Config{Metrics: m, Tracing: tp}, replay.Config{Observer: m})
	for i := range 3 {
		e.publish(t, "orders.eu", i)
	}
	testenv.Eventually(t, 10*time.Second, "the hub's head", func() bool { return e.hub.Head() == 3 })
	ws := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	ws.Init()
	ws.Subscribe("1", wstest.EventsQuery, map[string]any{"topics": []string{"orders.*"}, "after": "00000000000000000000000000"})
	ws.Collect("1", "events", 3, 10*time.Second)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	body, _ := json.Marshal(map[string]any{"query": `mutation { publish(topic: "orders.us", data: 1) { id } }`})
	req, _ := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ws.Collect("1", "events", 1, 10*time.Second)
	var appendSpan sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "rewind.append" && s.SpanContext().TraceID().String() == traceID {
			appendSpan = s
		}
	}
	if appendSpan == nil {
		t.Fatalf("no append span in the caller's trace %s", traceID)
	}

	ws.Subscribe("bad", wstest.EventsQuery, map[string]any{"topics": []string{"orders.*"}, "after": unknownCursor})
	if codes := wstest.ErrorCodes(t, ws.Read(10*time.Second)); len(codes) != 1 || codes[0] != "CURSOR_NOT_FOUND" {
		t.Fatalf("unknown cursor over WebSocket: %v", codes)
	}
	s := openSSE(t, t.Context(), http.MethodPost, e.url, nil, wstest.EventsQuery, map[string]any{"topics": []string{"orders.*"}, "after": unknownCursor})
	_ = s

	want := map[string]float64{
		`rewind_delivery_latency_seconds_count{source="replay",topics="orders.>"}`: 3,
		`rewind_delivery_latency_seconds_count{source="live",topics="orders.>"}`:   1,
		`rewind_subscriptions_running{topics="orders.>"}`:                          1,
		`rewind_subscriptions_lag_max_events{topics="orders.>"}`:                   0,
		`rewind_subscription_catch_up_seconds_count{topics="orders.>"}`:            1,
		`rewind_cursor_errors_total{code="CURSOR_NOT_FOUND"}`:                      2,
		`rewind_jetstream_available`:                                               1,
		`rewind_ready`:                                                             1,
		`rewind_stream_last_sequence`:                                              4,
		`rewind_tail_lag_events`:                                                   0,
	}
	awaitMetrics(t, e.base, want)

	ws.Stop("1")
	awaitMetrics(t, e.base, map[string]float64{`rewind_subscription_ends_total{reason="closed"}`: 1})

	req, _ = http.NewRequest(http.MethodGet, e.base+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	om, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(om), `# {trace_id="`+traceID+`"}`) {
		t.Errorf("no exemplar with the trace id %s in the OpenMetrics scrape", traceID)
	}
}

// awaitMetrics polls /metrics until every sample in want has its value.
func awaitMetrics(t *testing.T, base string, want map[string]float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, base)
		var wrong []string
		for k, v := range want {
			if got[k] != v {
				wrong = append(wrong, fmt.Sprintf("%s = %v, want %v", k, got[k], v))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics:\n%s", strings.Join(wrong, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDebugSubscriptions: GET /debug/subscriptions serves admin grants
// only, lists subscriptions with their transport in pages, filters by an
// event's topic and says which are past the event, and refuses bad
// parameters with 400.
func TestDebugSubscriptions(t *testing.T) {
	e, key := startAuth(t, api.Config{})
	admin := key.Token(t, "ops", authtest.Grants{Admin: true}, time.Hour)
	reader := key.Token(t, "reader", authtest.Grants{Subscribe: []string{">"}, Publish: []string{">"}}, time.Hour)
	get := func(token, query string) (int, map[string]json.RawMessage) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.base+"/debug/subscriptions"+query, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code, _ := get(reader, ""); code != http.StatusForbidden {
		t.Errorf("a token without the admin grant: %d", code)
	}
	for _, q := range []string{"?limit=x", "?after=-1", "?topic=a..b"} {
		if code, _ := get(admin, q); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}

	ws := wstest.Dial(t, e.url, wstest.TransportWS, http.Header{"Authorization": {"Bearer " + reader}})
	ws.Init()
	for i, topics := range [][]string{{"a.>"}, {"b.*"}, {"a.x"}} {
		ws.Subscribe(fmt.Sprint(i), wstest.EventsQuery, map[string]any{"topics": topics})
	}
	type sub struct {
		ID     uint64
		Topics []string
		Via    string
		Owner  string
		Phase  string
		Event  string
	}
	var page []sub
	testenv.Eventually(t, 10*time.Second, "three live subscriptions", func() bool {
		code, body := get(admin, "")
		_ = json.Unmarshal(body["subscriptions"], &page)
		return code == 200 && len(page) == 3 && page[2].Phase == replay.PhaseLive
	})
	if page[0].Via != "graphql-transport-ws" || page[0].Owner != "reader" || page[0].ID >= page[1].ID {
		t.Errorf("first: %+v", page[0])
	}
	_, body := get(admin, "?limit=2")
	var next uint64
	_ = json.Unmarshal(body["subscriptions"], &page)
	_ = json.Unmarshal(body["next"], &next)
	if len(page) != 2 || next != page[1].ID {
		t.Fatalf("page of 2: %d, next %d", len(page), next)
	}
	_, body = get(admin, fmt.Sprintf("?limit=2&after=%d", next))
	_ = json.Unmarshal(body["subscriptions"], &page)
	if len(page) != 1 || body["next"] != nil {
		t.Fatalf("second page: %d, next %s", len(page), body["next"])
	}
	if code, _ := e.post(t, reader, `mutation { publish(topic: "a.x", data: 1) { id } }`, nil); code != 200 {
		t.Fatalf("publish: %d", code)
	}
	ws.Read(10 * time.Second) // the event, to a.> and a.x
	ws.Read(10 * time.Second)
	_, body = get(admin, "?topic=a.x&seq=1")
	_ = json.Unmarshal(body["subscriptions"], &page)
	if len(page) != 2 || page[0].Event != "past" || page[1].Event != "past" {
		t.Errorf("those that take a.x: %+v", page)
	}
	_, body = get(admin, "?topic=b.y&seq=2")
	_ = json.Unmarshal(body["subscriptions"], &page)
	if len(page) != 1 || page[0].Topics[0] != "b.*" || page[0].Event != "behind" {
		t.Errorf("those that take b.y, about an event yet to come: %+v", page)
	}
}
