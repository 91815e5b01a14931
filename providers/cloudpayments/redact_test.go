package cloudpayments

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/kycgw/kycgw/providers"
)

const (
	secretAccess  = "eyJhbGciOiJIUzI1NiJ9.eyJ1dWlkIjoiYzgzOGQxNTYtNzc3NS00NWMwLWEwYTgtYmU0NWYyMDhjY2IxIn0.QUNDRVNT"
	secretRefresh = "refresh-SECRET-0123456789abcdef"
	secretAPIKey  = "api-key-SECRET-fedcba9876543210"
)

func leaks(s string) []string {
	var out []string
	for _, v := range []string{secretAccess, secretRefresh, secretAPIKey, "QUNDRVNT"} {
		if strings.Contains(s, v) {
			out = append(out, v)
		}
	}
	return out
}

// renderings are every way a value is commonly written to a log or an error. (%s is left
// out: on a struct with a pointer field fmt's bad-verb path prints the pointee without its
// String method; see TestSlogJSONOfInputs for the package providers gaps.)
func renderings(v any, jsonSlog bool) map[string]string {
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("msg", "v", v)
	out["slog text"] = b.String()
	if jsonSlog {
		b.Reset()
		slog.New(slog.NewJSONHandler(&b, nil)).Info("msg", "v", v)
		out["slog json"] = b.String()
	}
	return out
}

func TestNoTokensInRenderings(t *testing.T) {
	s := providers.Session{AccessToken: secretAccess, RefreshToken: secretRefresh}
	start := providers.StartInput{Subject: providers.Subject{UserID: userA},
		CloudPayments: &providers.CloudPaymentsInput{Session: s, DeviceID: "d", AccountID: "a", WorkflowID: "w"}}
	status := providers.StatusInput{Subject: providers.Subject{UserID: userA}, Session: &s}
	res := providers.Result{Status: providers.StatusIncomplete, Session: &s}
	cfg := Config{Name: "cp", BaseURL: "http://h", TenantName: "t", APIKey: secretAPIKey}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"Session": s, "*Session": &s, "Config": cfg, "*Client": c,
		"StartInput": start, "*StartInput": &start, "CloudPaymentsInput": *start.CloudPayments,
		"StatusInput": status, "Result": res, "error": fmt.Errorf("wrapped: %w", sessionError()),
	} {
		// slog's JSON handler marshals nested structs with encoding/json; only top-level
		// LogValuers (Session, Config) are redacted by it. See the next test.
		jsonOK := name == "Session" || name == "*Session" || name == "Config"
		for how, out := range renderings(v, jsonOK) {
			if l := leaks(out); l != nil {
				t.Errorf("%s rendered with %s leaks %d secret(s): %s", name, how, len(l), out)
			}
		}
	}
}

// TestSlogJSONOfInputs: slog's JSON handler renders nested fields with encoding/json, so the
// types holding a Session must render themselves without it.
func TestSlogJSONOfInputs(t *testing.T) {
	s := providers.Session{AccessToken: secretAccess, RefreshToken: secretRefresh}
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("msg",
		"start", providers.StartInput{CloudPayments: &providers.CloudPaymentsInput{Session: s}},
		"status", providers.StatusInput{Session: &s}, "result", providers.Result{Session: &s})
	if err := leaks(b.String()); err != nil {
		t.Fatal(err)
	}
}

// TestNoTokensInErrors drives every failure path with a provider that echoes the tokens in
// its error text.
func TestNoTokensInErrors(t *testing.T) {
	echo := `Invalid access token: ` + secretAccess + `; refresh ` + secretRefresh + `; key ` + secretAPIKey
	answers := map[string]func(w http.ResponseWriter, r *http.Request){
		"400 CPInvalidRequest": func(w http.ResponseWriter, r *http.Request) {
			write(w, 400, `{"statusCode":"400","statusMessage":"`+echo+`","additionalStatusMessage":"`+echo+`","tenantName":"`+secretAccess+`"}`)
		},
		"403": func(w http.ResponseWriter, r *http.Request) {
			write(w, 403, `{"additionalStatusCode":"`+secretAPIKey+`","additionalStatusMessage":"`+echo+`"}`)
		},
		"503 OAuth shape": func(w http.ResponseWriter, r *http.Request) {
			write(w, 503, `{"error":"`+secretRefresh+`","error_description":"`+echo+`"}`)
		},
		"401 then refresh 403": func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/token") {
				write(w, 403, `{"error":"access_denied","error_description":"`+echo+`"}`)
				return
			}
			write(w, 401, `{"error":"invalid_token","error_description":"`+echo+`"}`)
		},
		"401 then refresh 400": func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/token") {
				write(w, 400, `{"error":"invalid_grant","error_description":"Invalid refresh token: `+secretRefresh+`"}`)
				return
			}
			write(w, 401, `{"error":"invalid_token","error_description":"`+echo+`"}`)
		},
		"refresh answer malformed": func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/token") {
				write(w, 200, `{"access_token":"`+secretAccess+`","expires_in":"`+secretRefresh+`"}`)
				return
			}
			write(w, 401, `{}`)
		},
		"malformed status": func(w http.ResponseWriter, r *http.Request) {
			write(w, 200, `{"status":"`+secretAccess+`"}`)
		},
		"malformed JSON": func(w http.ResponseWriter, r *http.Request) {
			write(w, 200, `{"status":"`+secretAccess)
		},
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			_, c := newStub(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { answer(w, r) })
			c.apiKey = secretAPIKey
			s := providers.Session{AccessToken: secretAccess, RefreshToken: secretRefresh}
			_, err1 := c.Status(context.Background(), providers.StatusInput{Session: &s})
			_, err2 := c.Start(context.Background(), providers.StartInput{Subject: providers.Subject{UserID: "c838d156-7775-45c0-a0a8-be45f208ccb1"},
				CloudPayments: &providers.CloudPaymentsInput{Session: s}})
			for _, err := range []error{err1, err2} {
				if err == nil {
					t.Fatal("no error")
				}
				for how, out := range renderings(err, true) {
					if l := leaks(out); l != nil {
						t.Errorf("error rendered with %s leaks: %s", how, out)
					}
				}
			}
		})
	}
}
