package bond

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/providers"
)

// FuzzParseWebhook feeds arbitrary headers and bodies through verification and parsing. A
// forged header must never verify (the clock is fixed at the test vector's timestamp); a correctly signed body must parse or fail with one of the
// documented sentinels, and whatever parses must be a usable notification.
func FuzzParseWebhook(f *testing.F) {
	for _, p := range publishedPayloads {
		f.Add("t=1598980451,v2=00", []byte(p))
	}
	c := newTestClient(f, testSecret)
	now := time.Unix(1598980451, 0)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		if _, err := c.ParseWebhook(http.Header{"Bond-Signature": {header}}, body, now); err == nil {
			// Only a header carrying the true MAC for its timestamp may verify (the committed
			// corpus has the documented test vector).
			if !strings.Contains(header, testSign(testSecret, now.Unix(), string(body))) {
				t.Fatalf("forged header %q verified", header)
			}
		}
		ns, err := c.ParseWebhook(signedHeader(testSecret, now.Unix(), string(body)), body, now)
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) && !errors.Is(err, providers.ErrUnknownStatus) {
				t.Fatalf("signed body: unexpected error %v", err)
			}
			return
		}
		for _, n := range ns {
			if !n.Result.Status.Valid() || n.DedupeKey == "" || n.Subject.Kind() == providers.SubjectUnknown || n.Event == "" {
				t.Fatalf("unusable notification %+v", n)
			}
		}
	})
}

// FuzzParseError checks that any error answer classifies to exactly one domain outcome and
// never panics, whatever the body.
func FuzzParseError(f *testing.F) {
	f.Add(400, []byte(`{"Message": {"ssn": ["Missing data for required field."]}, "Status": 400, "Code": "kyc_post_schema", "Type": "Request Error"}`))
	f.Add(409, []byte(`{"type": "RESOURCE_CONFLICT", "code": "idempotency_key_exists", "message": "A request was made with this idempotency key in the past 24 hours",}`))
	f.Add(409, []byte(`{"Message": "KYC already passed for this customer at 2021-10-20T10:27:20.154286+00:00", "Status": 409, "Code": "kyc_reinit_fail", "Type": "Request Error"}`))
	f.Add(404, []byte(`{"Message": "KYC result could not be found", "Status": 404, "Code": "kyc_dne", "Type": "Request Error"}`))
	f.Add(400, []byte(`{"dob": ["Missing data for required field."], "names": {"first": ["x"]}}`))
	f.Add(503, []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseError("bond", status, body, nil)
		err := e.domainError()
		var fe *providers.FieldError
		switch {
		case err == nil:
			t.Fatal("nil error")
		case errors.As(err, &fe):
			if fe.Field == "" || fe.Reason == "" {
				t.Fatalf("empty FieldError %+v", fe)
			}
		case errors.Is(err, providers.ErrAlreadyPassed), errors.Is(err, providers.ErrRejected),
			errors.Is(err, providers.ErrUnavailable), errors.Is(err, providers.ErrSubjectNotFound),
			errors.Is(err, providers.ErrMalformed):
		default:
			t.Fatalf("status %d: %v wraps no sentinel", status, err)
		}
		var kr kycResponse
		_ = decodeJSON(body, &kr)
	})
}
