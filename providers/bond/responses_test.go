package bond

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kycgw/kycgw/providers"
)

// TestPublishedResponses serves the published documents' own POST and GET bodies and checks what Start and
// Status make of them.
func TestPublishedResponses(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Identity") != "i" || r.Header.Get("Authorization") != "a" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	c, err := New(Config{Name: "bond", BaseURL: srv.URL, Identity: "i", Authorization: "a", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	boSubject := providers.Subject{BusinessID: "0b9e9a2c-8d2e-4c39-9d1b-2f3f8b1b6f10", BeneficialOwnerID: "2d5a1e70-2662-42a3-bb90-52e9bd450a62"}

	body = publishedPayloads["doc002_bo_post_response"]
	res, err := c.Start(context.Background(), providers.StartInput{ProgramID: "p", Subject: boSubject})
	if diff := cmp.Diff(providers.Result{Status: providers.StatusPending, ProviderStatus: "initialized", Submitted: true}, res); err != nil || diff != "" {
		t.Errorf("BO POST response: err %v, diff (-want +got):\n%s", err, diff)
	}

	body = publishedPayloads["doc002_get_status"]
	res, err = c.Status(context.Background(), providers.StatusInput{ProgramID: "p", Subject: providers.Subject{CustomerID: "c"}})
	want := providers.Result{Status: providers.StatusPassed, ProviderStatus: "passed", Checks: []providers.Check{
		{Name: "bureau", Result: "passed"}, {Name: "email", Result: "passed"}, {Name: "ip", Result: "passed"}, {Name: "mobile", Result: "passed"}, {Name: "ofac", Result: "passed"}}}
	if diff := cmp.Diff(want, res); err != nil || diff != "" {
		t.Errorf("detailed GET: err %v, diff (-want +got):\n%s", err, diff)
	}

	body = publishedPayloads["doc003_get_status"]
	res, err = c.Status(context.Background(), providers.StatusInput{ProgramID: "p", Subject: providers.Subject{CustomerID: "c"}})
	if diff := cmp.Diff(providers.Result{Status: providers.StatusPassed, ProviderStatus: "passed"}, res); err != nil || diff != "" {
		t.Errorf("basic GET: err %v, diff (-want +got):\n%s", err, diff)
	}

	body = `{"customer_id": "c", "kyc_status": "approved"}`
	if _, err = c.Status(context.Background(), providers.StatusInput{ProgramID: "p", Subject: providers.Subject{CustomerID: "c"}}); !errors.Is(err, providers.ErrUnknownStatus) {
		t.Errorf("unknown kyc_status: got %v, want ErrUnknownStatus", err)
	}
	body = `{"customer_id": "c"`
	if _, err = c.Status(context.Background(), providers.StatusInput{ProgramID: "p", Subject: providers.Subject{CustomerID: "c"}}); !errors.Is(err, providers.ErrMalformed) {
		t.Errorf("truncated body: got %v, want ErrMalformed", err)
	}
}
