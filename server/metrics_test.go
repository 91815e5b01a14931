package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/metrics/metricstest"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/providertest"
	"github.com/kycgw/kycgw/server"
	"google.golang.org/grpc/codes"
)

const kyc = `grpc_service="kyc.v1.KycService",grpc_type="unary"`

// TestMetrics drives a real server over gRPC, REST and webhooks, then scrapes /metrics on the
// HTTP port and checks each series the gateway exports, and that no personal data or
// identifier of a verification reaches it.
func TestMetrics(t *testing.T) {
	wf := &providertest.WebhookFake{Fake: providertest.Fake{ProviderName: "hooks"}}
	plain := &providertest.Fake{ProviderName: "plain"}
	e := newEnv(t, func(c *server.Config, _ *store.MemoryOptions) {
		reg, err := providers.NewRegistry(wf, plain)
		if err != nil {
			t.Fatal(err)
		}
		c.Providers = reg
		c.Tenants[0].Providers = []string{"hooks", "plain"}
		c.ProviderStates = func() map[string]string { return map[string]string{"hooks": "open", "plain": "closed"} }
	})

	stream, err := e.client.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, e, 1)

	// Start over gRPC (the applicant carries an SSN, a phone, an email and an IP), its replay
	// over REST, a conflicting reuse of the key, and a second verification over REST.
	req := validStart("cust-metrics-1")
	req.Provider = "hooks"
	req.IdempotencyKey = "metrics-key-1"
	first, err := e.client.Start(e.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	vid := first.GetVerification().GetVerificationId()
	code, out := e.post("/v1/verifications:start", protoJSON(t, req), nil)
	if code != http.StatusOK || out["replayed"] != true {
		t.Fatalf("REST replay: %d %v", code, out)
	}
	changed := validStart("cust-metrics-1")
	changed.Provider = "hooks"
	changed.IdempotencyKey = "metrics-key-1"
	changed.Applicant.Email = "someone.else@example.com"
	_, err = e.client.Start(e.ctx(), changed)
	wantCode(t, err, codes.AlreadyExists, server.ReasonIdempotencyKeyReused)
	second := validStart("cust-metrics-2")
	second.Provider = "hooks"
	if code, out := e.post("/v1/verifications:start", protoJSON(t, second), nil); code != http.StatusOK {
		t.Fatalf("REST start: %d %v", code, out)
	}
	// A provider answer with a status nobody mapped.
	wf.OnStart = func(context.Context, providers.StartInput) (providers.Result, error) {
		return providers.Result{}, &providers.UnknownStatusError{Provider: "hooks", Value: "surprise"}
	}
	third := validStart("cust-metrics-3")
	third.Provider = "hooks"
	_, err = e.client.Start(e.ctx(), third)
	wantCode(t, err, codes.Internal, server.ReasonUnknownProviderStatus)

	// Webhooks: signed, the same again (a duplicate), a bad signature, a signed but malformed
	// body, and a path that names no provider.
	passed := hook("cust-metrics-1", providers.StatusPassed, time.Now())
	for _, c := range []struct {
		sig, body string
		want      int
	}{
		{"valid", passed, http.StatusOK},
		{"valid", passed, http.StatusOK},
		{"forged", passed, http.StatusUnauthorized},
		{"valid", "{not json", http.StatusBadRequest},
	} {
		if code := e.deliver(c.sig, c.body); code != c.want {
			t.Fatalf("webhook %s %.20s: %d, want %d", c.sig, c.body, code, c.want)
		}
	}
	resp, err := e.http.Post(e.base+"/webhooks/ssn-123-45-6789", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("webhook to an unknown provider: %d", resp.StatusCode)
	}
	recvN(t, stream, 3) // two PENDING, one PASSED: everything above has been dispatched

	got, text := metricstest.Scrape(t, e.http, e.base+"/metrics")
	got.Check(t, metricstest.Samples{
		// gRPC and REST calls alike, by method and code.
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Start",` + kyc + `}`:                                        3,
		`grpc_server_handled_total{grpc_code="AlreadyExists",grpc_method="Start",` + kyc + `}`:                             1,
		`grpc_server_handled_total{grpc_code="Internal",grpc_method="Start",` + kyc + `}`:                                  1,
		`grpc_server_handling_seconds_count{grpc_method="Start",` + kyc + `}`:                                              5,
		`grpc_server_started_total{grpc_method="StreamEvents",grpc_service="kyc.v1.KycService",grpc_type="server_stream"}`: 1,
		// Initialized at zero before any call.
		`grpc_server_handled_total{grpc_code="OK",grpc_method="GetStatus",` + kyc + `}`: 0,

		`kycgw_provider_call_duration_seconds_count{operation="start",outcome="ok",provider="hooks"}`:             2,
		`kycgw_provider_call_duration_seconds_count{operation="start",outcome="unknown_status",provider="hooks"}`: 1,
		`kycgw_provider_unknown_statuses_total{provider="hooks"}`:                                                 1,
		`kycgw_provider_unknown_statuses_total{provider="plain"}`:                                                 0,
		`kycgw_provider_breaker_state{provider="hooks"}`:                                                          2,
		`kycgw_provider_breaker_state{provider="plain"}`:                                                          0,

		`kycgw_webhooks_received_total{provider="hooks"}`:                         4,
		`kycgw_webhooks_verified_total{provider="hooks"}`:                         2,
		`kycgw_webhooks_rejected_total{provider="hooks",reason="bad_signature"}`:  1,
		`kycgw_webhooks_rejected_total{provider="hooks",reason="malformed"}`:      1,
		`kycgw_webhooks_rejected_total{provider="hooks",reason="unknown_status"}`: 0,
		`kycgw_webhook_duplicates_total{provider="hooks"}`:                        1,
		`kycgw_webhooks_received_total{provider="_unknown"}`:                      1,
		`kycgw_webhooks_rejected_total{provider="_unknown",reason="no_receiver"}`: 1,

		`kycgw_events_appended_total{provider="hooks",status="PENDING"}`: 2,
		`kycgw_events_appended_total{provider="hooks",status="PASSED"}`:  1,
		`kycgw_events_appended_total{provider="plain",status="PASSED"}`:  0,

		`kycgw_idempotency_replays_total`:                       1,
		`kycgw_idempotency_conflicts_total{reason="reused"}`:    1,
		`kycgw_idempotency_conflicts_total{reason="in_flight"}`: 0,

		`kycgw_stream_subscribers`:                              1,
		`kycgw_stream_subscribers_dropped_total{reason="slow"}`: 0,
	})
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := got[series]; !ok {
			t.Errorf("%s: missing (Go and process collectors)", series)
		}
	}

	// Nothing a caller sent, and no identifier of a verification, is in the scrape.
	for _, secret := range []string{
		"123-45-6789", "123456789", "555-111-2222", "5551112222", "ada@example.com", "someone.else",
		"192.168.1.139", vid, "cust-metrics", "metrics-key-1", testKey, "ssn-", "surprise",
	} {
		if strings.Contains(text, secret) {
			t.Errorf("the scrape contains %q", secret)
		}
	}
}

// TestMetricsOwnListener serves /metrics on its own listener, and then not on the HTTP port.
func TestMetricsOwnListener(t *testing.T) {
	e := newEnv(t, func(c *server.Config, _ *store.MemoryOptions) { c.MetricsAddr = "127.0.0.1:0" })
	addr := e.srv.MetricsAddr()
	if addr == nil {
		t.Fatal("no metrics listener")
	}
	if _, err := e.client.Start(e.ctx(), validStart("cust-own-listener")); err != nil {
		t.Fatal(err)
	}
	got, _ := metricstest.Scrape(t, e.http, "http://"+addr.String()+"/metrics")
	got.Check(t, metricstest.Samples{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Start",` + kyc + `}`:                  1,
		`kycgw_provider_call_duration_seconds_count{operation="start",outcome="ok",provider="fake"}`: 1,
	})
	if code, _ := e.get("/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the HTTP port: %d, want 404", code)
	}
}

// TestMetricsDefaultOnHTTPPort: without a listener of their own, a server that was given no
// Metrics still serves its own.
func TestMetricsDefaultOnHTTPPort(t *testing.T) {
	e := newEnv(t)
	if e.srv.MetricsAddr() != nil {
		t.Fatal("a metrics listener without MetricsAddr")
	}
	got, _ := metricstest.Scrape(t, e.http, e.base+"/metrics")
	got.Check(t, metricstest.Samples{`kycgw_stream_subscribers`: 0})
}
