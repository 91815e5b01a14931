package resilience

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		header map[string][]string
		want   bool
	}{
		{name: "GET", method: http.MethodGet, want: true},
		{name: "empty method is GET", method: "", want: true},
		{name: "HEAD", method: http.MethodHead, want: true},
		{name: "POST without key", method: http.MethodPost, want: false},
		{name: "POST with key", method: http.MethodPost, header: map[string][]string{"Idempotency-Key": {"k1"}}, want: true},
		{name: "POST with lower-case key", method: http.MethodPost, header: map[string][]string{"idempotency-key": {"k1"}}, want: true},
		{name: "POST with empty key", method: http.MethodPost, header: map[string][]string{"Idempotency-Key": {""}}, want: false},
		{name: "PUT with key", method: http.MethodPut, header: map[string][]string{"Idempotency-Key": {"k1"}}, want: true},
		{name: "PUT without key", method: http.MethodPut, want: false},
		{name: "PATCH with key", method: http.MethodPatch, header: map[string][]string{"Idempotency-Key": {"k1"}}, want: true},
		{name: "DELETE with key", method: http.MethodDelete, header: map[string][]string{"Idempotency-Key": {"k1"}}, want: false},
		{name: "OPTIONS", method: http.MethodOptions, want: false},
		{name: "other header", method: http.MethodPost, header: map[string][]string{"X-Request-Id": {"k1"}}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := &http.Request{Method: tc.method, Header: http.Header(tc.header)}
			if req.Header == nil {
				req.Header = http.Header{}
			}
			if got := Retryable(req); got != tc.want {
				t.Errorf("Retryable(%s %v) = %v, want %v", tc.method, tc.header, got, tc.want)
			}
		})
	}
}

func TestRetryableStatus(t *testing.T) {
	t.Parallel()
	want := map[int]bool{429: true, 500: true, 502: true, 503: true, 504: true}
	for _, code := range []int{200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 422, 429, 500, 501, 502, 503, 504, 505, 507, 511} {
		if got := RetryableStatus(code); got != want[code] {
			t.Errorf("RetryableStatus(%d) = %v, want %v", code, got, want[code])
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{name: "absent", value: "", wantOK: false},
		{name: "zero seconds", value: "0", want: 0, wantOK: true},
		{name: "one second", value: "1", want: time.Second, wantOK: true},
		{name: "spaces", value: " 120 ", want: 2 * time.Minute, wantOK: true},
		{name: "huge is capped", value: "99999999999999999999999", want: 24 * time.Hour, wantOK: true},
		{name: "a day and more is capped", value: "100000", want: 24 * time.Hour, wantOK: true},
		{name: "negative", value: "-1", wantOK: false},
		{name: "fraction", value: "1.5", wantOK: false},
		{name: "garbage", value: "soon", wantOK: false},
		{name: "IMF date", value: "Sun, 01 Mar 2026 12:00:30 GMT", want: 30 * time.Second, wantOK: true},
		{name: "RFC 850 date", value: "Sunday, 01-Mar-26 12:01:00 GMT", want: time.Minute, wantOK: true},
		{name: "asctime date", value: "Sun Mar  1 12:00:05 2026", want: 5 * time.Second, wantOK: true},
		{name: "date in the past", value: "Sun, 01 Mar 2026 11:00:00 GMT", want: 0, wantOK: true},
		{name: "bad date", value: "Sun, 32 Mar 2026 12:00:00 GMT", wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseRetryAfter(tc.value, now)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.value, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	base, maxDelay := 100*time.Millisecond, 2*time.Second
	tests := []struct {
		n      int
		lo, hi time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{5, 800 * time.Millisecond, 1600 * time.Millisecond},
		{6, time.Second, 2 * time.Second},
		{100, time.Second, 2 * time.Second},
	}
	for _, tc := range tests {
		for _, j := range []float64{0, 0.5, 0.999999} {
			got := backoff(base, maxDelay, tc.n, func() float64 { return j })
			if got < tc.lo || got > tc.hi {
				t.Errorf("backoff(retry %d, jitter %v) = %v, want within [%v, %v]", tc.n, j, got, tc.lo, tc.hi)
			}
		}
		if lo := backoff(base, maxDelay, tc.n, func() float64 { return 0 }); lo != tc.lo {
			t.Errorf("backoff(retry %d, jitter 0) = %v, want %v", tc.n, lo, tc.lo)
		}
	}
	if got := backoff(time.Hour, 1<<62, 200, func() float64 { return 1 }); got != 1<<62 {
		t.Errorf("backoff near overflow = %v, want %v", got, time.Duration(1<<62))
	}
}

// closeCounter records Close calls on a request body.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestReplay(t *testing.T) {
	t.Parallel()
	read := func(t *testing.T, rc io.ReadCloser) string {
		t.Helper()
		if rc == nil {
			return "<nil>"
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	t.Run("GetBody", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest(http.MethodPost, "http://x/", strings.NewReader("payload"))
		b, err := newReplay(req, true)
		if err != nil || !b.replayable() {
			t.Fatalf("newReplay: %v, replayable %v", err, b.replayable())
		}
		for i := range 3 {
			rc, err := b.next()
			if err != nil {
				t.Fatal(err)
			}
			if got := read(t, rc); got != "payload" {
				t.Errorf("attempt %d body %q, want %q", i+1, got, "payload")
			}
		}
	})

	t.Run("no GetBody is buffered and the original closed", func(t *testing.T) {
		t.Parallel()
		orig := &closeCounter{Reader: strings.NewReader("payload")}
		req, _ := http.NewRequest(http.MethodPost, "http://x/", orig)
		if req.GetBody != nil {
			t.Fatal("test needs a request without GetBody")
		}
		b, err := newReplay(req, true)
		if err != nil || !b.replayable() {
			t.Fatalf("newReplay: %v, replayable %v", err, b.replayable())
		}
		if orig.closed != 1 {
			t.Errorf("original closed %d times, want 1", orig.closed)
		}
		for i := range 3 {
			rc, _ := b.next()
			if got := read(t, rc); got != "payload" {
				t.Errorf("attempt %d body %q, want %q", i+1, got, "payload")
			}
		}
		b.close()
		if orig.closed != 1 {
			t.Errorf("original closed %d times, want 1", orig.closed)
		}
	})

	t.Run("too large to buffer is sent once, whole", func(t *testing.T) {
		t.Parallel()
		big := bytes.Repeat([]byte("x"), MaxReplayBody+10)
		orig := &closeCounter{Reader: bytes.NewReader(big)}
		req, _ := http.NewRequest(http.MethodPost, "http://x/", orig)
		b, err := newReplay(req, true)
		if err != nil {
			t.Fatal(err)
		}
		if b.replayable() {
			t.Error("a body over MaxReplayBody is replayable")
		}
		rc, _ := b.next()
		if got := read(t, rc); len(got) != len(big) {
			t.Errorf("sent %d bytes, want %d", len(got), len(big))
		}
		if _, err := b.next(); err == nil {
			t.Error("a second attempt got a body")
		}
	})

	t.Run("unsent original is closed", func(t *testing.T) {
		t.Parallel()
		orig := &closeCounter{Reader: strings.NewReader("payload")}
		req, _ := http.NewRequest(http.MethodPost, "http://x/", orig)
		b, _ := newReplay(req, false)
		b.close()
		if orig.closed != 1 {
			t.Errorf("original closed %d times, want 1", orig.closed)
		}
	})

	t.Run("no body", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		b, _ := newReplay(req, true)
		for range 2 {
			if rc, err := b.next(); err != nil || (rc != nil && rc != http.NoBody) {
				t.Errorf("next() = %v, %v; want no body", rc, err)
			}
		}
	})
}
