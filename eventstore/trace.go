package eventstore

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing of appends.
//
// With Config.Tracer set, every Append is a span (AppendBatch, one for the
// batch), a child of the span in the caller's context. When that span is
// sampled its context is stored with the event, in the W3C trace context
// headers traceparent and tracestate, and every read decodes it into
// Event.Trace: whoever delivers the event, on any instance and after any
// restart, can link its own span to the append's. An append that is not
// sampled stores no header, so that tracing at 1% costs 1% of the bytes;
// without a Tracer nothing is started, injected or stored at all. Only the
// OpenTelemetry API is linked here: the program that wants traces installs
// an SDK and passes its tracer.

// Trace context headers, as W3C Trace Context names them (lower case: NATS
// headers are case-sensitive).
const (
	headerTraceParent = "traceparent"
	headerTraceState  = "tracestate"
)

// Span attributes of appends and of the events they carry.
const (
	AttrEventID    = attribute.Key("rewind.event.id")
	AttrEventSeq   = attribute.Key("rewind.event.seq")
	AttrEventTopic = attribute.Key("rewind.event.topic")
	AttrEventType  = attribute.Key("rewind.event.type")
	attrBatchSize  = attribute.Key("rewind.append.batch_size")
	attrEvents     = attribute.Key("rewind.append.events")
)

var traceContext propagation.TraceContext

// natsCarrier reads and writes the trace context headers of a NATS
// message.
type natsCarrier nats.Header

func (c natsCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c natsCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }
func (c natsCarrier) Keys() []string {
	return []string{headerTraceParent, headerTraceState}
}

// startAppend starts the span of an append of n events (n is 1 for
// Append), or returns ctx and nil without a tracer.
func (s *Store) startAppend(ctx context.Context, name string, topic string, n int) (context.Context, trace.Span) {
	if s.cfg.Tracer == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", s.cfg.Stream),
	}
	if topic != "" {
		attrs = append(attrs, AttrEventTopic.String(topic))
	}
	if n != 1 {
		attrs = append(attrs, attrEvents.Int(n))
	}
	return s.cfg.Tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
}

// carried is the trace context an append in span stores with its events:
// the span's, when it is sampled and recording; zero otherwise.
func carried(span trace.Span) trace.SpanContext {
	if span == nil || !span.IsRecording() {
		return trace.SpanContext{}
	}
	sc := span.SpanContext()
	if !sc.IsSampled() {
		return trace.SpanContext{}
	}
	return sc.WithRemote(true) // as every reader will decode it
}

// maxTraceState bounds the tracestate stored with an event: W3C allows
// 32 members of up to 512 bytes, and an event's headers share HeaderRoom
// with its id, type and idempotency key. A longer one is left out; the
// trace and span ids, which links need, are always kept.
const maxTraceState = 256

// inject stores sc in h.
func inject(h nats.Header, sc trace.SpanContext) {
	if !sc.IsValid() {
		return
	}
	traceContext.Inject(trace.ContextWithSpanContext(context.Background(), sc), natsCarrier(h))
	if len(h.Get(headerTraceState)) > maxTraceState {
		h.Del(headerTraceState)
	}
}

// extract decodes the trace context stored in h, zero when there is none
// or it is malformed: a bad header never fails a read.
func extract(h nats.Header) trace.SpanContext {
	if h.Get(headerTraceParent) == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(traceContext.Extract(context.Background(), natsCarrier(h)))
}

// endAppend ends span with the outcome of the append.
func endAppend(span trace.Span, err error, evs ...Event) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else if len(evs) == 1 {
		ev := evs[0]
		span.SetAttributes(AttrEventID.String(ev.ID.String()), AttrEventSeq.Int64(int64(ev.Seq)), AttrEventType.String(ev.Type))
	} else if len(evs) > 1 {
		span.SetAttributes(attribute.String("rewind.append.first_id", evs[0].ID.String()),
			attribute.Int64("rewind.append.first_seq", int64(evs[0].Seq)),
			attribute.Int64("rewind.append.last_seq", int64(evs[len(evs)-1].Seq)))
	}
	span.End()
}
