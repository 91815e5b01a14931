package cloudpayments

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/providers"
)

// stub is a scripted CloudPayments that records requests, for what the emulator cannot be
// made to answer (malformed bodies, 404s, ACCEPTED without a control call, missing fields).
type stub struct {
	mu       sync.Mutex
	requests []recorded
	handle   func(w http.ResponseWriter, r *http.Request, body []byte)
}

type recorded struct {
	method, path, query string
	header              http.Header
	body                string
}

func newStub(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte)) (*stub, *Client) {
	t.Helper()
	s := &stub{handle: handle}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(b)})
		s.mu.Unlock()
		s.handle(w, r, b)
	}))
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() { hc.CloseIdleConnections(); srv.Close() })
	c, err := New(Config{Name: "cp", BaseURL: srv.URL + "/root", TenantName: "FUNDZ", APIKey: "the-api-key", HTTPClient: hc,
		Now: func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func (s *stub) all() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.requests...)
}

func write(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

var stubSession = providers.Session{AccessToken: "access-token-value-1", RefreshToken: "refresh-token-value-1"}

func TestWireRequests(t *testing.T) {
	s, c := newStub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.URL.Path {
		case "/root/kyc-ms/getUserInfo":
			write(w, 200, `{"status":"NOT_REGISTERED","kycProvider":"KARD"}`)
		case "/root/kyc-ms/getToken":
			write(w, 200, `{"token":"sdk-token","kycProvider":"JUMIO"}`)
		case "/root/kyc-ms/registerUser":
			w.WriteHeader(200) // the SDK ignores the body; so does the client
		default:
			write(w, 404, `{}`)
		}
	})
	in := providers.StartInput{Subject: providers.Subject{UserID: userA},
		CloudPayments: &providers.CloudPaymentsInput{Session: stubSession, DeviceID: "dev 1"}}
	res, err := c.Start(context.Background(), in)
	if err != nil || res.NextAction.SDK != (providers.SDKSession{Token: "sdk-token", Vendor: "JUMIO"}) {
		t.Fatalf("start: %+v %v", res, err)
	}
	in.CloudPayments.AccountID, in.CloudPayments.WorkflowID = "acc-1", "wfe-1"
	if res, err := c.Start(context.Background(), in); err != nil || res.Status != providers.StatusUnderReview || res.ProviderStatus != "PENDING" {
		t.Fatalf("register: %+v %v", res, err)
	}
	reqs := s.all()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		if r.header.Get("tenantName") != "FUNDZ" || r.header.Get("api-key") != "the-api-key" ||
			r.header.Get("Authorization") != "Bearer access-token-value-1" {
			t.Errorf("%s %s headers %v", r.method, r.path, r.header)
		}
	}
	if r := reqs[1]; r.method != "GET" || r.query != "deviceId=dev+1" || r.body != "" {
		t.Errorf("getToken: %+v", r)
	}
	if r := reqs[2]; r.method != "POST" || r.header.Get("Content-Type") != "application/json" ||
		r.body != `{"accountId":"acc-1","workflowId":"wfe-1"}` {
		t.Errorf("registerUser: %+v", r)
	}
	if r := reqs[0]; r.method != "GET" || r.header.Get("Content-Type") != "" {
		t.Errorf("getUserInfo: %+v", r)
	}
}

func TestWireRefresh(t *testing.T) {
	s, c := newStub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.URL.Path == "/root/auth/oauth/token":
			// No refresh_token in the answer: the old one stays.
			write(w, 200, `{"access_token":"access-token-value-2","expires_in":3599,"token_type":"bearer"}`)
		case r.Header.Get("Authorization") == "Bearer access-token-value-2":
			write(w, 200, `{"status":"ACCEPTED"}`)
		default:
			write(w, 401, `{"error":"invalid_token","error_description":"Invalid access token: access-token-value-1"}`)
		}
	})
	res, err := c.Status(context.Background(), providers.StatusInput{Session: &stubSession})
	if err != nil || res.Status != providers.StatusPassed || res.Session == nil {
		t.Fatalf("status: %+v %v", res, err)
	}
	want := providers.Session{AccessToken: "access-token-value-2", RefreshToken: "refresh-token-value-1",
		ExpiresAt: time.Date(2025, 1, 1, 0, 59, 59, 0, time.UTC)}
	if *res.Session != want {
		t.Fatalf("session: got %v, want %v", res.Session.ExpiresAt, want.ExpiresAt)
	}
	reqs := s.all()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[1]
	if r.method != "POST" || r.path != "/root/auth/oauth/token" || r.header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		r.body != "grant_type=refresh_token&refresh_token=refresh-token-value-1" || r.header.Get("Authorization") != "" ||
		r.header.Get("tenantName") != "FUNDZ" || r.header.Get("api-key") != "the-api-key" {
		t.Fatalf("refresh request: %+v", r)
	}
}

func TestWireErrors(t *testing.T) {
	big := `{"status":"LV1","pad":"` + strings.Repeat("x", maxBody) + `"}`
	tests := []struct {
		name     string
		status   int
		body     string
		refresh  string // token endpoint answer, "" for 500
		sentinel error
		field    string
	}{
		{"malformed JSON", 200, `{"status":`, "", providers.ErrMalformed, ""},
		{"no status", 200, `{"kycProvider":"JUMIO"}`, "", providers.ErrMalformed, ""},
		{"too large", 200, big, "", providers.ErrMalformed, ""},
		{"user not found", 404, `{"statusCode":"404","statusMessage":"Not Found","additionalStatusCode":"USER_NOT_FOUND","additionalStatusMessage":"x"}`, "", providers.ErrSubjectNotFound, ""},
		{"bad request", 400, `{"statusCode":"400","statusMessage":"Bad Request"}`, "", providers.ErrRejected, ""},
		{"502", 502, `<html></html>`, "", providers.ErrUnavailable, ""},
		{"401, refresh refused", 401, `{"error":"invalid_token"}`, `{"error":"invalid_grant","error_description":"Invalid refresh token: refresh-token-value-1"}`, nil, "cloudpayments.access_token"},
		{"401, refresh endpoint down", 401, `{"error":"invalid_token"}`, "", providers.ErrUnavailable, ""},
		{"401, refresh answer malformed", 401, `{"error":"invalid_token"}`, `{"token":"x"}`, providers.ErrMalformed, ""},
		{"401 twice", 401, `{"error":"invalid_token"}`, `{"access_token":"access-token-value-2","expires_in":60}`, nil, "cloudpayments.access_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, c := newStub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				if r.URL.Path == "/root/auth/oauth/token" {
					if tt.refresh == "" {
						write(w, 500, `{}`)
					} else if strings.Contains(tt.refresh, "error") {
						write(w, 400, tt.refresh)
					} else {
						write(w, 200, tt.refresh)
					}
					return
				}
				write(w, tt.status, tt.body)
			})
			_, err := c.Status(context.Background(), providers.StatusInput{Session: &stubSession})
			if tt.field != "" {
				wantField(t, err, tt.field)
			} else if !errors.Is(err, tt.sentinel) {
				t.Fatalf("got %v, want %v", err, tt.sentinel)
			}
			if strings.Contains(err.Error(), "token-value") {
				t.Fatalf("token in %q", err)
			}
		})
	}
}

// TestRegisterRefusedNotReconciled: a refusal that getUserInfo does not explain stays the
// provider's error.
func TestRegisterRefusedNotReconciled(t *testing.T) {
	_, c := newStub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/root/kyc-ms/registerUser" {
			write(w, 400, `{"statusCode":"400","additionalStatusCode":"KYC_NOT_STARTED","additionalStatusMessage":"Call getToken first"}`)
			return
		}
		write(w, 200, `{"status":"NOT_REGISTERED"}`)
	})
	in := providers.StartInput{Subject: providers.Subject{UserID: userA},
		CloudPayments: &providers.CloudPaymentsInput{Session: stubSession, AccountID: "a", WorkflowID: "w"}}
	_, err := c.Start(context.Background(), in)
	var ae *APIError
	if !errors.Is(err, providers.ErrRejected) || !errors.As(err, &ae) || ae.Code != "KYC_NOT_STARTED" {
		t.Fatalf("got %v", err)
	}
}

func TestNoBodyRead(t *testing.T) {
	// A body that never ends is capped, not read forever.
	_, c := newStub(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		for range 40 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	if _, err := c.Status(context.Background(), providers.StatusInput{Session: &stubSession}); !errors.Is(err, providers.ErrMalformed) {
		t.Fatalf("got %v", err)
	}
}
