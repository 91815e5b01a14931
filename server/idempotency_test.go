package server

import (
	"testing"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"google.golang.org/protobuf/proto"
)

func TestFingerprint(t *testing.T) {
	f := newFingerprinter([]byte("key-one"))
	req := &kycv1.StartRequest{
		Provider: "bond", ProgramId: "p1", IdempotencyKey: "k1",
		Subject:   &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: "c1"}},
		Applicant: &kycv1.Applicant{Ssn: "123-45-6789", Email: "a@example.com"},
	}
	orig := proto.CloneOf(req)
	first, err := f.fingerprint(req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(req, orig) {
		t.Fatalf("fingerprint changed the request: %v, was %v", req, orig)
	}
	same := func(want bool, r *kycv1.StartRequest, what string) {
		t.Helper()
		// Twice: the second use of a pooled hash must start from the key, not from the last
		// request.
		for range 2 {
			got, err := f.fingerprint(r)
			if err != nil {
				t.Fatal(err)
			}
			if (got == first) != want {
				t.Fatalf("%s: fingerprint equal = %v, want %v", what, got == first, want)
			}
		}
	}
	same(true, req, "the same request")
	noKey := proto.CloneOf(req)
	noKey.IdempotencyKey = ""
	same(true, noKey, "without the idempotency key (it travels in a header)")
	other := proto.CloneOf(req)
	other.Applicant.Email = "b@example.com"
	same(false, other, "another email")
	retry := proto.CloneOf(req)
	retry.Retry = true
	same(false, retry, "retry set")

	if g, _ := newFingerprinter([]byte("key-two")).fingerprint(req); g == first {
		t.Fatal("two secrets gave the same fingerprint")
	}
}
