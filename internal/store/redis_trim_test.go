package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
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
	c := redistest.Start(t).Client(t)
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
	c := redistest.Start(t).Client(t)
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
	apply := func() { t.Helper(); ids = append(ids, startEvent(t, r, "steps", len(ids))) }
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

// multiCounter counts the MULTI transactions a client sends.
type multiCounter struct{ n atomic.Int64 }

func (*multiCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*multiCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (m *multiCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "multi" {
			m.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// TestReadFromKeptCursor covers the two ways a read is made: from a cursor still in the log,
// one XRANGE with no MULTI; from any other cursor, the MULTI with the trimmed marker, whose
// answers (expired or not) a read that skipped it would get wrong.
func TestReadFromKeptCursor(t *testing.T) {
	c := redistest.Start(t).Client(t)
	multis := new(multiCounter)
	c.AddHook(multis)
	ctx := context.Background()
	const bound = 5 // a slack of 0: every append past it trims
	r, err := NewRedis(RedisOptions{Client: c, Prefix: "kept", MaxEvents: bound})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	apply := func() { t.Helper(); ids = append(ids, startEvent(t, r, "kept", len(ids))) }
	read := func(after string, limit int) ([]string, int64, error) {
		t.Helper()
		before := multis.n.Load()
		evs, err := r.ReadEvents(ctx, after, limit, 0)
		var got []string
		for _, e := range evs {
			got = append(got, e.ID)
		}
		return got, multis.n.Load() - before, err
	}
	for range 3 {
		apply()
	}
	// The first read of a process runs the age trim, in the MULTI.
	if _, n, err := read(ids[2], 10); err != nil || n != 1 {
		t.Fatalf("first read: %d MULTI, %v; want 1, nil", n, err)
	}
	got, n, err := read(ids[0], 10)
	if err != nil || n != 0 || !slices.Equal(got, ids[1:3]) {
		t.Errorf("from a kept cursor: %v, %d MULTI, %v; want %v, 0, nil", got, n, err, ids[1:3])
	}
	got, n, err = read(ids[0], 1)
	if err != nil || n != 0 || !slices.Equal(got, ids[1:2]) {
		t.Errorf("from a kept cursor, limit 1: %v, %d MULTI, %v; want %v, 0, nil", got, n, err, ids[1:2])
	}
	if got, n, err = read(ids[2], 10); err != nil || n != 0 || len(got) != 0 {
		t.Errorf("from the newest event: %v, %d MULTI, %v; want none, 0, nil", got, n, err)
	}

	for range bound {
		time.Sleep(2 * time.Millisecond) // ids a millisecond apart at least: room between them
		apply()                          // the log keeps ids[3:]; ids[2] is the newest removed
	}
	if _, n, err = read(ids[1], 10); !errors.Is(err, ErrCursorExpired) || n != 1 {
		t.Errorf("from a removed cursor: %d MULTI, %v; want 1, ErrCursorExpired", n, err)
	}
	got, n, err = read(ids[2], 10)
	if err != nil || n != 1 || !slices.Equal(got, ids[3:]) {
		t.Errorf("from the newest removed: %v, %d MULTI, %v; want %v, 1, nil", got, n, err, ids[3:])
	}
	// An id between two events that was never one: nothing after it was removed.
	between, err := ParseEventID(ids[4])
	if err != nil {
		t.Fatal(err)
	}
	between.Seq++
	got, n, err = read(between.String(), 10)
	if err != nil || n != 1 || !slices.Equal(got, ids[5:]) {
		t.Errorf("from an id that was never an event: %v, %d MULTI, %v; want %v, 1, nil", got, n, err, ids[5:])
	}
}

// startEvent applies a fresh Start's update for verification vrf_<name><n> and returns its
// event's id.
func startEvent(t *testing.T, r *Redis, name string, n int) string {
	t.Helper()
	a, err := r.Apply(context.Background(), Update{
		VerificationID: fmt.Sprintf("vrf_%s%d", name, n), Tenant: "t", Provider: "fake",
		Subject: providers.Subject{CustomerID: fmt.Sprintf("c%d", n)}, Source: SourceStart,
		NewAttempt: true, ReceivedAt: time.Now(),
		Result: providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a.Event.ID
}
