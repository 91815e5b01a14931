package faults_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/faults"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func serve(t *testing.T) (*faults.Injector, *httptest.Server, *http.Client) {
	in := faults.New(nil)
	mux := http.NewServeMux()
	mux.Handle("/_faults", in.ControlHandler())
	mux.Handle("/", in.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })))
	srv := httptest.NewServer(mux)
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() { c.CloseIdleConnections(); srv.Close() })
	return in, srv, c
}

func TestFaults(t *testing.T) {
	in, srv, c := serve(t)
	get := func() (int, error) {
		resp, err := c.Get(srv.URL + "/x")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(); err != nil || code != 200 {
		t.Fatalf("no faults: %d %v", code, err)
	}
	_ = in.Set(faults.Config{ErrorRate: 1})
	if code, _ := get(); code != 503 {
		t.Fatalf("error rate 1: %d, want 503", code)
	}
	_ = in.Set(faults.Config{RateLimitRate: 1})
	if code, _ := get(); code != 429 {
		t.Fatalf("rate limit rate 1: %d, want 429", code)
	}
	_ = in.Set(faults.Config{Latency: 100 * time.Millisecond})
	start := time.Now()
	if code, _ := get(); code != 200 || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("latency: %d after %v", code, time.Since(start))
	}
	_ = in.Set(faults.Config{Refuse: true})
	if _, err := get(); err == nil {
		t.Fatal("refuse: the request got an answer")
	}
	if err := in.Set(faults.Config{ErrorRate: 0.7, RateLimitRate: 0.7}); err == nil {
		t.Fatal("rates summing over 1 accepted")
	}
}

func TestControlHandler(t *testing.T) {
	in, srv, c := serve(t)
	resp, err := c.Post(srv.URL+"/_faults", "application/json", strings.NewReader(`{"latency":"5ms","error_rate":0.25}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := in.Get(); resp.StatusCode != 200 || got.Latency != 5*time.Millisecond || got.ErrorRate != 0.25 {
		t.Fatalf("after POST: %d %+v", resp.StatusCode, got)
	}
	for _, bad := range []string{`{"latency":"soon"}`, `{"error_rate":2}`, `{"surprise":true}`} {
		resp, err := c.Post(srv.URL+"/_faults", "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
}

func TestLatencyNoticesCallerGone(t *testing.T) {
	in := faults.New(nil)
	_ = in.Set(faults.Config{Latency: 3 * time.Second})
	returned := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
		close(returned)
	}))
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{}, Timeout: 200 * time.Millisecond}
	defer c.CloseIdleConnections()
	_, _ = c.Post(srv.URL, "application/json", strings.NewReader(`{"a":1}`))
	select {
	case <-returned:
	case <-time.After(2 * time.Second):
		t.Fatal("the injected latency outlived the caller")
	}
}

func TestRooted(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/api/v0.1/x", nil)
	if faults.Rooted(r) != r {
		t.Fatal("a rooted request was copied")
	}
	r.URL.Path, r.URL.RawPath = "api/v0.1/a%2Fb", "api/v0.1/a%2Fb"
	got := faults.Rooted(r)
	if got.URL.Path != "/api/v0.1/a%2Fb" || got.URL.RawPath != "/api/v0.1/a%2Fb" || r.URL.Path != "api/v0.1/a%2Fb" {
		t.Fatalf("Rooted = %q %q (original %q)", got.URL.Path, got.URL.RawPath, r.URL.Path)
	}
}
