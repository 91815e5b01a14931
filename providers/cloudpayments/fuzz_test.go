package cloudpayments

import (
	"errors"
	"strings"
	"testing"

	"github.com/kycgw/kycgw/providers"
)

// fuzzSecret stands for the user's token: whatever the provider's body, an error never
// repeats it.
const fuzzSecret = "fuzz-secret-token-0123456789"

// FuzzParseError checks that any error answer classifies to exactly one sentinel, never
// panics, and never repeats the session's token, whatever the body. The committed corpus
// holds both documented shapes.
func FuzzParseError(f *testing.F) {
	f.Add(403, []byte(`{"statusCode":"403","statusMessage":"Forbidden","additionalStatusCode":"INVALID_API_KEY","additionalStatusMessage":"The api-key header is missing or not valid","tenantName":"sandbox"}`))
	f.Add(401, []byte(`{"error":"invalid_token","error_description":"Invalid access token: `+fuzzSecret+`"}`))
	f.Add(503, []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseError("cp", status, body, fuzzSecret)
		n := 0
		for _, s := range []error{providers.ErrRejected, providers.ErrUnavailable, providers.ErrSubjectNotFound} {
			if errors.Is(e, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("status %d: %v wraps %d sentinels", status, e, n)
		}
		if strings.Contains(e.Error(), fuzzSecret) {
			t.Fatalf("secret in %q", e.Error())
		}
		if len(e.Message) > maxMessage+3 || len(e.Code) > maxMessage+3 {
			t.Fatalf("unbounded text: %d %d", len(e.Message), len(e.Code))
		}
	})
}

// FuzzDecodeUserInfo checks that a getUserInfo body either decodes to a status that maps (or
// is refused as unknown), or is malformed; never a guess, never a panic.
func FuzzDecodeUserInfo(f *testing.F) {
	f.Add([]byte(`{"status":"NEED_RESUBMIT","kycProvider":"JUMIO","remainingAttempts":2}`))
	f.Add([]byte(`{"status":"APPROVED_VERIFIED","kycProvider":"KARD","remainingAttempts":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := decodeUserInfo(body)
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) {
				t.Fatalf("decode: %v", err)
			}
			return
		}
		res, err := statusResult("cp", u)
		switch {
		case err != nil:
			if !errors.Is(err, providers.ErrUnknownStatus) {
				t.Fatalf("map: %v", err)
			}
		case !res.Status.Valid() || res.ProviderStatus != u.Status:
			t.Fatalf("unusable result %+v", res)
		case res.Status == providers.StatusResubmitRequired && res.NextAction.AttemptsLeft < -1:
			t.Fatalf("attempts %d", res.NextAction.AttemptsLeft)
		}
	})
}

// FuzzDecodeOAuthToken checks the token endpoint decoder, whose input is credentials: an
// error never quotes the body.
func FuzzDecodeOAuthToken(f *testing.F) {
	f.Add([]byte(`{"access_token":"` + fuzzSecret + `","refresh_token":"r","expires_in":3599,"token_type":"bearer"}`))
	f.Add([]byte(`{"access_token":"` + fuzzSecret + `","expires_in":"` + fuzzSecret + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := decodeOAuthToken(body)
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) || strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("decode: %v", err)
			}
			return
		}
		if tok.AccessToken == "" || (tok.ExpiresIn.set && tok.ExpiresIn.n < 0) {
			t.Fatalf("unusable token %+v", tok.ExpiresIn)
		}
	})
}

// FuzzTokenUUID checks the JWT payload reader used on caller input.
func FuzzTokenUUID(f *testing.F) {
	f.Add(jwtFor(`{"uuid":"` + userA + `"}`))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		id, ok := tokenUUID(tok)
		if ok && id == "" {
			t.Fatal("ok without a uuid")
		}
		if err := checkTokenOwner(userA, tok); err != nil && (!ok || strings.EqualFold(id, userA)) {
			t.Fatalf("refused %v (uuid %q, ok %v)", err, id, ok)
		}
	})
}
