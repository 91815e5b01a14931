package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"

	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/metrics/metricstest"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/providertest"
	"github.com/kycgw/kycgw/server"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const program = "72585109-8222-4221-b15b-48e87ffed790"

// The tenant every test client authenticates as, unless a test says otherwise.
const (
	testTenant = "default"
	testKey    = "test-api-key"
)

// bearer sends an API key with every gRPC call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// keyTransport sends an API key with every REST call that has none.
type keyTransport struct {
	key  string
	base http.RoundTripper
}

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if k.key != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+k.key)
	}
	return k.base.RoundTrip(r)
}

type env struct {
	t      *testing.T
	srv    *server.Server
	st     *store.Memory
	fake   *providertest.Fake
	client kycv1.KycServiceClient
	conn   *grpc.ClientConn
	base   string
	http   *http.Client
	stop   func()
}

func newEnv(t *testing.T, mutate ...func(*server.Config, *store.MemoryOptions)) *env {
	t.Helper()
	e := newEnvNoClient(t, mutate...)
	e.waitReady()
	return e
}

// newEnvNoClient serves without waiting on the plain-HTTP readiness probe (TLS tests).
func newEnvNoClient(t *testing.T, mutate ...func(*server.Config, *store.MemoryOptions)) *env {
	t.Helper()
	fake := &providertest.Fake{ProviderName: "fake"}
	other := &providertest.Fake{ProviderName: "other"}
	reg, err := providers.NewRegistry(fake, other)
	if err != nil {
		t.Fatal(err)
	}
	so := store.MemoryOptions{}
	cfg := server.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Providers: reg,
		Tenants: []server.Tenant{{
			Name: testTenant, KeyHashes: [][32]byte{server.HashKey(testKey)},
			Providers: []string{"fake", "other", "poll"},
		}},
	}
	for _, m := range mutate {
		m(&cfg, &so)
	}
	st := store.NewMemory(so)
	cfg.Store = st
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(testKey)))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, srv: srv, st: st, fake: fake, conn: conn,
		client: kycv1.NewKycServiceClient(conn),
		base:   "http://" + srv.HTTPAddr().String(),
		http:   &http.Client{Transport: keyTransport{key: testKey, base: &http.Transport{}}},
	}
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			conn.Close()
			e.http.Transport.(keyTransport).base.(*http.Transport).CloseIdleConnections()
		})
	}
	t.Cleanup(e.stop)
	for deadline := time.Now().Add(5 * time.Second); !srv.Hub().Running(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("hub not running")
		}
	}
	return e
}

func (e *env) waitReady() {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := e.get("/readyz"); code == http.StatusOK {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatal("server not ready")
}

func (e *env) ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e.t.Cleanup(cancel)
	return c
}

func (e *env) get(path string) (int, map[string]any) {
	resp, err := e.http.Get(e.base + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func (e *env) post(path, body string, header map[string]string) (int, map[string]any) {
	req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func validStart(customer string) *kycv1.StartRequest {
	return &kycv1.StartRequest{
		Provider:  "fake",
		ProgramId: program,
		Subject:   &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: customer}},
		Applicant: &kycv1.Applicant{Ssn: "123-45-6789", Phone: "555-111-2222", PhoneCountryCode: "1", Email: "ada@example.com", Ip: "192.168.1.139"},
	}
}

func errorInfo(t *testing.T, err error) *errdetails.ErrorInfo {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("error %v has no ErrorInfo", err)
	return nil
}

func wantCode(t *testing.T, err error, code codes.Code, reason string) *errdetails.ErrorInfo {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("code = %v (%v), want %v", got, err, code)
	}
	info := errorInfo(t, err)
	if info.GetReason() != reason || info.GetDomain() != server.ErrorDomain {
		t.Fatalf("reason = %s/%s, want %s/%s", info.GetDomain(), info.GetReason(), server.ErrorDomain, reason)
	}
	return info
}

func TestStartValidation(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		mutate func(r *kycv1.StartRequest)
		field  string
	}{
		{"missing provider", func(r *kycv1.StartRequest) { r.Provider = "" }, "provider"},
		{"missing program", func(r *kycv1.StartRequest) { r.ProgramId = "" }, "program_id"},
		{"program not uuid", func(r *kycv1.StartRequest) { r.ProgramId = "prog-1" }, "program_id"},
		{"missing subject", func(r *kycv1.StartRequest) { r.Subject = nil }, "subject"},
		{"empty customer", func(r *kycv1.StartRequest) { r.Subject.Kind = &kycv1.Subject_CustomerId{} }, "subject.customer_id"},
		{"bo without business", func(r *kycv1.StartRequest) {
			r.Subject.Kind = &kycv1.Subject_BeneficialOwner{BeneficialOwner: &kycv1.BeneficialOwner{BeneficialOwnerId: "b"}}
		}, "subject.beneficial_owner.business_id"},
		{"ssn short", func(r *kycv1.StartRequest) { r.Applicant.Ssn = "12-345-678" }, "applicant.ssn"},
		{"ssn letters", func(r *kycv1.StartRequest) { r.Applicant.Ssn = "12345678x" }, "applicant.ssn"},
		{"phone letters", func(r *kycv1.StartRequest) { r.Applicant.Phone = "555-CALL-NOW" }, "applicant.phone"},
		{"phone trailing dash", func(r *kycv1.StartRequest) { r.Applicant.Phone = "555-" }, "applicant.phone"},
		{"country code long", func(r *kycv1.StartRequest) { r.Applicant.PhoneCountryCode = "1234" }, "applicant.phone_country_code"},
		{"email", func(r *kycv1.StartRequest) { r.Applicant.Email = "not-an-email" }, "applicant.email"},
		{"email display name", func(r *kycv1.StartRequest) { r.Applicant.Email = "Ada <ada@example.com>" }, "applicant.email"},
		{"ipv6", func(r *kycv1.StartRequest) { r.Applicant.Ip = "::1" }, "applicant.ip"},
		{"ip garbage", func(r *kycv1.StartRequest) { r.Applicant.Ip = "999.1.1.1" }, "applicant.ip"},
		{"idempotency key with space", func(r *kycv1.StartRequest) { r.IdempotencyKey = "a b" }, "idempotency_key"},
		{"idempotency key too long", func(r *kycv1.StartRequest) { r.IdempotencyKey = strings.Repeat("k", 256) }, "idempotency_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := validStart("cust-1")
			tc.mutate(req)
			_, err := e.client.Start(e.ctx(), req)
			wantCode(t, err, codes.InvalidArgument, server.ReasonInvalidField)
			msg := status.Convert(err).Message()
			if !strings.Contains(msg, tc.field+":") {
				t.Fatalf("message %q does not name %s", msg, tc.field)
			}
			for _, pii := range []string{req.GetApplicant().GetSsn(), req.GetApplicant().GetPhone(), req.GetApplicant().GetEmail(), req.GetApplicant().GetIp()} {
				if pii != "" && strings.Contains(msg, pii) {
					t.Fatalf("message %q echoes applicant data", msg)
				}
			}
			code, out := e.post("/v1/verifications:start", protoJSON(t, req), nil)
			if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["message"]), tc.field+":") {
				t.Fatalf("REST: %d %v, want 400 naming %s", code, out, tc.field)
			}
		})
	}
	if n := len(e.fake.Starts()); n != 0 {
		t.Fatalf("provider called %d times for invalid requests", n)
	}
}

func TestUnknownProvider(t *testing.T) {
	e := newEnv(t)
	req := validStart("c")
	req.Provider = "nope"
	_, err := e.client.Start(e.ctx(), req)
	info := wantCode(t, err, codes.InvalidArgument, server.ReasonUnknownProvider)
	if info.GetMetadata()["configured"] != "fake,other" {
		t.Fatalf("configured = %q, want fake,other", info.GetMetadata()["configured"])
	}
	if !strings.Contains(status.Convert(err).Message(), "fake, other") {
		t.Fatalf("message %q does not list the configured providers", status.Convert(err).Message())
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	req := validStart("cust-idem")
	req.IdempotencyKey = "key-1"
	first, err := e.client.Start(e.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	if first.GetReplayed() || first.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_PENDING {
		t.Fatalf("first = %v", first)
	}
	again, err := e.client.Start(e.ctx(), req)
	if err != nil || !again.GetReplayed() || again.GetVerification().GetVerificationId() != first.GetVerification().GetVerificationId() {
		t.Fatalf("replay = %v, %v", again, err)
	}
	// The stored outcome, written with the verification, is the response the first call got.
	replayed := proto.CloneOf(again)
	replayed.Replayed = false
	if !proto.Equal(replayed, first) {
		t.Fatalf("replay %v differs from the first response %v", again, first)
	}
	// The same request over REST, the key in the header: the fingerprints agree.
	rest := validStart("cust-idem")
	code, out := e.post("/v1/verifications:start", protoJSON(t, rest), map[string]string{"Idempotency-Key": "key-1"})
	if code != http.StatusOK || out["replayed"] != true {
		t.Fatalf("REST replay: %d %v", code, out)
	}
	// The key in gRPC metadata.
	mdCtx := metadata.AppendToOutgoingContext(e.ctx(), "idempotency-key", "key-1")
	if r, err := e.client.Start(mdCtx, rest); err != nil || !r.GetReplayed() {
		t.Fatalf("metadata replay: %v, %v", r, err)
	}
	if n := len(e.fake.Starts()); n != 1 {
		t.Fatalf("provider called %d times, want 1", n)
	}

	// Same key, different request.
	changed := validStart("cust-idem")
	changed.Applicant.Email = "other@example.com"
	changed.IdempotencyKey = "key-1"
	_, err = e.client.Start(e.ctx(), changed)
	wantCode(t, err, codes.AlreadyExists, server.ReasonIdempotencyKeyReused)
	code, out = e.post("/v1/verifications:start", protoJSON(t, changed), nil)
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("REST reuse: %d %v, want 422", code, out)
	}
	// Header and body disagreeing is the caller's mistake.
	code, _ = e.post("/v1/verifications:start", protoJSON(t, req), map[string]string{"Idempotency-Key": "key-2"})
	if code != http.StatusBadRequest {
		t.Fatalf("header/body disagreement: %d, want 400", code)
	}
	// Keys are scoped: another key is a new request.
	other := validStart("cust-idem")
	other.IdempotencyKey = "key-3"
	if r, err := e.client.Start(e.ctx(), other); err != nil || r.GetReplayed() {
		t.Fatalf("new key: %v, %v", r, err)
	}
	// The provider got a key derived from the client's, the same on each call for one key.
	starts := e.fake.Starts()
	if starts[0].IdempotencyKey == "" || starts[0].IdempotencyKey == "key-1" || starts[0].IdempotencyKey == starts[1].IdempotencyKey {
		t.Fatalf("forwarded keys %q, %q", starts[0].IdempotencyKey, starts[1].IdempotencyKey)
	}
}

func TestIdempotencyInFlight(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	e.fake.OnStart = func(ctx context.Context, in providers.StartInput) (providers.Result, error) {
		entered <- struct{}{}
		<-release
		return providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted", Submitted: true}, nil
	}
	req := validStart("cust-inflight")
	req.IdempotencyKey = "slow"
	done := make(chan error, 1)
	go func() {
		_, err := e.client.Start(context.Background(), req)
		done <- err
	}()
	<-entered
	_, err := e.client.Start(e.ctx(), req)
	wantCode(t, err, codes.Aborted, server.ReasonIdempotencyKeyInFlight)
	code, _ := e.post("/v1/verifications:start", protoJSON(t, req), nil)
	if code != http.StatusConflict {
		t.Fatalf("REST in flight: %d, want 409", code)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r, err := e.client.Start(e.ctx(), req); err != nil || !r.GetReplayed() {
		t.Fatalf("after completion: %v, %v", r, err)
	}
}

func TestProviderUnavailableIsNotReplayed(t *testing.T) {
	e := newEnv(t)
	var calls int
	e.fake.OnStart = func(ctx context.Context, in providers.StartInput) (providers.Result, error) {
		calls++
		if calls == 1 {
			return providers.Result{}, fmt.Errorf("bond: 503: %w", providers.ErrUnavailable)
		}
		return providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted", Submitted: true}, nil
	}
	req := validStart("cust-down")
	req.IdempotencyKey = "retry-me"
	_, err := e.client.Start(e.ctx(), req)
	wantCode(t, err, codes.Unavailable, server.ReasonProviderUnavailable)
	r, err := e.client.Start(e.ctx(), req)
	if err != nil || r.GetReplayed() {
		t.Fatalf("retry after unavailable: %v, %v; want a fresh call", r, err)
	}
	e.fake.OnStart = func(ctx context.Context, in providers.StartInput) (providers.Result, error) {
		return providers.Result{}, providers.ErrUnavailable
	}
	code, _ := e.post("/v1/verifications:start", protoJSON(t, validStart("cust-down-2")), nil)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("REST unavailable: %d, want 503", code)
	}
}

func TestAlreadyPassed(t *testing.T) {
	e := newEnv(t)
	passedAt := time.Date(2021, 10, 20, 10, 27, 20, 154286000, time.UTC)
	e.fake.OnStart = func(ctx context.Context, in providers.StartInput) (providers.Result, error) {
		return providers.Result{}, &providers.AlreadyPassedError{PassedAt: passedAt}
	}
	req := validStart("cust-passed")
	req.IdempotencyKey = "passed-1"
	_, err := e.client.Start(e.ctx(), req)
	info := wantCode(t, err, codes.FailedPrecondition, server.ReasonAlreadyPassed)
	if got := info.GetMetadata()["passed_at"]; got != "2021-10-20T10:27:20.154286Z" {
		t.Fatalf("passed_at = %q", got)
	}
	// The refusal is the request's outcome: replayed, and the provider is not asked again.
	_, err = e.client.Start(e.ctx(), req)
	wantCode(t, err, codes.FailedPrecondition, server.ReasonAlreadyPassed)
	if n := len(e.fake.Starts()); n != 1 {
		t.Fatalf("provider called %d times, want 1", n)
	}
	// The gateway now knows it passed and refuses without calling the provider.
	code, out := e.post("/v1/verifications:start", protoJSON(t, validStart("cust-passed")), nil)
	if code != http.StatusConflict {
		t.Fatalf("REST: %d %v, want 409", code, out)
	}
	if n := len(e.fake.Starts()); n != 1 {
		t.Fatalf("provider called %d times after PASSED was recorded, want 1", n)
	}
	details := fmt.Sprint(out["details"])
	if !strings.Contains(details, server.ReasonAlreadyPassed) || !strings.Contains(details, "2021-10-20T10:27:20.154286Z") {
		t.Fatalf("REST details %s lack the reason and passed_at", details)
	}
}

func TestGetStatus(t *testing.T) {
	e := newEnv(t)
	r, err := e.client.Start(e.ctx(), validStart("cust-status"))
	if err != nil {
		t.Fatal(err)
	}
	id := r.GetVerification().GetVerificationId()
	got, err := e.client.GetStatus(e.ctx(), &kycv1.GetStatusRequest{VerificationId: id})
	if err != nil || got.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_PENDING || got.GetVerification().GetAttempt() != 1 {
		t.Fatalf("GetStatus = %v, %v", got, err)
	}
	code, body := e.get("/v1/verifications/" + id)
	if code != http.StatusOK || body["verification"].(map[string]any)["status"] != "KYC_STATUS_PENDING" {
		t.Fatalf("REST GetStatus: %d %v", code, body)
	}
	_, err = e.client.GetStatus(e.ctx(), &kycv1.GetStatusRequest{VerificationId: "vrf_" + strings.Repeat("a", 32)})
	wantCode(t, err, codes.NotFound, server.ReasonVerificationNotFound)
	_, err = e.client.GetStatus(e.ctx(), &kycv1.GetStatusRequest{VerificationId: "x"})
	wantCode(t, err, codes.InvalidArgument, server.ReasonInvalidField)
	if code, _ := e.get("/v1/verifications/vrf_" + strings.Repeat("b", 32)); code != http.StatusNotFound {
		t.Fatalf("REST unknown id: %d, want 404", code)
	}
	// The id is stable for tenant + provider + program + subject.
	r2, _ := e.client.Start(e.ctx(), validStart("cust-status"))
	if r2.GetVerification().GetVerificationId() != id {
		t.Fatal("the same subject and program got another verification id")
	}
}

func TestRESTBodies(t *testing.T) {
	e := newEnv(t, func(c *server.Config, _ *store.MemoryOptions) { c.MaxBodyBytes = 4096 })
	cases := []struct {
		name, body string
		want       int
	}{
		{"malformed json", `{"provider":`, http.StatusBadRequest},
		{"unknown field", `{"provider":"fake","program_id":"` + program + `","subject":{"customer_id":"c"},"surprise":1}`, http.StatusBadRequest},
		{"wrong type", `{"provider":7}`, http.StatusBadRequest},
		{"oversized", `{"provider":"` + strings.Repeat("x", 5000) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := e.post("/v1/verifications:start", tc.body, nil); code != tc.want {
				t.Fatalf("%d %v, want %d", code, out, tc.want)
			}
		})
	}
	valid := `{"provider":"fake","program_id":"` + program + `","subject":{"customer_id":"bodies"}}`
	if code, out := e.post("/v1/verifications:start", valid, nil); code != http.StatusOK {
		t.Fatalf("valid body: %d %v", code, out)
	}
	t.Run("data after the message", func(t *testing.T) {
		code, out := e.post("/v1/verifications:start", valid+` {"provider":"other"}`, nil)
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["message"]), "malformed JSON") {
			t.Fatalf("%d %v, want 400 malformed JSON", code, out)
		}
	})
	t.Run("blank body", func(t *testing.T) {
		// Like no body at all: an empty request, refused field by field.
		code, out := e.post("/v1/verifications:start", " \n\t ", nil)
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "provider") {
			t.Fatalf("%d %v, want 400 naming provider", code, out)
		}
	})
	t.Run("oversized without a length", func(t *testing.T) {
		// A reader of unknown length: the client sends it chunked, with no Content-Length.
		body := io.MultiReader(strings.NewReader(`{"provider":"` + strings.Repeat("x", 5000) + `"}`))
		req, _ := http.NewRequest(http.MethodPost, e.base+"/v1/verifications:start", body)
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(msg), "larger than 4096 bytes") {
			t.Fatalf("%d %s, want 413", resp.StatusCode, msg)
		}
	})
}

func TestHealthReadyOpenAPI(t *testing.T) {
	e := newEnv(t)
	if code, _ := e.get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := e.get("/readyz"); code != http.StatusOK || body["ready"] != true {
		t.Fatalf("/readyz = %d %v", code, body)
	}
	code, doc := e.get("/openapi.json")
	if code != http.StatusOK || doc["swagger"] != "2.0" || doc["paths"].(map[string]any)["/v1/verifications:start"] == nil {
		t.Fatalf("/openapi.json = %d, paths %v", code, doc["paths"])
	}
	h, err := healthpb.NewHealthClient(e.conn).Check(e.ctx(), &healthpb.HealthCheckRequest{Service: "kyc.v1.KycService"})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health = %v, %v", h, err)
	}
}

// appendEvents starts n verifications through the API; each appends one event.
func (e *env) appendEvents(prefix string, n int) []string {
	e.t.Helper()
	var ids []string
	for i := range n {
		r, err := e.client.Start(e.ctx(), validStart(fmt.Sprintf("%s-%d", prefix, i)))
		if err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, r.GetVerification().GetVerificationId())
	}
	return ids
}

func recvN(t *testing.T, s grpc.ServerStreamingClient[kycv1.StreamEventsResponse], n int) []*kycv1.Event {
	t.Helper()
	var out []*kycv1.Event
	for len(out) < n {
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		out = append(out, r.GetEvent())
	}
	return out
}

func TestStreamReplayThenLive(t *testing.T) {
	e := newEnv(t)
	vids := e.appendEvents("hist", 5)
	s, err := e.client.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	hist := recvN(t, s, 5)
	for i, ev := range hist {
		if ev.GetVerificationId() != vids[i] || ev.GetSource() != kycv1.EventSource_EVENT_SOURCE_START ||
			ev.GetStatus() != kycv1.KycStatus_KYC_STATUS_PENDING || ev.GetPreviousStatus() != kycv1.KycStatus_KYC_STATUS_NOT_STARTED {
			t.Fatalf("event %d = %v", i, ev)
		}
	}
	live := e.appendEvents("live", 2)
	for i, ev := range recvN(t, s, 2) {
		if ev.GetVerificationId() != live[i] {
			t.Fatalf("live event %d for %s, want %s", i, ev.GetVerificationId(), live[i])
		}
	}

	// Resume from the middle: exactly the rest, then live.
	r, err := e.client.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{AfterEventId: hist[2].GetEventId()})
	if err != nil {
		t.Fatal(err)
	}
	rest := recvN(t, r, 4)
	want := []string{vids[3], vids[4], live[0], live[1]}
	for i, ev := range rest {
		if ev.GetVerificationId() != want[i] {
			t.Fatalf("resumed event %d for %s, want %s", i, ev.GetVerificationId(), want[i])
		}
	}
	// Only new: nothing from history.
	n, err := e.client.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, e, 3)
	last := e.appendEvents("new", 1)
	if ev := recvN(t, n, 1)[0]; ev.GetVerificationId() != last[0] {
		t.Fatalf("new-only stream got %s, want %s", ev.GetVerificationId(), last[0])
	}
}

func waitSubscribers(t *testing.T, e *env, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); e.srv.Hub().Subscribers() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", e.srv.Hub().Subscribers(), n)
		}
	}
}

// TestStreamSeam resumes while events are being appended and checks the stream is exactly the
// log: no gap and no duplicate where replay hands over to live delivery.
func TestStreamSeam(t *testing.T) {
	e := newEnv(t)
	e.appendEvents("before", 20)
	const during = 200
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range during {
			_, err := e.st.Apply(context.Background(), store.Update{
				VerificationID: fmt.Sprintf("seam-%d", i), Tenant: testTenant, Provider: "fake",
				ProgramID: program, Subject: providers.Subject{CustomerID: fmt.Sprint("seam", i)},
				Result:     providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted"},
				NewAttempt: true, Source: store.SourceStart, ReceivedAt: time.Now(),
			})
			if err != nil {
				t.Error(err)
			}
		}
	})
	s, err := e.client.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	got := recvN(t, s, 20+during)
	wg.Wait()
	log, err := e.st.ReadEvents(context.Background(), "0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range got {
		if ev.GetEventId() != log[i].ID {
			t.Fatalf("stream[%d] = %s, log[%d] = %s", i, ev.GetEventId(), i, log[i].ID)
		}
	}
}

func TestStreamFilters(t *testing.T) {
	e := newEnv(t)
	ids := e.appendEvents("f", 3)
	other := validStart("f-other")
	other.Provider = "other"
	if _, err := e.client.Start(e.ctx(), other); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  *kycv1.StreamEventsRequest
		want int
	}{
		{"verification", &kycv1.StreamEventsRequest{VerificationId: ids[1]}, 1},
		{"provider", &kycv1.StreamEventsRequest{Provider: "other"}, 1},
		{"program", &kycv1.StreamEventsRequest{ProgramId: program}, 4},
		{"statuses none", &kycv1.StreamEventsRequest{Statuses: []kycv1.KycStatus{kycv1.KycStatus_KYC_STATUS_PASSED}}, 0},
		{"statuses pending", &kycv1.StreamEventsRequest{Statuses: []kycv1.KycStatus{kycv1.KycStatus_KYC_STATUS_PENDING}}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.AfterEventId = "0"
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			s, err := e.client.StreamEvents(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				if _, err := s.Recv(); err != nil {
					if status.Code(err) != codes.DeadlineExceeded {
						t.Fatal(err)
					}
					break
				}
				n++
			}
			if n != tc.want {
				t.Fatalf("%d events, want %d", n, tc.want)
			}
		})
	}
	for _, bad := range []*kycv1.StreamEventsRequest{
		{AfterEventId: "yesterday"},
		{VerificationId: "nope"},
		{Statuses: []kycv1.KycStatus{kycv1.KycStatus(99)}},
	} {
		s, err := e.client.StreamEvents(e.ctx(), bad)
		if err == nil {
			_, err = s.Recv()
		}
		wantCode(t, err, codes.InvalidArgument, server.ReasonInvalidField)
	}
}

func TestStreamCursorExpired(t *testing.T) {
	e := newEnv(t, func(_ *server.Config, o *store.MemoryOptions) { o.MaxEvents = 3 })
	e.appendEvents("x", 2)
	s, _ := e.client.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	first := recvN(t, s, 1)[0].GetEventId()
	e.appendEvents("y", 5)
	r, err := e.client.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{AfterEventId: first})
	if err == nil {
		_, err = r.Recv()
	}
	wantCode(t, err, codes.OutOfRange, server.ReasonCursorExpired)
}

func TestSlowSubscriberEndedWithCursor(t *testing.T) {
	e := newEnv(t, func(c *server.Config, _ *store.MemoryOptions) { c.StreamQueueSize = 4 })
	s, err := e.client.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, e, 1)
	// The client reads nothing while thousands of events are appended: the transport's flow
	// control window fills, the server's queue fills, the hub ends the stream.
	for i := range 3000 {
		_, err := e.st.Apply(context.Background(), store.Update{
			VerificationID: fmt.Sprintf("slow-%d", i), Tenant: testTenant, Provider: "fake",
			ProgramID: program, Subject: providers.Subject{CustomerID: fmt.Sprint("slow", i)},
			Result:     providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted"},
			NewAttempt: true, Source: store.SourceStart, ReceivedAt: time.Now(),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var last string
	for {
		r, err := s.Recv()
		if err != nil {
			info := wantCode(t, err, codes.ResourceExhausted, server.ReasonSubscriberTooSlow)
			if info.GetMetadata()["last_event_id"] != last || last == "" {
				t.Fatalf("last_event_id = %q, last received %q", info.GetMetadata()["last_event_id"], last)
			}
			break
		}
		last = r.GetEvent().GetEventId()
	}
	// The drop is counted, by reason and as the call's gRPC code.
	got, _ := metricstest.Scrape(t, e.http, e.base+"/metrics")
	got.Check(t, metricstest.Samples{
		`kycgw_stream_subscribers_dropped_total{reason="slow"}`:     1,
		`kycgw_stream_subscribers_dropped_total{reason="shutdown"}`: 0,
		`grpc_server_handled_total{grpc_code="ResourceExhausted",grpc_method="StreamEvents",grpc_service="kyc.v1.KycService",grpc_type="server_stream"}`: 1,
	})
	// Resuming from the reported cursor delivers the rest.
	r, err := e.client.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{AfterEventId: last})
	if err != nil {
		t.Fatal(err)
	}
	lastID, _ := e.st.LastEventID(context.Background())
	for {
		ev := recvN(t, r, 1)[0]
		if ev.GetEventId() == lastID {
			break
		}
	}
}

func TestRESTStream(t *testing.T) {
	e := newEnv(t)
	ids := e.appendEvents("rest", 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/v1/events:stream?after_event_id=0&statuses=KYC_STATUS_PENDING", nil)
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for i := 0; i < 3; i++ {
		if !sc.Scan() {
			t.Fatalf("stream ended after %d lines: %v", i, sc.Err())
		}
		var line struct {
			Result struct {
				Event struct {
					EventID        string `json:"event_id"`
					VerificationID string `json:"verification_id"`
					Status         string `json:"status"`
				} `json:"event"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d %q: %v", i, sc.Text(), err)
		}
		if line.Result.Event.VerificationID != ids[i] || line.Result.Event.Status != "KYC_STATUS_PENDING" || line.Result.Event.EventID == "" {
			t.Fatalf("line %d = %+v", i, line.Result.Event)
		}
	}
	// An invalid cursor is a 400 before the stream starts.
	bad, err := e.http.Get(e.base + "/v1/events:stream?after_event_id=nope")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(bad.Body)
	bad.Body.Close()
	if !bytes.Contains(body, []byte("after_event_id")) {
		t.Fatalf("invalid cursor over REST: %d %s", bad.StatusCode, body)
	}
}

func TestShutdownEndsStreams(t *testing.T) {
	e := newEnv(t)
	ids := e.appendEvents("sd", 1)
	s, err := e.client.StreamEvents(context.Background(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	last := recvN(t, s, 1)[0]
	if last.GetVerificationId() != ids[0] {
		t.Fatal("wrong event")
	}
	stopped := make(chan struct{})
	go func() { e.stop(); close(stopped) }()
	_, err = s.Recv()
	info := wantCode(t, err, codes.Unavailable, server.ReasonShuttingDown)
	if info.GetMetadata()["last_event_id"] != last.GetEventId() {
		t.Fatalf("last_event_id = %q, want %q", info.GetMetadata()["last_event_id"], last.GetEventId())
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}

func protoJSON(t *testing.T, req *kycv1.StartRequest) string {
	t.Helper()
	b, err := protojsonMarshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
