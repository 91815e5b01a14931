package cloudpayments

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/cpemu"
	"github.com/kycgw/kycgw/internal/emulator/faults"
	"github.com/kycgw/kycgw/providers"
)

// clock is a settable clock shared by the emulator and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	t      *testing.T
	emu    *cpemu.Emulator
	root   string // the emulator's API root
	hc     *http.Client
	clk    *clock
	client *Client
}

// newEnv serves an emulator the way the gateway mounts it and points a Client at it. With
// realTime, both use time.Now instead of the settable clock.
func newEnv(t *testing.T, o cpemu.Options, realTime bool) *env {
	t.Helper()
	clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	now := clk.Now
	if realTime {
		now = time.Now
	}
	o.Now = now
	emu := cpemu.New(o)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/cloudpayments/", http.StripPrefix("/sandbox/cloudpayments", emu))
	srv := httptest.NewServer(mux)
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() { hc.CloseIdleConnections(); srv.Close() })
	e := &env{t: t, emu: emu, root: srv.URL + "/sandbox/cloudpayments", hc: hc, clk: clk}
	e.client = e.newClient(Config{})
	return e
}

// newClient returns a Client of the env's emulator; cfg's set fields override the defaults.
func (e *env) newClient(cfg Config) *Client {
	e.t.Helper()
	if cfg.Name == "" {
		cfg.Name = "cloudpayments"
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = e.root + "/"
	}
	if cfg.TenantName == "" {
		cfg.TenantName = cpemu.DefaultTenantName
	}
	if cfg.APIKey == "" {
		cfg.APIKey = cpemu.DefaultAPIKey
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = e.hc
	}
	if cfg.Now == nil {
		cfg.Now = e.clk.Now
	}
	c, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// post sends a request to the emulator with the sandbox's gateway headers.
func (e *env) post(path, contentType, body string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.root+path, strings.NewReader(body))
	req.Header.Set("tenantName", cpemu.DefaultTenantName)
	req.Header.Set("api-key", cpemu.DefaultAPIKey)
	req.Header.Set("Content-Type", contentType)
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// signUp self-registers a user and signs it in with the password grant, as a mobile app does.
func (e *env) signUp(username string) (string, providers.Session) {
	e.t.Helper()
	status, b := e.post("/registration/user/selfregister", "application/json",
		`{"firstName":"James","lastName":"Smith","username":"`+username+`","password":"jsmith@1234","preferredLanguage":"EN","contactType":"EMAIL",}`)
	if status != 200 {
		e.t.Fatalf("selfregister: %d %s", status, b)
	}
	status, b = e.post("/auth/oauth/token", "application/x-www-form-urlencoded",
		url.Values{"grant_type": {"password"}, "username": {username}, "password": {"jsmith@1234"}}.Encode())
	if status != 200 {
		e.t.Fatalf("password grant: %d %s", status, b)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
		UUID         string `json:"uuid"`
	}
	if err := json.Unmarshal(b, &tok); err != nil {
		e.t.Fatal(err)
	}
	return tok.UUID, providers.Session{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		ExpiresAt:    e.clk.Now().Add(time.Duration(tok.ExpiresIn) * time.Second),
	}
}

func (e *env) force(uuid, body string) {
	e.t.Helper()
	if status, b := e.post("/_sandbox/users/"+uuid+"/status", "application/json", body); status != 200 {
		e.t.Fatalf("force status: %d %s", status, b)
	}
}

func startIn(uuid string, s providers.Session, accountID, workflowID string) providers.StartInput {
	return providers.StartInput{
		Subject: providers.Subject{UserID: uuid},
		CloudPayments: &providers.CloudPaymentsInput{
			Session: s, DeviceID: "device-1", AccountID: accountID, WorkflowID: workflowID,
		},
	}
}

func statusIn(uuid string, s providers.Session) providers.StatusInput {
	return providers.StatusInput{Subject: providers.Subject{UserID: uuid}, Session: &s}
}

func (e *env) mustStart(in providers.StartInput) providers.Result {
	e.t.Helper()
	res, err := e.client.Start(context.Background(), in)
	if err != nil {
		e.t.Fatalf("start: %v", err)
	}
	return res
}

func (e *env) mustStatus(in providers.StatusInput) providers.Result {
	e.t.Helper()
	res, err := e.client.Status(context.Background(), in)
	if err != nil {
		e.t.Fatalf("status: %v", err)
	}
	return res
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *providers.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("got %v, want a FieldError on %s", err, field)
	}
}

func TestFlowApproved(t *testing.T) {
	e := newEnv(t, cpemu.Options{ReviewDelay: 3 * time.Second}, false)
	id, sess := e.signUp("jamessmith")

	res := e.mustStart(startIn(id, sess, "", ""))
	if res.Status != providers.StatusIncomplete || res.ProviderStatus != "NOT_REGISTERED" || !res.Submitted ||
		res.NextAction.Kind != providers.ActionRunSDK || res.NextAction.SDK.Token == "" ||
		res.NextAction.SDK.Vendor != "JUMIO" || res.Session != nil {
		t.Fatalf("start without SDK result: %+v", res)
	}
	if got := e.mustStatus(statusIn(id, sess)); got.Status != providers.StatusIncomplete || got.ProviderStatus != "LV1" {
		t.Fatalf("after getToken: %+v", got)
	}

	res = e.mustStart(startIn(id, sess, "acc-1", "wfe-1"))
	if res.Status != providers.StatusUnderReview || res.ProviderStatus != "PENDING" || res.Submitted || res.NextAction.Kind != providers.ActionNone {
		t.Fatalf("start with SDK result: %+v", res)
	}
	if n := e.emu.Registrations(); n != 1 {
		t.Fatalf("registrations %d", n)
	}
	if got := e.mustStatus(statusIn(id, sess)); got.Status != providers.StatusUnderReview || got.ProviderStatus != "PENDING" {
		t.Fatalf("polled in review: %+v", got)
	}
	e.clk.Add(3 * time.Second)
	if got := e.mustStatus(statusIn(id, sess)); got.Status != providers.StatusPassed || got.ProviderStatus != "APPROVED_VERIFIED" {
		t.Fatalf("polled after review: %+v", got)
	}

	_, err := e.client.Start(context.Background(), startIn(id, sess, "", ""))
	var ap *providers.AlreadyPassedError
	if !errors.As(err, &ap) || !errors.Is(err, providers.ErrAlreadyPassed) || !ap.PassedAt.IsZero() {
		t.Fatalf("start after passing: %v", err)
	}
	// An SDK result sent after passing is refused by the provider and reconciled.
	_, err = e.client.Start(context.Background(), startIn(id, sess, "acc-2", "wfe-2"))
	if !errors.Is(err, providers.ErrAlreadyPassed) {
		t.Fatalf("SDK result after passing: %v", err)
	}
}

// TestRealClock runs the flow on real time with a short ReviewDelay, as the embedded sandbox
// does, polling until the review ends.
func TestRealClock(t *testing.T) {
	e := newEnv(t, cpemu.Options{ReviewDelay: 20 * time.Millisecond}, true)
	e.client = e.newClient(Config{Now: time.Now})
	id, sess := e.signUp("u")
	e.mustStart(startIn(id, sess, "", ""))
	e.mustStart(startIn(id, sess, "acc", "wfe"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := e.mustStatus(statusIn(id, sess))
		if res.Status == providers.StatusPassed {
			break
		}
		if res.Status != providers.StatusUnderReview || time.Now().After(deadline) {
			t.Fatalf("polled %+v", res)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		workflow string
		want     providers.Status
		provider string
		action   providers.NextAction
	}{
		{"reject-1", providers.StatusFailed, "REJECTED", providers.NextAction{}},
		{"resubmit-1", providers.StatusResubmitRequired, "NEED_RESUBMIT", providers.NextAction{Kind: providers.ActionResubmit, AttemptsLeft: 2}},
		{"review-1", providers.StatusUnderReview, "PENDING", providers.NextAction{}},
		{"anything", providers.StatusPassed, "APPROVED_VERIFIED", providers.NextAction{}},
	}
	for _, tt := range tests {
		t.Run(tt.workflow, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, cpemu.Options{ReviewDelay: time.Second}, false)
			id, sess := e.signUp("u")
			e.mustStart(startIn(id, sess, "", ""))
			e.mustStart(startIn(id, sess, "acc", tt.workflow))
			e.clk.Add(time.Hour)
			res := e.mustStatus(statusIn(id, sess))
			if res.Status != tt.want || res.ProviderStatus != tt.provider || res.NextAction.Kind != tt.action.Kind ||
				res.NextAction.AttemptsLeft != tt.action.AttemptsLeft {
				t.Fatalf("got %+v, want %v %s %+v", res, tt.want, tt.provider, tt.action)
			}
		})
	}
}

func TestResubmitUntilRejected(t *testing.T) {
	e := newEnv(t, cpemu.Options{ReviewDelay: time.Second}, false)
	id, sess := e.signUp("u")
	for i, left := range []int{2, 1} {
		res := e.mustStart(startIn(id, sess, "", ""))
		wantPS := "NOT_REGISTERED"
		if i > 0 {
			wantPS = "NEED_RESUBMIT"
		}
		if res.Status != providers.StatusIncomplete || res.ProviderStatus != wantPS || res.NextAction.Kind != providers.ActionRunSDK {
			t.Fatalf("attempt %d start: %+v", i+1, res)
		}
		e.mustStart(startIn(id, sess, "acc", "resubmit-docs"))
		e.clk.Add(time.Second)
		if res := e.mustStatus(statusIn(id, sess)); res.Status != providers.StatusResubmitRequired || res.NextAction.AttemptsLeft != left {
			t.Fatalf("attempt %d: %+v", i+1, res)
		}
	}
	e.mustStart(startIn(id, sess, "", ""))
	e.mustStart(startIn(id, sess, "acc", "resubmit-docs"))
	e.clk.Add(time.Second)
	if res := e.mustStatus(statusIn(id, sess)); res.Status != providers.StatusFailed {
		t.Fatalf("last attempt: %+v", res)
	}
	// A rejected user cannot start again: reported, not an error.
	if res := e.mustStart(startIn(id, sess, "", "")); res.Status != providers.StatusFailed || res.NextAction.Kind != providers.ActionNone {
		t.Fatalf("start when rejected: %+v", res)
	}
}

func TestStartInReviewAndDuplicateRegistration(t *testing.T) {
	e := newEnv(t, cpemu.Options{ReviewDelay: time.Second}, false)
	id, sess := e.signUp("u")
	e.mustStart(startIn(id, sess, "", ""))
	e.mustStart(startIn(id, sess, "acc", "review-me"))
	if res := e.mustStart(startIn(id, sess, "", "")); res.Status != providers.StatusUnderReview || res.Submitted || res.NextAction.Kind != providers.ActionNone {
		t.Fatalf("start in review: %+v", res)
	}
	// A different SDK result while in review: the provider refuses it; reconciled as in review.
	if res := e.mustStart(startIn(id, sess, "acc", "wfe-other")); res.Status != providers.StatusUnderReview || res.Submitted {
		t.Fatalf("second SDK result: %+v", res)
	}
	if n := e.emu.Registrations(); n != 1 {
		t.Fatalf("registrations %d", n)
	}
	e.force(id, `{"status":"ACCEPTED"}`)
	if res := e.mustStatus(statusIn(id, sess)); res.Status != providers.StatusPassed || res.ProviderStatus != "ACCEPTED" {
		t.Fatalf("accepted: %+v", res)
	}
	if _, err := e.client.Start(context.Background(), startIn(id, sess, "", "")); !errors.Is(err, providers.ErrAlreadyPassed) {
		t.Fatalf("start when accepted: %v", err)
	}
}

func TestUnknownStatus(t *testing.T) {
	e := newEnv(t, cpemu.Options{}, false)
	id, sess := e.signUp("u")
	e.force(id, `{"status":"MANUAL_CHECK"}`)
	_, err := e.client.Status(context.Background(), statusIn(id, sess))
	var ue *providers.UnknownStatusError
	if !errors.As(err, &ue) || ue.Value != "MANUAL_CHECK" || ue.Provider != "cloudpayments" {
		t.Fatalf("status: %v", err)
	}
	if _, err := e.client.Start(context.Background(), startIn(id, sess, "", "")); !errors.Is(err, providers.ErrUnknownStatus) {
		t.Fatalf("start: %v", err)
	}
}

func TestRefreshAfter401(t *testing.T) {
	e := newEnv(t, cpemu.Options{AccessTokenTTL: time.Minute}, false)
	id, sess := e.signUp("u")
	sess.ExpiresAt = time.Time{} // unknown: the client finds out from the 401
	e.clk.Add(2 * time.Minute)

	res := e.mustStatus(statusIn(id, sess))
	if res.Status != providers.StatusNotStarted || res.Session == nil {
		t.Fatalf("status: %+v", res)
	}
	ns := *res.Session
	if ns.AccessToken == "" || ns.AccessToken == sess.AccessToken || ns.RefreshToken == "" ||
		!ns.ExpiresAt.Equal(e.clk.Now().Add(time.Minute)) || e.emu.Refreshes() != 1 {
		t.Fatalf("new session: changed=%v refresh=%v expires=%v refreshes=%d",
			ns.AccessToken != sess.AccessToken, ns.RefreshToken != "", ns.ExpiresAt, e.emu.Refreshes())
	}
	// Start too, and the refreshed session works without another refresh.
	res = e.mustStart(startIn(id, sess, "", ""))
	if res.Status != providers.StatusIncomplete || res.Session == nil {
		t.Fatalf("start: %+v", res)
	}
	if res := e.mustStatus(statusIn(id, *res.Session)); res.Session != nil || res.Status != providers.StatusIncomplete {
		t.Fatalf("with refreshed session: %+v", res)
	}
	if n := e.emu.Refreshes(); n != 2 {
		t.Fatalf("refreshes %d", n)
	}
}

func TestProactiveRefresh(t *testing.T) {
	e := newEnv(t, cpemu.Options{AccessTokenTTL: time.Minute}, false)
	id, sess := e.signUp("u")
	// The session says it has expired although the provider would still accept the token:
	// only a proactive refresh makes Refreshes 1.
	sess.ExpiresAt = e.clk.Now()
	calls := e.emu.UserInfoCalls()
	res := e.mustStatus(statusIn(id, sess))
	if res.Session == nil || e.emu.Refreshes() != 1 || e.emu.UserInfoCalls() != calls+1 {
		t.Fatalf("session %v, refreshes %d, userinfo calls %d", res.Session != nil, e.emu.Refreshes(), e.emu.UserInfoCalls()-calls)
	}
}

func TestExpiredSession(t *testing.T) {
	e := newEnv(t, cpemu.Options{AccessTokenTTL: time.Minute}, false)
	id, sess := e.signUp("u")
	e.clk.Add(2 * time.Minute)
	for name, s := range map[string]providers.Session{
		"no refresh token":      {AccessToken: sess.AccessToken, ExpiresAt: sess.ExpiresAt},
		"invalid refresh token": {AccessToken: sess.AccessToken, RefreshToken: "not-a-refresh-token"},
		"unknown access token":  {AccessToken: "opaque-token"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.client.Status(context.Background(), statusIn(id, s))
			wantField(t, err, "cloudpayments.access_token")
			_, err = e.client.Start(context.Background(), startIn(id, s, "", ""))
			wantField(t, err, "cloudpayments.access_token")
		})
	}
	_, err := e.client.Status(context.Background(), providers.StatusInput{Subject: providers.Subject{UserID: id}})
	wantField(t, err, "cloudpayments.access_token")
}

func TestCredentials(t *testing.T) {
	e := newEnv(t, cpemu.Options{AccessTokenTTL: time.Minute}, false)
	id, sess := e.signUp("u")
	for name, cfg := range map[string]Config{
		"api-key": {APIKey: "wrong-key"},
		"tenant":  {TenantName: "FUNDZ"},
	} {
		t.Run(name, func(t *testing.T) {
			c := e.newClient(cfg)
			_, err := c.Start(context.Background(), startIn(id, sess, "", ""))
			var ae *APIError
			if !errors.Is(err, providers.ErrRejected) || !errors.As(err, &ae) || ae.HTTPStatus != 403 {
				t.Fatalf("start: %v", err)
			}
			if _, err := c.Status(context.Background(), statusIn(id, sess)); !errors.Is(err, providers.ErrRejected) {
				t.Fatalf("status: %v", err)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	for name, fc := range map[string]faults.Config{
		"5xx":    {ErrorRate: 1},
		"429":    {RateLimitRate: 1},
		"refuse": {Refuse: true},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, cpemu.Options{}, false)
			id, sess := e.signUp("u")
			if err := e.emu.Faults().Set(fc); err != nil {
				t.Fatal(err)
			}
			if _, err := e.client.Start(context.Background(), startIn(id, sess, "", "")); !errors.Is(err, providers.ErrUnavailable) {
				t.Fatalf("start: %v", err)
			}
			if _, err := e.client.Status(context.Background(), statusIn(id, sess)); !errors.Is(err, providers.ErrUnavailable) {
				t.Fatalf("status: %v", err)
			}
		})
	}
}

func TestContext(t *testing.T) {
	e := newEnv(t, cpemu.Options{}, false)
	id, sess := e.signUp("u")
	if err := e.emu.Faults().Set(faults.Config{Latency: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := e.client.Start(ctx, startIn(id, sess, "", ""))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, providers.ErrUnavailable) || time.Since(start) > 5*time.Second {
		t.Fatalf("cancelled: %v after %v", err, time.Since(start))
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := e.client.Status(ctx, statusIn(id, sess)); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("deadline: %v", err)
	}
}

func TestTokenOfAnotherUser(t *testing.T) {
	e := newEnv(t, cpemu.Options{}, false)
	_, sessA := e.signUp("alice")
	idB, _ := e.signUp("bob")
	in := startIn(idB, sessA, "", "")
	wantField(t, e.client.ValidateStart(in), "subject.user_id")
	_, err := e.client.Start(context.Background(), in)
	wantField(t, err, "subject.user_id")
	_, err = e.client.Status(context.Background(), statusIn(idB, sessA))
	wantField(t, err, "subject.user_id")
	if e.emu.UserInfoCalls() != 0 {
		t.Fatal("the provider was called with another user's token")
	}
}
