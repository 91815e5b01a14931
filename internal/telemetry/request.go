// Package telemetry is the gateway's request telemetry: OpenTelemetry tracing (the tracer
// provider behind --trace-exporter, the gRPC and HTTP instrumentation, a tracing wrapper of the
// store and of provider HTTP clients) and per-request structured logs with request ids.
//
// Nothing here records personal data: request and response messages, bodies, headers other
// than the request id, and applicants' addresses never reach a span or a log line, and
// exported spans pass through a redactor that drops client addresses and URL query strings.
//
// It must not import the server or provider adapters: the server and internal/app wire it in.
package telemetry

import (
	"context"
	"crypto/rand"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// RequestIDHeader is the header (and, lower-cased, the gRPC metadata key) that carries a
// request id in and out of the gateway and on to providers.
const RequestIDHeader = "X-Request-Id"

const requestIDKey = "x-request-id"

// maxRequestIDLen bounds a caller's request id: it is logged on every line and sent to
// providers, so an unbounded one would let a caller inflate both.
const maxRequestIDLen = 128

// Span attribute keys the gateway adds. None carries personal data.
const (
	AttrRequestID      = attribute.Key("kycgw.request_id")
	AttrTenant         = attribute.Key("kycgw.tenant")
	AttrVerificationID = attribute.Key("kycgw.verification_id")
	AttrProvider       = attribute.Key("kycgw.provider")
	AttrProgramID      = attribute.Key("kycgw.program_id")
)

// ValidRequestID reports whether a caller's request id is usable as given: 1 to 128 bytes of
// printable ASCII without spaces, so it cannot break a log line or a header.
func ValidRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// NewRequestID returns a fresh random request id (26 characters, 128 bits).
func NewRequestID() string { return rand.Text() }

// Request is what the telemetry of one request knows beyond the request itself: its id and
// what the server learns while handling it (the tenant once authenticated, the verification).
// The request's own goroutine sets it; the log line reads it when the handler has returned.
type Request struct {
	ID             string
	Tenant         string
	VerificationID string
	// logged: an inner layer (the gRPC interceptor on the REST path) wrote the request's line,
	// so the HTTP middleware around it does not write a second one.
	logged bool
}

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request telemetry in ctx, or nil.
func RequestFrom(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// RequestID is the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if r := RequestFrom(ctx); r != nil {
		return r.ID
	}
	return ""
}

// SetTenant records the authenticated tenant of the request ctx belongs to, for its log line
// and span.
func SetTenant(ctx context.Context, name string) {
	if r := RequestFrom(ctx); r != nil {
		r.Tenant = name
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(AttrTenant.String(name))
	}
}

// SetVerificationID records the verification the request ctx belongs to is about, for its log
// line and span.
func SetVerificationID(ctx context.Context, id string) {
	if id == "" {
		return
	}
	if r := RequestFrom(ctx); r != nil {
		r.VerificationID = id
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(AttrVerificationID.String(id))
	}
}

// requestIDTransport sends the request id of the call's context to the provider, so the
// provider's logs and support can be matched with the gateway's.
type requestIDTransport struct{ base http.RoundTripper }

func (t requestIDTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if id := RequestID(r.Context()); id != "" && r.Header.Get(RequestIDHeader) == "" {
		// A RoundTripper must not modify the caller's request.
		r = r.Clone(r.Context())
		r.Header.Set(RequestIDHeader, id)
	}
	return t.base.RoundTrip(r)
}
