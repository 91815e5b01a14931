package resilience_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/resilience"
)

// fastRetries are Options for tests that do not measure backoff: no rate limit, tiny waits.
func fastRetries() resilience.Options {
	return resilience.Options{
		Timeout:        2 * time.Second,
		BaseBackoff:    time.Millisecond,
		MaxBackoff:     2 * time.Millisecond,
		RatePerMinute:  -1,
		FailuresToOpen: 1000,
	}
}

// recorded is one request a stub server saw.
type recorded struct {
	method, key string
	body        []byte
}

// stub is an httptest server answering with the statuses in order (the last one repeats)
// and recording every request.
type stub struct {
	srv  *httptest.Server
	base *http.Transport

	mu       sync.Mutex
	reqs     []recorded
	statuses []int
	header   http.Header // sent with every non-2xx answer
}

func newStub(t *testing.T, statuses ...int) *stub {
	t.Helper()
	s := &stub{statuses: statuses, base: &http.Transport{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{method: r.Method, key: r.Header.Get("Idempotency-Key"), body: b})
		n := len(s.reqs)
		code := s.statuses[min(n, len(s.statuses))-1]
		h := s.header
		s.mu.Unlock()
		if code/100 != 2 {
			for k, v := range h {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"n":`+strconv.Itoa(n)+`}`)
	}))
	t.Cleanup(func() { s.base.CloseIdleConnections(); s.srv.Close() })
	return s
}

func (s *stub) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

// do sends one request through c and returns the status (0 on error) after reading the body.
func do(t *testing.T, ctx context.Context, c *http.Client, method, url string, body io.Reader, key string) (int, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		key       string
		statuses  []int
		wantCalls int
		wantCode  int
	}{
		{name: "GET retried through 503s", method: "GET", statuses: []int{503, 503, 200}, wantCalls: 3, wantCode: 200},
		{name: "GET gives up after MaxAttempts", method: "GET", statuses: []int{503}, wantCalls: 3, wantCode: 503},
		{name: "GET retried on 502 504 500", method: "GET", statuses: []int{502, 504, 500, 200}, wantCalls: 3, wantCode: 500},
		{name: "GET not retried on 404", method: "GET", statuses: []int{404, 200}, wantCalls: 1, wantCode: 404},
		{name: "GET not retried on 501", method: "GET", statuses: []int{501, 200}, wantCalls: 1, wantCode: 501},
		{name: "HEAD retried", method: "HEAD", statuses: []int{429, 200}, wantCalls: 2, wantCode: 200},
		{name: "keyed POST retried on 500", method: "POST", key: "k1", statuses: []int{500, 200}, wantCalls: 2, wantCode: 200},
		{name: "keyed POST not retried on 409", method: "POST", key: "k1", statuses: []int{409, 200}, wantCalls: 1, wantCode: 409},
		{name: "POST without key not retried", method: "POST", statuses: []int{503, 200}, wantCalls: 1, wantCode: 503},
		{name: "PUT without key not retried", method: "PUT", statuses: []int{503, 200}, wantCalls: 1, wantCode: 503},
		{name: "DELETE with key not retried", method: "DELETE", key: "k1", statuses: []int{503, 200}, wantCalls: 1, wantCode: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, tc.statuses...)
			tr := resilience.New("stub", s.base, fastRetries())
			c := &http.Client{Transport: tr}
			var body io.Reader
			if tc.method != "GET" && tc.method != "HEAD" {
				body = strings.NewReader(`{"a":1}`)
			}
			code, err := do(t, context.Background(), c, tc.method, s.srv.URL+"/x", body, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("got status %d, want %d", code, tc.wantCode)
			}
			if got := len(s.requests()); got != tc.wantCalls {
				t.Errorf("got %d requests at the server, want %d", got, tc.wantCalls)
			}
			st := tr.Stats()
			if st.Attempts != uint64(tc.wantCalls) || st.Retries != uint64(tc.wantCalls-1) {
				t.Errorf("got stats %+v, want %d attempts and %d retries", st, tc.wantCalls, tc.wantCalls-1)
			}
		})
	}
}

// noGetBody hides a reader's type so http.NewRequest cannot set GetBody.
type noGetBody struct{ io.Reader }

func TestBodyReplayedOnRetry(t *testing.T) {
	t.Parallel()
	payload := `{"program_id":"p","ssn":"123-45-6789"}`
	for name, body := range map[string]func() io.Reader{
		"with GetBody":    func() io.Reader { return strings.NewReader(payload) },
		"without GetBody": func() io.Reader { return noGetBody{strings.NewReader(payload)} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, 503, 502, 201)
			c := &http.Client{Transport: resilience.New("stub", s.base, fastRetries())}
			code, err := do(t, context.Background(), c, http.MethodPost, s.srv.URL+"/kyc", body(), "key-42")
			if err != nil || code != 201 {
				t.Fatalf("got %d, %v; want 201", code, err)
			}
			reqs := s.requests()
			if len(reqs) != 3 {
				t.Fatalf("got %d requests, want 3", len(reqs))
			}
			for i, r := range reqs {
				if r.method != http.MethodPost || r.key != "key-42" || string(r.body) != payload {
					t.Errorf("attempt %d: got %s key %q body %q, want POST key %q body %q", i+1, r.method, r.key, r.body, "key-42", payload)
				}
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	// Not parallel: it measures time.
	s := newStub(t, 429, 200)
	s.header = http.Header{"Retry-After": {"1"}}
	o := fastRetries()
	o.MaxBackoff = 500 * time.Millisecond // the cap, 4*MaxBackoff, is above 1 s
	c := &http.Client{Transport: resilience.New("stub", s.base, o)}
	start := time.Now()
	code, err := do(t, context.Background(), c, http.MethodGet, s.srv.URL+"/x", nil, "")
	elapsed := time.Since(start)
	if err != nil || code != 200 {
		t.Fatalf("got %d, %v; want 200", code, err)
	}
	if elapsed < time.Second || elapsed > 2*time.Second {
		t.Errorf("took %v, want about 1s (Retry-After: 1)", elapsed)
	}
	if n := len(s.requests()); n != 2 {
		t.Errorf("got %d requests, want 2", n)
	}
}

func TestRetryAfterCapped(t *testing.T) {
	// Not parallel: it measures time.
	s := newStub(t, 503, 200)
	s.header = http.Header{"Retry-After": {"3600"}}
	o := fastRetries()
	o.MaxBackoff = 50 * time.Millisecond // cap 200 ms
	c := &http.Client{Transport: resilience.New("stub", s.base, o)}
	start := time.Now()
	code, err := do(t, context.Background(), c, http.MethodGet, s.srv.URL+"/x", nil, "")
	elapsed := time.Since(start)
	if err != nil || code != 200 {
		t.Fatalf("got %d, %v; want 200", code, err)
	}
	if elapsed < 200*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("took %v, want about 200ms (4*MaxBackoff)", elapsed)
	}
}

func TestRetryAfterBeyondDeadline(t *testing.T) {
	// Not parallel: it measures time.
	s := newStub(t, 429, 200)
	s.header = http.Header{"Retry-After": {"1"}}
	o := fastRetries()
	o.MaxBackoff = time.Second
	c := &http.Client{Transport: resilience.New("stub", s.base, o)}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	code, err := do(t, ctx, c, http.MethodGet, s.srv.URL+"/x", nil, "")
	if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
		t.Errorf("took %v: waited for a Retry-After past the deadline", elapsed)
	}
	if err != nil || code != 429 {
		t.Fatalf("got %d, %v; want the provider's 429", code, err)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	// Not parallel: it measures time.
	s := newStub(t, 503)
	s.header = http.Header{"Retry-After": {"5"}}
	o := fastRetries()
	o.MaxBackoff = 5 * time.Second
	c := &http.Client{Transport: resilience.New("stub", s.base, o)}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := do(t, ctx, c, http.MethodGet, s.srv.URL+"/x", nil, "")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 400*time.Millisecond {
		t.Errorf("took %v after a cancel at 100ms", elapsed)
	}
}

func TestTransportErrorRetried(t *testing.T) {
	t.Parallel()
	// A listener that accepts and hangs up: every attempt is a transport error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	tr := resilience.New("stub", base, fastRetries())
	c := &http.Client{Transport: tr}
	url := "http://" + ln.Addr().String() + "/x"

	if _, err := do(t, context.Background(), c, http.MethodGet, url, nil, ""); err == nil {
		t.Fatal("GET to a hanging-up server succeeded")
	}
	if got := accepted.Load(); got < 3 {
		// net/http may itself retry an idempotent request once on a fresh connection.
		t.Errorf("GET: %d connections, want at least 3 attempts", got)
	}
	before := accepted.Load()
	if _, err := do(t, context.Background(), c, http.MethodPost, url, strings.NewReader("{}"), ""); err == nil {
		t.Fatal("POST to a hanging-up server succeeded")
	}
	if got := accepted.Load() - before; got != 1 {
		t.Errorf("POST without key: %d connections, want 1", got)
	}
}

func TestBreakerWithStub(t *testing.T) {
	// Not parallel: it measures time.
	s := newStub(t, 503, 503, 200)
	var logs bytes.Buffer
	var logMu sync.Mutex
	o := fastRetries()
	o.MaxAttempts = 1
	o.FailuresToOpen = 2
	o.OpenDuration = 150 * time.Millisecond
	o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr := resilience.New("stubprov", s.base, o)
	c := &http.Client{Transport: tr}
	// Markers that a timestamp in the log cannot contain by chance (a bare "123" did, at
	// .123 seconds).
	url := s.srv.URL + "/customers/cust-7f3a?token=tok-secret"

	for range 2 {
		if code, err := do(t, context.Background(), c, http.MethodGet, url, nil, ""); code != 503 || err != nil {
			t.Fatalf("got %d, %v; want 503", code, err)
		}
	}
	if got := tr.State(); got != "open" {
		t.Fatalf("state %q after 2 failures, want open", got)
	}
	_, err := do(t, context.Background(), c, http.MethodGet, url, nil, "")
	var ne net.Error
	var oe *resilience.OpenError
	if !errors.Is(err, resilience.ErrOpen) || !errors.As(err, &ne) || !errors.As(err, &oe) || oe.State != "open" {
		t.Fatalf("got %v, want an OpenError that is a net.Error", err)
	}
	if n := len(s.requests()); n != 2 {
		t.Errorf("%d requests reached the server, want 2", n)
	}
	time.Sleep(200 * time.Millisecond)
	if got := tr.State(); got != "half-open" {
		t.Fatalf("state %q after the open duration, want half-open", got)
	}
	// The probe gets the stub's third answer, 200, and closes the breaker.
	if code, err := do(t, context.Background(), c, http.MethodGet, url, nil, ""); code != 200 || err != nil {
		t.Fatalf("probe: got %d, %v; want 200", code, err)
	}
	if got := tr.State(); got != "closed" {
		t.Fatalf("state %q after a good probe, want closed", got)
	}
	if st := tr.Stats(); st.BreakerRejected != 1 || st.Attempts != 3 {
		t.Errorf("stats %+v, want 1 rejected, 3 attempts", st)
	}

	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	for _, want := range []string{
		"provider=stubprov from=closed to=open",
		"provider=stubprov from=open to=half-open",
		"provider=stubprov from=half-open to=closed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	for _, leak := range []string{"tok-secret", "/customers", "cust-7f3a"} {
		if strings.Contains(out, leak) {
			t.Errorf("logs contain %q:\n%s", leak, out)
		}
	}
}

// lockedWriter serialises writes to a shared buffer.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestHalfOpenAdmitsOneProbe(t *testing.T) {
	// Not parallel: it measures time.
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		<-release // the probe hangs until the test has tried a second request
		w.WriteHeader(http.StatusOK)
	}))
	base := &http.Transport{}
	t.Cleanup(func() { base.CloseIdleConnections(); srv.Close() })
	o := fastRetries()
	o.MaxAttempts = 1
	o.FailuresToOpen = 1
	o.OpenDuration = 50 * time.Millisecond
	tr := resilience.New("stub", base, o)
	c := &http.Client{Transport: tr}
	if code, _ := do(t, context.Background(), c, http.MethodGet, srv.URL, nil, ""); code != 503 {
		t.Fatalf("got %d, want 503", code)
	}
	time.Sleep(80 * time.Millisecond)
	probe := make(chan error, 1)
	go func() {
		_, err := do(t, context.Background(), c, http.MethodGet, srv.URL, nil, "")
		probe <- err
	}()
	for calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	_, err := do(t, context.Background(), c, http.MethodGet, srv.URL, nil, "")
	var oe *resilience.OpenError
	if !errors.As(err, &oe) || oe.State != "half-open" {
		t.Errorf("second request while probing: got %v, want an OpenError in half-open", err)
	}
	close(release)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := tr.State(); got != "closed" {
		t.Errorf("state %q, want closed", got)
	}
}

func TestAttemptTimeoutCoversBody(t *testing.T) {
	// Not parallel: it measures time.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select { // the body never ends
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	base := &http.Transport{}
	t.Cleanup(func() { base.CloseIdleConnections(); srv.Close() })
	o := fastRetries()
	o.Timeout = 100 * time.Millisecond
	c := &http.Client{Transport: resilience.New("stub", base, o)}
	start := time.Now()
	_, err := do(t, context.Background(), c, http.MethodGet, srv.URL, nil, "")
	if err == nil {
		t.Fatal("reading an endless body succeeded")
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("took %v, want about the 100ms attempt timeout", elapsed)
	}
}

func TestRateLimit(t *testing.T) {
	// Not parallel: it measures time.
	s := newStub(t, 200)
	o := fastRetries()
	o.RatePerMinute = 600 // one every 100 ms
	o.Burst = 1
	tr := resilience.New("stub", s.base, o)
	c := &http.Client{Transport: tr}

	const n = 6
	start := time.Now()
	for range n {
		if code, err := do(t, context.Background(), c, http.MethodGet, s.srv.URL, nil, ""); code != 200 || err != nil {
			t.Fatalf("got %d, %v", code, err)
		}
	}
	// The first goes at once, each next one 100 ms after the previous.
	if elapsed, want := time.Since(start), (n-1)*100*time.Millisecond; elapsed < want-20*time.Millisecond || elapsed > want+250*time.Millisecond {
		t.Errorf("%d calls took %v, want about %v", n, elapsed, want)
	}
	// A slow call can find its token ready; most must have waited.
	if st := tr.Stats(); st.RateLimitedWaits < n/2 || st.RateLimitedWaits > n-1 {
		t.Errorf("stats %+v, want %d..%d rate-limited waits", st, n/2, n-1)
	}

	// A limit of one call a minute: the second call's token is a minute away, so a call with
	// a second to live fails at once, without a request.
	slow := resilience.New("stub", s.base, resilience.Options{RatePerMinute: 1, Burst: 1})
	sc := &http.Client{Transport: slow}
	if code, err := do(t, context.Background(), sc, http.MethodGet, s.srv.URL, nil, ""); code != 200 || err != nil {
		t.Fatalf("got %d, %v", code, err)
	}
	before := len(s.requests())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start = time.Now()
	_, err := do(t, ctx, sc, http.MethodGet, s.srv.URL, nil, "")
	if elapsed := time.Since(start); elapsed > 20*time.Millisecond {
		t.Errorf("refusal took %v, want immediate", elapsed)
	}
	var ne net.Error
	if !errors.Is(err, resilience.ErrRateLimited) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("got %v, want ErrRateLimited as a timed-out net.Error", err)
	}
	if got := len(s.requests()); got != before {
		t.Errorf("%d requests reached the server, want none", got-before)
	}
	if st := slow.Stats(); st.RateLimitRejected != 1 || st.Attempts != 1 {
		t.Errorf("stats %+v, want 1 attempt and 1 rate-limit refusal", st)
	}

	// A caller without a deadline waits for its token, and is let go when it gives up.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	_, err = do(t, ctx, sc, http.MethodGet, s.srv.URL, nil, "")
	if elapsed := time.Since(start); !errors.Is(err, context.Canceled) || elapsed > 500*time.Millisecond {
		t.Errorf("got %v after %v, want context.Canceled at about 50ms", err, elapsed)
	}
	if st := slow.Stats(); st.RateLimitedWaits != 1 || st.Attempts != 1 {
		t.Errorf("stats %+v, want 1 attempt and 1 rate-limited wait", st)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s := newStub(t, 200)
	tr := resilience.New("stub", s.base, resilience.Options{})
	if tr.State() != "closed" || tr.Name() != "stub" {
		t.Errorf("got state %q name %q", tr.State(), tr.Name())
	}
	c := &http.Client{Transport: tr}
	// Default burst lets a handful through at once.
	start := time.Now()
	for range 5 {
		if code, err := do(t, context.Background(), c, http.MethodGet, s.srv.URL, nil, ""); code != 200 || err != nil {
			t.Fatalf("got %d, %v", code, err)
		}
	}
	if elapsed := time.Since(start); elapsed > 200*time.Millisecond {
		t.Errorf("5 calls under the default limit took %v", elapsed)
	}
}
