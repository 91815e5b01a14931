package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/store/redistest"
	"github.com/kycgw/kycgw/providers"
	"github.com/redis/go-redis/v9"
)

// TestTrimScript drives the retention script on hand-made streams: the age bound removes
// every older entry even when there are more than one batch of them, the length bound keeps
// the newest, and the marker names the newest entry removed.
func TestTrimScript(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	now := time.Now().UnixMilli()
	fill := func(stream string, ms int64, n int) {
		t.Helper()
		p := c.Pipeline()
		for i := 1; i <= n; i++ {
			p.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: fmt.Sprintf("%d-%d", ms, i), Values: []any{"e", "x"}})
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run := func(stream, marker string, maxLen int, minID string) string {
		t.Helper()
		got, err := trimScript.Run(ctx, c, []string{stream, marker}, maxLen, minID).Text()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(stream, marker string, wantLen int64, wantMarker string) {
		t.Helper()
		if n := c.XLen(ctx, stream).Val(); n != wantLen {
			t.Errorf("%s: %d entries, want %d", stream, n, wantLen)
		}
		if m := c.Get(ctx, marker).Val(); m != wantMarker {
			t.Errorf("%s: marker %q, want %q", stream, m, wantMarker)
		}
	}

	// 2,500 expired entries (more than one batch of 1,000) before 3 fresh ones.
	fill("age", now-time.Hour.Milliseconds(), 2500)
	fill("age", now, 3)
	minID := fmt.Sprintf("%d-0", now-time.Minute.Milliseconds())
	oldest := fmt.Sprintf("%d-2500", now-time.Hour.Milliseconds())
	if got := run("age", "age:m", 100_000, minID); got != oldest {
		t.Errorf("age trim returned %q, want %q", got, oldest)
	}
	check("age", "age:m", 3, oldest)
	// Nothing left to remove: no change, marker kept.
	if got := run("age", "age:m", 100_000, minID); got != "" {
		t.Errorf("second age trim returned %q, want nothing", got)
	}
	check("age", "age:m", 3, oldest)

	// Length: 10 entries, keep 4; then more than twice the bound.
	fill("len", now, 10)
	if got, want := run("len", "len:m", 4, "0-0"), fmt.Sprintf("%d-6", now); got != want {
		t.Errorf("length trim returned %q, want %q", got, want)
	}
	check("len", "len:m", 4, fmt.Sprintf("%d-6", now))
	fill("len2", now, 10)
	if got, want := run("len2", "len2:m", 3, "0-0"), fmt.Sprintf("%d-7", now); got != want {
		t.Errorf("length trim (excess beyond the bound) returned %q, want %q", got, want)
	}
	check("len2", "len2:m", 3, fmt.Sprintf("%d-7", now))
}

// TestAppendsTrimInSteps: at the length bound, appends let the log run past it by the slack
// and then trim it back to the bound in one step, noting the newest entry removed; a cursor
// older than that is expired, one at it is not; and a read trims the log back exactly.
func TestAppendsTrimInSteps(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	const bound = 2048 // a slack of 2
	r, err := NewRedis(RedisOptions{Client: c, Prefix: "steps", MaxEvents: bound})
	if err != nil {
		t.Fatal(err)
	}
	if r.trimSlack != 2 {
		t.Fatalf("slack %d, want 2", r.trimSlack)
	}
	var ids []string
	apply := func() {
		t.Helper()
		a, err := r.Apply(ctx, Update{
			VerificationID: fmt.Sprintf("vrf_steps%d", len(ids)), Tenant: "t", Provider: "fake",
			Subject: providers.Subject{CustomerID: fmt.Sprintf("c%d", len(ids))}, Source: SourceStart,
			NewAttempt: true, ReceivedAt: time.Now(),
			Result: providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted"},
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.Event.ID)
	}
	logLen := func() int64 { t.Helper(); return c.XLen(ctx, r.events).Val() }
	for range bound + 2 {
		apply()
	}
	if n := logLen(); n != bound+2 {
		t.Fatalf("within the slack: %d entries, want %d", n, bound+2)
	}
	if m := c.Get(ctx, r.trimmed).Val(); m != "" {
		t.Fatalf("within the slack: marker %q, want none", m)
	}
	apply() // three past the bound: trimmed back to it
	if n := logLen(); n != bound {
		t.Fatalf("past the slack: %d entries, want %d", n, bound)
	}
	if m, want := c.Get(ctx, r.trimmed).Val(), ids[2]; m != want {
		t.Fatalf("marker %q, want %q (the third event, the newest removed)", m, want)
	}
	if _, err := r.ReadEvents(ctx, ids[1], 1, 0); !errors.Is(err, ErrCursorExpired) {
		t.Errorf("reading after a removed event: %v, want ErrCursorExpired", err)
	}
	evs, err := r.ReadEvents(ctx, ids[2], 1, 0)
	if err != nil || len(evs) != 1 || evs[0].ID != ids[3] {
		t.Errorf("reading after the newest removed: %v, %v; want the next event %s", evs, err, ids[3])
	}

	// Within the slack again; a read's trim (exact) takes the log back to the bound.
	apply()
	apply()
	r.lastAgeTrim.Store(0)
	if _, err := r.ReadEvents(ctx, ids[len(ids)-1], 1, 0); err != nil {
		t.Fatal(err)
	}
	if n := logLen(); n != bound {
		t.Errorf("after a read's trim: %d entries, want %d", n, bound)
	}
}
