package cloudpayments

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/providers"
)

const (
	userA = "c838d156-7775-45c0-a0a8-be45f208ccb1"
	userB = "0b9e9a2c-8d2e-4c39-9d1b-2f3f8b1b6f10"
)

// jwtFor is an unsigned JWT-shaped token with the given payload (the client never verifies
// signatures).
func jwtFor(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func testClient(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{Name: "cloudpayments", BaseURL: "http://127.0.0.1:1", TenantName: "t", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNew(t *testing.T) {
	ok := Config{Name: "cp", BaseURL: "https://api.cloudpayments-staging.com", TenantName: "FUNDZ", APIKey: "key"}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" for success
	}{
		{"ok", func(*Config) {}, ""},
		{"name", func(c *Config) { c.Name = " " }, "Name"},
		{"base url", func(c *Config) { c.BaseURL = "" }, "BaseURL"},
		{"relative base url", func(c *Config) { c.BaseURL = "/sandbox" }, "BaseURL"},
		{"base url query", func(c *Config) { c.BaseURL = "https://x/?a=b" }, "BaseURL"},
		{"tenant", func(c *Config) { c.TenantName = "" }, "TenantName"},
		{"tenant newline", func(c *Config) { c.TenantName = "a\nb" }, "TenantName"},
		{"api key", func(c *Config) { c.APIKey = "" }, "APIKey"},
		{"poll interval", func(c *Config) { c.PollInterval = -time.Second }, "PollInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			c, err := New(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			case tt.want == "":
				if c.PollInterval() != DefaultPollInterval || c.Name() != "cp" || c.baseURL != "https://api.cloudpayments-staging.com/" {
					t.Fatalf("defaults: %v %q %q", c.PollInterval(), c.Name(), c.baseURL)
				}
			}
		})
	}
	c, _ := New(Config{Name: "cp", BaseURL: "http://h/root/", TenantName: "t", APIKey: "k", PollInterval: 5 * time.Second})
	if c.PollInterval() != 5*time.Second || c.baseURL != "http://h/root/" {
		t.Fatalf("configured: %v %q", c.PollInterval(), c.baseURL)
	}
}

func TestValidateStart(t *testing.T) {
	c := testClient(t)
	valid := func() providers.StartInput {
		return providers.StartInput{
			Subject:       providers.Subject{UserID: userA},
			CloudPayments: &providers.CloudPaymentsInput{Session: providers.Session{AccessToken: jwtFor(`{"uuid":"` + userA + `"}`)}},
		}
	}
	tests := []struct {
		name  string
		mod   func(*providers.StartInput)
		field string // "" for valid
	}{
		{"valid", func(*providers.StartInput) {}, ""},
		{"valid with SDK result", func(in *providers.StartInput) {
			in.CloudPayments.AccountID, in.CloudPayments.WorkflowID = "acc", "wfe"
		}, ""},
		{"opaque token", func(in *providers.StartInput) { in.CloudPayments.Session.AccessToken = "opaque" }, ""},
		{"JWT without uuid", func(in *providers.StartInput) { in.CloudPayments.Session.AccessToken = jwtFor(`{"sub":"x"}`) }, ""},
		{"JWT with uuid in upper case", func(in *providers.StartInput) {
			in.CloudPayments.Session.AccessToken = jwtFor(`{"uuid":"` + strings.ToUpper(userA) + `"}`)
		}, ""},
		{"JWT of another user", func(in *providers.StartInput) {
			in.CloudPayments.Session.AccessToken = jwtFor(`{"uuid":"` + userB + `"}`)
		}, "subject.user_id"},
		{"no subject", func(in *providers.StartInput) { in.Subject = providers.Subject{} }, "subject"},
		{"customer", func(in *providers.StartInput) { in.Subject = providers.Subject{CustomerID: userA} }, "subject"},
		{"beneficial owner", func(in *providers.StartInput) {
			in.Subject = providers.Subject{BusinessID: userA, BeneficialOwnerID: userB}
		}, "subject"},
		{"user id not a uuid", func(in *providers.StartInput) { in.Subject.UserID = "jamessmith" }, "subject.user_id"},
		{"no cloudpayments input", func(in *providers.StartInput) { in.CloudPayments = nil }, "cloudpayments.access_token"},
		{"no access token", func(in *providers.StartInput) { in.CloudPayments.Session.AccessToken = "" }, "cloudpayments.access_token"},
		{"account id alone", func(in *providers.StartInput) { in.CloudPayments.AccountID = "acc" }, "cloudpayments.workflow_id"},
		{"workflow id alone", func(in *providers.StartInput) { in.CloudPayments.WorkflowID = "wfe" }, "cloudpayments.account_id"},
		{"applicant data", func(in *providers.StartInput) { in.Applicant.SSN = "123456789" }, "applicant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.mod(&in)
			err := c.ValidateStart(in)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			wantField(t, err, tt.field)
		})
	}
	var fe *providers.FieldError
	in := valid()
	in.Subject = providers.Subject{CustomerID: userA}
	if errors.As(c.ValidateStart(in), &fe); !strings.Contains(fe.Reason, "verifies users") {
		t.Errorf("customer reason %q", fe.Reason)
	}
	in = valid()
	in.CloudPayments.Session.AccessToken = jwtFor(`{"uuid":"` + userB + `"}`)
	if errors.As(c.ValidateStart(in), &fe); fe.Reason != "does not match the access token's user" {
		t.Errorf("mismatch reason %q", fe.Reason)
	}
}

func TestMapStatus(t *testing.T) {
	tests := []struct {
		value  string
		want   providers.Status
		action providers.NextAction
	}{
		{"NOT_REGISTERED", providers.StatusNotStarted, providers.NextAction{}},
		{"LV1", providers.StatusIncomplete, providers.NextAction{}},
		{"PENDING", providers.StatusUnderReview, providers.NextAction{}},
		{"REJECTED", providers.StatusFailed, providers.NextAction{}},
		{"APPROVED_VERIFIED", providers.StatusPassed, providers.NextAction{}},
		{"ACCEPTED", providers.StatusPassed, providers.NextAction{}},
		{"NEED_RESUBMIT", providers.StatusResubmitRequired, providers.NextAction{Kind: providers.ActionResubmit, AttemptsLeft: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			res, err := statusResult("cp", userInfo{Status: tt.value, RemainingAttempts: optInt{n: 2, set: true}})
			if err != nil || res.Status != tt.want || res.ProviderStatus != tt.value ||
				res.NextAction.Kind != tt.action.Kind || res.NextAction.AttemptsLeft != tt.action.AttemptsLeft {
				t.Fatalf("got %+v, %v; want %v %+v", res, err, tt.want, tt.action)
			}
		})
	}
	for _, v := range []string{"UNKNOWN_NEW", "approved_verified", "", " PENDING", strings.Repeat("X", 100)} {
		_, err := mapStatus("cp", v)
		var ue *providers.UnknownStatusError
		if !errors.Is(err, providers.ErrUnknownStatus) || !errors.As(err, &ue) || ue.Provider != "cp" || len(ue.Value) > maxStatusInError+3 {
			t.Errorf("%q: got %v", v, err)
		}
	}
	res, _ := statusResult("cp", userInfo{Status: "NEED_RESUBMIT"})
	if res.NextAction.AttemptsLeft != -1 {
		t.Errorf("absent remainingAttempts: got %d, want -1", res.NextAction.AttemptsLeft)
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		sentinel error
		code     string
		message  string
		tenant   string
	}{
		{"CPInvalidRequest 403", 403,
			`{"statusCode":"403","statusMessage":"Forbidden","additionalStatusCode":"INVALID_API_KEY","additionalStatusMessage":"The api-key header is missing or not valid","tenantName":"sandbox"}`,
			providers.ErrRejected, "INVALID_API_KEY", "The api-key header is missing or not valid", "sandbox"},
		{"numeric codes, tenant_name", 400,
			`{"statusCode":400,"statusMessage":"Bad Request","additionalStatusCode":1002,"additionalStatusMessage":"Invalid workflow","tenant_name":"FUNDZ"}`,
			providers.ErrRejected, "1002", "Invalid workflow", "FUNDZ"},
		{"only statusCode", 400, `{"statusCode":"E400","statusMessage":"Bad request"}`, providers.ErrRejected, "E400", "Bad request", ""},
		{"Spring OAuth", 400, `{"error":"invalid_grant","error_description":"Bad credentials"}`,
			providers.ErrRejected, "invalid_grant", "Bad credentials", ""},
		{"Spring OAuth echoing a token", 401, `{"error":"invalid_token","error_description":"Invalid access token: eyJhbGciOiJSUzI1NiJ9.eyJ1dWlkIjoieCJ9.c2ln"}`,
			providers.ErrRejected, "invalid_token", "Invalid access token: [REDACTED]", ""},
		{"Cannot convert", 401, `{"error":"invalid_token","error_description":"Cannot convert access token to JSON"}`,
			providers.ErrRejected, "invalid_token", "Cannot convert access token to JSON", ""},
		{"404", 404, `{"statusCode":"404","statusMessage":"Not Found","additionalStatusCode":"USER_NOT_FOUND","additionalStatusMessage":"No user"}`,
			providers.ErrSubjectNotFound, "USER_NOT_FOUND", "No user", ""},
		{"503", 503, `{"statusCode":"503","statusMessage":"Service Unavailable","additionalStatusCode":"SERVICE_UNAVAILABLE","additionalStatusMessage":"down"}`,
			providers.ErrUnavailable, "SERVICE_UNAVAILABLE", "down", ""},
		{"429 Tyk", 429, `{"error":"API Rate limit exceeded"}`, providers.ErrUnavailable, "API Rate limit exceeded", "", ""},
		{"502 html", 502, `<html>bad gateway</html>`, providers.ErrUnavailable, "", "", ""},
		{"400 not JSON", 400, `oops`, providers.ErrRejected, "", "", ""},
		{"400 wrong types", 400, `{"statusCode":{"a":1},"additionalStatusMessage":["x"]}`, providers.ErrRejected, "", "", ""},
		{"302", 302, ``, providers.ErrRejected, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := parseError("cp", tt.status, []byte(tt.body))
			if !errors.Is(e, tt.sentinel) || e.Code != tt.code || e.Message != tt.message || e.TenantName != tt.tenant {
				t.Fatalf("got %#v (%v), want %v code %q message %q tenant %q", e, e.Unwrap(), tt.sentinel, tt.code, tt.message, tt.tenant)
			}
			if strings.Contains(e.Error(), "eyJ") {
				t.Fatalf("token in %q", e.Error())
			}
		})
	}
	e := parseError("cp", 400, []byte(`{"additionalStatusMessage":"bad token my-secret-refresh-token-123 and Token=abc.def"}`), "my-secret-refresh-token-123")
	if strings.Contains(e.Error(), "my-secret") || strings.Contains(e.Error(), "abc.def") {
		t.Fatalf("secret in %q", e.Error())
	}
}

func TestDecoders(t *testing.T) {
	u, err := decodeUserInfo([]byte(`{"status":"NEED_RESUBMIT","kycProvider":"JUMIO","remainingAttempts":"2"}`))
	if err != nil || u.attemptsLeft() != 2 || u.KycProvider != "JUMIO" {
		t.Fatalf("string attempts: %+v %v", u, err)
	}
	u, err = decodeUserInfo([]byte(`{"status":"NEED_RESUBMIT","remainingAttempts":null}`))
	if err != nil || u.attemptsLeft() != -1 {
		t.Fatalf("null attempts: %+v %v", u, err)
	}
	for _, b := range []string{`{}`, `{"status":""}`, `{"status":3}`, `[`, `{"status":"LV1","remainingAttempts":"x"}`, `{"status":"LV1","remainingAttempts":1.5}`} {
		if _, err := decodeUserInfo([]byte(b)); !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("%s: got %v", b, err)
		}
	}
	for _, b := range []string{`{}`, `{"token":""}`, `nope`} {
		if _, err := decodeSDKToken([]byte(b)); !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("%s: got %v", b, err)
		}
	}
	for _, b := range []string{`{}`, `{"access_token":"a","expires_in":-1}`, `{"access_token":"a","expires_in":"soon"}`} {
		if _, err := decodeOAuthToken([]byte(b)); !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("%s: got %v", b, err)
		}
	}
	tok, err := decodeOAuthToken([]byte(`{"user_type":"SUBSCRIBER","jti":"092bb30c-cb8b-44c4-8659-ececac95d4f5","uuid":"c838d156-7775-45c0-a0a8-be45f208ccb1","token_type":"bearer","app_name":null,"refresh_token":"r","access_token":"a","tenant_name":"FUNDZ","scope":"read write","expires_in":3599,"last_signon_timestamp":1637251877207}`))
	if err != nil || tok.AccessToken != "a" || tok.RefreshToken != "r" || tok.ExpiresIn.n != 3599 {
		t.Fatalf("documented mock: %+v %v", tok, err)
	}
	// A decoding error never quotes the body (it may be a token response).
	_, err = decodeOAuthToken([]byte(`{"access_token":"secret-access-token","expires_in":"secret-value"}`))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("got %v", err)
	}
}
