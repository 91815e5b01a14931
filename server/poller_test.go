package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/providertest"
	"github.com/kycgw/kycgw/server"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
)

const userID = "c838d156-7775-45c0-a0a8-be45f208ccb1"

func pollingEnv(t *testing.T) (*env, *providertest.PollingFake) {
	pf := &providertest.PollingFake{Fake: providertest.Fake{ProviderName: "poll"}, Interval: 20 * time.Millisecond}
	pf.OnStart = func(ctx context.Context, in providers.StartInput) (providers.Result, error) {
		if in.CloudPayments.WorkflowID != "" {
			return providers.Result{Status: providers.StatusUnderReview, ProviderStatus: "PENDING"}, nil
		}
		return providers.Result{
			Status: providers.StatusIncomplete, ProviderStatus: "NOT_REGISTERED", Submitted: true,
			NextAction: providers.NextAction{Kind: providers.ActionRunSDK, SDK: providers.SDKSession{Token: "sdk-token-secret", Vendor: "JUMIO"}},
		}, nil
	}
	e := newEnv(t, func(c *server.Config, _ *store.MemoryOptions) {
		reg, err := providers.NewRegistry(pf)
		if err != nil {
			t.Fatal(err)
		}
		c.Providers = reg
		c.PollEvery = 10 * time.Millisecond
	})
	return e, pf
}

func userStart(workflow string) *kycv1.StartRequest {
	cp := &kycv1.CloudPaymentsInput{AccessToken: "access-token-secret", RefreshToken: "refresh-token-secret", DeviceId: "device-1"}
	if workflow != "" {
		cp.AccountId, cp.WorkflowId = "acct-1", workflow
	}
	return &kycv1.StartRequest{
		Provider: "poll", ProgramId: program,
		Subject:       &kycv1.Subject{Kind: &kycv1.Subject_UserId{UserId: userID}},
		ProviderInput: &kycv1.StartRequest_Cloudpayments{Cloudpayments: cp},
	}
}

// TestSDKFlowAndPolling: the SDK token reaches the caller only; polls turn provider changes
// into events; the session is refreshed, then dropped when the verification is final.
func TestSDKFlowAndPolling(t *testing.T) {
	e, pf := pollingEnv(t)
	var polls atomic.Int32
	pf.OnStatus = func(ctx context.Context, in providers.StatusInput) (providers.Result, error) {
		switch n := polls.Add(1); {
		case n == 1:
			if in.Session.AccessToken != "access-token-secret" {
				return providers.Result{}, fmt.Errorf("poll got session %q", in.Session.AccessToken)
			}
			return providers.Result{Status: providers.StatusUnderReview, ProviderStatus: "PENDING",
				Session: &providers.Session{AccessToken: "refreshed", RefreshToken: "refresh-2"}}, nil
		case n < 4:
			if in.Session.AccessToken != "refreshed" {
				return providers.Result{}, fmt.Errorf("poll %d got an old session", n)
			}
			return providers.Result{Status: providers.StatusUnderReview, ProviderStatus: "PENDING"}, nil
		default:
			return providers.Result{Status: providers.StatusPassed, ProviderStatus: "APPROVED_VERIFIED"}, nil
		}
	}
	stream, err := e.client.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	req := userStart("")
	req.IdempotencyKey = "sdk-1"
	first, err := e.client.Start(e.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	sdk := first.GetVerification().GetNextAction().GetRunProviderSdk()
	if sdk.GetToken() != "sdk-token-secret" || sdk.GetVendor() != "JUMIO" || first.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_INCOMPLETE {
		t.Fatalf("Start = %v", first)
	}
	replay, err := e.client.Start(e.ctx(), req)
	if err != nil || !replay.GetReplayed() || replay.GetVerification().GetNextAction().GetRunProviderSdk().GetToken() != "sdk-token-secret" {
		t.Fatalf("replay = %v, %v", replay, err)
	}
	vid := first.GetVerification().GetVerificationId()
	got, _ := e.client.GetStatus(e.ctx(), &kycv1.GetStatusRequest{VerificationId: vid})
	if got.GetVerification().GetNextAction().GetRunProviderSdk().GetVendor() != "JUMIO" ||
		got.GetVerification().GetNextAction().GetRunProviderSdk().GetToken() != "" {
		t.Fatalf("stored verification carries the SDK token or lost the action: %v", got)
	}

	if _, err := e.client.Start(e.ctx(), userStart("workflow-1")); err != nil {
		t.Fatal(err)
	}
	var evs []*kycv1.Event
	for len(evs) == 0 || evs[len(evs)-1].GetStatus() != kycv1.KycStatus_KYC_STATUS_PASSED {
		evs = append(evs, recvN(t, stream, 1)[0])
	}
	var trail []string
	for _, ev := range evs {
		b, _ := protojson.Marshal(ev)
		if strings.Contains(string(b), "secret") || strings.Contains(string(b), "refreshed") {
			t.Fatalf("event carries a credential: %s", b)
		}
		trail = append(trail, ev.GetStatus().String()+"/"+ev.GetSource().String())
	}
	want := "KYC_STATUS_INCOMPLETE/EVENT_SOURCE_START,KYC_STATUS_UNDER_REVIEW/EVENT_SOURCE_START,KYC_STATUS_PASSED/EVENT_SOURCE_POLL"
	if strings.Join(trail, ",") != want {
		t.Fatalf("events = %s, want %s", strings.Join(trail, ","), want)
	}
	// Final: the job and its session are gone, and polling stops.
	time.Sleep(100 * time.Millisecond)
	n := polls.Load()
	time.Sleep(200 * time.Millisecond)
	if polls.Load() != n {
		t.Fatal("the provider is still polled after PASSED")
	}
	if jobs, _ := e.st.ClaimPolls(context.Background(), "probe", time.Now().Add(time.Hour), time.Minute, 10); len(jobs) != 0 {
		t.Fatalf("poll jobs left after PASSED: %v", jobs)
	}
}

func TestPollingStopsWhenSessionIsRefused(t *testing.T) {
	e, pf := pollingEnv(t)
	var polls atomic.Int32
	pf.OnStatus = func(ctx context.Context, in providers.StatusInput) (providers.Result, error) {
		polls.Add(1)
		return providers.Result{}, &providers.FieldError{Field: "cloudpayments.access_token", Reason: "expired"}
	}
	if _, err := e.client.Start(e.ctx(), userStart("")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); polls.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never polled")
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := polls.Load(); n != 1 {
		t.Fatalf("polled %d times after the session was refused, want 1", n)
	}
}

func TestPollingBacksOffOnErrors(t *testing.T) {
	e, pf := pollingEnv(t)
	var polls atomic.Int32
	pf.OnStatus = func(ctx context.Context, in providers.StatusInput) (providers.Result, error) {
		polls.Add(1)
		return providers.Result{}, providers.ErrUnavailable
	}
	if _, err := e.client.Start(e.ctx(), userStart("")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	// Without backoff a 10 ms poll loop would call ~150 times; with doubling from 40 ms it is a
	// handful.
	if n := polls.Load(); n < 2 || n > 8 {
		t.Fatalf("polled %d times in 1.5 s while the provider failed", n)
	}
}

func TestCloudPaymentsInputValidation(t *testing.T) {
	e, _ := pollingEnv(t)
	req := userStart("")
	req.GetCloudpayments().DeviceId = "has space"
	_, err := e.client.Start(e.ctx(), req)
	wantCode(t, err, codes.InvalidArgument, server.ReasonInvalidField)
	if msg := err.Error(); !strings.Contains(msg, "cloudpayments.device_id") {
		t.Fatalf("message %q does not name the field", msg)
	}
}
