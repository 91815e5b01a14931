package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kycgw/kycgw/providers"
)

func sampleVerification() Verification {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)
	return Verification{
		ID: "vrf_x", Tenant: "t", Provider: "bond", ProgramID: "p",
		Subject: providers.Subject{BusinessID: "b", BeneficialOwnerID: "o"},
		Status:  providers.StatusDocumentsRequired, ProviderStatus: "kyc.verification.document_required",
		Attempt: 3, AttemptStartedAt: at, StatusAt: at.Add(time.Second), CreatedAt: at.Add(-time.Hour), UpdatedAt: at,
		NextAction: providers.NextAction{
			Kind:      providers.ActionUploadDocuments,
			Documents: []providers.Document{{Type: "government_id", Status: "required", UploadLink: "https://u/1"}, {Type: "ssn_card"}},
			Fields:    []string{"ssn", "dob"}, SDK: providers.SDKSession{Vendor: "JUMIO"}, AttemptsLeft: -1,
		},
		Checks: []providers.Check{{Name: "ofac", Result: "pass"}},
		Reason: providers.Reason{Code: "R1", Description: "needs id \x00 ünïcode"},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, v := range []Verification{{}, sampleVerification(), {ID: "neg", CreatedAt: time.Unix(-5, 1).UTC(), Attempt: -2}} {
		var got Verification
		if err := unmarshalVerification(marshalVerification(&v), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(v, got); diff != "" {
			t.Errorf("verification round trip (-want +got):\n%s", diff)
		}
	}
	v := sampleVerification()
	ev := Event{
		Tenant: v.Tenant, VerificationID: v.ID, Provider: v.Provider, ProgramID: v.ProgramID, Subject: v.Subject,
		Status: v.Status, PreviousStatus: providers.StatusPending, ProviderEvent: "e", Source: SourceWebhook, Attempt: 2,
		OccurredAt: v.StatusAt, ReceivedAt: v.UpdatedAt, NextAction: v.NextAction, Checks: v.Checks, Reason: v.Reason,
	}
	var got Event
	if err := unmarshalEvent(marshalEvent(&ev), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, got); diff != "" {
		t.Errorf("event round trip (-want +got):\n%s", diff)
	}
}

// Values written as JSON by earlier versions are still read.
func TestCodecReadsJSON(t *testing.T) {
	v := sampleVerification()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got Verification
	if err := unmarshalVerification(raw, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v, got); diff != "" {
		t.Errorf("JSON verification (-want +got):\n%s", diff)
	}
}

// Every truncation and a trailing byte are refused, never half-read.
func TestCodecRefusesDamage(t *testing.T) {
	v := sampleVerification()
	b := marshalVerification(&v)
	for n := range len(b) {
		var got Verification
		if err := unmarshalVerification(b[:n], &got); err == nil {
			t.Fatalf("truncated to %d of %d bytes: accepted", n, len(b))
		}
	}
	var got Verification
	if err := unmarshalVerification(append(b, 0), &got); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if err := unmarshalVerification([]byte{9, 1, 2}, &got); err == nil {
		t.Fatal("unknown version accepted")
	}
}

func FuzzUnmarshalVerification(f *testing.F) {
	v := sampleVerification()
	f.Add(marshalVerification(&v))
	f.Add([]byte{codecV1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Verification
		if err := unmarshalVerification(b, &got); err != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		// Whatever decodes survives a round trip unchanged.
		var again Verification
		if err := unmarshalVerification(marshalVerification(&got), &again); err != nil {
			t.Fatalf("re-encoding of %x does not decode: %v", b, err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("round trip of %x changed it:\n%s", b, diff)
		}
	})
}
