package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/cpemu"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/config"
)

func fastPolling(c *app.Config) {
	c.Providers = config.Default()
	for i := range c.Providers.Providers {
		c.Providers.Providers[i].PollInterval = config.Duration(50 * time.Millisecond)
	}
}

// signUp registers a user at the gateway's CloudPayments sandbox and signs in, as the README
// shows.
func (g *gateway) signUp(username string) (uuid, access, refresh string) {
	g.t.Helper()
	u, err := cpemu.SignUp(context.Background(), g.http, g.base+"/sandbox/cloudpayments", username)
	if err != nil {
		g.t.Fatal(err)
	}
	return u.UUID, u.AccessToken, u.RefreshToken
}

func cpStart(uuid, access, refresh, workflow string) *kycv1.StartRequest {
	in := &kycv1.CloudPaymentsInput{AccessToken: access, RefreshToken: refresh, DeviceId: "device-1"}
	if workflow != "" {
		in.AccountId, in.WorkflowId = "acct-1", workflow
	}
	return &kycv1.StartRequest{
		Provider: "cloudpayments", ProgramId: program,
		Subject:       &kycv1.Subject{Kind: &kycv1.Subject_UserId{UserId: uuid}},
		ProviderInput: &kycv1.StartRequest_Cloudpayments{Cloudpayments: in},
	}
}

func TestCloudPaymentsSDKFlowPassesByPolling(t *testing.T) {
	g := start(t, fastPolling)
	uuid, access, refresh := g.signUp("jamessmith")
	stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0", Provider: "cloudpayments"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := g.client.Start(g.ctx(), cpStart(uuid, access, refresh, ""))
	if err != nil {
		t.Fatal(err)
	}
	sdk := first.GetVerification().GetNextAction().GetRunProviderSdk()
	if sdk.GetToken() == "" || sdk.GetVendor() != "JUMIO" || first.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_INCOMPLETE {
		t.Fatalf("Start without SDK result = %v", first)
	}
	second, err := g.client.Start(g.ctx(), cpStart(uuid, access, refresh, "wf-approve-1"))
	if err != nil {
		t.Fatal(err)
	}
	if second.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_UNDER_REVIEW {
		t.Fatalf("Start with SDK result = %v", second)
	}
	evs := until(t, stream, first.GetVerification().GetVerificationId(), kycv1.KycStatus_KYC_STATUS_PASSED)
	last := evs[len(evs)-1]
	if last.GetSource() != kycv1.EventSource_EVENT_SOURCE_POLL || last.GetProviderEvent() != "APPROVED_VERIFIED" {
		t.Fatalf("PASSED event = %v", last)
	}
	for _, ev := range evs {
		if strings.Contains(fmt.Sprint(ev), sdk.GetToken()) || strings.Contains(fmt.Sprint(ev), access) {
			t.Fatalf("event carries a credential: %v", ev)
		}
	}
	// Already approved at the provider: refused.
	_, err = g.client.Start(g.ctx(), cpStart(uuid, access, refresh, ""))
	if err == nil || !strings.Contains(err.Error(), "already passed") {
		t.Fatalf("Start after approval: %v", err)
	}
}

func TestCloudPaymentsNeedResubmit(t *testing.T) {
	g := start(t, fastPolling)
	uuid, access, refresh := g.signUp("resubmitter")
	stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0", Provider: "cloudpayments"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.client.Start(g.ctx(), cpStart(uuid, access, refresh, "")); err != nil {
		t.Fatal(err)
	}
	r, err := g.client.Start(g.ctx(), cpStart(uuid, access, refresh, "resubmit-1"))
	if err != nil {
		t.Fatal(err)
	}
	evs := until(t, stream, r.GetVerification().GetVerificationId(), kycv1.KycStatus_KYC_STATUS_RESUBMIT_REQUIRED)
	if left := evs[len(evs)-1].GetNextAction().GetResubmit().GetAttemptsLeft(); left != 2 {
		t.Fatalf("attempts left = %d, want 2", left)
	}
	// Resubmitting opens a new attempt with a new SDK token.
	again, err := g.client.Start(g.ctx(), cpStart(uuid, access, refresh, ""))
	if err != nil {
		t.Fatal(err)
	}
	if again.GetVerification().GetAttempt() != 2 || again.GetVerification().GetNextAction().GetRunProviderSdk().GetToken() == "" {
		t.Fatalf("resubmission = %v", again)
	}
}
