package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/store/redistest"
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
