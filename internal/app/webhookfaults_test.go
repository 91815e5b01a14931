package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
)

func (g *gateway) put(path, body string) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, g.base+path, strings.NewReader(body))
	resp, err := g.http.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		g.t.Fatalf("PUT %s: %d", path, resp.StatusCode)
	}
}

// TestDuplicatedAndReorderedWebhooks: the sandbox sends every webhook three times and a
// subject's sequence newest first (success, under_review, document_required). The gateway
// applies success once and refuses the older events: PENDING -> PASSED, nothing after.
func TestDuplicatedAndReorderedWebhooks(t *testing.T) {
	g := start(t)
	g.put("/sandbox/bond/_sandbox/webhook-faults", `{"duplicate":2,"reorder":true,"reorder_window":"300ms"}`)
	stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.client.Start(g.ctx(), customerStart("e413a8e7-f072-4e6d-9589-cea35de849c5", "111-11-0001"))
	if err != nil {
		t.Fatal(err)
	}
	vid := r.GetVerification().GetVerificationId()
	evs := until(t, stream, vid, kycv1.KycStatus_KYC_STATUS_PASSED)
	if len(evs) != 2 {
		t.Fatalf("events = %v, want PENDING then PASSED only", evs)
	}
	// Let the older and duplicate deliveries arrive; none may add an event.
	time.Sleep(1500 * time.Millisecond)
	st, _ := g.client.GetStatus(g.ctx(), &kycv1.GetStatusRequest{VerificationId: vid})
	if st.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_PASSED {
		t.Fatalf("status = %v after late deliveries", st.GetVerification().GetStatus())
	}
	more, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: evs[1].GetEventId(), VerificationId: vid})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *kycv1.Event, 1)
	go func() {
		if r, err := more.Recv(); err == nil {
			got <- r.GetEvent()
		}
	}()
	select {
	case ev := <-got:
		t.Fatalf("a late or duplicate webhook added %v", ev)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestForgedWebhooksAreRefused: deliveries signed with another secret change nothing.
func TestForgedWebhooksAreRefused(t *testing.T) {
	g := start(t)
	g.put("/sandbox/bond/_sandbox/webhook-faults", `{"wrong_secret":true}`)
	r, err := g.client.Start(g.ctx(), customerStart("ef096b64-7409-40cd-9879-badd905dc6a5", "123-45-6789"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	st, _ := g.client.GetStatus(g.ctx(), &kycv1.GetStatusRequest{VerificationId: r.GetVerification().GetVerificationId()})
	if st.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_PENDING {
		t.Fatalf("a forged webhook moved the verification to %v", st.GetVerification().GetStatus())
	}
	// Unsigned and badly signed requests from anyone get 401.
	resp, err := g.http.Post(g.base+"/webhooks/bond", "application/json",
		strings.NewReader(`{"event":"kyc.verification.success","customer_id":"ef096b64-7409-40cd-9879-badd905dc6a5","occurred_at":"2022-07-15T16:36:46.167945+00:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned webhook: %d, want 401", resp.StatusCode)
	}
}
