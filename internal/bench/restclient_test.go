package bench

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestRESTClient checks the load generator's requests as a net/http server reads them, that
// each worker keeps one connection across requests, and that a connection the server closed
// is replaced.
func TestRESTClient(t *testing.T) {
	type seen struct{ method, uri, auth, ctype, body string }
	var (
		mu    sync.Mutex
		got   []seen
		conns = map[string]bool{}
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)})
		conns[r.RemoteAddr] = true
		mu.Unlock()
		switch r.URL.Path {
		case "/missing":
			http.Error(w, "no such thing", http.StatusNotFound)
		case "/bye":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		default:
			_, _ = io.WriteString(w, "echo "+string(b))
		}
	}))
	srv.Start()
	defer srv.Close()
	rc := newRESTClient(strings.TrimPrefix(srv.URL, "http://"), "Bearer k")
	defer rc.close()

	do := func(worker int, method, path, body string, wantCode int, wantBody string) {
		t.Helper()
		code, b, err := rc.do(worker, method, path, body)
		if err != nil || code != wantCode || string(b) != wantBody {
			t.Fatalf("%s %s: %d %q %v, want %d %q", method, path, code, b, err, wantCode, wantBody)
		}
	}
	do(0, http.MethodPost, "/v1/x:start", `{"a":1}`, 200, `echo {"a":1}`)
	do(0, http.MethodGet, "/v1/x/1", "", 200, "echo ")
	do(0, http.MethodGet, "/missing", "", 404, "no such thing\n")
	want := []seen{
		{"POST", "/v1/x:start", "Bearer k", "application/json", `{"a":1}`},
		{"GET", "/v1/x/1", "Bearer k", "", ""},
		{"GET", "/missing", "Bearer k", "", ""},
	}
	mu.Lock()
	if len(got) != len(want) || len(conns) != 1 {
		t.Fatalf("server saw %v on %d connections, want %v on 1", got, len(conns), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	mu.Unlock()

	// Another worker has its own connection.
	do(1, http.MethodGet, "/v1/x/2", "", 200, "echo ")
	// The server ends the connection: the answer is read, and the next request redials.
	do(0, http.MethodGet, "/bye", "", 200, "bye")
	do(0, http.MethodGet, "/v1/x/3", "", 200, "echo ")
	mu.Lock()
	if len(conns) != 3 {
		t.Errorf("%d connections, want 3 (workers 0 and 1, and worker 0's after /bye)", len(conns))
	}
	mu.Unlock()

	// A connection closed under the client fails one request; the next one redials.
	srv.CloseClientConnections()
	if _, _, err := rc.do(0, http.MethodGet, "/v1/x/4", ""); err == nil {
		t.Error("request on a connection the server closed succeeded")
	}
	do(0, http.MethodGet, "/v1/x/5", "", 200, "echo ")

	// Nothing listens: the error names the dial.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, _, err := newRESTClient(addr, "").do(0, http.MethodGet, "/", ""); err == nil || !strings.Contains(err.Error(), "dialing") {
		t.Errorf("no server: %v", err)
	}
}
