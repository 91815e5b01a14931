package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/testkit"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/config"
	"github.com/kycgw/kycgw/internal/seal"
	"github.com/kycgw/kycgw/internal/store/redistest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func onRedis(r *redistest.Server) func(*app.Config) {
	return func(c *app.Config) {
		c.RedisURL = r.URL()
		c.SecretKey = seal.RandomKey()
	}
}

func (g *gateway) readyCode() int {
	resp, err := g.http.Get(g.base + "/readyz")
	if err != nil {
		g.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRedisRequiresSharedSecretKey(t *testing.T) {
	real, err := config.Parse([]byte("providers:\n  - {name: bond, type: bond, base_url: 'https://bond.example/api/v0.1', identity_env: X, authorization_env: X, webhook_secret_env: X}\n"+
		"tenants:\n  - {name: a, api_keys_env: X, providers: [bond]}\n"),
		func(string) string { return "xxxxxxxxxxxxxxxxxxxx" })
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.New(app.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", RedisURL: "redis://127.0.0.1:1/0", Providers: real})
	if err == nil || !strings.Contains(err.Error(), "secret-key") {
		t.Fatalf("err = %v, want a demand for secret-key", err)
	}
}

// TestSandboxOnRedisWithoutKey is `KYCGW_REDIS_URL=... make run`: the all-sandbox default runs
// on Redis with the development key.
func TestSandboxOnRedisWithoutKey(t *testing.T) {
	// Also without automatic pipelining (--redis-no-auto-pipeline): the same flow.
	for _, noAuto := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoAutoPipeline=%v", noAuto), func(t *testing.T) {
			r := redistest.Start(t)
			g := start(t, func(c *app.Config) { c.RedisURL, c.RedisNoAutoPipeline = r.URL(), noAuto })
			stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
			if err != nil {
				t.Fatal(err)
			}
			req := customerStart("5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", "123-45-6789")
			req.IdempotencyKey = "on-redis"
			resp, err := g.client.Start(g.ctx(), req)
			if err != nil {
				t.Fatal(err)
			}
			// The outcome was stored with the verification: a retry replays it as it was.
			again, err := g.client.Start(g.ctx(), req)
			if err != nil || !again.GetReplayed() {
				t.Fatalf("retry: %v, %v; want a replay", again, err)
			}
			again.Replayed = false
			if !proto.Equal(again, resp) {
				t.Fatalf("replayed %v, first response %v", again, resp)
			}
			until(t, stream, resp.GetVerification().GetVerificationId(), kycv1.KycStatus_KYC_STATUS_PASSED)
		})
	}
}

// TestRedisOutageAndRecovery stops and restarts a real redis-server under a running gateway.
func TestRedisOutageAndRecovery(t *testing.T) {
	r := redistest.StartPersistent(t)
	g := start(t, onRedis(r))
	stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	customer := "0c2c3a7e-4b1f-4d9e-8a62-5f3e2d1c0b9a"
	started, err := g.client.Start(g.ctx(), customerStart(customer, "000-00-0000")) // stays under review
	if err != nil {
		t.Fatal(err)
	}
	vid := started.GetVerification().GetVerificationId()
	evs := until(t, stream, vid, kycv1.KycStatus_KYC_STATUS_UNDER_REVIEW)
	lastSeen := evs[len(evs)-1].GetEventId()

	r.Stop()

	// Open streams end with UNAVAILABLE and the id to resume from.
	_, err = stream.Recv()
	for err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stream ended with %v, want UNAVAILABLE", err)
	}
	var info *errdetails.ErrorInfo
	for _, d := range status.Convert(err).Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info.GetMetadata()["last_event_id"] != lastSeen {
		t.Fatalf("last_event_id = %q, want %q", info.GetMetadata()["last_event_id"], lastSeen)
	}
	// Start fails closed, before any provider call; GetStatus is unavailable; not ready.
	req := customerStart("7d3b9f1e-2a4c-4e6b-9d8f-1a2b3c4d5e6f", "123-45-6789")
	req.IdempotencyKey = "during-outage"
	_, err = g.client.Start(g.ctx(), req)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Start during the outage: %v, want UNAVAILABLE", err)
	}
	_, err = g.client.GetStatus(g.ctx(), &kycv1.GetStatusRequest{VerificationId: vid})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("GetStatus during the outage: %v, want UNAVAILABLE", err)
	}
	if code := g.readyCode(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the outage: %d, want 503", code)
	}
	// The provider decides meanwhile; its webhook is answered 503 and will be delivered again.
	sim, _ := http.NewRequest(http.MethodPost, g.base+"/sandbox/bond/api/v0.1/simulate/kyc-pass",
		strings.NewReader(`{"customer_id":"`+customer+`","program_id":"`+program+`"}`))
	sim.Header.Set("Identity", app.SandboxIdentity("bond"))
	sim.Header.Set("Authorization", app.SandboxAuthorization("bond"))
	resp, err := g.http.Do(sim)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("simulate: %d", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // let the first delivery hit the outage

	r.Restart()
	testkit.Eventually(t, "/readyz to recover", func() bool { return g.readyCode() == http.StatusOK })

	// Resuming from the last id loses nothing: the retried webhook's PASSED arrives.
	resumed, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: lastSeen, VerificationId: vid})
	if err != nil {
		t.Fatal(err)
	}
	until(t, resumed, vid, kycv1.KycStatus_KYC_STATUS_PASSED)
	// And the Start refused during the outage works with the same key, once.
	if _, err := g.client.Start(g.ctx(), req); err != nil {
		t.Fatalf("Start after recovery: %v", err)
	}
	if r, err := g.client.Start(g.ctx(), req); err != nil || !r.GetReplayed() {
		t.Fatalf("replay after recovery: %v, %v", r, err)
	}
}
