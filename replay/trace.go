package replay

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/rewind-dev/rewind/eventstore"
)

// Tracing of subscriptions.
//
// With Config.Tracer set, a subscription is a span from its start to the
// moment it first meets the live tail ("rewind.subscribe", a child of the
// span in the context it was started with), with a child for every read
// of stored events ("rewind.replay" before that moment, "rewind.catch_up"
// after an overflow), and its end is a span of its own
// ("rewind.subscription.end", with the reason). Every event delivered
// whose append was sampled (eventstore.Event.Trace) is a span
// ("rewind.deliver") linked to the append's span: a link, not a child, as
// one append fans out to any number of deliveries, each in the trace of
// the subscription that made it when that one is sampled, or a trace of
// its own otherwise. Delivery spans start and end where the transport
// takes the event out of the feed.
//
// Without a Tracer none of this runs: a delivery costs a test of a
// boolean, and nothing allocates.

// Span attributes of subscriptions and deliveries.
const (
	attrSubscription = attribute.Key("rewind.subscription.id")
	attrTopics       = attribute.Key("rewind.subscription.topics")
	attrReplayed     = attribute.Key("rewind.delivery.replayed")
	attrLag          = attribute.Key("rewind.delivery.lag_ms")
	attrReason       = attribute.Key("rewind.subscription.end_reason")
)

// startSpan starts the subscription's span, and sets r.tctx and
// r.deliverCtx: the context its other spans are children of, and the
// one deliveries are.
func (r *run) startSpan(ctx context.Context) {
	tr := r.hub.cfg.Tracer
	attrs := []attribute.KeyValue{
		attrSubscription.Int64(int64(r.id)),
		attrTopics.StringSlice(r.req.Topics),
		attribute.String("rewind.subscription.start", r.startKind()),
	}
	if len(r.req.Types) > 0 {
		attrs = append(attrs, attribute.StringSlice("rewind.subscription.types", r.req.Types))
	}
	if r.label != "" {
		attrs = append(attrs, attribute.String("rewind.subscription.via", r.label))
	}
	if r.req.Filter != nil {
		attrs = append(attrs, attribute.Bool("rewind.subscription.filtered", true))
	}
	tctx, span := tr.Start(ctx, "rewind.subscribe", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	r.span = span
	r.tctx = trace.ContextWithSpan(context.Background(), span)
	r.deliverCtx = context.Background()
	if span.SpanContext().IsSampled() {
		r.deliverCtx = r.tctx
	}
	_ = tctx
}

func (r *run) startKind() string {
	switch {
	case r.req.Latest:
		return "latest"
	case r.req.Live:
		return "live"
	}
	return "after"
}

// readSpan starts the span of one read of stored events in (from, to].
func (r *run) readSpan(from, to uint64) trace.Span {
	if r.hub.cfg.Tracer == nil {
		return nil
	}
	name := "rewind.replay"
	if r.caughtUp {
		name = "rewind.catch_up"
	}
	_, span := r.hub.cfg.Tracer.Start(r.tctx, name, trace.WithAttributes(
		attrSubscription.Int64(int64(r.id)),
		attribute.Int64("rewind.replay.after", int64(from)),
		attribute.Int64("rewind.replay.until", int64(to))))
	return span
}

// endRead ends a read's span with what it delivered.
func endRead(span trace.Span, events, fromMemory int, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.Int("rewind.replay.events", events), attribute.Int("rewind.replay.from_memory", fromMemory))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceCaughtUp ends the subscription's span when it first meets the live
// tail.
func (r *run) traceCaughtUp(seq uint64) {
	if r.span == nil {
		return
	}
	r.span.SetAttributes(attribute.Int64("rewind.subscription.caught_up_at", int64(seq)),
		attribute.Int("rewind.subscription.replayed", r.delivered))
	r.span.End()
}

// traceEnd records the subscription's end and why, ending its span if it
// never caught up.
func (r *run) traceEnd(err error) {
	if r.span == nil {
		return
	}
	reason := EndReason(err)
	if !r.caught.Load() {
		r.span.SetAttributes(attrReason.String(reason))
		if err != nil {
			r.span.RecordError(err)
			r.span.SetStatus(codes.Error, err.Error())
		}
		r.span.End()
	}
	_, span := r.hub.cfg.Tracer.Start(r.tctx, "rewind.subscription.end", trace.WithAttributes(
		attrSubscription.Int64(int64(r.id)),
		attrReason.String(reason),
		attribute.Int64("rewind.subscription.delivered_through", int64(r.taken.Load())),
		attribute.Float64("rewind.subscription.age_s", time.Since(r.started).Seconds())))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceDelivery is one delivered event's span, linked to its append's.
func (r *run) traceDelivery(ev *eventstore.Event, replayed bool, now time.Time) {
	_, span := r.hub.cfg.Tracer.Start(r.deliverCtx, "rewind.deliver",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithTimestamp(now),
		trace.WithLinks(trace.Link{SpanContext: ev.Trace}),
		trace.WithAttributes(
			attribute.String("messaging.operation.type", "process"),
			eventstore.AttrEventID.String(ev.ID.String()),
			eventstore.AttrEventSeq.Int64(int64(ev.Seq)),
			eventstore.AttrEventTopic.String(ev.Topic),
			eventstore.AttrEventType.String(ev.Type),
			attrSubscription.Int64(int64(r.id)),
			attrReplayed.Bool(replayed),
			attrLag.Int64(now.Sub(ev.Time()).Milliseconds())))
	span.End(trace.WithTimestamp(now))
}

// EndReason names why a subscription ended, for spans and metrics: one
// of a few fixed words, never the error's text.
func EndReason(err error) string {
	switch {
	case err == nil:
		return "closed"
	case errors.Is(err, ErrSlowConsumer):
		return "slow_consumer"
	case errors.Is(err, eventstore.ErrCursorExpired):
		return "cursor_expired"
	case errors.Is(err, eventstore.ErrCursorNotFound):
		return "cursor_not_found"
	case errors.Is(err, eventstore.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}
