package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kycgw/kycgw/providers"
)

// TestMemorySweepsWhatIsDue: expired idempotency and dedupe records are dropped, records whose
// expiry was extended (a claim completed with a long retention) are kept, and the expiry index
// only holds what is still to come.
func TestMemorySweepsWhatIsDue(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m := NewMemory(MemoryOptions{Now: func() time.Time { return now }})

	owners := map[string]string{}
	for i := range 5 {
		key := fmt.Sprintf("k%d", i)
		c, _, err := m.ClaimAndGet(ctx, key, "fp", 30*time.Second, "vrf_x")
		if err != nil || c.State != Claimed {
			t.Fatalf("claim %s: %v, %v", key, c.State, err)
		}
		owners[key] = c.Owner
	}
	// k0 completes with a day's retention; k4 completes with none (gone at once).
	if err := m.Complete(ctx, "k0", owners["k0"], []byte("r"), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.Complete(ctx, "k4", owners["k4"], []byte("r"), 0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err := m.Apply(ctx, Update{
			VerificationID: fmt.Sprintf("vrf_%d", i), Tenant: "t", Provider: "p",
			Subject:    providers.Subject{CustomerID: fmt.Sprintf("c%d", i)},
			Result:     providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted"},
			Source:     SourceWebhook,
			DedupeKey:  fmt.Sprintf("d%d", i),
			DedupeTTL:  time.Duration(i+1) * time.Minute,
			ReceivedAt: now,
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	sizes := func() (idem, dedupe int) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.idem), len(m.dedupe)
	}
	sweep := func(after time.Duration) {
		now = now.Add(after)
		if _, _, err := m.ClaimAndGet(ctx, "probe", "fp", 0, "vrf_x"); err != nil {
			t.Fatal(err)
		}
	}

	sweep(2 * time.Second) // k4 (no retention) is gone; the leases still run
	if idem, dedupe := sizes(); idem != 5 || dedupe != 3 {
		t.Fatalf("after 2 s: %d idempotency records (want k0-k3 and the probe), %d dedupe keys (want 3)", idem, dedupe)
	}
	sweep(90 * time.Second) // leases of k1-k3 and d0 expired
	if idem, dedupe := sizes(); idem != 2 || dedupe != 2 {
		t.Fatalf("after 92 s: %d idempotency records (want k0 and the probe), %d dedupe keys (want 2)", idem, dedupe)
	}
	if c, _, err := m.ClaimAndGet(ctx, "k0", "fp", time.Second, "vrf_x"); err != nil || c.State != Replay {
		t.Fatalf("k0 after its lease's second was swept: %v, %v; want a replay", c.State, err)
	}
	sweep(25 * time.Hour)
	if idem, dedupe := sizes(); idem != 1 || dedupe != 0 {
		t.Fatalf("after a day: %d idempotency records (want the probe), %d dedupe keys", idem, dedupe)
	}
	m.mu.Lock()
	due := len(m.due)
	m.mu.Unlock()
	if due > 1 {
		t.Fatalf("%d seconds still indexed after everything but the probe expired, want at most 1", due)
	}
}
