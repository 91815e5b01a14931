package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// ServiceName is the service.name of the gateway's spans (OTEL_SERVICE_NAME overrides it).
const ServiceName = "kycgw"

// tracerName names the tracer of the spans this package makes itself (store calls).
const tracerName = "github.com/kycgw/kycgw/internal/telemetry"

// Exporters --trace-exporter accepts.
const (
	ExporterNone   = "none"
	ExporterStdout = "stdout"
	ExporterOTLP   = "otlp"
)

// TracingConfig selects where spans go. The zero value turns tracing off.
type TracingConfig struct {
	// Exporter is ExporterNone (or ""), ExporterStdout or ExporterOTLP. OTLP takes its endpoint,
	// headers, TLS and timeout from the standard OTEL_EXPORTER_OTLP_* environment variables.
	Exporter string
	// SampleRatio is the fraction of new traces recorded, in [0, 1] (the flag's default is 1);
	// a trace a caller already sampled is always recorded, one it did not sample never is
	// (parent-based).
	SampleRatio float64
	// Writer receives the stdout exporter's spans (default os.Stderr).
	Writer io.Writer
	// SpanExporter, when set, receives the spans instead of the exporter Exporter names. Tests
	// use it with an in-memory exporter to run exactly the setup the flag runs.
	SpanExporter sdktrace.SpanExporter
}

// Tracing is an installed tracer provider and the instrumentation built on it. A nil *Tracing
// is tracing turned off: its methods add nothing, so a call costs nothing either.
type Tracing struct {
	tp   *sdktrace.TracerProvider
	prop propagation.TextMapPropagator
}

// NewTracing builds the tracer provider cfg asks for, or returns nil when tracing is off.
// Callers Shutdown the result when they stop, which flushes what is buffered.
func NewTracing(ctx context.Context, cfg TracingConfig) (*Tracing, error) {
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("trace-sample-ratio: %v is not between 0 and 1", cfg.SampleRatio)
	}
	exp := cfg.SpanExporter
	// Spans are exported as they end where a person reads them (stdout) or a test waits for
	// them; a collector gets them in batches, off the request path.
	batch := false
	if exp == nil {
		var err error
		switch cfg.Exporter {
		case "", ExporterNone:
			return nil, nil
		case ExporterStdout:
			w := cfg.Writer
			if w == nil {
				w = os.Stderr
			}
			exp, err = stdouttrace.New(stdouttrace.WithWriter(w), stdouttrace.WithPrettyPrint())
		case ExporterOTLP:
			exp, err = otlptracegrpc.New(ctx)
			batch = true
		default:
			return nil, fmt.Errorf("trace-exporter: %q is not none, stdout or otlp", cfg.Exporter)
		}
		if err != nil {
			return nil, fmt.Errorf("trace-exporter %s: %w", cfg.Exporter, err)
		}
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", ServiceName)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	exp = redactingExporter{exp}
	proc := sdktrace.WithSyncer(exp)
	if batch {
		proc = sdktrace.WithBatcher(exp)
	}
	tp := sdktrace.NewTracerProvider(proc, sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))))
	return &Tracing{tp: tp, prop: propagation.TraceContext{}}, nil
}

// TracerProvider is the provider, or the no-op provider when tracing is off.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return noopProvider
	}
	return t.tp
}

// Shutdown flushes buffered spans and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// GRPCServerOptions makes every RPC a server span, continuing a caller's W3C trace context.
// Health checks are not traced: load balancers would flood the traces.
func (t *Tracing) GRPCServerOptions() []grpc.ServerOption {
	if t == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.tp), otelgrpc.WithPropagators(t.prop),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	))}
}

// GRPCClientOptions traces calls on a client connection and sends the trace context along
// (the REST gateway's in-process connection, so the server span continues the HTTP one).
func (t *Tracing) GRPCClientOptions() []grpc.DialOption {
	if t == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(t.tp), otelgrpc.WithPropagators(t.prop),
	))}
}

// HTTPHandler makes every request to h a server span (named by its route once routed),
// continuing a caller's W3C trace context. Probes (/healthz, /readyz, /metrics) are not traced.
func (t *Tracing) HTTPHandler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return otelhttp.NewHandler(h, "http",
		otelhttp.WithTracerProvider(t.tp), otelhttp.WithPropagators(t.prop),
		otelhttp.WithFilter(func(r *http.Request) bool { return !probe(r.URL.Path) }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern == "" {
				return "HTTP " + r.Method
			}
			return routeName(r.Method, r.Pattern)
		}),
	)
}

// Transport is the RoundTripper of provider instance provider's HTTP client over base (nil:
// http.DefaultTransport): it sends the request id along and, with tracing on, makes each
// request a client span and propagates the W3C trace context to the provider. Provider
// adapters take it as a plain RoundTripper and know nothing of either.
func (t *Tracing) Transport(provider string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if t != nil {
		base = otelhttp.NewTransport(base,
			otelhttp.WithTracerProvider(t.tp), otelhttp.WithPropagators(t.prop),
			otelhttp.WithSpanOptions(trace.WithAttributes(AttrProvider.String(provider))),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
				return "provider " + provider + " " + r.Method
			}),
		)
	}
	return requestIDTransport{base}
}

// probe reports whether path is a health, readiness or metrics probe.
func probe(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}
