package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/providertest"
	"github.com/kycgw/kycgw/server"
)

func webhookEnv(t *testing.T) (*env, *providertest.WebhookFake) {
	wf := &providertest.WebhookFake{Fake: providertest.Fake{ProviderName: "hooks"}}
	e := newEnv(t, func(c *server.Config, _ *store.MemoryOptions) {
		reg, err := providers.NewRegistry(wf)
		if err != nil {
			t.Fatal(err)
		}
		c.Providers = reg
		c.Tenants[0].Providers = []string{"hooks"}
		c.UnverifiedWebhookLimit = 5
	})
	return e, wf
}

func (e *env) deliver(signature, body string) int {
	req, _ := http.NewRequest(http.MethodPost, e.base+"/webhooks/hooks", strings.NewReader(body))
	req.Header.Set("X-Fake-Signature", signature)
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func hook(customer string, st providers.Status, at time.Time) string {
	return fmt.Sprintf(`{"customer_id":%q,"status":%d,"event":"ev-%s","occurred_at":%q}`, customer, st, st, at.Format(time.RFC3339Nano))
}

func TestUnverifiedWebhooksAreLimitedPerSource(t *testing.T) {
	e, _ := webhookEnv(t)
	for i := range 5 {
		if code := e.deliver("forged", `{"customer_id":"c"}`); code != http.StatusUnauthorized {
			t.Fatalf("forgery %d: %d, want 401", i, code)
		}
	}
	// Over the limit: refused before any verification, even a valid one, until the minute ends.
	if code := e.deliver("valid", hook("c", providers.StatusPassed, time.Now())); code != http.StatusTooManyRequests {
		t.Fatalf("after 5 forgeries: %d, want 429", code)
	}
}

func TestOutOfOrderWebhookTriggersStatusRead(t *testing.T) {
	e, wf := webhookEnv(t)
	req := validStart("cust-hint")
	req.Provider = "hooks"
	r, err := e.client.Start(e.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	vid := r.GetVerification().GetVerificationId()
	now := time.Now()
	if code := e.deliver("valid", hook("cust-hint", providers.StatusUnderReview, now)); code != http.StatusOK {
		t.Fatalf("under_review: %d", code)
	}
	// A late document_required: refused as a regression, but the provider is asked for the truth.
	wf.OnStatus = func(ctx context.Context, in providers.StatusInput) (providers.Result, error) {
		return providers.Result{Status: providers.StatusPassed, ProviderStatus: "passed"}, nil
	}
	if code := e.deliver("valid", hook("cust-hint", providers.StatusDocumentsRequired, now.Add(-time.Second))); code != http.StatusOK {
		t.Fatalf("late webhook: %d", code)
	}
	got, err := e.client.GetStatus(e.ctx(), &kycv1.GetStatusRequest{VerificationId: vid})
	if err != nil || got.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_PASSED {
		t.Fatalf("after the hint: %v, %v; want PASSED from the status read", got, err)
	}
	if calls := wf.StatusCalls(); len(calls) != 1 || calls[0].Subject.CustomerID != "cust-hint" || calls[0].ProgramID != program {
		t.Fatalf("status reads = %+v", calls)
	}
	// Duplicates are acknowledged and change nothing.
	if code := e.deliver("valid", hook("cust-hint", providers.StatusUnderReview, now)); code != http.StatusOK {
		t.Fatalf("duplicate: %d", code)
	}
	if len(wf.StatusCalls()) != 1 {
		t.Fatal("a duplicate triggered a status read")
	}
}
