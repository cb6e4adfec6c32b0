package replay_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/telemetry"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// traced is an env whose store and hub share a tracer recording every
// span.
type traced struct {
	*env
	tr  trace.Tracer
	rec *tracetest.SpanRecorder
}

func startTraced(t *testing.T, cfg replay.Config) *traced {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	// As cmd/server samples: by parent, and whatever links to a sampled
	// append.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(telemetry.Sampler(sdktrace.ParentBased(sdktrace.AlwaysSample()))), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr := tp.Tracer("test")
	n := testenv.StartNATS(t)
	e := &env{nats: n, store: n.Store(eventstore.Config{Tracer: tr})}
	cfg.Tracer = tr
	e.hub = startHub(t, e.store, cfg)
	return &traced{env: e, tr: tr, rec: rec}
}

func (e *traced) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range e.rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestDeliverySpansLinkToAppend: each delivery of a sampled append, on a
// replaying and a live subscription (a channel one and a feed one), is a
// consumer span linked to the append's span, not its child, in the
// subscription's trace; subscriptions have their start and read spans.
func TestDeliverySpansLinkToAppend(t *testing.T) {
	e := startTraced(t, replay.Config{})
	<-e.hub.Ready()
	ctx, publishParent := e.tr.Start(context.Background(), "client publish")
	first, err := e.store.Append(ctx, eventstore.Event{Topic: "orders.eu", Type: "created", Data: json.RawMessage(`1`)})
	publishParent.End()
	if err != nil {
		t.Fatal(err)
	}
	waitHead(t, e.hub, first.Seq) // so that it is replayed, not live

	sctx, subParent := e.tr.Start(context.Background(), "websocket")
	defer subParent.End()
	sctx, cancel := context.WithCancel(replay.WithLabel(sctx, "graphql-transport-ws"))
	defer cancel()
	replaying, err := e.hub.Subscribe(sctx, replay.Request{Topics: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	receive(t, replaying, 1, 10*time.Second)
	wake := make(chan struct{}, 1)
	feed, err := e.hub.Attach(sctx, replay.Request{Topics: []string{"orders.*"}, Live: true}, func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the live subscription", func() bool { return e.hub.Subscribers() == 2 })
	second := e.publish(t, "orders.us", 2)
	receive(t, replaying, 1, 10*time.Second)
	var taken []*eventstore.Event
	testenv.Eventually(t, 10*time.Second, "the feed's event", func() bool {
		taken, _, _ = feed.Take(taken)
		return len(taken) == 1
	})

	appends := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range e.ended("rewind.append") {
		appends[spanAttr(s, "rewind.event.id")] = s
	}
	var deliveries []sdktrace.ReadOnlySpan
	testenv.Eventually(t, 10*time.Second, "three delivery spans", func() bool {
		deliveries = e.ended("rewind.deliver")
		return len(deliveries) == 3
	})
	for _, d := range deliveries {
		id := spanAttr(d, "rewind.event.id")
		a, ok := appends[id]
		if !ok || id != first.ID.String() && id != second.ID.String() {
			t.Fatalf("delivery of %q: no append span", id)
		}
		links := d.Links()
		if len(links) != 1 || links[0].SpanContext.SpanID() != a.SpanContext().SpanID() || links[0].SpanContext.TraceID() != a.SpanContext().TraceID() {
			t.Errorf("delivery of %s links %v, want its append span %s", id, links, a.SpanContext().SpanID())
		}
		if d.Parent().SpanID() == a.SpanContext().SpanID() || d.SpanContext().TraceID() != subParent.SpanContext().TraceID() {
			t.Errorf("delivery of %s: parent %s in trace %s; want a link to the append, in the subscription's trace", id, d.Parent().SpanID(), d.SpanContext().TraceID())
		}
		if d.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("delivery kind %s", d.SpanKind())
		}
		wantReplayed := "false"
		if id == first.ID.String() {
			wantReplayed = "true"
		}
		if got := spanAttr(d, "rewind.delivery.replayed"); got != wantReplayed {
			t.Errorf("delivery of %s replayed=%s, want %s", id, got, wantReplayed)
		}
	}

	subs := e.ended("rewind.subscribe")
	if len(subs) != 2 {
		t.Fatalf("%d subscribe spans ended (at catching up), want 2", len(subs))
	}
	for _, s := range subs {
		if s.Parent().SpanID() != subParent.SpanContext().SpanID() || spanAttr(s, "rewind.subscription.via") != "graphql-transport-ws" {
			t.Errorf("subscribe span: parent %s, via %q", s.Parent().SpanID(), spanAttr(s, "rewind.subscription.via"))
		}
	}
	replays := e.ended("rewind.replay")
	if len(replays) != 1 || spanAttr(replays[0], "rewind.replay.events") != "1" {
		t.Errorf("replay spans %v", replays)
	}

	cancel()
	testenv.Eventually(t, 10*time.Second, "two end spans", func() bool { return len(e.ended("rewind.subscription.end")) == 2 })
	for _, s := range e.ended("rewind.subscription.end") {
		if spanAttr(s, "rewind.subscription.end_reason") != "closed" {
			t.Errorf("end reason %q", spanAttr(s, "rewind.subscription.end_reason"))
		}
	}
}

func waitHead(t *testing.T, hub *replay.Hub, seq uint64) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the hub's head", func() bool { return hub.Head() >= seq })
}

// TestUnsampledSubscriberStillTracesDelivery: a subscriber whose own
// request was not sampled gets its delivery of a sampled append traced in
// a trace of its own, still linked, rather than under an unrecorded
// parent.
func TestUnsampledSubscriberStillTracesDelivery(t *testing.T) {
	e := startTraced(t, replay.Config{})
	<-e.hub.Ready()
	ev := e.publish(t, "a", 1)
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}})
	ctx, cancel := context.WithCancel(trace.ContextWithRemoteSpanContext(context.Background(), unsampled))
	defer cancel()
	// The parent says no, so the subscription's spans are not sampled;
	// the hub makes the delivery a root, kept for its link.
	sub, err := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	receive(t, sub, 1, 10*time.Second)
	var d []sdktrace.ReadOnlySpan
	testenv.Eventually(t, 10*time.Second, "the delivery span", func() bool { d = e.ended("rewind.deliver"); return len(d) == 1 })
	if d[0].SpanContext().TraceID() == unsampled.TraceID() || len(d[0].Links()) != 1 || d[0].Links()[0].SpanContext.TraceID() != ev.Trace.TraceID() {
		t.Errorf("delivery in trace %s, links %v", d[0].SpanContext().TraceID(), d[0].Links())
	}
}

// TestEndSpanSaysSlowConsumer: a subscription that ends because its
// reader stopped taking events says so on its end span.
func TestEndSpanSaysSlowConsumer(t *testing.T) {
	e := startTraced(t, replay.Config{Buffer: 4, StallTimeout: 200 * time.Millisecond})
	<-e.hub.Ready()
	for i := range 20 {
		e.publish(t, "s", i)
	}
	sub, err := e.hub.Subscribe(context.Background(), replay.Request{Topics: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	<-waitClosed(sub)
	if !errors.Is(sub.Err(), replay.ErrSlowConsumer) {
		t.Fatalf("ended with %v", sub.Err())
	}
	testenv.Eventually(t, 10*time.Second, "the end span", func() bool { return len(e.ended("rewind.subscription.end")) == 1 })
	if got := spanAttr(e.ended("rewind.subscription.end")[0], "rewind.subscription.end_reason"); got != "slow_consumer" {
		t.Errorf("end reason %q, want slow_consumer", got)
	}
}

// TestSubscriptionsListing: the hub lists its subscriptions in order with
// their phase, what they delivered and how far behind they are; one whose
// transport stops taking falls behind by what the stream got since, and
// leaves the list when it ends.
func TestSubscriptionsListing(t *testing.T) {
	e := start(t, replay.Config{})
	<-e.hub.Ready()
	for i := range 3 {
		e.publish(t, "x", i)
	}
	ctx, cancel := context.WithCancel(replay.WithLabel(context.Background(), "graphql-sse"))
	defer cancel()
	reader, err := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"x"}, Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	receive(t, reader, 3, 10*time.Second)
	stuck, err := e.hub.Attach(ctx, replay.Request{Topics: []string{"x"}}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	list := func() []replay.SubscriptionState { return slices.Collect(e.hub.Subscriptions()) }
	testenv.Eventually(t, 10*time.Second, "both live", func() bool {
		l := list()
		return len(l) == 2 && l[0].Phase == replay.PhaseLive && l[1].Phase == replay.PhaseLive
	})
	for i := range 5 {
		e.publish(t, "x", 3+i)
	}
	receive(t, reader, 5, 10*time.Second)
	var l []replay.SubscriptionState
	testenv.Eventually(t, 10*time.Second, "the listing", func() bool {
		l = list()
		return len(l) == 2 && l[0].Delivered == 8 && l[1].Pending == 8
	})
	if l[0].ID >= l[1].ID || l[0].Label != "graphql-sse" || l[0].Owner != "alice" || l[0].Behind != 0 {
		t.Errorf("reader: %+v", l[0])
	}
	if l[1].Delivered != 0 || l[1].Behind != 8 {
		t.Errorf("stuck: %+v, want 8 behind, none delivered", l[1])
	}
	evs, _, _ := stuck.Take(nil)
	if len(evs) != 8 {
		t.Fatalf("took %d", len(evs))
	}
	if l = list(); l[1].Delivered != 8 || l[1].Behind != 0 || l[1].Pending != 0 {
		t.Errorf("after taking: %+v", l[1])
	}
	cancel()
	testenv.Eventually(t, 10*time.Second, "an empty list", func() bool { return len(list()) == 0 })
}

// lagObserver records what the hub tells a subscription's observer.
type lagObserver struct {
	countingObserver
	mu        sync.Mutex
	delivered []bool // replayed, in order
	caught    int
	ends      []error
}

func (o *lagObserver) Subscribed(replay.SubscriptionInfo) replay.SubscriptionObserver { return o }
func (o *lagObserver) Delivered(_ *eventstore.Event, replayed bool, _ time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.delivered = append(o.delivered, replayed)
}
func (o *lagObserver) CaughtUp(time.Duration) { o.mu.Lock(); o.caught++; o.mu.Unlock() }
func (o *lagObserver) Ended(err error)        { o.mu.Lock(); o.ends = append(o.ends, err); o.mu.Unlock() }

// TestSubscriptionObserver: the observer is told each delivery (replayed
// or live), the catching up, once, and the end with its reason.
func TestSubscriptionObserver(t *testing.T) {
	obs := &lagObserver{}
	e := start(t, replay.Config{Observer: obs})
	<-e.hub.Ready()
	e.publish(t, "o", 1)
	waitHead(t, e.hub, e.publish(t, "o", 2).Seq)
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := e.hub.Subscribe(ctx, replay.Request{Topics: []string{"o"}})
	if err != nil {
		t.Fatal(err)
	}
	receive(t, sub, 2, 10*time.Second)
	testenv.Eventually(t, 10*time.Second, "caught up", func() bool { obs.mu.Lock(); defer obs.mu.Unlock(); return obs.caught == 1 })
	e.publish(t, "o", 3)
	receive(t, sub, 1, 10*time.Second)
	cancel()
	<-waitClosed(sub)
	testenv.Eventually(t, 10*time.Second, "the end", func() bool { obs.mu.Lock(); defer obs.mu.Unlock(); return len(obs.ends) == 1 })
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !slices.Equal(obs.delivered, []bool{true, true, false}) || obs.ends[0] != nil {
		t.Errorf("delivered (replayed) %v, ends %v", obs.delivered, obs.ends)
	}
}
