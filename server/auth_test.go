package server_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// tenantsEnv serves two tenants: "default" (testKey, and a second key being rotated in) and
// "other", which may use only provider "other" and one program, with one stream at most.
func tenantsEnv(t *testing.T) *env {
	return newEnv(t, func(c *server.Config, _ *store.MemoryOptions) {
		c.Tenants = []server.Tenant{
			{Name: testTenant, KeyHashes: [][32]byte{server.HashKey(testKey), server.HashKey("rotated-in-key")},
				Providers: []string{"fake", "other"}},
			{Name: "other", KeyHashes: [][32]byte{server.HashKey("other-key")},
				Providers: []string{"other"}, Programs: []string{program}, MaxStreams: 1},
		}
	})
}

func (e *env) clientWithKey(key string) kycv1.KycServiceClient {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(key)))
	}
	conn, err := grpc.NewClient(e.srv.GRPCAddr().String(), opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return kycv1.NewKycServiceClient(conn)
}

func (e *env) restWithKey(method, path, key, body string) (int, string) {
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if key == "" {
		req.Header.Set("Authorization", "")
	}
	resp, err := e.http.Transport.(keyTransport).base.RoundTrip(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		sb.WriteString(sc.Text())
	}
	return resp.StatusCode, sb.String()
}

func TestAuthentication(t *testing.T) {
	e := tenantsEnv(t)
	req := validStart("cust-auth")
	for _, key := range []string{"", "wrong-key", testKey + "x"} {
		_, err := e.clientWithKey(key).Start(e.ctx(), req)
		wantCode(t, err, codes.Unauthenticated, server.ReasonUnauthenticated)
		s, err := e.clientWithKey(key).StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{})
		if err == nil {
			_, err = s.Recv()
		}
		wantCode(t, err, codes.Unauthenticated, server.ReasonUnauthenticated)
		if code, _ := e.restWithKey(http.MethodPost, "/v1/verifications:start", key, protoJSON(t, req)); code != http.StatusUnauthorized {
			t.Fatalf("REST with key %q: %d, want 401", key, code)
		}
	}
	if n := len(e.fake.Starts()); n != 0 {
		t.Fatalf("unauthenticated calls reached the provider %d times", n)
	}
	// Both active keys of a tenant work (rotation), and name the same tenant.
	r1, err := e.clientWithKey(testKey).Start(e.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.clientWithKey("rotated-in-key").Start(e.ctx(), req)
	if err != nil || r2.GetVerification().GetVerificationId() != r1.GetVerification().GetVerificationId() {
		t.Fatalf("rotated key: %v, %v", r2, err)
	}
	// Health checks need no key.
	if _, err := healthpb.NewHealthClient(e.conn).Check(e.ctx(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	noKey, _ := grpc.NewClient(e.srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer noKey.Close()
	if _, err := healthpb.NewHealthClient(noKey).Check(e.ctx(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health without a key: %v", err)
	}
}

func TestTenantIsolation(t *testing.T) {
	e := tenantsEnv(t)
	mine := e.clientWithKey(testKey)
	theirs := e.clientWithKey("other-key")

	// The other tenant's stream is open before anything happens, and resumes from "0" after.
	live, err := theirs.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, e, 1)
	req := validStart("cust-isolated")
	req.IdempotencyKey = "shared-key"
	r, err := mine.Start(e.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	vid := r.GetVerification().GetVerificationId()
	_, err = theirs.GetStatus(e.ctx(), &kycv1.GetStatusRequest{VerificationId: vid})
	wantCode(t, err, codes.NotFound, server.ReasonVerificationNotFound)
	if code, _ := e.restWithKey(http.MethodGet, "/v1/verifications/"+vid, "other-key", ""); code != http.StatusNotFound {
		t.Fatalf("REST GetStatus by another tenant: %d, want 404", code)
	}
	if code, _ := e.restWithKey(http.MethodGet, "/v1/verifications/"+vid, testKey, ""); code != http.StatusOK {
		t.Fatalf("REST GetStatus by the owner: %d", code)
	}
	// The same idempotency key in another tenant is another request (its own verification).
	theirReq := validStart("cust-isolated")
	theirReq.Provider = "other"
	theirReq.IdempotencyKey = "shared-key"
	tr, err := theirs.Start(e.ctx(), theirReq)
	if err != nil || tr.GetReplayed() || tr.GetVerification().GetVerificationId() == vid {
		t.Fatalf("other tenant's Start = %v, %v", tr, err)
	}
	// Its stream carries its own event, never ours.
	got, err := live.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got.GetEvent().GetVerificationId() != tr.GetVerification().GetVerificationId() {
		t.Fatalf("tenant other received %v", got.GetEvent())
	}
	replay, err := theirs.StreamEvents(e.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err == nil {
		// The second stream of a tenant limited to one.
		_, err = replay.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted, server.ReasonTooManyStreams)

	// Over REST too: replay everything for "other" and find nothing of ours.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	mineREST, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/v1/events:stream?after_event_id=0", nil)
	mineREST.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := e.http.Transport.(keyTransport).base.RoundTrip(mineREST)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	resp.Body.Close()
	if len(lines) != 1 || !strings.Contains(lines[0], vid) {
		t.Fatalf("tenant default's REST stream = %v, want only its own event", lines)
	}
}

func TestProviderAndProgramPermissions(t *testing.T) {
	e := tenantsEnv(t)
	theirs := e.clientWithKey("other-key")
	_, err := theirs.Start(e.ctx(), validStart("c"))
	wantCode(t, err, codes.PermissionDenied, server.ReasonProviderNotAllowed)
	req := validStart("c")
	req.Provider = "other"
	req.ProgramId = "11111111-2222-4333-8444-555555555555"
	_, err = theirs.Start(e.ctx(), req)
	wantCode(t, err, codes.PermissionDenied, server.ReasonProgramNotAllowed)
	if code, _ := e.restWithKey(http.MethodPost, "/v1/verifications:start", "other-key", protoJSON(t, validStart("c"))); code != http.StatusForbidden {
		t.Fatalf("REST provider not allowed: %d, want 403", code)
	}
	// The list of providers in an unknown-provider error is the tenant's own.
	req.Provider = "nope"
	_, err = theirs.Start(e.ctx(), req)
	info := wantCode(t, err, codes.InvalidArgument, server.ReasonUnknownProvider)
	if info.GetMetadata()["configured"] != "other" {
		t.Fatalf("configured = %q, want only the tenant's provider", info.GetMetadata()["configured"])
	}
}
