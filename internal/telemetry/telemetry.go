// Package telemetry builds the OpenTelemetry tracer provider of Rewind's
// commands from the standard OTEL_* environment: on when an OTLP endpoint
// is set, off (no provider, nothing linked into the hot paths) otherwise.
// Only commands import it: the libraries take a trace.Tracer.
package telemetry

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// What the SDK and its exporters read by themselves, and what is read
// here.
//
// The OTLP exporters read OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS,
// _TIMEOUT, _COMPRESSION, _CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY
// and _INSECURE; the batch span processor OTEL_BSP_*; the span limits
// OTEL_SPAN_*_LIMIT; the resource OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES. The SDK would read OTEL_TRACES_SAMPLER(_ARG)
// too, but only where no sampler is given, and it logs a bad value and
// goes on with the default: here the sampler is built from the same
// values (so that it can also keep the spans linked to sampled appends,
// see Sampler) and a bad value stops the command. Read here as well:
// whether tracing is on (an endpoint, OTEL_SDK_DISABLED,
// OTEL_TRACES_EXPORTER), which exporter (OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL:
// http/protobuf, the default, or grpc) and the propagators
// (OTEL_PROPAGATORS: tracecontext and baggage).

// Tracing is a configured tracer provider.
type Tracing struct {
	provider    *sdktrace.TracerProvider
	propagators propagation.TextMapPropagator
	// Summary says in one line how tracing is set up, for the log.
	Summary string
}

// FromEnv builds tracing from the environment that getenv reads, or
// returns nil, nil when tracing is off: no OTLP endpoint is set,
// OTEL_SDK_DISABLED is true, or OTEL_TRACES_EXPORTER is none. An
// environment that cannot work (an unknown sampler, protocol, exporter or
// propagator) is an error that names the variable.
func FromEnv(ctx context.Context, service, version string, getenv func(string) string) (*Tracing, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		return nil, nil
	}
	switch exp := strings.ToLower(env("OTEL_TRACES_EXPORTER")); exp {
	case "", "otlp":
	case "none":
		return nil, nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: only otlp (or none) is built in; unset it, or send OTLP to a collector that exports to %s", exp, exp)
	}
	endpoint := env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = env("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint == "" {
		return nil, nil
	}
	sampler, samplerName, err := samplerFromEnv(env)
	if err != nil {
		return nil, err
	}
	props, err := propagatorsFromEnv(env)
	if err != nil {
		return nil, err
	}
	protocol := env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = env("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exporter sdktrace.SpanExporter
	switch protocol {
	case "", "http/protobuf":
		protocol = "http/protobuf"
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: use http/protobuf (the default) or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter (%s to %s): %w", protocol, endpoint, err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service), semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithSampler(Sampler(sampler)),
		sdktrace.WithResource(res),
	)
	return &Tracing{
		provider:    tp,
		propagators: props,
		Summary:     fmt.Sprintf("OTLP %s to %s, sampler %s", protocol, endpoint, samplerName),
	}, nil
}

// Provider is the tracer provider.
func (t *Tracing) Provider() trace.TracerProvider { return t.provider }

// Propagators are the propagators OTEL_PROPAGATORS names.
func (t *Tracing) Propagators() propagation.TextMapPropagator { return t.propagators }

// Shutdown exports the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }

// samplerFromEnv is the sampler OTEL_TRACES_SAMPLER and _ARG name, as the
// SDK reads them, with the SDK's default (parentbased_always_on).
func samplerFromEnv(env func(string) string) (sdktrace.Sampler, string, error) {
	name := strings.ToLower(env("OTEL_TRACES_SAMPLER"))
	arg := env("OTEL_TRACES_SAMPLER_ARG")
	ratio := func() (sdktrace.Sampler, error) {
		if arg == "" {
			return sdktrace.TraceIDRatioBased(1), nil
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil || v < 0 || v > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%s: a ratio from 0 to 1, such as 0.01 for 1%%", arg)
		}
		return sdktrace.TraceIDRatioBased(v), nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), "parentbased_always_on", nil
	case "always_on":
		return sdktrace.AlwaysSample(), name, nil
	case "always_off":
		return sdktrace.NeverSample(), name, nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), name, nil
	case "traceidratio":
		s, err := ratio()
		return s, name + " " + arg, err
	case "parentbased_traceidratio":
		s, err := ratio()
		if err != nil {
			return nil, "", err
		}
		return sdktrace.ParentBased(s), name + " " + arg, nil
	}
	return nil, "", fmt.Errorf("OTEL_TRACES_SAMPLER=%s: use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio", name)
}

func propagatorsFromEnv(env func(string) string) (propagation.TextMapPropagator, error) {
	v := env("OTEL_PROPAGATORS")
	if v == "" {
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}), nil
	}
	var props []propagation.TextMapPropagator
	for _, name := range strings.Split(v, ",") {
		switch name = strings.TrimSpace(name); name {
		case "tracecontext":
			props = append(props, propagation.TraceContext{})
		case "baggage":
			props = append(props, propagation.Baggage{})
		case "none":
		default:
			return nil, fmt.Errorf("OTEL_PROPAGATORS: %s is not built in: use tracecontext and baggage", name)
		}
	}
	return propagation.NewCompositeTextMapPropagator(props...), nil
}

// Sampler keeps, besides what base samples, every span linked to a
// sampled span: a delivery of an event whose append was sampled is kept
// whatever the sampling of the subscription that delivers it, so that a
// trace found by its append shows every delivery.
func Sampler(base sdktrace.Sampler) sdktrace.Sampler { return linked{base} }

type linked struct{ base sdktrace.Sampler }

func (s linked) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	for _, l := range p.Links {
		if l.SpanContext.IsSampled() {
			return sdktrace.SamplingResult{
				Decision:   sdktrace.RecordAndSample,
				Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState(),
			}
		}
	}
	return s.base.ShouldSample(p)
}

func (s linked) Description() string { return "LinkedOr{" + s.base.Description() + "}" }
