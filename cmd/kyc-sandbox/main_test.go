package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServesEveryEmulator(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	do := func(method, path string, hdr map[string]string, body string) int {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bond := map[string]string{"Identity": "sandbox-bond-identity", "Authorization": "sandbox-bond-authorization"}
	if got := do("GET", "/sandbox/bond/api/v0.1/customers/931e2341-c3eb-4681-97d4-f6e09d90da14/verification-kyc?program_id=72585109-8222-4221-b15b-48e87ffed790", bond, ""); got != 404 {
		t.Fatalf("bond GET unknown KYC = %d, want 404 kyc_dne", got)
	}
	if got := do("GET", "/sandbox/atelio/api/v0.1/customers/931e2341-c3eb-4681-97d4-f6e09d90da14/verification-kyc?program_id=72585109-8222-4221-b15b-48e87ffed790", bond, ""); got != 401 {
		t.Fatalf("atelio with bond's key = %d, want 401", got)
	}
	cp := map[string]string{"tenantName": "sandbox", "api-key": "sandbox-api-key", "Content-Type": "application/json"}
	if got := do("POST", "/sandbox/cloudpayments/registration/user/selfregister", cp,
		`{"firstName":"James","lastName":"Smith","username":"jamessmith","password":"jsmith@1234","preferredLanguage":"EN","contactType":"EMAIL"}`); got != 200 {
		t.Fatalf("cloudpayments selfregister = %d", got)
	}
	if got := do("GET", "/healthz", nil, ""); got != 200 {
		t.Fatalf("healthz = %d", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
