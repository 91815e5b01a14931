package app_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/kycgw/kycgw/internal/testkit"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// applicantPII is what customerStart sends about the applicant; none of it may leave the
// gateway in a span or a log line.
var applicantPII = []string{"123-45-6789", "123456789", "555-111-2222", "5551112222", "ada@example.com", "192.168.1.139"}

const startMethod = "kyc.v1.KycService/Start"

// TestTraceOfStart: with tracing on (the in-memory exporter, installed by the same setup
// --trace-exporter uses), a Start over gRPC is one trace: the gRPC server span, store spans and
// the provider's HTTP client span as its children, and the emulator's server span under that
// (the W3C trace context reached the provider). No attribute carries the applicant's data.
func TestTraceOfStart(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	g := start(t, func(c *app.Config) {
		c.Tracing = telemetry.TracingConfig{SpanExporter: exp, SampleRatio: 1}
	})
	req := customerStart("5b2e4f1a-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "123-45-6789")
	req.IdempotencyKey = "trace-1"
	ctx := metadata.AppendToOutgoingContext(g.ctx(), "x-request-id", "trace-req-1")
	resp, err := g.client.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	vid := resp.GetVerification().GetVerificationId()

	var root tracetest.SpanStub
	testkit.Eventually(t, "the Start server span", func() bool {
		for _, s := range exp.GetSpans() {
			if s.Name == startMethod && s.SpanKind == trace.SpanKindServer {
				root = s
				return true
			}
		}
		return false
	})
	var inTrace []tracetest.SpanStub
	testkit.Eventually(t, "the emulator's span", func() bool {
		inTrace = inTrace[:0]
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID() == root.SpanContext.TraceID() {
				inTrace = append(inTrace, s)
			}
		}
		return len(inTrace) >= 4
	})
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range inTrace {
		byID[s.SpanContext.SpanID()] = s
	}
	parentOf := func(s tracetest.SpanStub) string {
		if p, ok := byID[s.Parent.SpanID()]; ok {
			return p.Name
		}
		return "(none)"
	}
	var store, client, emulator []string
	for _, s := range inTrace {
		switch {
		case strings.HasPrefix(s.Name, "store."):
			if parentOf(s) != startMethod {
				t.Errorf("%s: parent %s, want %s", s.Name, parentOf(s), startMethod)
			}
			store = append(store, s.Name)
		case s.SpanKind == trace.SpanKindClient && strings.HasPrefix(s.Name, "provider bond "):
			if parentOf(s) != startMethod {
				t.Errorf("%s: parent %s, want %s", s.Name, parentOf(s), startMethod)
			}
			client = append(client, s.Name)
		case s.SpanKind == trace.SpanKindServer && s.Name != startMethod:
			if !strings.HasPrefix(parentOf(s), "provider bond ") {
				t.Errorf("%s: parent %s, want the provider client span", s.Name, parentOf(s))
			}
			emulator = append(emulator, s.Name)
		}
	}
	// A Start that succeeds claims its key and reads the verification in one call, then
	// records the outcome and its replayable response in another.
	if len(store) != 2 || len(client) == 0 || len(emulator) == 0 {
		t.Fatalf("trace of Start: store spans %v, provider client spans %v, emulator spans %v; want ClaimAndGet, Apply and at least one of each other", store, client, emulator)
	}
	for _, want := range []string{"store.ClaimAndGet", "store.Apply"} {
		if !strings.Contains(strings.Join(store, ","), want) {
			t.Errorf("store spans %v lack %s", store, want)
		}
	}
	attrs := map[attribute.Key]string{}
	for _, a := range root.Attributes {
		attrs[a.Key] = a.Value.Emit()
	}
	for k, want := range map[attribute.Key]string{
		telemetry.AttrRequestID: "trace-req-1", telemetry.AttrTenant: "dev",
		telemetry.AttrVerificationID: vid, telemetry.AttrProvider: "bond", telemetry.AttrProgramID: program,
	} {
		if attrs[k] != want {
			t.Errorf("server span %s = %q, want %q", k, attrs[k], want)
		}
	}

	// Over REST the HTTP server span is the parent: the gateway calls the service in process.
	code, _ := g.post("/v1/verifications:start", `{"provider":"bond","program_id":"`+program+`",
		"subject":{"customer_id":"8e5b7c4d-0f6a-4b1c-9d3e-4f5a6b7c8d9e"},"applicant":{"ssn":"123-45-6789","email":"ada@example.com"}}`, nil)
	if code != http.StatusOK {
		t.Fatalf("REST Start: %d", code)
	}
	testkit.Eventually(t, "the REST Start's provider span under its HTTP span", func() bool {
		spans := exp.GetSpans()
		for _, h := range spans {
			if h.Name != "POST /v1/" || h.SpanKind != trace.SpanKindServer {
				continue
			}
			for _, c := range spans {
				if c.Parent.SpanID() == h.SpanContext.SpanID() && strings.HasPrefix(c.Name, "provider bond ") {
					return true
				}
			}
		}
		return false
	})
	assertNoPII(t, spanText(exp.GetSpans()))
}

// spanText is everything a span exports as text: names, attributes, events, status.
func spanText(spans tracetest.SpanStubs) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintln(&b, s.Name, s.Status.Description)
		for _, a := range s.Attributes {
			fmt.Fprintln(&b, a.Key, a.Value.Emit())
		}
		for _, e := range s.Events {
			fmt.Fprintln(&b, e.Name)
			for _, a := range e.Attributes {
				fmt.Fprintln(&b, a.Key, a.Value.Emit())
			}
		}
		for _, a := range s.Resource.Attributes() {
			fmt.Fprintln(&b, a.Key, a.Value.Emit())
		}
	}
	return b.String()
}

func assertNoPII(t *testing.T, text string) {
	t.Helper()
	for _, p := range applicantPII {
		if strings.Contains(text, p) {
			t.Errorf("applicant data %q found in:\n%s", p, text)
		}
	}
}

// TestStdoutTraceExporter: --trace-exporter stdout writes the spans of a Start.
func TestStdoutTraceExporter(t *testing.T) {
	var out testkit.SyncBuffer
	g := start(t, func(c *app.Config) {
		c.Tracing = telemetry.TracingConfig{Exporter: telemetry.ExporterStdout, Writer: &out, SampleRatio: 1}
	})
	if _, err := g.client.Start(g.ctx(), customerStart("6c3f5a2b-8d4e-4f9a-8b1c-2d3e4f5a6b7c", "123-45-6789")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the Start span on the writer", func() bool {
		return strings.Contains(out.String(), `"Name": "`+startMethod+`"`)
	})
	if !strings.Contains(out.String(), `"SpanKind": 3`) { // client: the provider call
		t.Errorf("no client span written:\n%s", out.String())
	}
	assertNoPII(t, out.String())
}

type requestLine struct {
	Level          string  `json:"level"`
	Method         string  `json:"method"`
	Code           any     `json:"code"`
	Duration       float64 `json:"duration"`
	Tenant         string  `json:"tenant"`
	VerificationID string  `json:"verification_id"`
	RequestID      string  `json:"request_id"`
	Reason         string  `json:"reason"`
}

func requestLines(t *testing.T, logs string) []requestLine {
	t.Helper()
	var out []requestLine
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var l struct {
			Msg string `json:"msg"`
			requestLine
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if l.Msg == telemetry.RequestMsg {
			out = append(out, l.requestLine)
		}
	}
	return out
}

func linesWhere(lines []requestLine, f func(requestLine) bool) []requestLine {
	var out []requestLine
	for _, l := range lines {
		if f(l) {
			out = append(out, l)
		}
	}
	return out
}

// TestRequestLogs: each request makes exactly one log line with its method, code, duration,
// tenant, verification and request id, at the level its outcome calls for; the caller's
// x-request-id comes back and reaches the provider; no applicant data is logged.
func TestRequestLogs(t *testing.T) {
	var logs testkit.SyncBuffer
	g := start(t, func(c *app.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})

	// Start over gRPC with the caller's request id.
	var hdr metadata.MD
	ctx := metadata.AppendToOutgoingContext(g.ctx(), "x-request-id", "req-start-1")
	resp, err := g.client.Start(ctx, customerStart("7d4a6b3c-9e5f-4a0b-8c2d-3e4f5a6b7c8d", "123-45-6789"), grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("x-request-id"); len(got) != 1 || got[0] != "req-start-1" {
		t.Errorf("Start answered x-request-id %v, want [req-start-1]", got)
	}
	vid := resp.GetVerification().GetVerificationId()

	// A failing GetStatus, without a request id: the gateway makes one and returns it.
	missing := "vrf_" + strings.Repeat("a", 32)
	_, err = g.client.GetStatus(g.ctx(), &kycv1.GetStatusRequest{VerificationId: missing}, grpc.Header(&hdr))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("GetStatus of a missing verification: %v", err)
	}
	generated := hdr.Get("x-request-id")
	if len(generated) != 1 || !telemetry.ValidRequestID(generated[0]) {
		t.Fatalf("GetStatus answered x-request-id %v, want a generated id", generated)
	}

	// The same over REST: the X-Request-Id header, one line, no second gRPC-style header.
	req, _ := http.NewRequest(http.MethodGet, g.base+"/v1/verifications/"+missing, nil)
	req.Header.Set("X-Request-Id", "req-rest-1")
	rest, err := g.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rest.Body.Close()
	if rest.StatusCode != http.StatusNotFound || rest.Header.Get("X-Request-Id") != "req-rest-1" || rest.Header.Get("Grpc-Metadata-X-Request-Id") != "" {
		t.Errorf("REST GetStatus: %d, X-Request-Id %q, Grpc-Metadata-X-Request-Id %q; want 404, req-rest-1 and none",
			rest.StatusCode, rest.Header.Get("X-Request-Id"), rest.Header.Get("Grpc-Metadata-X-Request-Id"))
	}

	// Health checks are logged at debug, so probes do not flood the log.
	conn, err := grpc.NewClient(g.app.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(g.ctx(), "x-request-id", "req-health-1")
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}

	// The sandbox delivers the success webhook.
	isWebhook := func(l requestLine) bool { return l.Method == "POST /webhooks/{provider}" && l.VerificationID == vid }
	testkit.Eventually(t, "the webhook's log line", func() bool { return len(linesWhere(requestLines(t, logs.String()), isWebhook)) > 0 })

	lines := requestLines(t, logs.String())
	check := func(name string, f func(requestLine) bool, want requestLine) {
		t.Helper()
		got := linesWhere(lines, f)
		if len(got) != 1 {
			t.Errorf("%s: %d request lines, want 1: %+v", name, len(got), got)
			return
		}
		l := got[0]
		if l.Duration <= 0 {
			t.Errorf("%s: duration %v", name, l.Duration)
		}
		l.Duration = 0
		if l != want {
			t.Errorf("%s: got %+v, want %+v", name, l, want)
		}
	}
	check("Start", func(l requestLine) bool { return l.RequestID == "req-start-1" && strings.HasPrefix(l.Method, "/kyc") },
		requestLine{Level: "INFO", Method: "/" + startMethod, Code: "OK", Tenant: "dev", VerificationID: vid, RequestID: "req-start-1"})
	check("GetStatus", func(l requestLine) bool { return l.RequestID == generated[0] },
		requestLine{Level: "WARN", Method: "/kyc.v1.KycService/GetStatus", Code: "NotFound", Tenant: "dev", VerificationID: missing,
			RequestID: generated[0], Reason: "VERIFICATION_NOT_FOUND"})
	check("REST GetStatus", func(l requestLine) bool { return l.RequestID == "req-rest-1" },
		requestLine{Level: "WARN", Method: "/kyc.v1.KycService/GetStatus", Code: "NotFound", Tenant: "dev", VerificationID: missing,
			RequestID: "req-rest-1", Reason: "VERIFICATION_NOT_FOUND"})
	check("health", func(l requestLine) bool { return l.RequestID == "req-health-1" },
		requestLine{Level: "DEBUG", Method: "/grpc.health.v1.Health/Check", Code: "OK", RequestID: "req-health-1"})
	webhook := linesWhere(lines, isWebhook)
	if len(webhook) != 1 || webhook[0].Level != "INFO" || webhook[0].Code != float64(200) || !telemetry.ValidRequestID(webhook[0].RequestID) {
		t.Errorf("webhook lines %+v, want one at INFO with code 200 and a request id", webhook)
	}

	// The provider received the request id: the emulator's own request line (at debug, on the
	// gateway's port) carries the id the caller sent.
	atProvider := linesWhere(lines, func(l requestLine) bool {
		return strings.HasPrefix(l.Method, "POST /sandbox/bond/") && l.RequestID == "req-start-1"
	})
	if len(atProvider) == 0 || atProvider[0].Level != "DEBUG" {
		t.Errorf("the provider call's lines %+v: want the emulator to receive X-Request-Id req-start-1, logged at debug", atProvider)
	}
	assertNoPII(t, logs.String())
}
