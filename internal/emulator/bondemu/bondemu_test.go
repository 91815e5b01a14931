package bondemu

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/testkit"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	identity = "e6b234b4-650e-48e4-93eb-6550a07cc075"
	authz    = "sasAXw8ElVJihL3+3mzItCsVtKzh4Kqa0xdECC/F1GbwA6LQTAs/KxkZ9QFYST3l"
	program  = "72585109-8222-4221-b15b-48e87ffed790"
	customer = "931e2341-c3eb-4681-97d4-f6e09d90da14"
	business = "0b9e9a2c-8d2e-4c39-9d1b-2f3f8b1b6f10"
	bo       = "2d5a1e70-2662-42a3-bb90-52e9bd450a62"
)

// The documented test vector (provider-apis.md §1.11), computed here with the emulator's own
// encoder and signer.
func TestSignatureVector(t *testing.T) {
	p := obj{
		{"event", "kyc.verification.success"},
		{"customer_id", "931e2341-c3eb-4681-97d4-f6e09d90da14"},
		{"occurred_at", "2021-10-20T10:27:20.154286+00:00"},
	}
	body := encodeJSON(p, false)
	if got, want := string(body), `{"event":"kyc.verification.success","customer_id":"931e2341-c3eb-4681-97d4-f6e09d90da14","occurred_at":"2021-10-20T10:27:20.154286+00:00"}`; got != want {
		t.Fatalf("compact body: got %s, want %s", got, want)
	}
	secret := "whsec_ira5jceuzhxxBxoWckAU0hLFQe79bSMZ"
	if got, want := sign(secret, "1598980451", body), "32386d5c5c311166d29135678bfca1c3403bbaa5e23acdd3d80bc2213bf4b7da"; got != want {
		t.Errorf("v2: got %s, want %s", got, want)
	}
	py := encodeJSON(p, true)
	if got, want := sign(secret, "1598980451", py), "b03068358cb43eb7094ae77cfb6a888c29f7154406f47a39e92fe1cde0a1e6ad"; got != want {
		t.Errorf("v1 (python form %s): got %s, want %s", py, got, want)
	}
	h := signatureHeader(secret, 1598980451, body, py)
	if want := "t=1598980451,v1=b03068358cb43eb7094ae77cfb6a888c29f7154406f47a39e92fe1cde0a1e6ad,v2=32386d5c5c311166d29135678bfca1c3403bbaa5e23acdd3d80bc2213bf4b7da"; h != want {
		t.Errorf("header: got %s, want %s", h, want)
	}
}

func TestPythonEncoding(t *testing.T) {
	v := obj{{"a", "é<>&/\"\\\n\x01\x7f😀"}, {"l", []string{"x", "y"}}, {"n", nil}, {"b", true}, {"i", 100},
		{"o", []obj{{{"k", "v"}}}}}
	if got, want := string(encodeJSON(v, true)), `{"a": "\u00e9<>&/\"\\\n\u0001\u007f\ud83d\ude00", "l": ["x", "y"], "n": null, "b": true, "i": 100, "o": [{"k": "v"}]}`; got != want {
		t.Errorf("python form:\n got %s\nwant %s", got, want)
	}
	var back map[string]any
	if err := json.Unmarshal(encodeJSON(v, false), &back); err != nil {
		t.Fatalf("compact form is not JSON: %v", err)
	}
	if back["a"] != "é<>&/\"\\\n\x01\x7f😀" {
		t.Errorf("round trip: got %q", back["a"])
	}
}

type env struct {
	t   *testing.T
	emu *Emulator
	srv *httptest.Server
}

var fixedNow = time.Date(2021, 10, 20, 10, 27, 20, 154286000, time.UTC)

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	if o.Identity == "" {
		o.Identity, o.Authorization = identity, authz
	}
	if o.WebhookDelay == 0 {
		o.WebhookDelay = time.Millisecond
	}
	e := New(o)
	srv := httptest.NewServer(e)
	t.Cleanup(func() { srv.Close(); e.Close() })
	return &env{t: t, emu: e, srv: srv}
}

// do sends a request with the right credentials unless hdr overrides them, and returns the
// status and body.
func (v *env) do(method, path, body string, hdr ...string) (int, string) {
	v.t.Helper()
	req, err := http.NewRequest(method, v.srv.URL+path, strings.NewReader(body))
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Identity", identity)
	req.Header.Set("Authorization", authz)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := v.srv.Client().Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func custPath(id string) string { return "/api/v0.1/customers/" + id + "/verification-kyc" }

func startBody(ssn string) string {
	return `{"program_id":"` + program + `","ssn":"` + ssn + `","phone":"555-111-2222","phone_country_code":"1","email":"nick@example.com","ip":""}`
}

// TestErrorShapes pins the exact bodies the emulator answers with; the adapter's tests and
// the package doc rely on them.
func TestErrorShapes(t *testing.T) {
	v := newEnv(t, Options{Now: func() time.Time { return fixedNow }})

	code, body := v.do("POST", custPath(customer), startBody("123-45-6789"), "Authorization", "wrong")
	want := `{"Message":"Invalid credentials: the Identity and Authorization headers must match an API key","Status":401,"Code":"auth_err","Type":"Request Error"}`
	if code != 401 || body != want {
		t.Errorf("bad credentials: got %d %s, want 401 %s", code, body, want)
	}

	code, body = v.do("POST", custPath(customer), `{"program_id":"`+program+`"}`)
	want = `{"Message":{"ssn":["Missing data for required field."]},"Status":400,"Code":"kyc_post_schema","Type":"Request Error"}`
	if code != 400 || body != want {
		t.Errorf("missing ssn: got %d %s, want 400 %s", code, body, want)
	}

	code, body = v.do("POST", custPath(customer), `{"program_id":"nope","ssn":"12","phone":"a","phone_country_code":"1234","email":"x","ip":"::1","dob":"2000-01-01"}`)
	var fe envelope
	if err := json.Unmarshal([]byte(body), &fe); err != nil || code != 400 || fe.Code != "kyc_post_schema" {
		t.Fatalf("bad fields: got %d %s", code, body)
	}
	fields, _ := fe.Message.(map[string]any)
	for _, f := range []string{"program_id", "ssn", "phone", "phone_country_code", "email", "ip", "dob"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("bad fields: %s not reported in %s", f, body)
		}
	}

	code, body = v.do("POST", custPath(customer), startBody("123-45-6789"), "Idempotency-Key", "k1")
	if want := `{"customer_id":"` + customer + `","kyc_status":"submitted"}`; code != 201 || body != want {
		t.Errorf("start: got %d %s, want 201 %s", code, body, want)
	}
	if n := v.emu.Submissions(); n != 1 {
		t.Errorf("Submissions: got %d, want 1", n)
	}

	code, body = v.do("POST", custPath(customer), startBody("123-45-6789"), "Idempotency-Key", "k1")
	want = `{"type":"RESOURCE_CONFLICT","code":"idempotency_key_exists","message":"A request was made with this idempotency key in the past 24 hours"}`
	if code != 409 || body != want {
		t.Errorf("key reuse: got %d %s, want 409 %s", code, body, want)
	}

	// Wait for the default outcome (passed), then try again.
	testkit.Eventually(t, "passed", func() bool {
		_, b := v.do("GET", custPath(customer)+"?program_id="+program, "")
		return strings.Contains(b, `"kyc_status":"passed"`)
	})
	code, body = v.do("POST", custPath(customer), startBody("123-45-6789"))
	want = `{"Message":"KYC already passed for this customer at 2021-10-20T10:27:20.154286+00:00","Status":409,"Code":"kyc_reinit_fail","Type":"Request Error"}`
	if code != 409 || body != want {
		t.Errorf("already passed: got %d %s, want 409 %s", code, body, want)
	}

	other := "11111111-2222-4333-8444-555555555555"
	v.do("POST", custPath(other), startBody("000-00-0000"))
	code, body = v.do("POST", custPath(other), startBody("000-00-0000"))
	want = `{"Message":"KYC already initialized for this customer","Status":409,"Code":"kyc_init_fail","Type":"Request Error"}`
	if code != 409 || body != want {
		t.Errorf("in progress: got %d %s, want 409 %s", code, body, want)
	}
	if n := v.emu.Submissions(); n != 2 {
		t.Errorf("Submissions: got %d, want 2", n)
	}

	code, body = v.do("GET", custPath("22222222-2222-4333-8444-555555555555")+"?program_id="+program, "")
	want = `{"Message":"KYC result could not be found","Status":404,"Code":"kyc_dne","Type":"Request Error"}`
	if code != 404 || body != want {
		t.Errorf("kyc_dne: got %d %s, want 404 %s", code, body, want)
	}
	code, body = v.do("GET", custPath("not-a-uuid")+"?program_id="+program, "")
	if code != 404 || !strings.Contains(body, `"Code":"customer_invalid_uuid4"`) {
		t.Errorf("bad customer id: got %d %s", code, body)
	}
	code, body = v.do("GET", "/api/v0.1/nowhere", "")
	if code != 404 || !strings.Contains(body, `"message":"The requested URL was not found`) {
		t.Errorf("unknown route: got %d %s", code, body)
	}
}

func TestGetDetailsAfterPass(t *testing.T) {
	v := newEnv(t, Options{})
	v.do("POST", custPath(customer), startBody("123456789"))
	var got map[string]any
	testkit.Eventually(t, "passed", func() bool {
		_, b := v.do("GET", custPath(customer)+"?program_id="+program, "")
		got = nil
		_ = json.Unmarshal([]byte(b), &got)
		return got["kyc_status"] == "passed"
	})
	for _, k := range []string{"customer_id", "brand_id", "results", "health", "info"} {
		if _, ok := got[k]; !ok {
			t.Errorf("GET after pass lacks %q: %v", k, got)
		}
	}
}

func TestBeneficialOwner(t *testing.T) {
	v := newEnv(t, Options{WebhookDelay: time.Hour})
	p := "/api/v0.1/businesses/" + business + "/beneficial_owners/" + bo + "/verification-kyc"
	code, body := v.do("POST", p, `{"program_id":"`+program+`","ssn":"123-45-6789","ip":"192.168.1.139","kyc_retry_request":false}`)
	if want := `{"beneficial_owner_id":"` + bo + `","kyc_status":"initialized"}`; code != 201 || body != want {
		t.Errorf("BO start: got %d %s, want 201 %s", code, body, want)
	}
	code, body = v.do("GET", p+"?program_id="+program, "")
	if code != 200 || !strings.Contains(body, `"kyc_status":"initialized"`) {
		t.Errorf("BO get: got %d %s", code, body)
	}
	code, _ = v.do("GET", "/api/v0.1/businesses/"+customer+"/beneficial_owners/"+bo+"/verification-kyc?program_id="+program, "")
	if code != 404 {
		t.Errorf("BO under another business: got %d, want 404", code)
	}
	code, body = v.do("POST", "/api/v0.1/simulate/kyc-fail", `{"beneficial_owner_id":"`+bo+`","program_id":"`+program+`"}`)
	if want := `{"beneficial_owner_id":"` + bo + `","kyc_status":"failed"}`; code != 200 || body != want {
		t.Errorf("simulate: got %d %s, want 200 %s", code, body, want)
	}
	// failed allows a new attempt.
	if code, _ = v.do("POST", p, `{"program_id":"`+program+`","ssn":"123-45-6789","kyc_retry_request":true}`); code != 201 {
		t.Errorf("retry after failure: got %d, want 201", code)
	}
}

// receiver collects deliveries and verifies them with an independent HMAC.
type receiver struct {
	mu       sync.Mutex
	secret   string
	fail     int // answer 500 to this many requests first
	attempts int
	bodies   []string
	bad      []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(500)
		return
	}
	sig := r.Header.Get("Bond-Signature")
	parts := map[string]string{}
	for _, p := range strings.Split(sig, ",") {
		k, v, _ := strings.Cut(p, "=")
		parts[k] = v
	}
	m := hmac.New(sha256.New, []byte(rc.secret))
	m.Write([]byte(parts["t"] + "." + string(body)))
	if hex.EncodeToString(m.Sum(nil)) != parts["v2"] || r.Header.Get("Content-Type") != "application/json" {
		rc.bad = append(rc.bad, sig)
	}
	rc.bodies = append(rc.bodies, string(body))
	w.WriteHeader(200)
}

func (rc *receiver) snapshot() (attempts int, bodies, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts, append([]string(nil), rc.bodies...), append([]string(nil), rc.bad...)
}

func (v *env) subscribe(url string, events ...string) map[string]any {
	v.t.Helper()
	b, _ := json.Marshal(map[string]any{"url": url, "description": "test", "events": events, "version": "0.1", "status": "STATUS_ENABLED"})
	code, body := v.do("POST", "/api/v0.1/webhooks", string(b))
	var resp struct {
		Sub map[string]any `json:"webhook_subscription"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 201 {
		v.t.Fatalf("subscribe: got %d %s", code, body)
	}
	return resp.Sub
}

func TestWebhookSubscriptions(t *testing.T) {
	v := newEnv(t, Options{})
	sub := v.subscribe("https://hostname.com/webhook/route", "kyc.*")
	if !regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{32}$`).MatchString(sub["secret"].(string)) {
		t.Errorf("secret %q is not whsec_ + 32 base64 characters", sub["secret"])
	}
	id := sub["id"].(string)
	code, body := v.do("GET", "/api/v0.1/webhooks", "")
	if code != 200 || !strings.Contains(body, `"webhook_subscriptions":[{"id":"`+id) {
		t.Errorf("list: got %d %s", code, body)
	}
	code, body = v.do("PATCH", "/api/v0.1/webhooks/"+id, `{"events":["card*"],"status":"STATUS_DISABLED"}`)
	if code != 200 || !strings.Contains(body, `"events":["card*"]`) || !strings.Contains(body, `"STATUS_DISABLED"`) {
		t.Errorf("patch: got %d %s", code, body)
	}
	if code, _ = v.do("DELETE", "/api/v0.1/webhooks/"+id, ""); code != 200 {
		t.Errorf("delete: got %d", code)
	}
	if code, _ = v.do("DELETE", "/api/v0.1/webhooks/"+id, ""); code != 404 {
		t.Errorf("delete again: got %d, want 404", code)
	}
	if code, _ = v.do("POST", "/api/v0.1/webhooks", `{"events":["kyc.*"]}`); code != 400 {
		t.Errorf("no url: got %d, want 400", code)
	}
}

func TestEventFilter(t *testing.T) {
	s := &subscription{Status: "STATUS_ENABLED", Events: []string{"kyc.*", "card*"}}
	for ev, want := range map[string]bool{
		"kyc.verification.success": true, "card.created": true, "kyb.verification.success": false, "customer.updated": false,
	} {
		if got := s.matches(ev); got != want {
			t.Errorf("matches(%q): got %v, want %v", ev, got, want)
		}
	}
}

func TestDeliveryRetriesUntilOK(t *testing.T) {
	v := newEnv(t, Options{RetryBackoff: 5 * time.Millisecond})
	rc := &receiver{fail: 2}
	rs := httptest.NewServer(rc)
	defer rs.Close()
	sub := v.subscribe(rs.URL, "kyc.*")
	rc.mu.Lock()
	rc.secret = sub["secret"].(string)
	rc.mu.Unlock()

	v.do("POST", custPath(customer), startBody("666-66-0001"))
	testkit.Eventually(t, "delivery", func() bool { _, b, _ := rc.snapshot(); return len(b) == 1 })
	attempts, bodies, bad := rc.snapshot()
	if attempts != 3 {
		t.Errorf("attempts: got %d, want 3", attempts)
	}
	if len(bad) > 0 {
		t.Errorf("signature did not verify: %v", bad)
	}
	if !strings.Contains(bodies[0], `"error_code":"po_box_failure"`) || !strings.Contains(bodies[0], `"event":"kyc.verification.failure"`) {
		t.Errorf("body: %s", bodies[0])
	}
}

func TestOutcomePayloads(t *testing.T) {
	cases := map[string]string{
		"000-00-0000": `"event":"kyc.verification.under_review"`,
		"111111111":   `{"document_type":"social_security_card","upload_link":"https://withpersona.com/verify?template-id=tmpl_333333333333333333333333&reference-id=`,
		"555-55-5555": `"fields":["first_name","last_name","ssn"]`,
		"666-66-6666": `"reasons":{"ofac":"failed","bureau":"passed","mobile":"passed","ip":"passed","email":"passed"}`,
		"777-77-7777": `"event":"kyc.verification.error"`,
		"888-88-8888": `"event":"kyc.verification.timeout"`,
	}
	for ssn, want := range cases {
		t.Run(ssn, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, Options{})
			rc := &receiver{}
			rs := httptest.NewServer(rc)
			defer rs.Close()
			rc.secret = v.subscribe(rs.URL, "kyc.*")["secret"].(string)
			v.do("POST", custPath(customer), startBody(ssn))
			testkit.Eventually(t, "delivery", func() bool { _, b, _ := rc.snapshot(); return len(b) == 1 })
			_, bodies, bad := rc.snapshot()
			if !strings.Contains(bodies[0], want) || len(bad) > 0 {
				t.Errorf("got %s (bad signatures %v), want it to contain %s", bodies[0], bad, want)
			}
			if ssn == "555-55-5555" && strings.Contains(bodies[0], "occurred_at") {
				t.Errorf("reenter_information must not carry occurred_at: %s", bodies[0])
			}
		})
	}
}

func TestReviewDelayAndSimulate(t *testing.T) {
	v := newEnv(t, Options{ReviewDelay: 10 * time.Millisecond})
	v.do("POST", custPath(customer), startBody("000000000"))
	testkit.Eventually(t, "auto pass", func() bool {
		_, b := v.do("GET", custPath(customer)+"?program_id="+program, "")
		return strings.Contains(b, `"kyc_status":"passed"`)
	})
	code, _ := v.do("POST", "/api/v0.1/simulate/kyc-pass", `{"customer_id":"`+business+`","program_id":"`+program+`"}`)
	if code != 404 {
		t.Errorf("simulate unknown: got %d, want 404", code)
	}
}

// Close must stop a delivery that is waiting to retry, promptly.
func TestCloseStopsDeliveries(t *testing.T) {
	e := New(Options{Identity: identity, Authorization: authz, WebhookDelay: time.Millisecond, RetryBackoff: time.Hour})
	srv := httptest.NewServer(e)
	defer srv.Close()
	rc := &receiver{fail: 1 << 30}
	rs := httptest.NewServer(rc)
	defer rs.Close()
	v := &env{t: t, emu: e, srv: srv}
	v.subscribe(rs.URL, "*")
	v.do("POST", custPath(customer), startBody("123456789"))
	testkit.Eventually(t, "first attempt", func() bool { a, _, _ := rc.snapshot(); return a >= 1 })
	done := make(chan struct{})
	go func() { e.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

func TestMountedUnderStripPrefix(t *testing.T) {
	e := New(Options{Identity: identity, Authorization: authz})
	defer e.Close()
	mux := http.NewServeMux()
	mux.Handle("/sandbox/bond/", http.StripPrefix("/sandbox/bond/", e))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/sandbox/bond/api/v0.1/customers/"+customer+"/verification-kyc?program_id="+program, nil)
	req.Header.Set("Identity", identity)
	req.Header.Set("Authorization", authz)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !bytes.Contains(b, []byte(`"kyc_dne"`)) {
		t.Errorf("mounted GET: got %d %s, want 404 kyc_dne", resp.StatusCode, b)
	}
}
