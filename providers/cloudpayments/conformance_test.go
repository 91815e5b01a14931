package cloudpayments_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/cpemu"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/cloudpayments"
	"github.com/kycgw/kycgw/providers/providertest"
)

// workflowFor are the emulator's magic SDK results (see package cpemu) by outcome.
// CloudPayments has no documents, re-enter, error or expired states.
var workflowFor = map[providertest.Outcome]string{
	providertest.Passed:      "wf-approve",
	providertest.Failed:      "reject-1",
	providertest.UnderReview: "review-1",
	providertest.Resubmit:    "resubmit-1",
}

type cpConformance struct {
	emu    *cpemu.Emulator
	api    *httptest.Server
	hc     *http.Client
	client *cloudpayments.Client
	n      atomic.Int64

	mu      sync.Mutex
	outcome map[string]providertest.Outcome // by user uuid
}

func newCPConformance(t *testing.T) *cpConformance {
	c := &cpConformance{outcome: map[string]providertest.Outcome{}}
	c.emu = cpemu.New(cpemu.Options{ReviewDelay: 50 * time.Millisecond})
	c.api = httptest.NewServer(c.emu)
	tr := &http.Transport{}
	c.hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(func() { c.api.Close(); tr.CloseIdleConnections() })
	var err error
	c.client, err = cloudpayments.New(cloudpayments.Config{
		Name: "cloudpayments", BaseURL: c.api.URL, TenantName: cpemu.DefaultTenantName, APIKey: cpemu.DefaultAPIKey,
		PollInterval: 20 * time.Millisecond, HTTPClient: c.hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cpConformance) post(t *testing.T, path, contentType, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.api.URL+path, strings.NewReader(body))
	req.Header.Set("tenantName", cpemu.DefaultTenantName)
	req.Header.Set("api-key", cpemu.DefaultAPIKey)
	req.Header.Set("Content-Type", contentType)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// scenario signs up a new user, as the mobile app would, and remembers the outcome its SDK
// result will ask for.
func (c *cpConformance) scenario(t *testing.T, o providertest.Outcome) (providers.StartInput, bool) {
	if _, ok := workflowFor[o]; !ok {
		return providers.StartInput{}, false
	}
	tok, err := cpemu.SignUp(context.Background(), c.hc, c.api.URL, fmt.Sprintf("conformance%d", c.n.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.outcome[tok.UUID] = o
	c.mu.Unlock()
	return providers.StartInput{
		ProgramID: providertest.NewUUID(),
		Subject:   providers.Subject{UserID: tok.UUID},
		CloudPayments: &providers.CloudPaymentsInput{
			Session:  providers.Session{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken},
			DeviceID: "device-1",
		},
	}, true
}

// next: after the SDK token, the app runs the SDK and starts again with its result.
func (c *cpConformance) next(t *testing.T, in providers.StartInput, first providers.Result) (providers.StartInput, bool) {
	if first.NextAction.Kind != providers.ActionRunSDK {
		return in, false
	}
	c.mu.Lock()
	o := c.outcome[in.Subject.UserID]
	c.mu.Unlock()
	cp := *in.CloudPayments
	if first.Session != nil {
		cp.Session = *first.Session
	}
	cp.AccountID, cp.WorkflowID = "acct-"+in.Subject.UserID[:8], workflowFor[o]
	in.CloudPayments = &cp
	return in, true
}

// await polls, as the gateway does for a provider without webhooks.
func (c *cpConformance) await(t *testing.T, in providers.StartInput, want providers.Status) providers.Result {
	t.Helper()
	s := in.CloudPayments.Session
	deadline := time.Now().Add(10 * time.Second)
	var last providers.Result
	for time.Now().Before(deadline) {
		res, err := c.client.Status(context.Background(), providers.StatusInput{ProgramID: in.ProgramID, Subject: in.Subject, Session: &s})
		if err == nil {
			if res.Session != nil {
				s = *res.Session
			}
			if res.Status == want {
				return res
			}
			last = res
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("status never reached %v (last %v %q)", want, last.Status, last.ProviderStatus)
	return last
}

func (c *cpConformance) invalid(t *testing.T) []providertest.InvalidInput {
	in, _ := c.scenario(t, providertest.Passed)
	noToken := in
	noToken.CloudPayments = &providers.CloudPaymentsInput{}
	customer := in
	customer.Subject = providers.Subject{CustomerID: providertest.NewUUID()}
	half := in
	cp := *in.CloudPayments
	cp.AccountID = "acct-only"
	half.CloudPayments = &cp
	return []providertest.InvalidInput{
		{Name: "no access token", In: noToken, Field: "cloudpayments.access_token"},
		{Name: "customer subject", In: customer, Field: "subject"},
		{Name: "account without workflow", In: half, Field: "cloudpayments.workflow_id"},
	}
}

func TestConformance(t *testing.T) {
	c := newCPConformance(t)
	providertest.Run(t, providertest.Harness{
		Provider:    c.client,
		Scenario:    c.scenario,
		Continue:    c.next,
		Await:       c.await,
		Faults:      c.emu.Faults(),
		Submissions: c.emu.Submissions,
		Invalid:     c.invalid,
		ForceUnknown: func(t *testing.T, in providers.StartInput) {
			c.post(t, "/_sandbox/users/"+in.Subject.UserID+"/status", "application/json", `{"status":"SOMETHING_NEW"}`)
		},
	})
}
