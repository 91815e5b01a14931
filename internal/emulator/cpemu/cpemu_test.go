package cpemu

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/faults"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The documented self-register sample, verbatim: duplicate key, trailing comma.
const documentedSelfRegister = `{"firstName":"James","lastName":"Smith","username":"jamessmith","password":"jsmith@1234","timeZoneFormatted":"America/Denver","timeZoneFormatted":"America/Denver","preferredLanguage":"EN","contactType":"EMAIL",}`

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t   *testing.T
	emu *Emulator
	url string
	hc  *http.Client
	clk *clock
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	if o.Now == nil {
		o.Now = clk.Now
	}
	emu := New(o)
	mux := http.NewServeMux()
	// Mounted the way the gateway mounts it.
	mux.Handle("/sandbox/cloudpayments/", http.StripPrefix("/sandbox/cloudpayments", emu))
	srv := httptest.NewServer(mux)
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() { hc.CloseIdleConnections(); srv.Close() })
	return &env{t: t, emu: emu, url: srv.URL + "/sandbox/cloudpayments", hc: hc, clk: clk}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// call sends a request with the sandbox's gateway headers unless h overrides them (an empty
// value removes the header).
func (e *env) call(method, path, contentType, body string, h map[string]string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("tenantName", DefaultTenantName)
	req.Header.Set("api-key", DefaultAPIKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range h {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func (e *env) kyc(method, path, token, body string) reply {
	e.t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return e.call(method, path, ct, body, map[string]string{"Authorization": "Bearer " + token})
}

func (e *env) register(username, password string) string {
	e.t.Helper()
	r := e.call("POST", "/registration/user/selfregister", "application/json",
		`{"firstName":"A","lastName":"B","username":"`+username+`","password":"`+password+`"}`, nil)
	if r.status != 200 {
		e.t.Fatalf("selfregister: %d %s", r.status, r.body)
	}
	return r.json(e.t)["uuid"].(string)
}

func (e *env) password(username, password string) map[string]any {
	e.t.Helper()
	r := e.call("POST", "/auth/oauth/token", "application/x-www-form-urlencoded",
		url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}.Encode(), nil)
	if r.status != 200 {
		e.t.Fatalf("password grant: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

// signIn registers a user and returns its uuid and access token.
func (e *env) signIn(username string) (string, string) {
	e.t.Helper()
	id := e.register(username, "pw-"+username)
	tok := e.password(username, "pw-"+username)
	return id, tok["access_token"].(string)
}

func (e *env) status(token string) map[string]any {
	e.t.Helper()
	r := e.kyc("GET", "/kyc-ms/getUserInfo", token, "")
	if r.status != 200 {
		e.t.Fatalf("getUserInfo: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

func wantBody(t *testing.T, r reply, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Errorf("got %d %s, want %d %s", r.status, r.body, status, body)
	}
}

func TestSelfRegisterDocumentedSample(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.call("POST", "/registration/user/selfregister", "application/json", documentedSelfRegister, nil)
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["username"] != "jamessmith" || m["timeZoneFormatted"] != "America/Denver" || m["tenantName"] != "sandbox" {
		t.Errorf("user %v", m)
	}
	if _, ok := m["password"]; ok || strings.Contains(r.body, "jsmith@1234") {
		t.Errorf("password echoed: %s", r.body)
	}
	if id, _ := m["uuid"].(string); len(id) != 36 {
		t.Errorf("uuid %q", id)
	}
	wantBody(t, e.call("POST", "/registration/user/selfregister", "application/json", documentedSelfRegister, nil), 400,
		`{"statusCode":"400","statusMessage":"Bad Request","additionalStatusCode":"USERNAME_ALREADY_EXISTS","additionalStatusMessage":"The username is already registered","tenantName":"sandbox"}`)
	wantBody(t, e.call("POST", "/registration/user/selfregister", "application/json", `{"username":"x"}`, nil), 400,
		`{"statusCode":"400","statusMessage":"Bad Request","additionalStatusCode":"INVALID_REQUEST","additionalStatusMessage":"username and password are required","tenantName":"sandbox"}`)
	wantBody(t, e.call("POST", "/registration/user/selfregister", "application/json", `{`, nil), 400,
		`{"statusCode":"400","statusMessage":"Bad Request","additionalStatusCode":"INVALID_REQUEST","additionalStatusMessage":"The request body is not valid JSON","tenantName":"sandbox"}`)
}

func TestGatewayHeaders(t *testing.T) {
	e := newEnv(t, Options{})
	badKey := `{"statusCode":"403","statusMessage":"Forbidden","additionalStatusCode":"INVALID_API_KEY","additionalStatusMessage":"The api-key header is missing or not valid","tenantName":"sandbox"}`
	badTenant := `{"statusCode":"403","statusMessage":"Forbidden","additionalStatusCode":"INVALID_TENANT","additionalStatusMessage":"The tenantName header is missing or not a known tenant","tenantName":"sandbox"}`
	for _, path := range []string{"/registration/user/selfregister", "/auth/oauth/token", "/kyc-ms/registerUser", "/_sandbox/users/x/status"} {
		wantBody(t, e.call("POST", path, "", "", map[string]string{"api-key": ""}), 403, badKey)
		wantBody(t, e.call("POST", path, "", "", map[string]string{"api-key": "wrong"}), 403, badKey)
		wantBody(t, e.call("POST", path, "", "", map[string]string{"tenantName": ""}), 403, badTenant)
		wantBody(t, e.call("POST", path, "", "", map[string]string{"tenantName": "FUNDZ"}), 403, badTenant)
	}
	// The RN sample's spelling of the key header works too (names are case-insensitive).
	req, _ := http.NewRequest("POST", e.url+"/registration/user/selfregister", strings.NewReader(`{"username":"u","password":"p"}`))
	req.Header["API-KEY"] = []string{DefaultAPIKey} // sent as spelled, not canonicalised
	req.Header["tenantName"] = []string{DefaultTenantName}
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("API-KEY spelling: %d", resp.StatusCode)
	}
	wantBody(t, e.call("GET", "/nope", "", "", nil), 404,
		`{"statusCode":"404","statusMessage":"Not Found","additionalStatusCode":"NOT_FOUND","additionalStatusMessage":"Resource not found","tenantName":"sandbox"}`)
}

func decodeJWT(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	var h, c map[string]any
	for i, dst := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return h, c
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestPasswordGrant(t *testing.T) {
	e := newEnv(t, Options{AccessTokenTTL: 10 * time.Minute})
	id := e.register("jamessmith", "jsmith@1234")
	r := e.call("POST", "/auth/oauth/token", "application/x-www-form-urlencoded",
		"grant_type=password&username=jamessmith&password=jsmith%401234", nil)
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("got %d %v %s", r.status, r.header, r.body)
	}
	m := r.json(t)
	want := []string{"access_token", "app_name", "expires_in", "jti", "last_signon_timestamp", "need_change_password",
		"refresh_token", "scope", "tenant_name", "token_type", "user_type", "uuid"}
	if got := keys(m); !slices.Equal(got, want) {
		t.Errorf("fields: got %v, want %v", got, want)
	}
	if m["uuid"] != id || m["token_type"] != "bearer" || m["expires_in"] != 600.0 || m["tenant_name"] != "sandbox" ||
		m["scope"] != "read write" || m["user_type"] != "SUBSCRIBER" || m["app_name"] != nil || m["need_change_password"] != false ||
		m["last_signon_timestamp"] != float64(e.clk.Now().UnixMilli()) {
		t.Errorf("response %v", m)
	}
	h, c := decodeJWT(t, m["access_token"].(string))
	if h["alg"] != "HS256" || h["typ"] != "JWT" {
		t.Errorf("header %v", h)
	}
	wantClaims := []string{"app_name", "authorities", "client_id", "exp", "jti", "last_signon_timestamp", "scope",
		"tenant_name", "user_name", "user_type", "uuid"}
	if got := keys(c); !slices.Equal(got, wantClaims) {
		t.Errorf("claims: got %v, want %v", got, wantClaims)
	}
	if c["uuid"] != id || c["jti"] != m["jti"] || c["tenant_name"] != "sandbox" || c["user_name"] != "jamessmith" ||
		c["exp"] != float64(e.clk.Now().Add(10*time.Minute).Unix()) {
		t.Errorf("claims %v", c)
	}
	if _, rc := decodeJWT(t, m["refresh_token"].(string)); rc["ati"] != m["jti"] || rc["uuid"] != id {
		t.Errorf("refresh claims %v", rc)
	}

	badCreds := `{"error":"invalid_grant","error_description":"Bad credentials"}`
	for _, form := range []string{
		"grant_type=password&username=jamessmith&password=wrong",
		"grant_type=password&username=nobody&password=jsmith%401234",
		"grant_type=password&username=&password=",
	} {
		wantBody(t, e.call("POST", "/auth/oauth/token", "application/x-www-form-urlencoded", form, nil), 400, badCreds)
	}
	wantBody(t, e.call("POST", "/auth/oauth/token", "application/x-www-form-urlencoded", "username=jamessmith", nil), 400,
		`{"error":"invalid_request","error_description":"Missing grant type"}`)
	wantBody(t, e.call("POST", "/auth/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", nil), 400,
		`{"error":"unsupported_grant_type","error_description":"Unsupported grant type"}`)
}

func TestBearer(t *testing.T) {
	e := newEnv(t, Options{AccessTokenTTL: time.Minute})
	_, tok := e.signIn("u1")
	missing := `{"error":"invalid_token","error_description":"Full authentication is required to access this resource"}`
	invalid := `{"error":"invalid_token","error_description":"Invalid access token"}`
	r := e.call("GET", "/kyc-ms/getUserInfo", "", "", nil)
	wantBody(t, r, 401, missing)
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	wantBody(t, e.kyc("GET", "/kyc-ms/getUserInfo", "not-a-token", ""), 401, invalid)
	forged := tok[:strings.LastIndex(tok, ".")+1] + "AAAA"
	wantBody(t, e.kyc("GET", "/kyc-ms/getUserInfo", forged, ""), 401, invalid)
	// Another emulator's token has the right shape but the wrong key.
	other := newEnv(t, Options{})
	_, otherTok := other.signIn("u1")
	wantBody(t, e.kyc("GET", "/kyc-ms/getUserInfo", otherTok, ""), 401, invalid)
	// A refresh token is not an access token.
	rt := e.password("u1", "pw-u1")["refresh_token"].(string)
	wantBody(t, e.kyc("GET", "/kyc-ms/getUserInfo", rt, ""), 401, invalid)

	if got := e.status(tok)["status"]; got != "NOT_REGISTERED" {
		t.Errorf("status %v", got)
	}
	e.clk.Add(time.Minute)
	wantBody(t, e.kyc("GET", "/kyc-ms/getUserInfo", tok, ""), 401, `{"error":"invalid_token","error_description":"Access token expired"}`)

	// Refresh: a new access token, the same refresh token (Spring's reuse).
	r = e.call("POST", "/auth/oauth/token", "application/x-www-form-urlencoded", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode(), nil)
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["refresh_token"] != rt || m["access_token"] == tok || e.emu.Refreshes() != 1 {
		t.Errorf("refresh answer %v, refreshes %d", m, e.emu.Refreshes())
	}
	if got := e.status(m["access_token"].(string))["status"]; got != "NOT_REGISTERED" {
		t.Errorf("status with refreshed token %v", got)
	}
	wantBody(t, e.call("POST", "/auth/oauth/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token="+tok, nil), 400,
		`{"error":"invalid_grant","error_description":"Invalid refresh token"}`)
	e.clk.Add(refreshTokenTTL)
	wantBody(t, e.call("POST", "/auth/oauth/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token="+rt, nil), 400,
		`{"error":"invalid_grant","error_description":"Invalid refresh token (expired)"}`)
}

// submit runs getToken and registerUser with workflowID.
func (e *env) submit(tok, workflowID string) {
	e.t.Helper()
	if r := e.kyc("GET", "/kyc-ms/getToken?deviceId=dev-1", tok, ""); r.status != 200 {
		e.t.Fatalf("getToken: %d %s", r.status, r.body)
	}
	if r := e.kyc("POST", "/kyc-ms/registerUser", tok, `{"accountId":"acc-1","workflowId":"`+workflowID+`"}`); r.status != 200 {
		e.t.Fatalf("registerUser: %d %s", r.status, r.body)
	}
}

func TestLifecycle(t *testing.T) {
	const delay = 5 * time.Second
	tests := []struct {
		name     string
		workflow string
		want     string
		attempts float64
	}{
		{"approved", "wf-123", "APPROVED_VERIFIED", 2},
		{"rejected", "reject-1", "REJECTED", 2},
		{"resubmit", "resubmit-1", "NEED_RESUBMIT", 2},
		{"case-insensitive", "Resubmit-1", "NEED_RESUBMIT", 2},
		{"review", "review-1", "PENDING", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{ReviewDelay: delay, AccessTokenTTL: 24 * time.Hour})
			_, tok := e.signIn("u")
			if got := e.status(tok); got["status"] != "NOT_REGISTERED" || got["kycProvider"] != "JUMIO" || got["remainingAttempts"] != 3.0 {
				t.Fatalf("new user %v", got)
			}
			r := e.kyc("GET", "/kyc-ms/getToken", tok, "")
			m := r.json(t)
			if r.status != 200 || m["kycProvider"] != "JUMIO" || m["token"] == "" || len(m) != 2 {
				t.Fatalf("getToken %d %v", r.status, m)
			}
			if got := e.status(tok)["status"]; got != "LV1" {
				t.Fatalf("after getToken %v", got)
			}
			if r := e.kyc("POST", "/kyc-ms/registerUser", tok, `{"accountId":"acc-1","workflowId":"`+tt.workflow+`"}`); r.status != 200 {
				t.Fatalf("registerUser %d %s", r.status, r.body)
			}
			// The same result again is accepted without a new attempt.
			if r := e.kyc("POST", "/kyc-ms/registerUser", tok, `{"accountId":"acc-1","workflowId":"`+tt.workflow+`"}`); r.status != 200 {
				t.Fatalf("registerUser again %d %s", r.status, r.body)
			}
			if got := e.status(tok); got["status"] != "PENDING" || got["remainingAttempts"] != tt.attempts {
				t.Fatalf("after registerUser %v", got)
			}
			e.clk.Add(delay - time.Nanosecond)
			if got := e.status(tok)["status"]; got != "PENDING" {
				t.Fatalf("before ReviewDelay %v", got)
			}
			e.clk.Add(time.Nanosecond)
			if got := e.status(tok); got["status"] != tt.want || got["remainingAttempts"] != tt.attempts {
				t.Fatalf("after ReviewDelay got %v, want %s", got, tt.want)
			}
			if e.emu.Registrations() != 2 || e.emu.Submissions() != 1 || e.emu.UserInfoCalls() != 5 {
				t.Errorf("counters: registrations %d, submissions %d, userinfo %d", e.emu.Registrations(), e.emu.Submissions(), e.emu.UserInfoCalls())
			}
		})
	}
}

func TestResubmitUntilRejected(t *testing.T) {
	e := newEnv(t, Options{ReviewDelay: time.Second, AccessTokenTTL: 24 * time.Hour})
	_, tok := e.signIn("u")
	for _, want := range []struct {
		status   string
		attempts float64
	}{{"NEED_RESUBMIT", 2}, {"NEED_RESUBMIT", 1}, {"REJECTED", 0}} {
		e.submit(tok, "resubmit-x")
		e.clk.Add(time.Second)
		if got := e.status(tok); got["status"] != want.status || got["remainingAttempts"] != want.attempts {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	wantBody(t, e.kyc("GET", "/kyc-ms/getToken", tok, ""), 400,
		`{"statusCode":"400","statusMessage":"Bad Request","additionalStatusCode":"KYC_REJECTED","additionalStatusMessage":"The user was rejected; contact support","tenantName":"sandbox"}`)
}

func TestRefusals(t *testing.T) {
	e := newEnv(t, Options{ReviewDelay: time.Second, AccessTokenTTL: 24 * time.Hour})
	_, tok := e.signIn("u")
	notStarted := `{"statusCode":"400","statusMessage":"Bad Request","additionalStatusCode":"KYC_NOT_STARTED","additionalStatusMessage":"Call getToken and complete the SDK steps first","tenantName":"sandbox"}`
	wantBody(t, e.kyc("POST", "/kyc-ms/registerUser", tok, `{"accountId":"a","workflowId":"w"}`), 400, notStarted)
	e.kyc("GET", "/kyc-ms/getToken", tok, "")
	wantBody(t, e.kyc("POST", "/kyc-ms/registerUser", tok, `{"accountId":"a"}`), 400,
		`{"statusCode":"400","statusMessage":"Bad Request","additionalStatusCode":"INVALID_REQUEST","additionalStatusMessage":"accountId and workflowId are required","tenantName":"sandbox"}`)
	wantBody(t, e.kyc("POST", "/kyc-ms/registerUser", tok, `nope`), 400,
		`{"statusCode":"400","statusMessage":"Bad Request","additionalStatusCode":"INVALID_REQUEST","additionalStatusMessage":"The request body is not valid JSON","tenantName":"sandbox"}`)
	// Trailing commas are accepted here too, as in the documented samples.
	if r := e.kyc("POST", "/kyc-ms/registerUser", tok, `{"accountId":"a","workflowId":"w",}`); r.status != 200 {
		t.Fatalf("registerUser: %d %s", r.status, r.body)
	}
	wantBody(t, e.kyc("POST", "/kyc-ms/registerUser", tok, `{"accountId":"a","workflowId":"other"}`), 400,
		`{"statusCode":"400","statusMessage":"Bad Request","additionalStatusCode":"KYC_ALREADY_SUBMITTED","additionalStatusMessage":"The user's documents are already in review","tenantName":"sandbox"}`)
	wantBody(t, e.kyc("GET", "/kyc-ms/getToken", tok, ""), 400,
		`{"statusCode":"400","statusMessage":"Bad Request","additionalStatusCode":"KYC_ALREADY_SUBMITTED","additionalStatusMessage":"The user's documents are already in review","tenantName":"sandbox"}`)
	e.clk.Add(time.Second)
	wantBody(t, e.kyc("GET", "/kyc-ms/getToken", tok, ""), 400,
		`{"statusCode":"400","statusMessage":"Bad Request","additionalStatusCode":"KYC_ALREADY_APPROVED","additionalStatusMessage":"The user is already verified","tenantName":"sandbox"}`)
	if e.emu.Registrations() != 1 {
		t.Errorf("registrations %d", e.emu.Registrations())
	}
}

func TestForceStatus(t *testing.T) {
	e := newEnv(t, Options{ReviewDelay: time.Second, AccessTokenTTL: 24 * time.Hour})
	id, tok := e.signIn("u")
	e.submit(tok, "review-hold")
	e.clk.Add(time.Hour)
	if got := e.status(tok)["status"]; got != "PENDING" {
		t.Fatalf("held review: %v", got)
	}
	wantBody(t, e.call("POST", "/_sandbox/users/"+id+"/status", "application/json", `{"status":"APPROVED_VERIFIED"}`, nil), 200,
		`{"status":"APPROVED_VERIFIED","kycProvider":"JUMIO","remainingAttempts":2}`)
	if got := e.status(tok)["status"]; got != "APPROVED_VERIFIED" {
		t.Fatalf("forced: %v", got)
	}
	wantBody(t, e.call("POST", "/_sandbox/users/"+id+"/status", "application/json", `{"status":"NEED_RESUBMIT","remainingAttempts":1}`, nil), 200,
		`{"status":"NEED_RESUBMIT","kycProvider":"JUMIO","remainingAttempts":1}`)
	// Unknown statuses are served as given, for clients' unknown-status tests.
	e.call("POST", "/_sandbox/users/"+id+"/status", "application/json", `{"status":"MANUAL_CHECK"}`, nil)
	if got := e.status(tok)["status"]; got != "MANUAL_CHECK" {
		t.Fatalf("forced unknown: %v", got)
	}
	wantBody(t, e.call("POST", "/_sandbox/users/00000000-0000-4000-8000-000000000000/status", "application/json", `{"status":"LV1"}`, nil), 404,
		`{"statusCode":"404","statusMessage":"Not Found","additionalStatusCode":"USER_NOT_FOUND","additionalStatusMessage":"No user has this uuid","tenantName":"sandbox"}`)
	for _, body := range []string{`{"status":"lower"}`, `{}`, `{"status":"LV1","x":1}`, `{"status":"LV1","remainingAttempts":-1}`} {
		if r := e.call("POST", "/_sandbox/users/"+id+"/status", "application/json", body, nil); r.status != 400 {
			t.Errorf("%s: got %d %s", body, r.status, r.body)
		}
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.call("PUT", "/_sandbox/faults", "application/json", `{"error_rate":1}`, map[string]string{"api-key": "", "tenantName": ""})
	if r.status != 200 {
		t.Fatalf("faults control: %d %s", r.status, r.body)
	}
	wantBody(t, e.call("POST", "/registration/user/selfregister", "application/json", `{}`, nil), 503,
		`{"statusCode":"503","statusMessage":"Service Unavailable","additionalStatusCode":"SERVICE_UNAVAILABLE","additionalStatusMessage":"The service is temporarily unavailable","tenantName":"sandbox"}`)
	if err := e.emu.Faults().Set(faults.Config{RateLimitRate: 1}); err != nil {
		t.Fatal(err)
	}
	r = e.call("GET", "/kyc-ms/getUserInfo", "", "", nil)
	wantBody(t, r, 429, `{"statusCode":"429","statusMessage":"Too Many Requests","additionalStatusCode":"TOO_MANY_REQUESTS","additionalStatusMessage":"Rate limit exceeded; retry later","tenantName":"sandbox"}`)
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// The control plane is not behind the faults.
	if r := e.call("GET", "/_sandbox/faults", "", "", nil); r.status != 200 {
		t.Errorf("faults GET: %d", r.status)
	}
}

func TestStripTrailingCommas(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,}`:                `{"a":1}`,
		`{"a":[1,2, ],"b":"x,}"}`: `{"a":[1,2 ],"b":"x,}"}`,
		`{"a":"\",}",}`:           `{"a":"\",}"}`,
		`[1,2]`:                   `[1,2]`,
	} {
		if got := string(stripTrailingCommas([]byte(in))); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

// TestConcurrent exercises the emulator's locking under -race.
func TestConcurrent(t *testing.T) {
	e := newEnv(t, Options{ReviewDelay: time.Millisecond, AccessTokenTTL: time.Hour, Now: time.Now})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := "c" + string(rune('a'+i))
			e.register(name, "pw")
			tok := e.password(name, "pw")["access_token"].(string)
			e.submit(tok, "wf")
			for range 3 {
				e.status(tok)
			}
		})
	}
	wg.Wait()
	if e.emu.Registrations() != 8 {
		t.Errorf("registrations %d", e.emu.Registrations())
	}
}
