package bond_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/bond"
)

const (
	identity = "e6b234b4-650e-48e4-93eb-6550a07cc075"
	authz    = "MLF0su9R5m9cpaOSRk/vY8/VqCVGWy/AV/qdZMPG/6s58beK6WKyZ8D4W6jemiUY"
	program  = "72585109-8222-4221-b15b-48e87ffed790"
	customer = "931e2341-c3eb-4681-97d4-f6e09d90da14"
	business = "0b9e9a2c-8d2e-4c39-9d1b-2f3f8b1b6f10"
	bo       = "2d5a1e70-2662-42a3-bb90-52e9bd450a62"
)

// harness is one emulator, one adapter Client talking to it over real HTTP, and one webhook
// receiver that feeds deliveries through the Client's ParseWebhook.
type harness struct {
	t      *testing.T
	emu    *bondemu.Emulator
	api    *httptest.Server
	client *bond.Client

	mu        sync.Mutex
	failFirst int // answer 503 to this many deliveries first
	attempts  int
	notes     []providers.Notification
	parseErrs []error
}

func newHarness(t *testing.T, o bondemu.Options) *harness {
	t.Helper()
	o.Identity, o.Authorization = identity, authz
	if o.WebhookDelay == 0 {
		o.WebhookDelay = 5 * time.Millisecond
	}
	if o.RetryBackoff == 0 {
		o.RetryBackoff = 5 * time.Millisecond
	}
	h := &harness{t: t, emu: bondemu.New(o)}
	h.api = httptest.NewServer(h.emu)
	rcv := httptest.NewServer(http.HandlerFunc(h.receive))
	tr := &http.Transport{}
	t.Cleanup(func() {
		h.emu.Close() // stops deliveries before the receiver goes away
		rcv.Close()
		h.api.Close()
		tr.CloseIdleConnections()
	})
	c, err := bond.New(bond.Config{
		Name: "atelio", BaseURL: h.api.URL + "/api/v0.1/", Identity: identity, Authorization: authz,
		HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.client = c
	if err := c.SubscribeWebhook(context.Background(), rcv.URL+"/webhooks/atelio"); err != nil {
		t.Fatalf("SubscribeWebhook: %v", err)
	}
	return h
}

func (h *harness) receive(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if h.failFirst > 0 {
		h.failFirst--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	ns, err := h.client.ParseWebhook(r.Header, body, time.Now())
	if err != nil {
		h.parseErrs = append(h.parseErrs, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.notes = append(h.notes, ns...)
	w.WriteHeader(http.StatusOK)
}

// waitNote waits for a notification about subject with the given event.
func (h *harness) waitNote(s providers.Subject, event string) providers.Notification {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		errs := append([]error(nil), h.parseErrs...)
		for _, n := range h.notes {
			if n.Subject.Key() == s.Key() && n.Event == event {
				h.mu.Unlock()
				return n
			}
		}
		h.mu.Unlock()
		if len(errs) > 0 {
			h.t.Fatalf("webhook refused: %v", errs)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no %s webhook for %s", event, s.Key())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func applicant(ssn string) providers.Applicant {
	return providers.Applicant{SSN: ssn, Phone: "555-111-2222", PhoneCountryCode: "1", Email: "nick@example.com", IP: "192.168.1.139"}
}

func customerStart(id, ssn string) providers.StartInput {
	return providers.StartInput{ProgramID: program, Subject: providers.Subject{CustomerID: id}, Applicant: applicant(ssn)}
}

func TestStartAndStatusCustomer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bondemu.Options{WebhookDelay: 200 * time.Millisecond})
	ctx := context.Background()
	in := customerStart(customer, "123-45-6789")
	in.IdempotencyKey = "gw-key-1"
	res, err := h.client.Start(ctx, in)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if diff := cmp.Diff(providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted", Submitted: true}, res); diff != "" {
		t.Errorf("Start (-want +got):\n%s", diff)
	}
	st, err := h.client.Status(ctx, providers.StatusInput{ProgramID: program, Subject: in.Subject})
	if err != nil || st.Status != providers.StatusPending || st.ProviderStatus != "submitted" {
		t.Errorf("Status before the outcome: got %+v, %v; want PENDING submitted", st, err)
	}
	n := h.waitNote(in.Subject, "kyc.verification.success")
	if n.Result.Status != providers.StatusPassed || n.Result.PassedAt.IsZero() || !strings.HasPrefix(n.DedupeKey, "atelio|") {
		t.Errorf("webhook: got %+v", n)
	}
	st, err = h.client.Status(ctx, providers.StatusInput{ProgramID: program, Subject: in.Subject})
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	want := providers.Result{Status: providers.StatusPassed, ProviderStatus: "passed", Checks: []providers.Check{
		{Name: "bureau", Result: "passed"}, {Name: "email", Result: "passed"}, {Name: "ip", Result: "passed"}, {Name: "mobile", Result: "passed"}, {Name: "ofac", Result: "passed"}}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Status after the outcome (-want +got):\n%s", diff)
	}
}

func TestStartBeneficialOwner(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bondemu.Options{})
	s := providers.Subject{BusinessID: business, BeneficialOwnerID: bo}
	in := providers.StartInput{ProgramID: program, Subject: s, Applicant: applicant("666-66-6666")}
	res, err := h.client.Start(context.Background(), in)
	if err != nil || res.Status != providers.StatusPending || res.ProviderStatus != "initialized" || !res.Submitted {
		t.Fatalf("Start: got %+v, %v; want PENDING initialized submitted", res, err)
	}
	// BO webhooks carry no business_id: the notification names the owner alone.
	n := h.waitNote(providers.Subject{BeneficialOwnerID: bo}, "kyc.verification.failure")
	if n.Subject.BusinessID != "" || n.Result.Status != providers.StatusFailed || len(n.Result.Checks) != 5 {
		t.Errorf("webhook: got %+v", n)
	}
	st, err := h.client.Status(context.Background(), providers.StatusInput{ProgramID: program, Subject: s})
	if err != nil || st.Status != providers.StatusFailed || st.Checks[4] != (providers.Check{Name: "ofac", Result: "failed"}) {
		t.Errorf("Status: got %+v, %v", st, err)
	}
	// failed allows a retry, which for beneficial owners sends kyc_retry_request.
	in.Retry = true
	in.Applicant.SSN = "123-45-6789"
	if res, err = h.client.Start(context.Background(), in); err != nil || !res.Submitted {
		t.Errorf("retry: got %+v, %v", res, err)
	}
}

// Every SSN outcome arrives as a signed webhook and parses to the right status and action.
func TestSSNOutcomes(t *testing.T) {
	t.Parallel()
	docs := func(types ...string) []providers.Document {
		var out []providers.Document
		tmpl := map[string]string{"government_id": "1", "proof_of_address": "2", "social_security_card": "3"}
		for _, ty := range types {
			out = append(out, providers.Document{Type: ty, Status: "required",
				UploadLink: "https://withpersona.com/verify?template-id=tmpl_" + strings.Repeat(tmpl[ty], 24) + "&reference-id=" + customer})
		}
		return out
	}
	for _, tc := range []struct {
		ssn    string
		event  string
		status providers.Status
		action providers.NextAction
		reason providers.Reason
		checks int
	}{
		{"123-45-6789", "kyc.verification.success", providers.StatusPassed, providers.NextAction{}, providers.Reason{}, 0},
		{"000-00-0000", "kyc.verification.under_review", providers.StatusUnderReview, providers.NextAction{}, providers.Reason{}, 0},
		{"111-11-1111", "kyc.verification.document_required", providers.StatusDocumentsRequired,
			providers.NextAction{Kind: providers.ActionUploadDocuments, Documents: docs("social_security_card", "government_id")}, providers.Reason{}, 0},
		{"222-22-2222", "kyc.verification.document_required", providers.StatusDocumentsRequired,
			providers.NextAction{Kind: providers.ActionUploadDocuments, Documents: docs("government_id", "proof_of_address")}, providers.Reason{}, 0},
		{"333333333", "kyc.verification.document_required", providers.StatusDocumentsRequired,
			providers.NextAction{Kind: providers.ActionUploadDocuments, Documents: docs("government_id")}, providers.Reason{}, 0},
		{"444-44-4444", "kyc.verification.document_required", providers.StatusDocumentsRequired,
			providers.NextAction{Kind: providers.ActionUploadDocuments, Documents: docs("social_security_card", "government_id", "proof_of_address")}, providers.Reason{}, 0},
		{"555-55-5555", "kyc.verification.reenter_information", providers.StatusReenterInformation,
			providers.NextAction{Kind: providers.ActionReenterInformation, Fields: []string{"first_name", "last_name", "ssn"}},
			providers.Reason{Description: "Re enter the below information for this customer's KYC attempt on program " + program}, 0},
		{"666-66-6666", "kyc.verification.failure", providers.StatusFailed, providers.NextAction{}, providers.Reason{}, 5},
		{"666-66-0001", "kyc.verification.failure", providers.StatusFailed, providers.NextAction{},
			providers.Reason{Code: "po_box_failure", Description: "Customer address is a PO Box. Request a new address"}, 0},
		{"777-77-7777", "kyc.verification.error", providers.StatusError, providers.NextAction{Kind: providers.ActionRetry}, providers.Reason{}, 0},
		{"888-88-8888", "kyc.verification.timeout", providers.StatusExpired, providers.NextAction{Kind: providers.ActionRetry}, providers.Reason{}, 0},
	} {
		t.Run(tc.ssn, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, bondemu.Options{})
			in := customerStart(customer, tc.ssn)
			if _, err := h.client.Start(context.Background(), in); err != nil {
				t.Fatalf("Start: %v", err)
			}
			n := h.waitNote(in.Subject, tc.event)
			r := n.Result
			if r.Status != tc.status || r.ProviderStatus != tc.event {
				t.Errorf("status: got %v %q, want %v %q", r.Status, r.ProviderStatus, tc.status, tc.event)
			}
			if diff := cmp.Diff(tc.action, r.NextAction); diff != "" {
				t.Errorf("next action (-want +got):\n%s", diff)
			}
			if r.Reason != tc.reason || len(r.Checks) != tc.checks {
				t.Errorf("reason/checks: got %+v %v, want %+v and %d checks", r.Reason, r.Checks, tc.reason, tc.checks)
			}
			if tc.ssn == "555-55-5555" {
				if !r.OccurredAt.IsZero() {
					t.Errorf("reenter_information has no occurred_at, got %v", r.OccurredAt)
				}
			} else if r.OccurredAt.IsZero() {
				t.Errorf("occurred_at missing")
			}
			// The GET agrees with the webhook.
			st, err := h.client.Status(context.Background(), providers.StatusInput{ProgramID: program, Subject: in.Subject})
			if err != nil || st.Status != tc.status {
				t.Errorf("Status: got %v, %v; want %v", st.Status, err, tc.status)
			}
			if st.Status == providers.StatusFailed && st.Reason != tc.reason {
				t.Errorf("Status reason: got %+v, want %+v", st.Reason, tc.reason)
			}
		})
	}
}

func TestAlreadyPassed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bondemu.Options{})
	in := customerStart(customer, "123-45-6789")
	if _, err := h.client.Start(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	n := h.waitNote(in.Subject, "kyc.verification.success")
	_, err := h.client.Start(context.Background(), in)
	var ap *providers.AlreadyPassedError
	if !errors.As(err, &ap) || !errors.Is(err, providers.ErrAlreadyPassed) {
		t.Fatalf("got %v, want AlreadyPassedError", err)
	}
	if !ap.PassedAt.Equal(n.Result.OccurredAt) {
		t.Errorf("PassedAt: got %v, want %v (the success webhook's occurred_at)", ap.PassedAt, n.Result.OccurredAt)
	}
	if got := h.emu.Submissions(); got != 1 {
		t.Errorf("Submissions: got %d, want 1", got)
	}
}

func TestInProgressReconciles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bondemu.Options{WebhookDelay: 300 * time.Millisecond})
	ctx := context.Background()
	in := customerStart(customer, "000-00-0000")
	if _, err := h.client.Start(ctx, in); err != nil {
		t.Fatal(err)
	}
	// Immediately: the provider says "already initialized"; the adapter reads instead.
	res, err := h.client.Start(ctx, in)
	if err != nil || res.Submitted || res.Status != providers.StatusPending {
		t.Errorf("second Start while submitted: got %+v, %v; want PENDING, not submitted", res, err)
	}
	h.waitNote(in.Subject, "kyc.verification.under_review")
	res, err = h.client.Start(ctx, in)
	if err != nil || res.Submitted || res.Status != providers.StatusUnderReview {
		t.Errorf("Start while under review: got %+v, %v; want UNDER_REVIEW, not submitted", res, err)
	}
	if got := h.emu.Submissions(); got != 1 {
		t.Errorf("Submissions: got %d, want 1", got)
	}
}

// A reused Idempotency-Key is refused even when the state would allow a new attempt (after an
// error); the adapter reconciles instead of submitting.
func TestIdempotencyKeyReuseReconciles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bondemu.Options{})
	ctx := context.Background()
	in := customerStart(customer, "777-77-7777")
	in.IdempotencyKey = "kycgw:tenant-a:0123456789abcdef"
	if _, err := h.client.Start(ctx, in); err != nil {
		t.Fatal(err)
	}
	h.waitNote(in.Subject, "kyc.verification.error")
	res, err := h.client.Start(ctx, in)
	if err != nil {
		t.Fatalf("Start with reused key: %v", err)
	}
	want := providers.Result{Status: providers.StatusError, ProviderStatus: "error", NextAction: providers.NextAction{Kind: providers.ActionRetry}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("reconciled result (-want +got):\n%s", diff)
	}
	if got := h.emu.Submissions(); got != 1 {
		t.Errorf("Submissions: got %d, want 1", got)
	}
	// A new key opens a new attempt, as the error status allows.
	in.IdempotencyKey = "kycgw:tenant-a:fedcba9876543210"
	in.Retry = true
	if res, err = h.client.Start(ctx, in); err != nil || !res.Submitted {
		t.Errorf("retry with a new key: got %+v, %v", res, err)
	}
}

func TestSchemaErrorNamesField(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bondemu.Options{})
	for _, tc := range []struct {
		name  string
		mod   func(*providers.StartInput)
		field string
	}{
		{"bad ssn", func(in *providers.StartInput) { in.Applicant.SSN = "12-3456-789" }, "applicant.ssn"},
		{"missing ssn", func(in *providers.StartInput) { in.Applicant.SSN = "" }, "applicant.ssn"},
		{"bad email", func(in *providers.StartInput) { in.Applicant.Email = "nick.example.com" }, "applicant.email"},
		{"ipv6", func(in *providers.StartInput) { in.Applicant.IP = "2001:db8::1" }, "applicant.ip"},
		{"bad program", func(in *providers.StartInput) { in.ProgramID = "program-1" }, "program_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := customerStart(customer, "123-45-6789")
			tc.mod(&in)
			_, err := h.client.Start(context.Background(), in)
			var fe *providers.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Reason == "" {
				t.Fatalf("got %v, want FieldError on %s", err, tc.field)
			}
			for _, pii := range []string{in.Applicant.SSN, in.Applicant.Email, in.Applicant.Phone, in.Applicant.IP} {
				if pii != "" && strings.Contains(err.Error(), pii) {
					t.Errorf("error %q leaks applicant data", err)
				}
			}
		})
	}
	if got := h.emu.Submissions(); got != 0 {
		t.Errorf("Submissions: got %d, want 0", got)
	}
}

func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	emu := bondemu.New(bondemu.Options{Identity: identity, Authorization: authz})
	srv := httptest.NewServer(emu)
	defer func() { srv.Close(); emu.Close() }()
	c, err := bond.New(bond.Config{Name: "bond", BaseURL: srv.URL + "/api/v0.1", Identity: identity, Authorization: "stale", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Start(context.Background(), customerStart(customer, "123-45-6789"))
	var ae *bond.APIError
	if !errors.Is(err, providers.ErrRejected) || !errors.As(err, &ae) || ae.Code != "auth_err" || ae.HTTPStatus != 401 {
		t.Errorf("Start: got %v, want ErrRejected with auth_err", err)
	}
	if err := c.SubscribeWebhook(context.Background(), "http://127.0.0.1/x"); !errors.Is(err, providers.ErrRejected) {
		t.Errorf("SubscribeWebhook: got %v, want ErrRejected", err)
	}
}

func TestStatusNotStartedAndNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bondemu.Options{})
	res, err := h.client.Status(context.Background(), providers.StatusInput{ProgramID: program, Subject: providers.Subject{CustomerID: customer}})
	if err != nil || res.Status != providers.StatusNotStarted || res.ProviderStatus != "kyc_dne" {
		t.Errorf("Status of a new subject: got %+v, %v; want NOT_STARTED kyc_dne", res, err)
	}
	_, err = h.client.Start(context.Background(), customerStart("not-a-uuid", "123-45-6789"))
	if !errors.Is(err, providers.ErrSubjectNotFound) {
		t.Errorf("Start for a malformed customer id: got %v, want ErrSubjectNotFound", err)
	}
	_, err = h.client.Start(context.Background(), providers.StartInput{ProgramID: program, Subject: providers.Subject{UserID: "u"}})
	var fe *providers.FieldError
	if !errors.As(err, &fe) || fe.Field != "subject" {
		t.Errorf("Start for a user: got %v, want FieldError on subject", err)
	}
}

// The sandbox's simulate endpoint resolves a review; the webhook it sends passes the subject.
func TestSimulatePassAfterReview(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bondemu.Options{})
	in := customerStart(customer, "000-00-0000")
	if _, err := h.client.Start(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	h.waitNote(in.Subject, "kyc.verification.under_review")
	req, _ := http.NewRequest("POST", h.api.URL+"/api/v0.1/simulate/kyc-pass", strings.NewReader(`{"customer_id":"`+customer+`","program_id":"`+program+`"}`))
	req.Header.Set("Identity", identity)
	req.Header.Set("Authorization", authz)
	resp, err := h.api.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"customer_id":"` + customer + `","kyc_status":"passed"}`; string(b) != want {
		t.Errorf("simulate: got %s, want %s", b, want)
	}
	if n := h.waitNote(in.Subject, "kyc.verification.success"); n.Result.Status != providers.StatusPassed {
		t.Errorf("got %+v", n)
	}
}

func TestWebhookRetriedUntilOK(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bondemu.Options{})
	h.mu.Lock()
	h.failFirst = 3
	h.mu.Unlock()
	in := customerStart(customer, "123-45-6789")
	if _, err := h.client.Start(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	h.waitNote(in.Subject, "kyc.verification.success")
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.attempts != 4 || len(h.notes) != 1 {
		t.Errorf("got %d attempts and %d notifications, want 4 and 1", h.attempts, len(h.notes))
	}
}

func newClient(t *testing.T, base string) *bond.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := bond.New(bond.Config{Name: "bond", BaseURL: base, Identity: identity, Authorization: authz, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	for _, status := range []int{429, 500, 503, 504} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`<html>busy</html>`))
		}))
		c := newClient(t, srv.URL+"/api/v0.1")
		_, err := c.Start(context.Background(), customerStart(customer, "123-45-6789"))
		if !errors.Is(err, providers.ErrUnavailable) {
			t.Errorf("HTTP %d: got %v, want ErrUnavailable", status, err)
		}
		_, err = c.Status(context.Background(), providers.StatusInput{ProgramID: program, Subject: providers.Subject{CustomerID: customer}})
		if !errors.Is(err, providers.ErrUnavailable) {
			t.Errorf("HTTP %d status: got %v, want ErrUnavailable", status, err)
		}
		srv.Close()
	}
	// A closed port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, "http://"+addr+"/api/v0.1")
	if _, err := c.Start(context.Background(), customerStart(customer, "123-45-6789")); !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("closed server: got %v, want ErrUnavailable", err)
	}
}

func TestContextHonoured(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, srv.URL+"/api/v0.1")

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Start(ctx, customerStart(customer, "123-45-6789"))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("cancel: got %v, want context.Canceled and ErrUnavailable", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("cancel took %v", time.Since(start))
	}

	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	_, err = c.Status(ctx, providers.StatusInput{ProgramID: program, Subject: providers.Subject{CustomerID: customer}})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("deadline: got %v, want DeadlineExceeded and ErrUnavailable", err)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	ok := bond.Config{Name: "bond", BaseURL: "https://sandbox.bond.tech/api/v0.1", Identity: "i", Authorization: "a"}
	for _, tc := range []struct {
		field string
		mod   func(*bond.Config)
	}{
		{"Name", func(c *bond.Config) { c.Name = "" }},
		{"BaseURL", func(c *bond.Config) { c.BaseURL = "" }},
		{"BaseURL", func(c *bond.Config) { c.BaseURL = "sandbox.bond.tech" }},
		{"BaseURL", func(c *bond.Config) { c.BaseURL = "ftp://sandbox.bond.tech" }},
		{"Identity", func(c *bond.Config) { c.Identity = "" }},
		{"Authorization", func(c *bond.Config) { c.Authorization = "" }},
		{"SignatureTolerance", func(c *bond.Config) { c.SignatureTolerance = -time.Second }},
	} {
		cfg := ok
		tc.mod(&cfg)
		if _, err := bond.New(cfg); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v, want an error naming it", tc.field, err)
		}
	}
	if c, err := bond.New(ok); err != nil || c.Name() != "bond" {
		t.Errorf("valid config: got %v, %v", c, err)
	}
}

func TestValidateStart(t *testing.T) {
	t.Parallel()
	c, err := bond.New(bond.Config{Name: "atelio", BaseURL: "https://sandbox.atelio.com/api/v0.1", Identity: "i", Authorization: "a", RequireIP: true})
	if err != nil {
		t.Fatal(err)
	}
	good := customerStart(customer, "123-45-6789")
	for _, tc := range []struct {
		name  string
		mod   func(*providers.StartInput)
		field string // "" means valid
	}{
		{"valid customer", func(*providers.StartInput) {}, ""},
		{"valid beneficial owner", func(in *providers.StartInput) {
			in.Subject = providers.Subject{BusinessID: business, BeneficialOwnerID: bo}
		}, ""},
		{"user subject", func(in *providers.StartInput) { in.Subject = providers.Subject{UserID: customer} }, "subject"},
		{"no subject", func(in *providers.StartInput) { in.Subject = providers.Subject{} }, "subject"},
		{"customer and owner", func(in *providers.StartInput) { in.Subject.BeneficialOwnerID = bo }, "subject"},
		{"customer not uuid", func(in *providers.StartInput) { in.Subject.CustomerID = "cust_1" }, "subject.customer_id"},
		{"business not uuid", func(in *providers.StartInput) {
			in.Subject = providers.Subject{BusinessID: "b", BeneficialOwnerID: bo}
		}, "subject.beneficial_owner.business_id"},
		{"owner missing", func(in *providers.StartInput) {
			in.Subject = providers.Subject{BusinessID: business}
		}, "subject.beneficial_owner.beneficial_owner_id"},
		{"program not uuid", func(in *providers.StartInput) { in.ProgramID = "p" }, "program_id"},
		{"cloudpayments input", func(in *providers.StartInput) { in.CloudPayments = &providers.CloudPaymentsInput{} }, "cloudpayments"},
		{"ip required", func(in *providers.StartInput) { in.Applicant.IP = "" }, "applicant.ip"},
		{"ip v6", func(in *providers.StartInput) { in.Applicant.IP = "::1" }, "applicant.ip"},
		{"ssn format", func(in *providers.StartInput) { in.Applicant.SSN = "1234" }, "applicant.ssn"},
		{"phone format", func(in *providers.StartInput) { in.Applicant.Phone = "+1 555" }, "applicant.phone"},
		{"country code", func(in *providers.StartInput) { in.Applicant.PhoneCountryCode = "1234" }, "applicant.phone_country_code"},
		{"email", func(in *providers.StartInput) { in.Applicant.Email = "nick" }, "applicant.email"},
	} {
		in := good
		tc.mod(&in)
		err := c.ValidateStart(in)
		var fe *providers.FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: got %v, want valid", tc.name, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%s: got %v, want FieldError on %s", tc.name, err, tc.field)
		}
	}
}
