package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/testkit"

	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/internal/telemetry"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, id string
		want     bool
	}{
		{"uuid", "0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"one char", "a", true},
		{"empty", "", false},
		{"space", "a b", false},
		{"newline", "a\nlevel=error", false},
		{"non ascii", "idé", false},
		{"max length", strings.Repeat("x", 128), true},
		{"too long", strings.Repeat("x", 129), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := telemetry.ValidRequestID(tc.id); got != tc.want {
				t.Errorf("ValidRequestID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
	if id := telemetry.NewRequestID(); !telemetry.ValidRequestID(id) || id == telemetry.NewRequestID() {
		t.Errorf("NewRequestID() = %q: want a valid id, different each time", id)
	}
}

func newTracing(t *testing.T) (*telemetry.Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingConfig{SpanExporter: exp, SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

func TestNewTracingOff(t *testing.T) {
	t.Parallel()
	for _, exp := range []string{"", "none"} {
		tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingConfig{Exporter: exp})
		if err != nil || tr != nil {
			t.Errorf("NewTracing(%q) = %v, %v; want nil, nil (off)", exp, tr, err)
		}
	}
	if _, err := telemetry.NewTracing(context.Background(), telemetry.TracingConfig{Exporter: "jaeger"}); err == nil {
		t.Error("NewTracing(jaeger): no error")
	}
	if _, err := telemetry.NewTracing(context.Background(), telemetry.TracingConfig{Exporter: "stdout", SampleRatio: 2}); err == nil {
		t.Error("NewTracing with sample ratio 2: no error")
	}
	// Off, every piece is a pass-through.
	var off *telemetry.Tracing
	if off.GRPCServerOptions() != nil || off.GRPCClientOptions() != nil || off.Shutdown(context.Background()) != nil {
		t.Error("tracing off adds options")
	}
	st := store.NewMemory(store.MemoryOptions{})
	if off.Store(st) != store.Store(st) {
		t.Error("tracing off wraps the store")
	}
	if _, ok := off.TracerProvider().Tracer("x").Start(context.Background(), "s"); ok.IsRecording() {
		t.Error("tracing off records spans")
	}
	if h := http.NotFoundHandler(); off.HTTPHandler(h) == nil {
		t.Error("tracing off drops the handler")
	}
}

// TestSampleRatioZero: no new traces, but a caller's sampled trace is continued.
func TestSampleRatioZero(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingConfig{SpanExporter: exp, SampleRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	tracer := tr.TracerProvider().Tracer("test")
	_, root := tracer.Start(context.Background(), "root")
	root.End()
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	_, child := tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), remote), "child")
	child.End()
	var names []string
	for _, s := range exp.GetSpans() {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "child" {
		t.Errorf("recorded %v, want only the child of the sampled caller", names)
	}
}

func TestStdoutExporter(t *testing.T) {
	t.Parallel()
	var buf testkit.SyncBuffer
	tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingConfig{Exporter: "stdout", Writer: &buf, SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "stdout-span")
	span.End()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"Name": "stdout-span"`, `"Value": "kycgw"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout exporter output lacks %s:\n%s", want, out)
		}
	}
}

// TestTransport: a provider call made within a traced request carries the request id and the
// W3C trace context, and is a client span child of the request's span, without its query.
func TestTransport(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	tr, exp := newTracing(t)
	client := &http.Client{Transport: tr.Transport("bond", srv.Client().Transport)}
	ctx := telemetry.WithRequest(context.Background(), &telemetry.Request{ID: "req-123"})
	ctx, parent := tr.TracerProvider().Tracer("test").Start(ctx, "parent")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/kyc-ms/getToken?deviceId=phone-1", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent.End()
	if req.Header.Get(telemetry.RequestIDHeader) != "" {
		t.Error("the transport modified the caller's request")
	}

	mu.Lock()
	defer mu.Unlock()
	if id := got.Get("X-Request-Id"); id != "req-123" {
		t.Errorf("provider got X-Request-Id %q, want req-123", id)
	}
	tp := got.Get("Traceparent")
	if !strings.Contains(tp, parent.SpanContext().TraceID().String()) {
		t.Errorf("provider got traceparent %q, want trace %s", tp, parent.SpanContext().TraceID())
	}
	spans := exp.GetSpans()
	var client0 *tracetest.SpanStub
	for i := range spans {
		if spans[i].SpanKind == trace.SpanKindClient {
			client0 = &spans[i]
		}
	}
	if client0 == nil {
		t.Fatalf("no client span in %d spans", len(spans))
	}
	if client0.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("client span's parent %s, want %s", client0.Parent.SpanID(), parent.SpanContext().SpanID())
	}
	attrs := map[string]string{}
	for _, a := range client0.Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["kycgw.provider"] != "bond" {
		t.Errorf("kycgw.provider = %q, want bond", attrs["kycgw.provider"])
	}
	if u := attrs["url.full"]; u != srv.URL+"/kyc-ms/getToken" {
		t.Errorf("url.full = %q, want it without the query", u)
	}
	for k, v := range attrs {
		if strings.Contains(v, "phone-1") {
			t.Errorf("attribute %s = %q carries the query", k, v)
		}
	}

	// Tracing off: the request id still goes, no trace context.
	var off *telemetry.Tracing
	client = &http.Client{Transport: off.Transport("bond", srv.Client().Transport)}
	req, _ = http.NewRequestWithContext(telemetry.WithRequest(context.Background(), &telemetry.Request{ID: "req-456"}), http.MethodGet, srv.URL, nil)
	mu.Unlock()
	resp, err = client.Do(req)
	mu.Lock()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.Get("X-Request-Id") != "req-456" || got.Get("Traceparent") != "" {
		t.Errorf("tracing off: X-Request-Id %q, traceparent %q; want req-456 and none", got.Get("X-Request-Id"), got.Get("Traceparent"))
	}
}

type logLine map[string]any

func parseLines(t *testing.T, b []byte) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if l["msg"] == telemetry.RequestMsg {
			out = append(out, l)
		}
	}
	return out
}

// TestHTTPMiddleware: one line per request with the route pattern (not the path), the status,
// the level by status, the request id echoed; probes and quiet routes at debug; the route
// names the server span.
func TestHTTPMiddleware(t *testing.T) {
	t.Parallel()
	var buf testkit.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr, exp := newTracing(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/{provider}", func(w http.ResponseWriter, r *http.Request) {
		telemetry.SetVerificationID(r.Context(), "vrf_abc")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /boom/{id}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	})
	mux.Handle("/sandbox/", http.NotFoundHandler())
	srv := httptest.NewServer(tr.HTTPHandler(telemetry.NewRequestLog(log, "/sandbox/").HTTP(mux)))
	defer srv.Close()

	do := func(method, path, id string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if got := do("POST", "/webhooks/bond", "caller-id-1").Header.Get("X-Request-Id"); got != "caller-id-1" {
		t.Errorf("X-Request-Id echoed %q, want caller-id-1", got)
	}
	generated := do("GET", "/boom/secret-id-42", "bad id").Header.Get("X-Request-Id")
	if !telemetry.ValidRequestID(generated) || generated == "bad id" {
		t.Errorf("invalid caller id answered with %q, want a fresh id", generated)
	}
	do("GET", "/healthz", "")
	do("GET", "/sandbox/bond/x", "")
	do("GET", "/nowhere/secret-id-43", "")

	lines := parseLines(t, buf.Bytes())
	want := []struct {
		method, level string
		code          float64
	}{
		{"POST /webhooks/{provider}", "INFO", 200},
		{"GET /boom/{id}", "ERROR", 503},
		{"GET /healthz", "DEBUG", 200},
		{"GET /sandbox/", "DEBUG", 404},
		{"GET unmatched", "WARN", 404},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d request lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		l := lines[i]
		if l["method"] != w.method || l["level"] != w.level || l["code"] != w.code {
			t.Errorf("line %d: method %v level %v code %v, want %s %s %v", i, l["method"], l["level"], l["code"], w.method, w.level, w.code)
		}
		if _, ok := l["duration"]; !ok {
			t.Errorf("line %d has no duration", i)
		}
		if id, _ := l["request_id"].(string); !telemetry.ValidRequestID(id) {
			t.Errorf("line %d: request_id %q", i, id)
		}
	}
	if lines[0]["request_id"] != "caller-id-1" || lines[0]["provider"] != "bond" || lines[0]["verification_id"] != "vrf_abc" {
		t.Errorf("webhook line = %v, want request_id caller-id-1, provider bond, verification_id vrf_abc", lines[0])
	}
	if lines[1]["request_id"] != generated {
		t.Errorf("line request_id %v, want the id answered (%s)", lines[1]["request_id"], generated)
	}
	if strings.Contains(buf.String(), "secret-id-4") {
		t.Errorf("raw paths logged:\n%s", buf.String())
	}

	// Probes make no span; others are named by their route, carry the request id and no
	// client address.
	names := map[string]bool{}
	for _, s := range exp.GetSpans() {
		names[s.Name] = true
		for _, a := range s.Attributes {
			switch a.Key {
			case "client.address", "network.peer.address":
				t.Errorf("span %s records %s", s.Name, a.Key)
			case "kycgw.request_id":
				if s.Name == "POST /webhooks/{provider}" && a.Value.AsString() != "caller-id-1" {
					t.Errorf("webhook span request id %q", a.Value.AsString())
				}
			}
		}
	}
	if !names["POST /webhooks/{provider}"] || !names["GET /boom/{id}"] || names["GET /healthz"] {
		t.Errorf("span names %v: want the routes, no probe", names)
	}
}

func TestStoreSpans(t *testing.T) {
	t.Parallel()
	tr, exp := newTracing(t)
	st := tr.Store(store.NewMemory(store.MemoryOptions{}))
	// Outside a trace: no span.
	if _, err := st.Get(context.Background(), "vrf_x"); err == nil {
		t.Fatal("Get of a missing verification succeeded")
	}
	ctx, parent := tr.TracerProvider().Tracer("test").Start(context.Background(), "parent")
	if _, _, err := st.ClaimAndGet(ctx, "k", "fp", time.Minute, "vrf_z"); err != nil {
		t.Fatal(err)
	}
	_, _ = st.Get(ctx, "vrf_y")
	parent.End()
	var got []string
	for _, s := range exp.GetSpans() {
		if s.Name != "parent" {
			got = append(got, s.Name)
			if s.Parent.SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("%s is not a child of the request span", s.Name)
			}
			if s.Status.Code != 0 {
				t.Errorf("%s status %v: a missing verification is not an error", s.Name, s.Status)
			}
		}
	}
	if strings.Join(got, ",") != "store.ClaimAndGet,store.Get" {
		t.Errorf("store spans %v, want store.ClaimAndGet, store.Get", got)
	}
}
