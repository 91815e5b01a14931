package providers_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/kycgw/kycgw/providers"
)

func TestSubjectKeyMatchesWebhookSubjects(t *testing.T) {
	start := providers.Subject{BusinessID: "b1", BeneficialOwnerID: "o1"}
	webhook := providers.Subject{BeneficialOwnerID: "o1"} // BO webhooks do not name the business
	if start.Key() != webhook.Key() {
		t.Fatalf("start key %q != webhook key %q", start.Key(), webhook.Key())
	}
	keys := map[string]bool{}
	for _, s := range []providers.Subject{{CustomerID: "x"}, {BeneficialOwnerID: "x"}, {UserID: "x"}} {
		if keys[s.Key()] {
			t.Fatalf("kinds share key %q", s.Key())
		}
		keys[s.Key()] = true
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	a := providers.Applicant{SSN: "123-45-6789", Phone: "555-111-2222", Email: "ada@example.com", IP: "192.168.1.139"}
	s := providers.Session{AccessToken: "access-secret", RefreshToken: "refresh-secret"}
	sdk := providers.SDKSession{Token: "sdk-secret", Vendor: "JUMIO"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "applicant", a, "session", s, "sdk", sdk)
	in := providers.StartInput{Applicant: a, CloudPayments: &providers.CloudPaymentsInput{Session: s}}
	res := providers.Result{Session: &s, NextAction: providers.NextAction{SDK: sdk}}
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("y", "in", in, "status", providers.StatusInput{Session: &s}, "res", res, "cp", *in.CloudPayments)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v %v %+v %#v %v %+v %#v %#v", a, a, a, a, s, s, s, sdk, sdk, sdk, in, in, in, res) + logs.String()
	for _, secret := range []string{"123-45-6789", "555-111-2222", "ada@example.com", "192.168.1.139", "access-secret", "refresh-secret", "sdk-secret"} {
		if strings.Contains(out, secret) {
			t.Fatalf("%q leaked: %s", secret, out)
		}
	}
}

func TestAdvance(t *testing.T) {
	P := providers.StatusPending
	cases := []struct {
		cur, next providers.Status
		newer     bool
		want      bool
	}{
		{providers.StatusNotStarted, P, false, true},
		{P, providers.StatusDocumentsRequired, false, true},
		{providers.StatusDocumentsRequired, P, true, false},
		{providers.StatusDocumentsRequired, providers.StatusReenterInformation, true, true},
		{providers.StatusDocumentsRequired, providers.StatusReenterInformation, false, false},
		{providers.StatusUnderReview, providers.StatusPassed, false, true},
		{providers.StatusUnderReview, providers.StatusResubmitRequired, false, true},
		{providers.StatusResubmitRequired, providers.StatusUnderReview, true, false},
		{providers.StatusPassed, providers.StatusFailed, true, false},
		{providers.StatusFailed, providers.StatusPassed, true, false},
		{providers.StatusError, P, true, false},
		{P, P, true, false},
		{P, providers.StatusUnspecified, true, false},
	}
	for _, c := range cases {
		if got := providers.Advance(c.cur, c.next, c.newer); got != c.want {
			t.Errorf("Advance(%v, %v, newer=%v) = %v, want %v", c.cur, c.next, c.newer, got, c.want)
		}
	}
}
