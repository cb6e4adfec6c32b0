package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes what exporters
// send with the OTLP protobuf types and keeps every span with the
// service.instance.id of the process that sent it.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	instance string
	*tracepb.Span
}

func startReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces of application/x-protobuf", http.StatusBadRequest)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		raw, err := io.ReadAll(body)
		var msg collectortrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(raw, &msg)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range msg.ResourceSpans {
			instance := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.instance.id" {
					instance = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					r.spans = append(r.spans, receivedSpan{instance, s})
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// find returns the spans named name that match.
func (r *otlpReceiver) find(name string, match func(receivedSpan) bool) []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []receivedSpan
	for _, s := range r.spans {
		if s.Name == name && (match == nil || match(s)) {
			out = append(out, s)
		}
	}
	return out
}

// await waits for exactly one span named name that matches.
func (r *otlpReceiver) await(t *testing.T, name string, match func(receivedSpan) bool) receivedSpan {
	t.Helper()
	var found []receivedSpan
	testenv.Eventually(t, 20*time.Second, "span "+name, func() bool {
		found = r.find(name, match)
		return len(found) > 0
	})
	if len(found) != 1 {
		t.Fatalf("%d spans %s match, want 1", len(found), name)
	}
	return found[0]
}

func strAttr(s receivedSpan, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			v := kv.GetValue()
			switch {
			case v.GetStringValue() != "":
				return v.GetStringValue()
			case v.GetIntValue() != 0:
				return fmt.Sprint(v.GetIntValue())
			default:
				return fmt.Sprint(v.GetBoolValue())
			}
		}
	}
	return ""
}

func tracingEnv(r *otlpReceiver, instance string) []string {
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.srv.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_TRACES_SAMPLER=parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG=0", // only what callers sample, and what links to it
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_SERVICE_NAME=rewind-test",
		"OTEL_RESOURCE_ATTRIBUTES=service.instance.id=" + instance,
	}
}

// traceparent is a sampled W3C traceparent for a new trace, and its trace
// and span ids.
func traceparent(n byte) (header string, traceID, spanID []byte) {
	traceID = bytes.Repeat([]byte{n}, 16)
	spanID = bytes.Repeat([]byte{n + 1}, 8)
	return "00-" + hex.EncodeToString(traceID) + "-" + hex.EncodeToString(spanID) + "-01", traceID, spanID
}

// publishTraced appends {"n": n} to topic through POST /graphql with a
// caller's traceparent.
func publishTraced(t *testing.T, p *proc, topic string, n int, tp string) wstest.Event {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": publishMutation, "variables": map[string]any{"topic": topic, "data": map[string]int{"n": n}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.graphqlURL(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", tp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct{ Publish *wstest.Event } `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Data.Publish == nil {
		t.Fatalf("publish %d: status %d, %v", n, resp.StatusCode, err)
	}
	return *r.Data.Publish
}

// TestTraceAcrossKillAndResume: a publish that continues the caller's
// traceparent is a span (under the HTTP request's span) that the live
// delivery on the same instance links to; after a kill -9 of that
// instance, a client resuming on another process gets the event replayed
// in a delivery span that links to the same append span, in the trace of
// its own WebSocket's traceparent. Every span arrives over OTLP/HTTP,
// decoded here with the OTLP protobuf types.
func TestTraceAcrossKillAndResume(t *testing.T) {
	rcv := startReceiver(t)
	dataDir := t.TempDir()
	a := &proc{proctest.StartRewind(t, "rewind-a", append(tracingEnv(rcv, "a"), "DATA_DIR="+dataDir)...)}

	live := wstest.Dial(t, a.graphqlURL(), wstest.TransportWS, nil)
	live.Init()
	first := a.publish(t, "orders", 1) // untraced: no span, no stored context
	live.Subscribe("s", wstest.EventsQuery, map[string]any{"topics": []string{"orders"}, "after": first.ID})
	// The traced event must come live: publish once the subscription is.
	testenv.Eventually(t, 10*time.Second, "the subscription to be live", func() bool { return livePhase(t, a) })

	tp, traceID, callerSpan := traceparent(0x11)
	ev := publishTraced(t, a, "orders", 2, tp)
	if got := live.Collect("s", "events", 1, 10*time.Second); got[0].ID != ev.ID {
		t.Fatalf("live delivery of %s, want %s", got[0].ID, ev.ID)
	}

	httpSpan := rcv.await(t, "POST /graphql", func(s receivedSpan) bool { return bytes.Equal(s.TraceId, traceID) })
	if !bytes.Equal(httpSpan.ParentSpanId, callerSpan) || httpSpan.Kind != tracepb.Span_SPAN_KIND_SERVER || httpSpan.instance != "a" {
		t.Errorf("request span: parent %x kind %v instance %q; want the caller's %x, server, a", httpSpan.ParentSpanId, httpSpan.Kind, httpSpan.instance, callerSpan)
	}
	appendSpan := rcv.await(t, "rewind.append", func(s receivedSpan) bool { return strAttr(s, "rewind.event.id") == ev.ID })
	if !bytes.Equal(appendSpan.TraceId, traceID) || !bytes.Equal(appendSpan.ParentSpanId, httpSpan.SpanId) || strAttr(appendSpan, "rewind.event.topic") != "orders" {
		t.Errorf("append span: trace %x parent %x attrs %v; want the request's child", appendSpan.TraceId, appendSpan.ParentSpanId, appendSpan.Attributes)
	}
	linkedToAppend := func(s receivedSpan) bool {
		return strAttr(s, "rewind.event.id") == ev.ID && len(s.Links) == 1 &&
			bytes.Equal(s.Links[0].TraceId, traceID) && bytes.Equal(s.Links[0].SpanId, appendSpan.SpanId)
	}
	liveDelivery := rcv.await(t, "rewind.deliver", func(s receivedSpan) bool { return s.instance == "a" && linkedToAppend(s) })
	if strAttr(liveDelivery, "rewind.delivery.replayed") != "false" || bytes.Equal(liveDelivery.ParentSpanId, appendSpan.SpanId) {
		t.Errorf("live delivery: replayed=%s parent %x", strAttr(liveDelivery, "rewind.delivery.replayed"), liveDelivery.ParentSpanId)
	}

	a.kill9(t)
	b := &proc{proctest.StartRewind(t, "rewind-b", append(tracingEnv(rcv, "b"), "DATA_DIR="+dataDir)...)}
	subTP, subTrace, _ := traceparent(0x33)
	resumed := wstest.Dial(t, b.graphqlURL(), wstest.TransportWS, http.Header{"Traceparent": {subTP}})
	resumed.Init()
	resumed.Subscribe("r", wstest.EventsQuery, map[string]any{"topics": []string{"orders"}, "after": first.ID})
	if got := resumed.Collect("r", "events", 1, 10*time.Second); got[0].ID != ev.ID {
		t.Fatalf("resumed delivery of %s, want %s", got[0].ID, ev.ID)
	}
	replayed := rcv.await(t, "rewind.deliver", func(s receivedSpan) bool { return s.instance == "b" && linkedToAppend(s) })
	if strAttr(replayed, "rewind.delivery.replayed") != "true" || !bytes.Equal(replayed.TraceId, subTrace) {
		t.Errorf("replayed delivery on b: replayed=%s trace %x; want replayed, in the resuming WebSocket's trace %x",
			strAttr(replayed, "rewind.delivery.replayed"), replayed.TraceId, subTrace)
	}
	sub := rcv.await(t, "rewind.subscribe", func(s receivedSpan) bool { return s.instance == "b" && bytes.Equal(s.TraceId, subTrace) })
	rcv.await(t, "rewind.replay", func(s receivedSpan) bool {
		return s.instance == "b" && bytes.Equal(s.ParentSpanId, sub.SpanId) && strAttr(s, "rewind.replay.events") == "1"
	})
	if n := len(rcv.find("rewind.append", func(s receivedSpan) bool { return strAttr(s, "rewind.event.id") == first.ID })); n != 0 {
		t.Errorf("the untraced publish made %d append spans, want none", n)
	}
}

// livePhase reports whether p's one subscription follows the live tail
// (GET /debug/subscriptions; everyone is admin without authentication).
func livePhase(t *testing.T, p *proc) bool {
	t.Helper()
	resp, err := http.Get("http://" + p.Addr + "/debug/subscriptions")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Subscriptions []struct{ Phase string } `json:"subscriptions"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return false
	}
	return len(body.Subscriptions) == 1 && body.Subscriptions[0].Phase == "live"
}
