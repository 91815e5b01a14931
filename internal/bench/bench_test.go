package bench

import (
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReceivedAt(t *testing.T) {
	at := time.Date(2026, 11, 22, 4, 31, 7, 123456789, time.UTC)
	msg, err := proto.Marshal(&kycv1.StreamEventsResponse{Event: &kycv1.Event{
		EventId: "1-0", VerificationId: "vrf_x", Provider: "fake",
		Subject:    &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: "c"}},
		Status:     kycv1.KycStatus_KYC_STATUS_PENDING,
		OccurredAt: timestamppb.New(at.Add(-time.Hour)),
		ReceivedAt: timestamppb.New(at),
		Checks:     []*kycv1.CheckResult{{Name: "ofac", Result: "passed"}},
		Attempt:    2,
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := receivedAt(msg)
	if err != nil || !got.Equal(at) {
		t.Fatalf("receivedAt = %v, %v; want %v", got, err, at)
	}
	empty, _ := proto.Marshal(&kycv1.StreamEventsResponse{Event: &kycv1.Event{EventId: "1-0"}})
	if _, err := receivedAt(empty); err == nil {
		t.Fatal("receivedAt of an event without received_at: no error")
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0.001, 1}} {
		if got := percentile(s, tc.q); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}
