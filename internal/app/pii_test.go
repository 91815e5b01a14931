package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/kycgw/kycgw/internal/testkit"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/store/redistest"
	"github.com/redis/go-redis/v9"
)

// TestNoPersonalDataInLogsOrRedis runs full flows with recognisable applicant data and
// credentials, then scans every log line (debug level) and every Redis key and value for them.
func TestNoPersonalDataInLogsOrRedis(t *testing.T) {
	r := redistest.Start(t)
	var logs testkit.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g := start(t, onRedis(r), func(c *app.Config) { c.Logger = logger })

	canaries := []string{"321-54-9876", "321549876", "555-867-5309", "pii.canary@example.org", "203.0.113.77"}
	stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	for i, ssn := range []string{"321-54-9876", "321549876"} {
		req := customerStart(fmt.Sprintf("9e8d7c6b-5a49-4838-a726-15041302e1f%d", i), ssn)
		req.Applicant.Phone, req.Applicant.Email, req.Applicant.Ip = "555-867-5309", "pii.canary@example.org", "203.0.113.77"
		req.IdempotencyKey = fmt.Sprintf("pii-%d", i)
		resp, err := g.client.Start(g.ctx(), req)
		if err != nil {
			t.Fatal(err)
		}
		until(t, stream, resp.GetVerification().GetVerificationId(), kycv1.KycStatus_KYC_STATUS_PASSED)
		req.IdempotencyKey = "" // a new request, so not a replay: refused as already passed
		if _, err := g.client.Start(g.ctx(), req); err == nil {
			t.Fatal("second Start after PASSED succeeded")
		}
	}
	// Invalid input must not be echoed either.
	bad := customerStart("9e8d7c6b-5a49-4838-a726-15041302e1ff", "321-54-987")
	bad.Applicant.Email = "pii.canary@example.org@@"
	bad.Applicant.Ip = "203.0.113.777"
	if _, err := g.client.Start(g.ctx(), bad); err == nil || strings.Contains(err.Error(), "pii.canary") || strings.Contains(err.Error(), "321-54-987") {
		t.Fatalf("invalid Start: %v", err)
	}
	canaries = append(canaries, "pii.canary@example.org@@", "203.0.113.777", "321-54-987")

	// CloudPayments: user tokens and the SDK token are credentials.
	uuid, access, refresh := g.signUp("piicanary")
	first, err := g.client.Start(g.ctx(), cpStart(uuid, access, refresh, ""))
	if err != nil {
		t.Fatal(err)
	}
	sdk := first.GetVerification().GetNextAction().GetRunProviderSdk().GetToken()
	if sdk == "" {
		t.Fatal("no SDK token")
	}
	req := cpStart(uuid, access, refresh, "review-1") // stays in review: the session is kept for polling
	req.IdempotencyKey = "pii-cp"
	if _, err := g.client.Start(g.ctx(), req); err != nil {
		t.Fatal(err)
	}
	canaries = append(canaries, access, refresh, sdk)

	var scanned int
	check := func(where, s string) {
		scanned++
		for _, c := range canaries {
			if strings.Contains(s, c) {
				t.Errorf("%s contains %q", where, c[:min(len(c), 24)])
			}
		}
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		check("log line "+line[:min(len(line), 80)], line)
	}
	client := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer client.Close()
	ctx := context.Background()
	iter := client.Scan(ctx, 0, "*", 0).Iterator()
	keys := 0
	for iter.Next(ctx) {
		key := iter.Val()
		keys++
		check("redis key", key)
		switch client.Type(ctx, key).Val() {
		case "string":
			check("redis "+key, client.Get(ctx, key).Val())
		case "hash":
			check("redis "+key, fmt.Sprint(client.HGetAll(ctx, key).Val()))
		case "stream":
			check("redis "+key, fmt.Sprint(client.XRange(ctx, key, "-", "+").Val()))
		case "zset":
			check("redis "+key, fmt.Sprint(client.ZRangeWithScores(ctx, key, 0, -1).Val()))
		default:
			t.Errorf("unexpected redis type at %s", key)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if keys < 10 || scanned-keys < 20 {
		t.Fatalf("scanned only %d redis keys and %d items: the flows did not run", keys, scanned)
	}
	t.Logf("scanned %d log lines and redis values over %d keys", scanned-keys, keys)
}
