package app_test

import (
	"net/http"
	"strings"
	"testing"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/config"
	"github.com/kycgw/kycgw/internal/metrics/metricstest"
	"github.com/kycgw/kycgw/internal/store/redistest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

const startRPC = `grpc_method="Start",grpc_service="kyc.v1.KycService",grpc_type="unary"`

// TestMetricsOfTheSandbox runs the sandbox with its metrics on a listener of their own: a
// Bond verification passes through a real signed webhook, its Start is replayed over REST and
// its key reused, a forged webhook is refused, and Atelio's outage opens its breaker. The
// scrape shows each of these, and none of the applicant's data or identifiers.
func TestMetricsOfTheSandbox(t *testing.T) {
	g := start(t, func(c *app.Config) { c.MetricsAddr = "127.0.0.1:0" })
	metricsURL := "http://" + g.app.MetricsAddr() + "/metrics"
	if g.app.MetricsAddr() == "" {
		t.Fatal("no metrics listener")
	}
	stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}

	const customer = "3c9d2e1f-8a7b-4c6d-9e0f-1a2b3c4d5e6f"
	req := customerStart(customer, "321-54-9876")
	req.Applicant.Phone, req.Applicant.Email, req.Applicant.Ip = "555-867-5309", "metrics.canary@example.org", "203.0.113.77"
	req.IdempotencyKey = "metrics-canary-key"
	resp, err := g.client.Start(g.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	vid := resp.GetVerification().GetVerificationId()
	until(t, stream, vid, kycv1.KycStatus_KYC_STATUS_PASSED)

	body, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := g.post("/v1/verifications:start", string(body), nil); code != http.StatusOK || out["replayed"] != true {
		t.Fatalf("REST replay: %d %v", code, out)
	}
	reused := customerStart(customer, "321-54-9876")
	reused.IdempotencyKey = req.IdempotencyKey
	if _, err := g.client.Start(g.ctx(), reused); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("reused key: %v, want ALREADY_EXISTS", err)
	}
	if code, _ := g.post("/webhooks/bond", `{"event":"kyc.verification.success"}`, map[string]string{"Bond-Signature": "t=1,v1=forged"}); code != http.StatusUnauthorized {
		t.Fatalf("forged webhook: %d, want 401", code)
	}

	g.put("/sandbox/atelio/_sandbox/faults", `{"error_rate":1}`)
	for range 5 {
		_, err := g.client.Start(g.ctx(), boStart("atelio", "b50063df-0b39-43f7-9458-25b08a75d42a", "2d5a1e70-2662-42a3-bb90-52e9bd450a62", "123-45-6789"))
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("Start during Atelio's outage: %v, want UNAVAILABLE", err)
		}
	}

	got, text := metricstest.Scrape(t, g.http, metricsURL)
	got.Check(t, metricstest.Samples{
		`grpc_server_handled_total{grpc_code="OK",` + startRPC + `}`:            2,
		`grpc_server_handled_total{grpc_code="AlreadyExists",` + startRPC + `}`: 1,
		`grpc_server_handled_total{grpc_code="Unavailable",` + startRPC + `}`:   5,

		`kycgw_provider_call_duration_seconds_count{operation="start",outcome="ok",provider="bond"}`: 1,
		`kycgw_provider_breaker_state{provider="atelio"}`:                                            2,
		`kycgw_provider_breaker_state{provider="bond"}`:                                              0,
		`kycgw_provider_breaker_state{provider="cloudpayments"}`:                                     0,
		`kycgw_provider_unknown_statuses_total{provider="bond"}`:                                     0,

		`kycgw_webhooks_received_total{provider="bond"}`:                        2,
		`kycgw_webhooks_verified_total{provider="bond"}`:                        1,
		`kycgw_webhooks_rejected_total{provider="bond",reason="bad_signature"}`: 1,
		`kycgw_webhook_duplicates_total{provider="bond"}`:                       0,

		`kycgw_events_appended_total{provider="bond",status="PENDING"}`: 1,
		`kycgw_events_appended_total{provider="bond",status="PASSED"}`:  1,

		`kycgw_idempotency_replays_total`:                    1,
		`kycgw_idempotency_conflicts_total{reason="reused"}`: 1,
		`kycgw_stream_subscribers`:                           1,
	})
	var atelioStarts, breakerOpen float64
	for s, v := range got {
		if strings.HasPrefix(s, "kycgw_provider_call_duration_seconds_count{") && strings.Contains(s, `provider="atelio"`) {
			atelioStarts += v
			if strings.Contains(s, `outcome="breaker_open"`) {
				breakerOpen += v
			}
		}
	}
	if atelioStarts != 5 || breakerOpen == 0 {
		t.Errorf("atelio calls: %v, of which %v refused by the open breaker; want 5, some", atelioStarts, breakerOpen)
	}
	for _, secret := range []string{"321-54-9876", "321549876", "555-867-5309", "5558675309", "metrics.canary",
		"203.0.113.77", vid, customer, "metrics-canary-key", config.DevAPIKey, "forged"} {
		if strings.Contains(text, secret) {
			t.Errorf("the scrape contains %q", secret)
		}
	}

	// The HTTP port no longer serves them.
	r, err := g.http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the HTTP port: %d, want 404", r.StatusCode)
	}
}

// TestMetricsRedisErrors: while Redis is down, the failing commands are counted by name; while
// it serves, nothing is (a blocking read that times out, a missing key and a script load are
// not failures).
func TestMetricsRedisErrors(t *testing.T) {
	r := redistest.Start(t)
	g := start(t, onRedis(r))
	if _, err := g.client.Start(g.ctx(), customerStart("6f5e4d3c-2b1a-4098-8765-43210fedcba9", "123-45-6789")); err != nil {
		t.Fatal(err)
	}
	errorsByCommand := func() map[string]float64 {
		got, _ := metricstest.Scrape(t, g.http, g.base+"/metrics")
		out := map[string]float64{}
		for s, v := range got {
			if cmd, ok := strings.CutPrefix(s, `kycgw_redis_errors_total{command="`); ok && v > 0 {
				out[strings.TrimSuffix(cmd, `"}`)] = v
			}
		}
		return out
	}
	if errs := errorsByCommand(); len(errs) != 0 {
		t.Fatalf("Redis errors while Redis serves: %v", errs)
	}

	r.Stop()
	_, err := g.client.Start(g.ctx(), customerStart("7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d", "123-45-6789"))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Start with Redis down: %v, want UNAVAILABLE", err)
	}
	errs := errorsByCommand()
	if len(errs) == 0 {
		t.Fatal("no Redis errors counted while Redis is down")
	}
	for cmd := range errs {
		if strings.Trim(cmd, "abcdefghijklmnopqrstuvwxyz") != "" {
			t.Errorf("command label %q is not a command name", cmd)
		}
	}
	r.Restart()
}
