package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// RequestMsg is the message of every request log line.
const RequestMsg = "request"

// RequestLog writes one log line per gRPC call and per HTTP request, and gives each request an
// id: the caller's x-request-id when it is usable, else a fresh one, returned to the caller and
// sent on to providers.
//
// A line holds the method (the gRPC full method, or the HTTP method and route pattern: never a
// raw path, which holds ids), the code (gRPC code or HTTP status), the duration, the tenant,
// the verification id when there is one, the request id, and the trace id when traced. Never a
// message, a body or a header: those carry personal data. OK is logged at info, a caller's
// error at warn, a server-side failure (Internal, Unavailable, Unknown, DataLoss, 5xx) at error,
// and probes (gRPC health, /healthz, /readyz, /metrics, and the quiet routes) at debug.
type RequestLog struct {
	log   *slog.Logger
	quiet []string
}

// NewRequestLog writes to log. HTTP routes under a quietPrefixes entry (e.g. the sandbox
// emulators the gateway calls itself) are logged at debug like probes.
func NewRequestLog(log *slog.Logger, quietPrefixes ...string) *RequestLog {
	return &RequestLog{log: log, quiet: quietPrefixes}
}

// Unary is the gRPC unary server interceptor. It goes first, so that calls refused by later
// interceptors (authentication) are logged too. On the REST gateway's direct path the HTTP
// middleware has already made the request's id, which it keeps.
func (l *RequestLog) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	begin := time.Now()
	r := RequestFrom(ctx)
	if r == nil {
		r = &Request{ID: incomingRequestID(ctx)}
		ctx = WithRequest(ctx, r)
		_ = grpc.SetHeader(ctx, metadata.Pairs(requestIDKey, r.ID))
	} else if span := trace.SpanFromContext(ctx); span.IsRecording() {
		// The REST gateway's direct path: the span is the HTTP request's, named by its route
		// (one for every /v1/ call), so it names the method.
		span.SetAttributes(attribute.String("rpc.method", strings.TrimPrefix(info.FullMethod, "/")))
	}
	annotate(ctx, r, req)
	resp, err := handler(ctx, req)
	if r.VerificationID == "" {
		SetVerificationID(ctx, verificationIDOf(req, resp))
	}
	r.logged = true
	l.logRPC(ctx, info.FullMethod, err, time.Since(begin), r)
	return resp, err
}

// Stream is the gRPC stream server interceptor; see Unary. The verification id comes from the
// first request message.
func (l *RequestLog) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	begin := time.Now()
	ctx := ss.Context()
	r := RequestFrom(ctx)
	if r == nil {
		r = &Request{ID: incomingRequestID(ctx)}
		ctx = WithRequest(ctx, r)
		_ = ss.SetHeader(metadata.Pairs(requestIDKey, r.ID))
	}
	annotate(ctx, r, nil)
	err := handler(srv, &requestStream{ServerStream: ss, ctx: ctx, r: r})
	r.logged = true
	l.logRPC(ctx, info.FullMethod, err, time.Since(begin), r)
	return err
}

// Delegate is a stream client interceptor for the REST gateway's in-process connection: the
// gRPC server behind it logs the call (with its gRPC method and code), so the HTTP middleware
// does not log the same request again.
func Delegate(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if r := RequestFrom(ctx); r != nil {
		r.logged = true
	}
	return streamer(ctx, desc, cc, method, opts...)
}

type requestStream struct {
	grpc.ServerStream
	ctx  context.Context
	r    *Request
	seen bool
}

func (s *requestStream) Context() context.Context { return s.ctx }

func (s *requestStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil && !s.seen {
		s.seen = true
		SetVerificationID(s.ctx, verificationIDOf(m, nil))
		annotate(s.ctx, nil, m)
	}
	return err
}

// incomingRequestID is the caller's request id when usable, else a fresh one.
func incomingRequestID(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, requestIDKey); len(v) > 0 && ValidRequestID(v[0]) {
		return v[0]
	}
	return NewRequestID()
}

// annotate adds the request id (when r is set) and the request's provider instance and program
// to the current span. Nothing else of the request: it carries personal data.
func annotate(ctx context.Context, r *Request, req any) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if r != nil {
		span.SetAttributes(AttrRequestID.String(r.ID))
	}
	if p, ok := req.(interface{ GetProvider() string }); ok && p.GetProvider() != "" {
		span.SetAttributes(AttrProvider.String(p.GetProvider()))
	}
	if p, ok := req.(interface{ GetProgramId() string }); ok && p.GetProgramId() != "" {
		span.SetAttributes(AttrProgramID.String(p.GetProgramId()))
	}
}

// verificationIDOf is the verification a call is about: named by the request (GetStatus, a
// stream's filter) or by the response (Start).
func verificationIDOf(req, resp any) string {
	if v, ok := req.(interface{ GetVerificationId() string }); ok && v.GetVerificationId() != "" {
		return v.GetVerificationId()
	}
	if v, ok := resp.(interface{ GetVerification() *kycv1.Verification }); ok {
		return v.GetVerification().GetVerificationId()
	}
	return ""
}

func (l *RequestLog) logRPC(ctx context.Context, method string, err error, d time.Duration, r *Request) {
	code := status.Code(err)
	level := rpcLevel(code)
	if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		level = slog.LevelDebug
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs, slog.String("method", method), slog.String("code", code.String()))
	if err != nil {
		if reason := reasonOf(err); reason != "" {
			attrs = append(attrs, slog.String("reason", reason))
		}
	}
	l.write(ctx, level, attrs, d, r)
}

func (l *RequestLog) write(ctx context.Context, level slog.Level, attrs []slog.Attr, d time.Duration, r *Request) {
	attrs = append(attrs, slog.Duration("duration", d))
	if r.Tenant != "" {
		attrs = append(attrs, slog.String("tenant", r.Tenant))
	}
	if r.VerificationID != "" {
		attrs = append(attrs, slog.String("verification_id", r.VerificationID))
	}
	attrs = append(attrs, slog.String("request_id", r.ID))
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	l.log.LogAttrs(ctx, level, RequestMsg, attrs...)
}

// rpcLevel: the caller's mistakes are warnings, the gateway's and its dependencies' failures
// are errors. A cancelled call is the caller hanging up (how every stream ends): info.
func rpcLevel(c codes.Code) slog.Level {
	switch c {
	case codes.OK, codes.Canceled:
		return slog.LevelInfo
	case codes.Internal, codes.Unavailable, codes.Unknown, codes.DataLoss:
		return slog.LevelError
	}
	return slog.LevelWarn
}

// reasonOf is the google.rpc.ErrorInfo reason of an error, which clients switch on; the
// status message is not logged.
func reasonOf(err error) string {
	s, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range s.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei.GetReason()
		}
	}
	return ""
}

// HTTP is the middleware of the HTTP port. Put it inside Tracing.HTTPHandler, right around the
// ServeMux: it reads the route pattern the mux sets, and hands it back out for the span name.
func (l *RequestLog) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begin := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !ValidRequestID(id) {
			id = NewRequestID()
			// The REST gateway forwards this header as gRPC metadata, so the gRPC side of a
			// REST call keeps the same id.
			r.Header.Set(RequestIDHeader, id)
		}
		w.Header().Set(RequestIDHeader, id)
		req := &Request{ID: id}
		ctx := WithRequest(r.Context(), req)
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.SetAttributes(AttrRequestID.String(id))
		}
		sw := &statusWriter{ResponseWriter: w}
		inner := r.WithContext(ctx)
		next.ServeHTTP(sw, inner)
		// The mux routed the copy; the tracing handler outside reads the pattern from r.
		r.Pattern = inner.Pattern
		if req.logged {
			return
		}
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		level := httpLevel(code)
		if l.quietRoute(r.URL.Path, inner.Pattern) {
			level = slog.LevelDebug
		}
		if !l.log.Enabled(ctx, level) {
			return
		}
		method := r.Method + " unmatched"
		if inner.Pattern != "" {
			method = routeName(r.Method, inner.Pattern)
		}
		attrs := make([]slog.Attr, 0, 8)
		attrs = append(attrs, slog.String("method", method), slog.Int("code", code))
		if p := inner.PathValue("provider"); p != "" {
			attrs = append(attrs, slog.String("provider", p))
		}
		l.write(ctx, level, attrs, time.Since(begin), req)
	})
}

func (l *RequestLog) quietRoute(path, pattern string) bool {
	if probe(path) {
		return true
	}
	_, route, _ := strings.Cut(pattern, " ")
	if route == "" {
		route = pattern
	}
	for _, p := range l.quiet {
		if strings.HasPrefix(route, p) {
			return true
		}
	}
	return false
}

func httpLevel(code int) slog.Level {
	switch {
	case code >= 500:
		return slog.LevelError
	case code >= 400:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// routeName is "METHOD /route" for a ServeMux pattern, which may or may not name a method.
func routeName(method, pattern string) string {
	if strings.Contains(pattern, " ") {
		return pattern
	}
	return method + " " + pattern
}

// statusWriter remembers the status code. It passes Flush on (the event stream flushes each
// event) and unwraps for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
