package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"github.com/kycgw/kycgw/internal/emulator/cpemu"
	"github.com/kycgw/kycgw/internal/emulator/faults"
	"github.com/kycgw/kycgw/internal/seal"
	"github.com/kycgw/kycgw/internal/store/redistest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const (
	replicaProgram = "72585109-8222-4221-b15b-48e87ffed790"
	replicaKey     = "replica-test-key-0123456789"
)

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// cluster is a Redis, the provider emulators, and any number of kycgw processes sharing them.
type cluster struct {
	t        *testing.T
	bin, dir string
	env      []string
	bond     *bondemu.Emulator
	bondURL  string
	cp       *cpemu.Emulator
	cpURL    string
	hookAddr string // the replica the Bond subscription delivers to
	polls    *pollLog
}

// replica is one kycgw process.
type replica struct {
	name    string
	cmd     *exec.Cmd
	grpc    kycv1.KycServiceClient
	conn    *grpc.ClientConn
	http    string
	cpProxy string // this replica's own route to the CloudPayments emulator
	exited  chan struct{}
}

// pollLog records every getUserInfo call with the replica it came from and its time span.
type pollLog struct {
	mu    sync.Mutex
	calls []pollCall
}

type pollCall struct {
	replica    string
	start, end time.Time
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newCluster(t *testing.T) *cluster {
	if testing.Short() {
		t.Skip("multi-replica test builds and runs kycgw processes")
	}
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, bin: filepath.Join(dir, "kycgw"), polls: &pollLog{}}
	build := exec.Command("go", "build", "-o", c.bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := redistest.Start(t)

	c.bond = bondemu.New(bondemu.Options{Identity: "ident", Authorization: "auth", WebhookDelay: 50 * time.Millisecond})
	bondSrv := httptest.NewServer(c.bond)
	c.bondURL = bondSrv.URL
	c.cp = cpemu.New(cpemu.Options{ReviewDelay: 100 * time.Millisecond})
	cpSrv := httptest.NewServer(c.cp)
	c.cpURL = cpSrv.URL
	t.Cleanup(func() { c.bond.Close(); bondSrv.Close(); cpSrv.Close() })

	c.hookAddr = freeAddr(t)
	secret := c.subscribe("http://" + c.hookAddr + "/webhooks/bond")
	cfg := fmt.Sprintf(`providers:
  - {name: bond, type: bond, base_url: '%s/api/v0.1', identity_env: B_ID, authorization_env: B_AUTH, webhook_secret_env: B_WHSEC, timeout: 1s}
  - {name: cloudpayments, type: cloudpayments, base_url: '${CP_URL}', tenant_name: sandbox, api_key_env: CP_KEY, poll_interval: 100ms, timeout: 1s}
tenants:
  - {name: acme, api_keys_env: ACME_KEYS, providers: [bond, cloudpayments]}
`, c.bondURL)
	if err := os.WriteFile(filepath.Join(dir, "providers.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.env = append(os.Environ(),
		"B_ID=ident", "B_AUTH=auth", "ACME_KEYS="+replicaKey, "B_WHSEC="+secret, "CP_KEY="+cpemu.DefaultAPIKey,
		"KYCGW_REDIS_URL="+r.URL(),
		"KYCGW_SECRET_KEY="+base64.StdEncoding.EncodeToString(seal.RandomKey()),
		"KYCGW_PROVIDER_TIMEOUT=1s",
		"KYCGW_LOG_FORMAT=json",
	)
	return c
}

func (c *cluster) subscribe(hook string) string {
	req, _ := http.NewRequest(http.MethodPost, c.bondURL+"/api/v0.1/webhooks",
		strings.NewReader(`{"url":"`+hook+`","events":["kyc.*"],"version":"0.1","status":"STATUS_ENABLED"}`))
	req.Header.Set("Identity", "ident")
	req.Header.Set("Authorization", "auth")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		WebhookSubscription struct {
			Secret string `json:"secret"`
		} `json:"webhook_subscription"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out.WebhookSubscription.Secret
}

// cpProxy gives a replica its own route to the CloudPayments emulator, so each poll can be
// attributed to the replica that made it.
func (c *cluster) cpProxy(name string) string {
	target, _ := url.Parse(c.cpURL)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, target.String()+r.URL.RequestURI(), r.Body)
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		if strings.HasSuffix(r.URL.Path, "/kyc-ms/getUserInfo") {
			c.polls.mu.Lock()
			c.polls.calls = append(c.polls.calls, pollCall{name, start, time.Now()})
			c.polls.mu.Unlock()
		}
	}))
	c.t.Cleanup(srv.Close)
	return srv.URL
}

// start runs a kycgw process; httpAddr may be given (the webhook target) or empty.
func (c *cluster) start(name, httpAddr string) *replica {
	t := c.t
	if httpAddr == "" {
		httpAddr = freeAddr(t)
	}
	rp := &replica{name: name, http: "http://" + httpAddr, cpProxy: c.cpProxy(name), exited: make(chan struct{})}
	cfg, _ := os.ReadFile(filepath.Join(c.dir, "providers.yaml"))
	cfgPath := filepath.Join(c.dir, name+".yaml")
	_ = os.WriteFile(cfgPath, bytes.ReplaceAll(cfg, []byte("${CP_URL}"), []byte(rp.cpProxy)), 0o600)
	grpcAddr := freeAddr(t)
	rp.cmd = exec.Command(c.bin, "--grpc-addr", grpcAddr, "--http-addr", httpAddr, "--config", cfgPath)
	rp.cmd.Env = c.env
	logf, _ := os.Create(filepath.Join(c.dir, name+".log"))
	rp.cmd.Stdout, rp.cmd.Stderr = logf, logf
	if err := rp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	go func() { _ = rp.cmd.Wait(); close(rp.exited) }()
	t.Cleanup(func() {
		rp.kill()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(c.dir, name+".log"))
			t.Logf("%s log:\n%s", name, b)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(rp.http + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-rp.exited:
			b, _ := os.ReadFile(filepath.Join(c.dir, name+".log"))
			t.Fatalf("%s exited:\n%s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready", name)
		}
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer(replicaKey)))
	if err != nil {
		t.Fatal(err)
	}
	rp.conn, rp.grpc = conn, kycv1.NewKycServiceClient(conn)
	t.Cleanup(func() { conn.Close() })
	return rp
}

// kill is SIGKILL: no drain, no cleanup, as a crashed replica.
func (rp *replica) kill() {
	_ = rp.cmd.Process.Signal(syscall.SIGKILL)
	<-rp.exited
}

func customer(id, ssn string) *kycv1.StartRequest {
	return &kycv1.StartRequest{
		Provider: "bond", ProgramId: replicaProgram,
		Subject:   &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: id}},
		Applicant: &kycv1.Applicant{Ssn: ssn, Email: "ada@example.com"},
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitStatus(t *testing.T, rp *replica, vid string, want kycv1.KycStatus, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r, err := rp.grpc.GetStatus(ctxT(t, 5*time.Second), &kycv1.GetStatusRequest{VerificationId: vid})
		if err == nil && r.GetVerification().GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never reached %v (last %v, %v)", rp.name, vid, want, r.GetVerification().GetStatus(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReplicasBehaveAsOne(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", c.hookAddr)
	b := c.start("b", "")

	t.Run("webhook to A reaches a stream on B", func(t *testing.T) {
		stream, err := b.grpc.StreamEvents(ctxT(t, 20*time.Second), &kycv1.StreamEventsRequest{AfterEventId: "0"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := b.grpc.Start(ctxT(t, 5*time.Second), customer("11111111-2222-4333-8444-555555555555", "123-45-6789"))
		if err != nil {
			t.Fatal(err)
		}
		vid := r.GetVerification().GetVerificationId()
		for {
			ev, err := stream.Recv()
			if err != nil {
				t.Fatalf("stream on B: %v", err)
			}
			if ev.GetEvent().GetVerificationId() == vid && ev.GetEvent().GetStatus() == kycv1.KycStatus_KYC_STATUS_PASSED {
				break
			}
		}
	})

	t.Run("200 concurrent Starts with one key, one submission", func(t *testing.T) {
		before := c.bond.Submissions()
		req := customer("22222222-3333-4444-8555-666666666666", "000-00-0000")
		req.IdempotencyKey = "one-key-two-replicas"
		var ok, replayed, inFlight atomic.Int32
		var wg sync.WaitGroup
		vids := sync.Map{}
		for i := range 200 {
			rp := []*replica{a, b}[i%2]
			wg.Go(func() {
				r, err := rp.grpc.Start(ctxT(t, 10*time.Second), req)
				switch {
				case err == nil:
					ok.Add(1)
					if r.GetReplayed() {
						replayed.Add(1)
					}
					vids.Store(r.GetVerification().GetVerificationId(), true)
				case status.Code(err) == codes.Aborted:
					inFlight.Add(1)
				default:
					t.Errorf("Start via %s: %v", rp.name, err)
				}
			})
		}
		wg.Wait()
		if got := c.bond.Submissions() - before; got != 1 {
			t.Fatalf("provider submissions = %d, want 1", got)
		}
		n := 0
		vids.Range(func(any, any) bool { n++; return true })
		if ok.Load() == 0 || ok.Load()-replayed.Load() != 1 || n != 1 {
			t.Fatalf("ok %d (replayed %d), in flight %d, verification ids %d: want exactly one original answer", ok.Load(), replayed.Load(), inFlight.Load(), n)
		}
		t.Logf("200 Starts: %d answered (%d replays), %d in flight (409)", ok.Load(), replayed.Load(), inFlight.Load())
	})

	t.Run("a polled verification has one poller at a time, and survives its replica", func(t *testing.T) {
		uuid, access, refresh := signUp(t, c.cpURL, "replicauser")
		start := func(rp *replica, workflow string) *kycv1.StartResponse {
			in := &kycv1.CloudPaymentsInput{AccessToken: access, RefreshToken: refresh}
			if workflow != "" {
				in.AccountId, in.WorkflowId = "acct", workflow
			}
			r, err := rp.grpc.Start(ctxT(t, 5*time.Second), &kycv1.StartRequest{
				Provider: "cloudpayments", ProgramId: replicaProgram,
				Subject:       &kycv1.Subject{Kind: &kycv1.Subject_UserId{UserId: uuid}},
				ProviderInput: &kycv1.StartRequest_Cloudpayments{Cloudpayments: in},
			})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		start(a, "")
		vid := start(a, "review-1").GetVerification().GetVerificationId() // stays in review: polled on
		time.Sleep(2 * time.Second)
		c.polls.mu.Lock()
		calls := append([]pollCall(nil), c.polls.calls...)
		c.polls.mu.Unlock()
		if len(calls) < 3 {
			t.Fatalf("only %d polls in 2 s", len(calls))
		}
		for i := range calls {
			for j := i + 1; j < len(calls); j++ {
				if calls[i].start.Before(calls[j].end) && calls[j].start.Before(calls[i].end) {
					t.Fatalf("two polls of one verification overlapped: %+v and %+v", calls[i], calls[j])
				}
			}
		}
		a.kill()
		killedAt := time.Now()
		// The provider decides; the surviving replica must notice by polling.
		force(t, c.cpURL, uuid, `{"status":"APPROVED_VERIFIED"}`)
		waitStatus(t, b, vid, kycv1.KycStatus_KYC_STATUS_PASSED, 10*time.Second)
		c.polls.mu.Lock()
		defer c.polls.mu.Unlock()
		for _, call := range c.polls.calls {
			if call.start.After(killedAt) && call.replica != "b" {
				t.Fatalf("a poll from %s after it was killed", call.replica)
			}
		}
	})

	t.Run("SIGKILL mid-Start, retried elsewhere: one submission", func(t *testing.T) {
		c.start("a2", c.hookAddr) // a replacement for A takes its webhooks
		doomed := c.start("c", "")
		before := c.bond.Submissions()
		if err := c.bond.Faults().Set(faults.Config{Latency: 3 * time.Second}); err != nil {
			t.Fatal(err)
		}
		req := customer("33333333-4444-4555-8666-777777777777", "123-45-6789")
		req.IdempotencyKey = "killed-mid-start"
		go func() { _, _ = doomed.grpc.Start(context.Background(), req) }()
		time.Sleep(500 * time.Millisecond) // the Start is inside the provider call
		doomed.kill()
		_ = c.bond.Faults().Set(faults.Config{})
		var resp *kycv1.StartResponse
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			r, err := b.grpc.Start(ctxT(t, 5*time.Second), req)
			if err == nil {
				resp = r
				break
			}
			if status.Code(err) != codes.Aborted || time.Now().After(deadline) {
				t.Fatalf("retry on B: %v", err)
			}
		}
		if got := c.bond.Submissions() - before; got != 1 {
			t.Fatalf("provider submissions = %d, want 1", got)
		}
		if st := resp.GetVerification().GetStatus(); st != kycv1.KycStatus_KYC_STATUS_PENDING && st != kycv1.KycStatus_KYC_STATUS_PASSED {
			t.Fatalf("retried Start = %v", resp.GetVerification())
		}
		waitStatus(t, b, resp.GetVerification().GetVerificationId(), kycv1.KycStatus_KYC_STATUS_PASSED, 10*time.Second)
	})
}

func cpPost(t *testing.T, base, path, ctype, body string) []byte {
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	req.Header.Set("tenantName", cpemu.DefaultTenantName)
	req.Header.Set("api-key", cpemu.DefaultAPIKey)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

func signUp(t *testing.T, base, user string) (uuid, access, refresh string) {
	u, err := cpemu.SignUp(context.Background(), http.DefaultClient, base, user)
	if err != nil {
		t.Fatal(err)
	}
	return u.UUID, u.AccessToken, u.RefreshToken
}

func force(t *testing.T, base, uuid, body string) {
	cpPost(t, base, "/_sandbox/users/"+uuid+"/status", "application/json", body)
}
