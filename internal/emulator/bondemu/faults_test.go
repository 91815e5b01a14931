package bondemu_test

// These tests drive the fault switches end to end: the emulator's deliveries are received by
// an httptest server that verifies and parses them with the real adapter (bond.Client), as the
// gateway would. The emulator itself never imports the adapter; only this external test
// package does.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/testkit"

	"github.com/google/go-cmp/cmp"
	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"github.com/kycgw/kycgw/internal/emulator/faults"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/bond"
)

const (
	identity = "e6b234b4-650e-48e4-93eb-6550a07cc075"
	authz    = "sasAXw8ElVJihL3+3mzItCsVtKzh4Kqa0xdECC/F1GbwA6LQTAs/KxkZ9QFYST3l"
	program  = "72585109-8222-4221-b15b-48e87ffed790"
	cust1    = "931e2341-c3eb-4681-97d4-f6e09d90da14"
	cust2    = "11111111-2222-4333-8444-555555555555"
	cust3    = "22222222-2222-4333-8444-555555555555"
)

// rig is one emulator, the adapter talking to it, and a webhook receiver that verifies every
// delivery with the adapter's ParseWebhook: 401 for a bad signature, 400 for anything else it
// refuses, 200 otherwise.
type rig struct {
	t      *testing.T
	emu    *bondemu.Emulator
	api    *httptest.Server
	hc     *http.Client
	client *bond.Client

	mu       sync.Mutex
	attempts int
	notes    []providers.Notification
	refused  []error
}

func newRig(t *testing.T, o bondemu.Options) *rig {
	t.Helper()
	o.Identity, o.Authorization = identity, authz
	if o.WebhookDelay == 0 {
		o.WebhookDelay = 5 * time.Millisecond
	}
	if o.RetryBackoff == 0 {
		o.RetryBackoff = 5 * time.Millisecond
	}
	if o.MaxDeliveryAttempts == 0 {
		o.MaxDeliveryAttempts = 3
	}
	r := &rig{t: t, emu: bondemu.New(o)}
	r.api = httptest.NewServer(r.emu)
	rcv := httptest.NewServer(http.HandlerFunc(r.receive))
	tr := &http.Transport{}
	r.hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		r.emu.Close()
		rcv.Close()
		r.api.Close()
		tr.CloseIdleConnections()
	})
	c, err := bond.New(bond.Config{Name: "bond", BaseURL: r.api.URL + "/api/v0.1", Identity: identity, Authorization: authz, HTTPClient: r.hc})
	if err != nil {
		t.Fatal(err)
	}
	r.client = c
	if err := c.SubscribeWebhook(context.Background(), rcv.URL); err != nil {
		t.Fatalf("SubscribeWebhook: %v", err)
	}
	return r
}

func (r *rig) receive(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ns, err := r.client.ParseWebhook(req.Header, body, time.Now())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	switch {
	case errors.Is(err, providers.ErrBadSignature):
		r.refused = append(r.refused, err)
		w.WriteHeader(http.StatusUnauthorized)
	case err != nil:
		r.refused = append(r.refused, err)
		w.WriteHeader(http.StatusBadRequest)
	default:
		r.notes = append(r.notes, ns...)
		w.WriteHeader(http.StatusOK)
	}
}

func (r *rig) snapshot() (attempts int, notes []providers.Notification, refused []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts, append([]providers.Notification(nil), r.notes...), append([]error(nil), r.refused...)
}

// events lists the events received about customer id, in arrival order.
func (r *rig) events(id string) []string {
	_, notes, _ := r.snapshot()
	var out []string
	for _, n := range notes {
		if n.Subject.CustomerID == id {
			out = append(out, n.Event)
		}
	}
	return out
}

func (r *rig) start(id, ssn string) {
	r.t.Helper()
	in := providers.StartInput{ProgramID: program, Subject: providers.Subject{CustomerID: id},
		Applicant: providers.Applicant{SSN: ssn, Email: "nick@example.com"}}
	if _, err := r.client.Start(context.Background(), in); err != nil {
		r.t.Fatalf("Start %s: %v", ssn, err)
	}
}

func (r *rig) status(id string) (providers.Result, error) {
	return r.client.Status(context.Background(), providers.StatusInput{ProgramID: program, Subject: providers.Subject{CustomerID: id}})
}

// do sends a raw request; creds adds the API key.
func (r *rig) do(method, path, body string, creds bool) (int, http.Header, string, error) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.api.URL+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if creds {
		req.Header.Set("Identity", identity)
		req.Header.Set("Authorization", authz)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), nil
}

func (r *rig) mustDo(method, path, body string, creds bool) (int, string) {
	r.t.Helper()
	code, _, b, err := r.do(method, path, body, creds)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	return code, b
}

func (r *rig) setWebhookFaults(f bondemu.WebhookFaults) {
	r.t.Helper()
	if err := r.emu.SetWebhookFaults(f); err != nil {
		r.t.Fatal(err)
	}
}

const kycPath = "/api/v0.1/customers/" + cust1 + "/verification-kyc"

func TestHTTPFaults(t *testing.T) {
	t.Parallel()
	r := newRig(t, bondemu.Options{})
	if r.emu.Faults() == nil || r.emu.Faults().Get() != (faults.Config{}) {
		t.Fatalf("faults must exist and be off by default, got %+v", r.emu.Faults().Get())
	}
	startBody := `{"program_id":"` + program + `","ssn":"123-45-6789"}`

	if code, body := r.mustDo("PUT", "/_sandbox/faults", `{"error_rate":1}`, false); code != 200 {
		t.Fatalf("PUT faults: got %d %s", code, body)
	}
	code, body := r.mustDo("POST", kycPath, startBody, true)
	want := `{"Message":"The service is temporarily unavailable. Please try again later.","Status":503,"Code":"service_unavailable","Type":"Server Error"}`
	if code != 503 || body != want {
		t.Errorf("error_rate 1: got %d %s, want 503 %s", code, body, want)
	}
	// Faults sit in front of authentication too: a provider that is down checks nothing.
	if code, _ := r.mustDo("GET", kycPath+"?program_id="+program, "", false); code != 503 {
		t.Errorf("error_rate 1 without credentials: got %d, want 503", code)
	}
	if _, err := r.status(cust1); !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("adapter under 503: got %v, want ErrUnavailable", err)
	}
	// The control endpoint is not behind the injector.
	if code, body := r.mustDo("GET", "/_sandbox/faults", "", false); code != 200 || !strings.Contains(body, `"error_rate":1`) {
		t.Errorf("GET faults under error_rate 1: got %d %s", code, body)
	}

	r.mustDo("PUT", "/_sandbox/faults", `{"rate_limit_rate":1}`, false)
	code, hdr, body, err := r.do("POST", kycPath, startBody, true)
	want = `{"Message":"Rate limit exceeded: 1000 API calls per minute","Status":429,"Code":"rate_limit_exceeded","Type":"Request Error"}`
	if err != nil || code != 429 || body != want || hdr.Get("Retry-After") != "1" {
		t.Errorf("rate_limit_rate 1: got %d %v %s (Retry-After %q), want 429 %s", code, err, body, hdr.Get("Retry-After"), want)
	}

	r.mustDo("PUT", "/_sandbox/faults", `{"refuse":true}`, false)
	if _, _, _, err := r.do("POST", kycPath, startBody, true); err == nil {
		t.Errorf("refuse: the request succeeded")
	}
	if code, _ := r.mustDo("PUT", "/_sandbox/faults", `{}`, false); code != 200 {
		t.Fatalf("switching faults off while refusing: got %d", code)
	}
	if n := r.emu.Submissions(); n != 0 {
		t.Errorf("Submissions under faults: got %d, want 0", n)
	}
	if code, body := r.mustDo("POST", kycPath, startBody, true); code != 201 {
		t.Errorf("after faults off: got %d %s, want 201", code, body)
	}
}

func TestWebhookFaultsControl(t *testing.T) {
	t.Parallel()
	r := newRig(t, bondemu.Options{})
	code, body := r.mustDo("GET", "/_sandbox/webhook-faults", "", false)
	want := `{"duplicate":0,"reorder":false,"reorder_window":"0s","delay":"0s","wrong_secret":false,"drop":false}`
	if code != 200 || body != want {
		t.Errorf("GET default: got %d %s, want 200 %s", code, body, want)
	}
	all := `{"duplicate":2,"reorder":true,"reorder_window":"50ms","delay":"10ms","wrong_secret":true,"drop":true}`
	if code, body = r.mustDo("PUT", "/_sandbox/webhook-faults", all, false); code != 200 || body != all {
		t.Errorf("PUT: got %d %s, want 200 %s", code, body, all)
	}
	wantF := bondemu.WebhookFaults{Duplicate: 2, Reorder: true, ReorderWindow: 50 * time.Millisecond, Delay: 10 * time.Millisecond, WrongSecret: true, Drop: true}
	if diff := cmp.Diff(wantF, r.emu.WebhookFaults()); diff != "" {
		t.Errorf("WebhookFaults after PUT (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"duplicat":1}`, `{"delay":"soon"}`, `{"delay":"-1s"}`, `{"duplicate":-1}`, `{"duplicate":1000}`, `{"reorder_window":"-1ms"}`, `[]`, `{"drop":"yes"}`} {
		if code, body := r.mustDo("PUT", "/_sandbox/webhook-faults", bad, false); code != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("PUT %s: got %d %s, want 400 with an error", bad, code, body)
		}
	}
	if diff := cmp.Diff(wantF, r.emu.WebhookFaults()); diff != "" {
		t.Errorf("a refused PUT changed the faults (-want +got):\n%s", diff)
	}
	if code, _ := r.mustDo("DELETE", "/_sandbox/webhook-faults", "", false); code != 405 {
		t.Errorf("DELETE: got %d, want 405", code)
	}
	if err := r.emu.SetWebhookFaults(bondemu.WebhookFaults{Delay: -time.Second}); err == nil {
		t.Errorf("SetWebhookFaults with a negative delay: no error")
	}
	if code, body = r.mustDo("PUT", "/_sandbox/webhook-faults", `{}`, false); code != 200 || r.emu.WebhookFaults() != (bondemu.WebhookFaults{}) {
		t.Errorf("PUT {}: got %d %s and %+v, want everything off", code, body, r.emu.WebhookFaults())
	}
	// Control endpoints answer under HTTP faults, unknown ones 404.
	r.emu.Faults().Set(faults.Config{Refuse: true})
	if code, _ := r.mustDo("GET", "/_sandbox/webhook-faults", "", false); code != 200 {
		t.Errorf("webhook-faults under refuse: got %d, want 200", code)
	}
	r.emu.Faults().Set(faults.Config{})
	if code, _ := r.mustDo("GET", "/_sandbox/nothing", "", false); code != 404 {
		t.Errorf("unknown control path: got %d, want 404", code)
	}
}

func TestWebhookDuplicate(t *testing.T) {
	t.Parallel()
	r := newRig(t, bondemu.Options{})
	r.setWebhookFaults(bondemu.WebhookFaults{Duplicate: 2})
	r.start(cust1, "123-45-6789")
	testkit.Eventually(t, "three deliveries", func() bool { return len(r.events(cust1)) == 3 })
	time.Sleep(30 * time.Millisecond)
	_, notes, refused := r.snapshot()
	if len(notes) != 3 || len(refused) != 0 {
		t.Fatalf("got %d notifications and refusals %v, want 3 and none", len(notes), refused)
	}
	for _, n := range notes[1:] {
		if n.DedupeKey != notes[0].DedupeKey || n.Event != "kyc.verification.success" {
			t.Errorf("copies differ: %+v vs %+v", n, notes[0])
		}
	}
	testkit.Eventually(t, "three deliveries to be counted", func() bool { return r.emu.DeliveryStats().Delivered == 3 })
	if st := r.emu.DeliveryStats(); st.Attempts != 3 {
		t.Errorf("stats: got %+v, want 3 attempts, 3 delivered", st)
	}
}

func TestWebhookReorder(t *testing.T) {
	t.Parallel()
	r := newRig(t, bondemu.Options{})
	docs := "kyc.verification.document_required"
	review := "kyc.verification.under_review"
	success := "kyc.verification.success"

	// Without the fault the sequence arrives in order.
	r.start(cust3, "111-11-0001")
	testkit.Eventually(t, "the natural sequence", func() bool { return len(r.events(cust3)) == 3 })
	if diff := cmp.Diff([]string{docs, review, success}, r.events(cust3)); diff != "" {
		t.Errorf("without reorder (-want +got):\n%s", diff)
	}
	const cust6 = "55555555-2222-4333-8444-555555555555"
	r.start(cust6, "000-00-0001")
	testkit.Eventually(t, "the two-webhook sequence", func() bool { return len(r.events(cust6)) == 2 })
	if diff := cmp.Diff([]string{review, success}, r.events(cust6)); diff != "" {
		t.Errorf("000-00-0001 (-want +got):\n%s", diff)
	}

	r.setWebhookFaults(bondemu.WebhookFaults{Reorder: true, ReorderWindow: time.Hour})
	r.start(cust1, "111-11-0001")
	testkit.Eventually(t, "the reordered sequence", func() bool { return len(r.events(cust1)) == 3 })
	if diff := cmp.Diff([]string{success, review, docs}, r.events(cust1)); diff != "" {
		t.Errorf("111-11-0001 reordered (-want +got):\n%s", diff)
	}
	if st, err := r.status(cust1); err != nil || st.Status != providers.StatusPassed {
		t.Errorf("GET after the sequence: got %v, %v; want PASSED", st.Status, err)
	}

	// under_review, then /simulate/kyc-pass: success arrives first.
	r.start(cust2, "000-00-0000")
	testkit.Eventually(t, "under_review to be held", func() bool { return r.emu.DeliveryStats().Held == 1 })
	if code, body := r.mustDo("POST", "/api/v0.1/simulate/kyc-pass", `{"customer_id":"`+cust2+`","program_id":"`+program+`"}`, true); code != 200 {
		t.Fatalf("simulate: got %d %s", code, body)
	}
	testkit.Eventually(t, "the simulated sequence", func() bool { return len(r.events(cust2)) == 2 })
	if diff := cmp.Diff([]string{success, review}, r.events(cust2)); diff != "" {
		t.Errorf("simulate reordered (-want +got):\n%s", diff)
	}

	// A batch with no sequence-ending event waits for the window...
	r.setWebhookFaults(bondemu.WebhookFaults{Reorder: true, ReorderWindow: 30 * time.Millisecond})
	const cust4 = "33333333-2222-4333-8444-555555555555"
	r.start(cust4, "333-33-3333")
	testkit.Eventually(t, "the window to release", func() bool { return len(r.events(cust4)) == 1 })

	// ...or for Reorder to be switched off.
	r.setWebhookFaults(bondemu.WebhookFaults{Reorder: true, ReorderWindow: time.Hour})
	const cust5 = "44444444-2222-4333-8444-555555555555"
	r.start(cust5, "222-22-2222")
	testkit.Eventually(t, "the webhook to be held", func() bool { return r.emu.DeliveryStats().Held == 1 })
	if n := len(r.events(cust5)); n != 0 {
		t.Fatalf("held webhook delivered early")
	}
	r.setWebhookFaults(bondemu.WebhookFaults{})
	testkit.Eventually(t, "release on switch-off", func() bool { return len(r.events(cust5)) == 1 })
	if _, _, refused := r.snapshot(); len(refused) > 0 {
		t.Errorf("refused deliveries: %v", refused)
	}
}

func TestWebhookDelay(t *testing.T) {
	t.Parallel()
	r := newRig(t, bondemu.Options{})
	const delay = 300 * time.Millisecond
	r.setWebhookFaults(bondemu.WebhookFaults{Delay: delay})
	began := time.Now()
	r.start(cust1, "123-45-6789")
	testkit.Eventually(t, "the delayed delivery", func() bool { return len(r.events(cust1)) == 1 })
	if took := time.Since(began); took < delay {
		t.Errorf("delivered after %v, want at least %v", took, delay)
	}
	testkit.Eventually(t, "the delivery to be counted", func() bool { return r.emu.DeliveryStats().Delivered == 1 })
}

func TestWebhookWrongSecret(t *testing.T) {
	t.Parallel()
	r := newRig(t, bondemu.Options{MaxDeliveryAttempts: 3})
	r.setWebhookFaults(bondemu.WebhookFaults{WrongSecret: true})
	r.start(cust1, "123-45-6789")
	testkit.Eventually(t, "the delivery to be given up", func() bool { return r.emu.DeliveryStats().GivenUp == 1 })
	attempts, notes, refused := r.snapshot()
	if attempts != 3 || len(notes) != 0 || len(refused) != 3 {
		t.Fatalf("got %d attempts, %d notifications, %d refusals; want 3, 0, 3", attempts, len(notes), len(refused))
	}
	for _, err := range refused {
		if !errors.Is(err, providers.ErrBadSignature) {
			t.Errorf("refusal %v is not ErrBadSignature", err)
		}
	}
	if st := r.emu.DeliveryStats(); st.Attempts != 3 || st.Delivered != 0 {
		t.Errorf("stats: got %+v, want 3 attempts, none delivered", st)
	}
	// The right secret again: the next webhook verifies.
	r.setWebhookFaults(bondemu.WebhookFaults{})
	r.start(cust2, "123-45-6789")
	testkit.Eventually(t, "a verified delivery", func() bool { return len(r.events(cust2)) == 1 })
}

func TestWebhookDrop(t *testing.T) {
	t.Parallel()
	r := newRig(t, bondemu.Options{})
	r.setWebhookFaults(bondemu.WebhookFaults{Drop: true})
	r.start(cust1, "123-45-6789")
	testkit.Eventually(t, "the KYC to pass", func() bool {
		st, err := r.status(cust1)
		return err == nil && st.Status == providers.StatusPassed
	})
	testkit.Eventually(t, "the drop to be counted", func() bool { return r.emu.DeliveryStats().Dropped == 1 })
	time.Sleep(50 * time.Millisecond)
	if attempts, _, _ := r.snapshot(); attempts != 0 {
		t.Errorf("got %d deliveries, want none", attempts)
	}
}

func TestForceStatus(t *testing.T) {
	t.Parallel()
	r := newRig(t, bondemu.Options{})
	force := `{"customer_id":"` + cust1 + `","program_id":"` + program + `","kyc_status":"pending_manual_review","event":"kyc.verification.pending_manual_review"}`
	if code, _ := r.mustDo("POST", "/_sandbox/kyc-status", force, true); code != 404 {
		t.Errorf("force before any KYC: got %d, want 404", code)
	}
	r.start(cust1, "000-00-0000")
	if code, _ := r.mustDo("POST", "/_sandbox/kyc-status", force, false); code != 401 {
		t.Errorf("force without credentials: got %d, want 401", code)
	}
	if code, _ := r.mustDo("POST", "/_sandbox/kyc-status", `{"customer_id":"`+cust1+`","program_id":"`+program+`"}`, true); code != 400 {
		t.Errorf("force without kyc_status: got %d, want 400", code)
	}
	code, body := r.mustDo("POST", "/_sandbox/kyc-status", force, true)
	if want := `{"customer_id":"` + cust1 + `","kyc_status":"pending_manual_review"}`; code != 200 || body != want {
		t.Errorf("force: got %d %s, want 200 %s", code, body, want)
	}
	_, err := r.status(cust1)
	var ue *providers.UnknownStatusError
	if !errors.As(err, &ue) || ue.Value != "pending_manual_review" {
		t.Errorf("adapter Status: got %v, want UnknownStatusError pending_manual_review", err)
	}
	testkit.Eventually(t, "the forced webhook", func() bool {
		_, _, refused := r.snapshot()
		for _, err := range refused {
			if errors.As(err, &ue) && ue.Value == "kyc.verification.pending_manual_review" {
				return true
			}
		}
		return false
	})
}

// Close must stop held, delayed and retrying deliveries promptly (goleak checks the rest).
func TestCloseStopsFaultedDeliveries(t *testing.T) {
	t.Parallel()
	r := newRig(t, bondemu.Options{RetryBackoff: time.Hour})
	r.setWebhookFaults(bondemu.WebhookFaults{Reorder: true, ReorderWindow: time.Hour})
	r.start(cust1, "333-33-3333")
	testkit.Eventually(t, "a held webhook", func() bool { return r.emu.DeliveryStats().Held == 1 })
	r.setWebhookFaults(bondemu.WebhookFaults{Delay: time.Hour})
	r.start(cust2, "123-45-6789")
	testkit.Eventually(t, "the delayed delivery to be scheduled", func() bool {
		st, err := r.status(cust2)
		return err == nil && st.Status == providers.StatusPassed
	})
	r.setWebhookFaults(bondemu.WebhookFaults{WrongSecret: true})
	r.start(cust3, "123-45-6789")
	testkit.Eventually(t, "a refused attempt", func() bool { return r.emu.DeliveryStats().Attempts >= 1 })
	done := make(chan struct{})
	go func() { r.emu.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

// The body is read ahead of the injector: a too-large body is still the schema error, and an
// injected latency ends as soon as its caller gives up (net/http notices a hang-up only after
// the body was read).
func TestBodyReadAhead(t *testing.T) {
	t.Parallel()
	r := newRig(t, bondemu.Options{})
	big := `{"program_id":"` + program + `","ssn":"` + strings.Repeat("1", 2<<20) + `"}`
	if code, body := r.mustDo("POST", kycPath, big, true); code != 400 || !strings.Contains(body, `"Request body too large."`) {
		t.Errorf("2 MiB body: got %d %.200s, want 400 Request body too large", code, body)
	}

	if err := r.emu.Faults().Set(faults.Config{Latency: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	in := providers.StartInput{ProgramID: program, Subject: providers.Subject{CustomerID: cust1}, Applicant: providers.Applicant{SSN: "123-45-6789"}}
	if _, err := r.client.Start(ctx, in); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start under an hour of latency: got %v, want DeadlineExceeded", err)
	}
	// Closing the server waits for its handlers: it returns only if the latency ended.
	done := make(chan struct{})
	go func() { r.api.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler kept waiting out the latency after the caller left")
	}
}
