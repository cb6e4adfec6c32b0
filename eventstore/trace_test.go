package eventstore_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

func tracer(t *testing.T, sampler sdktrace.Sampler) (trace.Tracer, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp.Tracer("test"), rec
}

func spanNamed(t *testing.T, rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	t.Helper()
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// sameContext reports whether an event's stored trace context names span.
func sameContext(got trace.SpanContext, span sdktrace.ReadOnlySpan) bool {
	want := span.SpanContext()
	return got.TraceID() == want.TraceID() && got.SpanID() == want.SpanID() && got.IsSampled() && got.IsRemote()
}

// TestAppendSpanStoredWithEvent: an append is a span, child of the
// caller's, naming the event; its trace context is stored with the event
// and every read path (Get, Read, ReadLatest, Tail, Headers aside) decodes
// it into Event.Trace, on another store too (another instance).
func TestAppendSpanStoredWithEvent(t *testing.T) {
	n := testenv.StartNATS(t)
	tr, rec := tracer(t, sdktrace.AlwaysSample())
	s := n.Store(eventstore.Config{Tracer: tr})
	ctx, parent := tr.Start(ctxT(t), "request")
	ev, err := s.Append(ctx, eventstore.Event{Topic: "orders.eu", Type: "created", Data: json.RawMessage(`{"n":1}`)})
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	spans := spanNamed(t, rec, "rewind.append")
	if len(spans) != 1 {
		t.Fatalf("%d append spans, want 1", len(spans))
	}
	sp := spans[0]
	if sp.Parent().SpanID() != parent.SpanContext().SpanID() || sp.SpanKind() != trace.SpanKindProducer {
		t.Errorf("append span: parent %s kind %s, want child of the request's, producer", sp.Parent().SpanID(), sp.SpanKind())
	}
	if attr(sp, "rewind.event.id") != ev.ID.String() || attr(sp, "rewind.event.seq") != "1" || attr(sp, "rewind.event.topic") != "orders.eu" {
		t.Errorf("append span attributes %v", sp.Attributes())
	}
	if !sameContext(ev.Trace, sp) {
		t.Errorf("Append returned trace %v, want the append span's %v", ev.Trace, sp.SpanContext())
	}

	other := n.Store(eventstore.Config{}) // no tracer: reads decode all the same
	got, err := other.Get(ctxT(t), ev.ID)
	if err != nil || !sameContext(got.Trace, sp) {
		t.Errorf("Get: trace %v, %v", got.Trace, err)
	}
	for got, err := range other.Read(ctxT(t), eventstore.Query{}) {
		if err != nil || !sameContext(got.Trace, sp) {
			t.Errorf("Read: trace %v, %v", got.Trace, err)
		}
	}
	for got, err := range other.ReadLatest(ctxT(t), eventstore.Query{}) {
		if err != nil || !sameContext(got.Trace, sp) {
			t.Errorf("ReadLatest: trace %v, %v", got.Trace, err)
		}
	}
	tctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	for got, err := range other.Tail(tctx, 0) {
		if err != nil || !sameContext(got.Trace, sp) {
			t.Errorf("Tail: trace %v, %v", got.Trace, err)
		}
		break
	}
}

// TestAppendBatchSpan: a batch is one span, and each of its events carries
// it, through the atomic batch path (32 events) and the pipelined one (3).
func TestAppendBatchSpan(t *testing.T) {
	for _, size := range []int{3, 32} {
		tr, rec := tracer(t, sdktrace.AlwaysSample())
		s := testenv.StartNATS(t).Store(eventstore.Config{Tracer: tr})
		evs := make([]eventstore.Event, size)
		for i := range evs {
			evs[i] = eventstore.Event{Topic: "bulk", Type: "x", Data: json.RawMessage(`{}`)}
		}
		if _, err := s.AppendBatch(ctxT(t), evs); err != nil {
			t.Fatal(err)
		}
		spans := spanNamed(t, rec, "rewind.append_batch")
		if len(spans) != 1 || attr(spans[0], "rewind.append.events") != "" && attr(spans[0], "rewind.append.events") != jsonInt(size) {
			t.Fatalf("batch of %d: %d batch spans %v", size, len(spans), spans)
		}
		read := 0
		for got, err := range s.Read(ctxT(t), eventstore.Query{}) {
			if err != nil || !sameContext(got.Trace, spans[0]) {
				t.Errorf("batch of %d: event %d trace %v, %v", size, got.Seq, got.Trace, err)
			}
			read++
		}
		if read != size {
			t.Errorf("read %d events, want %d", read, size)
		}
	}
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestGroupCommitKeepsEachSpan: appends stored together in one atomic
// batch each keep their own trace context.
func TestGroupCommitKeepsEachSpan(t *testing.T) {
	tr, rec := tracer(t, sdktrace.AlwaysSample())
	s := testenv.StartNATS(t).Store(eventstore.Config{Tracer: tr})
	const n = 64
	byID := map[string]trace.SpanContext{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ev, err := s.Append(ctxT(t), eventstore.Event{Topic: "c", Type: "x", Data: json.RawMessage(`{}`)})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			byID[ev.ID.String()] = ev.Trace
			mu.Unlock()
		})
	}
	wg.Wait()
	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range spanNamed(t, rec, "rewind.append") {
		spans[attr(sp, "rewind.event.id")] = sp
	}
	if len(spans) != n {
		t.Fatalf("%d append spans, want %d", len(spans), n)
	}
	for got, err := range s.Read(ctxT(t), eventstore.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		sp, ok := spans[got.ID.String()]
		if !ok || !sameContext(got.Trace, sp) || !sameContext(byID[got.ID.String()], sp) {
			t.Errorf("event %s: stored trace %v, not its append span's", got.ID, got.Trace)
		}
	}
}

// TestUnsampledAppendStoresNothing: an append whose span is not sampled,
// or a store without a tracer under a caller's sampled span, stores no
// trace context; a malformed traceparent written by someone else reads
// as none, without failing the read.
func TestUnsampledAppendStoresNothing(t *testing.T) {
	n := testenv.StartNATS(t)
	never, _ := tracer(t, sdktrace.NeverSample())
	always, _ := tracer(t, sdktrace.AlwaysSample())
	unsampled := n.Store(eventstore.Config{Tracer: never})
	untraced := n.Store(eventstore.Config{})
	if _, err := unsampled.Append(ctxT(t), eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(`1`)}); err != nil {
		t.Fatal(err)
	}
	ctx, span := always.Start(ctxT(t), "caller")
	if _, err := untraced.Append(ctx, eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(`2`)}); err != nil {
		t.Fatal(err)
	}
	span.End()
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg := &nats.Msg{Subject: "events.t", Data: []byte(`3`), Header: nats.Header{
		"Rewind-Id": {"01J00000000000000000000003"}, "Rewind-Type": {"x"}, "traceparent": {"00-zz-not-a-trace-01"}}}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctxT(t), msg); err != nil {
		t.Fatal(err)
	}
	got := 0
	for ev, err := range untraced.Read(ctxT(t), eventstore.Query{Until: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Trace.IsValid() {
			t.Errorf("event %d carries trace %v, want none", ev.Seq, ev.Trace)
		}
		got++
	}
	if got != 3 {
		t.Errorf("read %d events, want 3", got)
	}
	raw, err := untraced.Get(ctxT(t), mustID(t, untraced, 1))
	if err != nil || raw.Trace.IsValid() {
		t.Errorf("Get: %v %v", raw.Trace, err)
	}
}

func mustID(t *testing.T, s *eventstore.Store, seq uint64) (id ulid.ULID) {
	t.Helper()
	for ev, err := range s.Read(ctxT(t), eventstore.Query{After: seq - 1, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}
	t.Fatalf("no event %d", seq)
	return
}
