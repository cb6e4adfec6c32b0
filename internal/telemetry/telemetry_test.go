package telemetry_test

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rewind-dev/rewind/internal/telemetry"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestFromEnv: off without an endpoint or when disabled; on with one,
// over either protocol; a value that cannot work is an error naming its
// variable.
func TestFromEnv(t *testing.T) {
	ctx := context.Background()
	for _, off := range []map[string]string{
		{},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"},
	} {
		if tr, err := telemetry.FromEnv(ctx, "rewind", "test", env(off)); tr != nil || err != nil {
			t.Errorf("%v: %v %v, want off", off, tr, err)
		}
	}
	for _, on := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/v1/traces", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
	} {
		tr, err := telemetry.FromEnv(ctx, "rewind", "test", env(on))
		if err != nil || tr == nil {
			t.Fatalf("%v: %v", on, err)
		}
		_ = tr.Shutdown(ctx)
	}
	for _, bad := range []struct {
		env   map[string]string
		names string
	}{
		{map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{"OTEL_PROPAGATORS": "b3"}, "OTEL_PROPAGATORS"},
	} {
		bad.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:1"
		if _, err := telemetry.FromEnv(ctx, "rewind", "test", env(bad.env)); err == nil || !strings.Contains(err.Error(), bad.names) {
			t.Errorf("%v: %v, want an error naming %s", bad.env, err, bad.names)
		}
	}
}

// TestSamplerKeepsLinkedToSampled: a span linked to a sampled span is
// kept whatever the base sampler says; others follow it.
func TestSamplerKeepsLinkedToSampled(t *testing.T) {
	s := telemetry.Sampler(sdktrace.NeverSample())
	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{2}, SpanID: trace.SpanID{2}})
	p := sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: trace.TraceID{3}, Name: "rewind.deliver"}
	if d := s.ShouldSample(p).Decision; d != sdktrace.Drop {
		t.Errorf("no link: %v", d)
	}
	p.Links = []trace.Link{{SpanContext: unsampled}}
	if d := s.ShouldSample(p).Decision; d != sdktrace.Drop {
		t.Errorf("an unsampled link: %v", d)
	}
	p.Links = append(p.Links, trace.Link{SpanContext: sampled})
	if d := s.ShouldSample(p).Decision; d != sdktrace.RecordAndSample {
		t.Errorf("a sampled link: %v", d)
	}
}
