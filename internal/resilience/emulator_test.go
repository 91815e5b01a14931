package resilience_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"github.com/kycgw/kycgw/internal/emulator/cpemu"
	"github.com/kycgw/kycgw/internal/emulator/faults"
	"github.com/kycgw/kycgw/internal/resilience"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/bond"
	"github.com/kycgw/kycgw/providers/cloudpayments"
)

// hits counts the API requests that reached an emulator, by path.
type hits struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *hits) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/_sandbox/") {
			h.mu.Lock()
			if h.n == nil {
				h.n = map[string]int{}
			}
			h.n[r.URL.Path]++
			h.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// count returns the requests whose path contains part ("" counts all).
func (h *hits) count(part string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	total := 0
	for p, n := range h.n {
		if strings.Contains(p, part) {
			total += n
		}
	}
	return total
}

const (
	bondIdentity = "test-identity"
	bondAuth     = "test-authorization"
	programID    = "6c9d4b1e-8f0a-4c3e-9b7d-2a1f5e8c3d40"
)

type bondEnv struct {
	emu    *bondemu.Emulator
	tr     *resilience.Transport
	client *bond.Client
	hits   *hits
}

// newBondEnv serves a Bond emulator (behind a request counter) and points the real adapter at
// it through a resilience Transport built with o.
func newBondEnv(t *testing.T, o resilience.Options) *bondEnv {
	t.Helper()
	emu := bondemu.New(bondemu.Options{Identity: bondIdentity, Authorization: bondAuth})
	h := &hits{}
	srv := httptest.NewServer(h.wrap(emu))
	base := &http.Transport{}
	t.Cleanup(func() { base.CloseIdleConnections(); srv.Close(); emu.Close() })
	tr := resilience.New("bond", base, o)
	c, err := bond.New(bond.Config{
		Name: "bond", BaseURL: srv.URL + "/api/v0.1",
		Identity: bondIdentity, Authorization: bondAuth,
		HTTPClient: &http.Client{Transport: tr},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &bondEnv{emu: emu, tr: tr, client: c, hits: h}
}

func (e *bondEnv) faults(t *testing.T, c faults.Config) {
	t.Helper()
	if err := e.emu.Faults().Set(c); err != nil {
		t.Fatal(err)
	}
}

func bondStart(customerID, key string) providers.StartInput {
	return providers.StartInput{
		ProgramID:      programID,
		Subject:        providers.Subject{CustomerID: customerID},
		Applicant:      providers.Applicant{SSN: "123-45-6789", Email: "jane@example.com"},
		IdempotencyKey: key,
	}
}

func bondStatus(customerID string) providers.StatusInput {
	return providers.StatusInput{ProgramID: programID, Subject: providers.Subject{CustomerID: customerID}}
}

func TestBondBreakerOpensFailsFastAndRecovers(t *testing.T) {
	// Not parallel: it measures time.
	o := fastRetries()
	o.FailuresToOpen = 5
	o.OpenDuration = 200 * time.Millisecond
	e := newBondEnv(t, o)
	const customer = "0b7e2c55-3f0e-4a8e-9d5c-1e2f3a4b5c6d"
	ctx := context.Background()
	e.faults(t, faults.Config{ErrorRate: 1})

	// A keyed POST is retried: three 503s, then the adapter reports the provider unavailable.
	_, err := e.client.Start(ctx, bondStart(customer, "key-1"))
	if !errors.Is(err, providers.ErrUnavailable) || errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("first start: got %v, want ErrUnavailable from the 503s", err)
	}
	if got := e.hits.count(""); got != 3 {
		t.Fatalf("first start: %d requests, want 3", got)
	}
	// Failures 4 and 5 open the breaker; the third attempt is refused.
	_, err = e.client.Start(ctx, bondStart(customer, "key-1"))
	if !errors.Is(err, providers.ErrUnavailable) || !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("second start: got %v, want ErrUnavailable wrapping ErrOpen", err)
	}
	if got, state := e.hits.count(""), e.tr.State(); got != 5 || state != "open" {
		t.Fatalf("after 5 failures: %d requests, state %q; want 5, open", got, state)
	}

	// Open: every call fails fast with ErrUnavailable and nothing reaches the provider.
	for i := range 5 {
		start := time.Now()
		_, err := e.client.Start(ctx, bondStart(customer, "key-1"))
		if elapsed := time.Since(start); elapsed > 20*time.Millisecond {
			t.Errorf("open start %d took %v, want < 20ms", i, elapsed)
		}
		if !errors.Is(err, providers.ErrUnavailable) || !errors.Is(err, resilience.ErrOpen) {
			t.Errorf("open start %d: got %v, want ErrUnavailable wrapping ErrOpen", i, err)
		}
	}
	start := time.Now()
	_, err = e.client.Status(ctx, bondStatus(customer))
	if elapsed := time.Since(start); elapsed > 20*time.Millisecond || !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("open status: got %v after %v, want ErrUnavailable at once", err, elapsed)
	}
	if got := e.hits.count(""); got != 5 {
		t.Errorf("%d requests reached the emulator while open, want none after the 5th", got-5)
	}
	if st := e.tr.Stats(); st.BreakerRejected != 7 {
		t.Errorf("stats %+v, want 7 rejected by the breaker", st)
	}

	// The provider recovers; after the open duration one probe closes the breaker.
	e.faults(t, faults.Config{})
	time.Sleep(250 * time.Millisecond)
	if got := e.tr.State(); got != "half-open" {
		t.Fatalf("state %q after the open duration, want half-open", got)
	}
	res, err := e.client.Start(ctx, bondStart(customer, "key-1"))
	if err != nil || !res.Submitted {
		t.Fatalf("probe start: got %+v, %v; want a submission", res, err)
	}
	if got := e.tr.State(); got != "closed" {
		t.Fatalf("state %q after a good probe, want closed", got)
	}
	if _, err := e.client.Status(ctx, bondStatus(customer)); err != nil {
		t.Fatalf("status after recovery: %v", err)
	}
	if n := e.emu.Submissions(); n != 1 {
		t.Errorf("emulator saw %d submissions, want 1", n)
	}
}

func TestBondLatencyBeyondAttemptTimeout(t *testing.T) {
	// Not parallel: it measures time.
	o := fastRetries()
	o.Timeout = 100 * time.Millisecond
	o.MaxAttempts = 3
	e := newBondEnv(t, o)
	e.faults(t, faults.Config{Latency: 5 * time.Second})

	start := time.Now()
	_, err := e.client.Status(context.Background(), bondStatus("0b7e2c55-3f0e-4a8e-9d5c-1e2f3a4b5c6d"))
	elapsed := time.Since(start)
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	var te *resilience.TimeoutError
	if !errors.As(err, &te) {
		t.Errorf("got %v, want a resilience.TimeoutError inside", err)
	}
	if lo, hi := 300*time.Millisecond, 1500*time.Millisecond; elapsed < lo || elapsed > hi {
		t.Errorf("took %v, want about 3 attempts x 100ms (%v..%v)", elapsed, lo, hi)
	}
	if st := e.tr.Stats(); st.Attempts != 3 || st.Retries != 2 {
		t.Errorf("stats %+v, want 3 attempts, 2 retries", st)
	}
}

func TestBondStatusRetriedThroughErrorRate(t *testing.T) {
	t.Parallel()
	o := fastRetries()
	o.MaxAttempts = 20 // a call fails only if 20 coin flips in a row do: 1 in a million
	e := newBondEnv(t, o)
	const customer = "0b7e2c55-3f0e-4a8e-9d5c-1e2f3a4b5c6e"
	ctx := context.Background()
	if _, err := e.client.Start(ctx, bondStart(customer, "key-2")); err != nil {
		t.Fatal(err)
	}
	e.faults(t, faults.Config{ErrorRate: 0.5})
	for i := range 20 {
		if _, err := e.client.Status(ctx, bondStatus(customer)); err != nil {
			t.Fatalf("status %d through a 50%% error rate: %v", i, err)
		}
	}
	if st := e.tr.Stats(); st.Retries == 0 || e.hits.count("") != int(st.Attempts) {
		t.Errorf("stats %+v, %d requests at the emulator; want retries, one request per attempt", st, e.hits.count(""))
	}
}

func TestBondRateLimitedFaultsHonourRetryAfter(t *testing.T) {
	// Not parallel: it measures time.
	o := fastRetries()
	o.MaxBackoff = 500 * time.Millisecond // Retry-After cap 2 s
	o.MaxAttempts = 2
	e := newBondEnv(t, o)
	e.faults(t, faults.Config{RateLimitRate: 1})
	start := time.Now()
	_, err := e.client.Status(context.Background(), bondStatus("0b7e2c55-3f0e-4a8e-9d5c-1e2f3a4b5c6d"))
	elapsed := time.Since(start)
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable from the 429s", err)
	}
	if elapsed < time.Second || elapsed > 2*time.Second {
		t.Errorf("took %v, want about the 1s Retry-After", elapsed)
	}
	if got := e.hits.count(""); got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
}

type cpEnv struct {
	emu    *cpemu.Emulator
	root   string
	plain  *http.Client // for setting up users, without the Transport
	tr     *resilience.Transport
	client *cloudpayments.Client
	hits   *hits
}

func newCPEnv(t *testing.T, o resilience.Options) *cpEnv {
	t.Helper()
	emu := cpemu.New(cpemu.Options{})
	h := &hits{}
	srv := httptest.NewServer(h.wrap(emu))
	base, plainBase := &http.Transport{}, &http.Transport{}
	t.Cleanup(func() { base.CloseIdleConnections(); plainBase.CloseIdleConnections(); srv.Close() })
	tr := resilience.New("cloudpayments", base, o)
	c, err := cloudpayments.New(cloudpayments.Config{
		Name: "cloudpayments", BaseURL: srv.URL,
		TenantName: cpemu.DefaultTenantName, APIKey: cpemu.DefaultAPIKey,
		HTTPClient: &http.Client{Transport: tr},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &cpEnv{emu: emu, root: srv.URL, plain: &http.Client{Transport: plainBase}, tr: tr, client: c, hits: h}
}

// signUp registers a user and signs it in, as the mobile app does.
func (e *cpEnv) signUp(t *testing.T, username string) (string, providers.Session) {
	t.Helper()
	u, err := cpemu.SignUp(context.Background(), e.plain, e.root, username)
	if err != nil {
		t.Fatal(err)
	}
	return u.UUID, providers.Session{AccessToken: u.AccessToken, RefreshToken: u.RefreshToken, ExpiresAt: time.Now().Add(time.Hour)}
}

func TestCloudPaymentsRegisterUserNotRetried(t *testing.T) {
	// Not parallel: it measures time.
	o := fastRetries()
	o.FailuresToOpen = 4
	o.OpenDuration = time.Minute
	e := newCPEnv(t, o)
	uuid, sess := e.signUp(t, "jsmith")
	ctx := context.Background()
	if err := e.emu.Faults().Set(faults.Config{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}

	// registerUser is a POST without an Idempotency-Key: one attempt, whatever the answer.
	_, err := e.client.Start(ctx, providers.StartInput{
		Subject:       providers.Subject{UserID: uuid},
		CloudPayments: &providers.CloudPaymentsInput{Session: sess, AccountID: "acc-1", WorkflowID: "wf-1"},
	})
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("start: got %v, want ErrUnavailable", err)
	}
	if got := e.hits.count("registerUser"); got != 1 {
		t.Errorf("registerUser reached the emulator %d times, want 1", got)
	}
	// getUserInfo is a GET: retried.
	_, err = e.client.Status(ctx, providers.StatusInput{Subject: providers.Subject{UserID: uuid}, Session: &sess})
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("status: got %v, want ErrUnavailable", err)
	}
	if got := e.hits.count("getUserInfo"); got != 3 {
		t.Errorf("getUserInfo reached the emulator %d times, want 3", got)
	}

	// Four failures opened the breaker: the adapter reports it as unavailable, nothing is sent.
	if got := e.tr.State(); got != "open" {
		t.Fatalf("state %q, want open", got)
	}
	before := e.hits.count("")
	start := time.Now()
	_, err = e.client.Status(ctx, providers.StatusInput{Subject: providers.Subject{UserID: uuid}, Session: &sess})
	if elapsed := time.Since(start); elapsed > 20*time.Millisecond {
		t.Errorf("open status took %v, want < 20ms", elapsed)
	}
	if !errors.Is(err, providers.ErrUnavailable) || !errors.Is(err, resilience.ErrOpen) {
		t.Errorf("open status: got %v, want ErrUnavailable wrapping ErrOpen", err)
	}
	if got := e.hits.count(""); got != before {
		t.Errorf("%d requests reached the emulator while open", got-before)
	}
}
