package telemetry

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

var noopProvider = noop.NewTracerProvider()

// droppedAttrs are attributes the HTTP and gRPC instrumentation records that may name a person:
// the address a request came from (X-Forwarded-For may carry an applicant's, through a proxy in
// front of a client) and raw query strings (a provider call may carry identifiers in one).
var droppedAttrs = map[attribute.Key]bool{
	"client.address":       true,
	"client.port":          true,
	"network.peer.address": true,
	"network.peer.port":    true,
	"http.client_ip":       true,
	"net.peer.ip":          true,
	"net.sock.peer.addr":   true,
	"url.query":            true,
}

// queryAttrs are URL attributes kept without their query and fragment.
var queryAttrs = map[attribute.Key]bool{
	"url.full":    true,
	"http.url":    true,
	"http.target": true,
}

// redactingExporter removes what droppedAttrs and queryAttrs name from every span before the
// exporter sees it, whatever instrumentation recorded it, so no exporter can leak it.
type redactingExporter struct{ sdktrace.SpanExporter }

func (e redactingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = redactSpan(s)
	}
	return e.SpanExporter.ExportSpans(ctx, out)
}

func redactSpan(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	attrs := s.Attributes()
	clean := true
	for _, a := range attrs {
		if droppedAttrs[a.Key] || (queryAttrs[a.Key] && strings.ContainsAny(a.Value.AsString(), "?#")) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	kept := make([]attribute.KeyValue, 0, len(attrs))
	for _, a := range attrs {
		switch {
		case droppedAttrs[a.Key]:
		case queryAttrs[a.Key]:
			v := a.Value.AsString()
			if i := strings.IndexAny(v, "?#"); i >= 0 {
				v = v[:i]
			}
			kept = append(kept, a.Key.String(v))
		default:
			kept = append(kept, a)
		}
	}
	return redactedSpan{ReadOnlySpan: s, attrs: kept}
}

type redactedSpan struct {
	sdktrace.ReadOnlySpan
	attrs []attribute.KeyValue
}

func (s redactedSpan) Attributes() []attribute.KeyValue { return s.attrs }
