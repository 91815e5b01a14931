package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/internal/store/redistest"
	"github.com/kycgw/kycgw/internal/store/storetest"
	"github.com/kycgw/kycgw/providers"
)

// newClient returns a go-redis client for srv with short timeouts, closed when t ends.
func newClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:          srv.Addr(),
		DialTimeout:   300 * time.Millisecond,
		ReadTimeout:   time.Second,
		WriteTimeout:  time.Second,
		PoolTimeout:   time.Second,
		MaxRetries:    1,
		DialerRetries: 1,
		PoolSize:      64,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var prefixSeq atomic.Int64

// newRedisStore returns a store on c with a prefix of its own; its keys are deleted when t
// ends, after checking that every key it wrote carries its hash tag.
func newRedisStore(t testing.TB, c redis.UniversalClient, o store.RedisOptions) *store.Redis {
	t.Helper()
	o.Client = c
	if o.Prefix == "" {
		o.Prefix = fmt.Sprintf("test%d", prefixSeq.Add(1))
	}
	s, err := store.NewRedis(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		tag := "{" + o.Prefix + "}:"
		keys, err := c.Keys(ctx, "*").Result()
		if err != nil {
			t.Errorf("listing keys: %v", err)
			return
		}
		var mine []string
		for _, k := range keys {
			if strings.HasPrefix(k, tag) {
				mine = append(mine, k)
			} else if !strings.HasPrefix(k, "{test") {
				t.Errorf("key %q does not carry a store's hash tag", k)
			}
		}
		if len(mine) > 0 {
			if err := c.Del(ctx, mine...).Err(); err != nil {
				t.Errorf("deleting keys: %v", err)
			}
		}
	})
	return s
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv)
	for _, noAuto := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoAutoPipeline=%v", noAuto), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
				return newRedisStore(t, c, store.RedisOptions{MaxEvents: o.MaxEvents, NoAutoPipeline: noAuto})
			})
		})
	}
}

func TestNewRedisOptions(t *testing.T) {
	if _, err := store.NewRedis(store.RedisOptions{}); err == nil {
		t.Error("NewRedis without a client succeeded")
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := store.NewRedis(store.RedisOptions{Client: c, Prefix: "a{b}"}); err == nil {
		t.Error("NewRedis accepted a prefix with a hash tag in it")
	}
	if _, err := store.NewRedis(store.RedisOptions{Client: c}); err != nil {
		t.Errorf("NewRedis with defaults: %v", err)
	}
}

// TestRedisOutage stops the server under a live store: every method fails with
// ErrUnavailable in bounded time, and after a restart the same client and store serve again.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv)
	s := newRedisStore(t, c, store.RedisOptions{})
	ctx := context.Background()

	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	claim, _, err := s.ClaimAndGet(ctx, "k", "fp", time.Minute, "v-none")
	if err != nil {
		t.Fatal(err)
	}
	u := store.Update{
		VerificationID: "v1", Tenant: "t", Provider: "bond", ProgramID: "p",
		Subject: providers.Subject{CustomerID: "c1"}, NewAttempt: true, Source: store.SourceStart,
		Result:     providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted"},
		ReceivedAt: time.Now(),
	}
	a, err := s.Apply(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	// A reader blocked on the log when the server dies must fail too, not hang.
	blocked := make(chan error, 1)
	go func() {
		_, err := s.ReadEvents(ctx, a.Event.ID, 10, 20*time.Second)
		blocked <- err
	}()
	time.Sleep(100 * time.Millisecond)

	srv.Stop()

	select {
	case err := <-blocked:
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("blocked ReadEvents when the server died: %v, want ErrUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked ReadEvents did not return when the server died")
	}

	job := store.PollJob{VerificationID: "v1", Due: time.Now()}
	calls := map[string]func(context.Context) error{
		"Ping": s.Ping,
		"ClaimAndGet": func(ctx context.Context) error {
			_, _, err := s.ClaimAndGet(ctx, "k2", "fp", time.Minute, "v-none")
			return err
		},
		"Complete": func(ctx context.Context) error { return s.Complete(ctx, "k", claim.Owner, []byte("r"), time.Hour) },
		"Release":  func(ctx context.Context) error { return s.Release(ctx, "k", claim.Owner) },
		"Get":      func(ctx context.Context) error { _, err := s.Get(ctx, "v1"); return err },
		"Lookup":   func(ctx context.Context) error { _, err := s.Lookup(ctx, "bond", u.Subject.Key()); return err },
		"Apply":    func(ctx context.Context) error { _, err := s.Apply(ctx, u); return err },
		"ReadEvents": func(ctx context.Context) error {
			_, err := s.ReadEvents(ctx, "0", 10, 0)
			return err
		},
		"ReadEventsBlock": func(ctx context.Context) error {
			_, err := s.ReadEvents(ctx, "0", 10, 5*time.Second)
			return err
		},
		"LastEventID":  func(ctx context.Context) error { _, err := s.LastEventID(ctx); return err },
		"SchedulePoll": func(ctx context.Context) error { return s.SchedulePoll(ctx, job) },
		"ClaimPolls": func(ctx context.Context) error {
			_, err := s.ClaimPolls(ctx, "o", time.Now(), time.Minute, 10)
			return err
		},
		"FinishPoll": func(ctx context.Context) error { return s.FinishPoll(ctx, "o", job, true) },
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		err := call(ctx)
		cancel()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the server down: %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v to fail", name, d)
		}
	}
	// The caller's own cancellation stays a context error, not an outage.
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(cctx, "v1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v, want context.Canceled", err)
	}

	srv.Restart()

	// Same client, same store. The client may need a moment to notice the server is back.
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover after the restart: %v", s.Ping(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The restarted server kept nothing; everything works from scratch.
	if _, err := s.Get(ctx, "v1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after restart: %v, want ErrNotFound", err)
	}
	if c, _, err := s.ClaimAndGet(ctx, "k", "fp", time.Minute, "v-none"); err != nil || c.State != store.Claimed {
		t.Errorf("Claim after restart: %+v, %v", c, err)
	}
	if a, err := s.Apply(ctx, u); err != nil || a.Event == nil {
		t.Errorf("Apply after restart: %+v, %v", a, err)
	}
	if evs, err := s.ReadEvents(ctx, "0", 10, time.Second); err != nil || len(evs) != 1 {
		t.Errorf("ReadEvents after restart: %d events, %v", len(evs), err)
	}
	if err := s.SchedulePoll(ctx, job); err != nil {
		t.Errorf("SchedulePoll after restart: %v", err)
	}
}

// TestRedisReadEventsCancel: a long blocked read returns promptly when its context is
// cancelled or reaches its deadline.
func TestRedisReadEventsCancel(t *testing.T) {
	srv := redistest.Start(t)
	s := newRedisStore(t, newClient(t, srv), store.RedisOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadEvents(ctx, "0", 10, time.Minute)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	cancelled := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled ReadEvents: %v, want context.Canceled", err)
		}
		if d := time.Since(cancelled); d > time.Second {
			t.Errorf("cancelled ReadEvents returned after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled ReadEvents did not return")
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer dcancel()
	start := time.Now()
	if _, err := s.ReadEvents(dctx, "0", 10, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReadEvents past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("ReadEvents with a 150ms deadline returned after %v", d)
	}
}

// TestRedisMatchesMemory applies one sequence of updates to both stores and compares every
// result, the stored state and the event log (ids aside).
func TestRedisMatchesMemory(t *testing.T) {
	srv := redistest.Start(t)
	rs := newRedisStore(t, newClient(t, srv), store.RedisOptions{})
	ms := store.NewMemory(store.MemoryOptions{})
	ctx := context.Background()

	zone := time.FixedZone("X", 5*3600+1800)
	base := time.Date(2026, 3, 4, 5, 6, 7, 123456789, zone)
	subj := providers.Subject{BusinessID: "b1", BeneficialOwnerID: "bo1"}
	mk := func(st providers.Status, at time.Duration, mutate func(*store.Update)) store.Update {
		u := store.Update{
			VerificationID: "rt", Tenant: "t1", Provider: "atelio", ProgramID: "p1", Subject: subj,
			Result:     providers.Result{Status: st, ProviderStatus: strings.ToLower(st.String())},
			Source:     store.SourceWebhook,
			ReceivedAt: base.Add(at + 10*time.Millisecond),
		}
		if at != 0 {
			u.Result.OccurredAt = base.Add(at)
		}
		if mutate != nil {
			mutate(&u)
		}
		return u
	}
	steps := []store.Update{
		mk(providers.StatusPending, 0, func(u *store.Update) {
			u.NewAttempt, u.Source = true, store.SourceStart
			u.ReceivedAt = time.Now() // with a monotonic reading
		}),
		mk(providers.StatusDocumentsRequired, time.Second, func(u *store.Update) {
			u.Result.NextAction = providers.NextAction{
				Kind: providers.ActionUploadDocuments,
				Documents: []providers.Document{
					{Type: "government_id", Status: "required", UploadLink: "https://x/upload/1"},
					{Type: "proof_of_address", Status: "submitted"},
				},
				AttemptsLeft: -1,
			}
			u.Result.Checks = []providers.Check{{Name: "bureau", Result: "fail"}, {Name: "ofac", Result: "pass"}}
			u.Result.Reason = providers.Reason{Code: "DOC", Description: "documents needed"}
			u.DedupeKey, u.DedupeTTL = "d1", time.Minute
			u.ProviderEvent = "kyc.verification.document_required"
		}),
		mk(providers.StatusDocumentsRequired, time.Second, func(u *store.Update) {
			u.DedupeKey, u.DedupeTTL = "d1", time.Minute // a redelivery
		}),
		mk(providers.StatusPending, 2*time.Second, func(u *store.Update) { // backwards: stale
			u.DedupeKey, u.DedupeTTL = "d2", time.Minute
		}),
		mk(providers.StatusPending, 2*time.Second, func(u *store.Update) { // its retry: duplicate
			u.DedupeKey, u.DedupeTTL = "d2", time.Minute
		}),
		mk(providers.StatusReenterInformation, 3*time.Second, func(u *store.Update) {
			u.Result.NextAction = providers.NextAction{
				Kind: providers.ActionReenterInformation, Fields: []string{"ssn", "dob"}, AttemptsLeft: 2,
			}
			u.Result.Checks = []providers.Check{}
		}),
		mk(providers.StatusUnspecified, 4*time.Second, nil), // invalid: stale
		mk(providers.StatusUnderReview, 5*time.Second, func(u *store.Update) { u.Source = store.SourcePoll }),
		mk(providers.StatusPassed, 6*time.Second, func(u *store.Update) {
			u.Result.PassedAt = base.Add(5500 * time.Millisecond).UTC()
			u.Result.NextAction = providers.NextAction{Kind: providers.ActionRunSDK, SDK: providers.SDKSession{Vendor: "JUMIO"}}
		}),
		mk(providers.StatusPending, 7*time.Second, func(u *store.Update) { u.NewAttempt = true }), // PASSED stays
	}
	opts := cmp.Options{
		cmpopts.IgnoreFields(store.Event{}, "ID"),
	}
	for i, u := range steps {
		want, err := ms.Apply(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rs.Apply(ctx, u)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if diff := cmp.Diff(want, got, opts); diff != "" {
			t.Errorf("step %d: Apply differs (-memory +redis):\n%s", i, diff)
		}
		if got.Event != nil {
			if _, err := store.ParseEventID(got.Event.ID); err != nil || got.Event.ID == "0" {
				t.Errorf("step %d: event id %q", i, got.Event.ID)
			}
		}
	}
	wantV, _ := ms.Get(ctx, "rt")
	gotV, err := rs.Get(ctx, "rt")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantV, gotV); diff != "" {
		t.Errorf("Get differs (-memory +redis):\n%s", diff)
	}
	if id, err := rs.Lookup(ctx, "atelio", subj.Key()); err != nil || id != "rt" {
		t.Errorf("Lookup = %q, %v", id, err)
	}
	if _, err := rs.Lookup(ctx, "bond", subj.Key()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Lookup at another provider: %v, want ErrNotFound", err)
	}
	wantE, _ := ms.ReadEvents(ctx, "0", 0, 0)
	gotE, err := rs.ReadEvents(ctx, "0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantE, gotE, opts); diff != "" {
		t.Errorf("event logs differ (-memory +redis):\n%s", diff)
	}
	last, _ := rs.LastEventID(ctx)
	if len(gotE) == 0 || last != gotE[len(gotE)-1].ID {
		t.Errorf("LastEventID = %s, want the last event's id", last)
	}

	// Poll jobs round-trip too: exact due time (zone included), data, failures.
	now := time.Now()
	jobs := []store.PollJob{
		{VerificationID: "j1", Due: base.Add(-time.Hour), Data: []byte{0, 1, 2, 255}, Failures: 2},
		{VerificationID: "j2", Due: now.Add(-time.Minute)},
		{VerificationID: "j3", Due: time.Time{}, Data: []byte("x")},
	}
	for _, j := range jobs {
		if err := ms.SchedulePoll(ctx, j); err != nil {
			t.Fatal(err)
		}
		if err := rs.SchedulePoll(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	wantJ, _ := ms.ClaimPolls(ctx, "o", now, time.Minute, 0)
	gotJ, err := rs.ClaimPolls(ctx, "o", now, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantJ, gotJ); diff != "" {
		t.Errorf("claimed jobs differ (-memory +redis):\n%s", diff)
	}
}

// TestRedisEventAge: age retention trims on read too, expires older cursors, and keeps the
// last id, as Memory does.
func TestRedisEventAge(t *testing.T) {
	srv := redistest.Start(t)
	rs := newRedisStore(t, newClient(t, srv), store.RedisOptions{MaxEventAge: 300 * time.Millisecond})
	ms := store.NewMemory(store.MemoryOptions{MaxEventAge: 300 * time.Millisecond})
	ctx := context.Background()
	for name, s := range map[string]store.Store{"memory": ms, "redis": rs} {
		var ids []string
		for i := range 3 {
			u := store.Update{
				VerificationID: fmt.Sprint("age", i), Provider: "bond", Subject: providers.Subject{UserID: fmt.Sprint(i)},
				Result: providers.Result{Status: providers.StatusPending}, NewAttempt: true, ReceivedAt: time.Now(),
			}
			a, err := s.Apply(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.Event.ID)
		}
		time.Sleep(500 * time.Millisecond)
		if evs, err := s.ReadEvents(ctx, "0", 0, 0); err != nil || len(evs) != 0 {
			t.Errorf("%s: events past MaxEventAge: %v, %v", name, evs, err)
		}
		if _, err := s.ReadEvents(ctx, ids[1], 0, 0); !errors.Is(err, store.ErrCursorExpired) {
			t.Errorf("%s: cursor past MaxEventAge: %v, want ErrCursorExpired", name, err)
		}
		if evs, err := s.ReadEvents(ctx, ids[2], 0, 0); err != nil || len(evs) != 0 {
			t.Errorf("%s: cursor at the newest trimmed event: %v, %v", name, evs, err)
		}
		if last, err := s.LastEventID(ctx); err != nil || last != ids[2] {
			t.Errorf("%s: LastEventID = %s, %v; want %s", name, last, err, ids[2])
		}
	}
}

// TestRedisReplicas runs two clients as two gateway replicas against one Redis.
func TestRedisReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a := newRedisStore(t, newClient(t, srv), store.RedisOptions{Prefix: "test-replicas"})
	b, err := store.NewRedis(store.RedisOptions{Client: newClient(t, srv), Prefix: "test-replicas"})
	if err != nil {
		t.Fatal(err)
	}
	replicas := []store.Store{a, b}
	ctx := context.Background()

	t.Run("Claim", func(t *testing.T) {
		var claimed, inFlight atomic.Int64
		var wg sync.WaitGroup
		for _, s := range replicas {
			for range 100 {
				wg.Go(func() {
					c, _, err := s.ClaimAndGet(ctx, "one-key", "fp", time.Minute, "v-none")
					switch {
					case err != nil:
						t.Error(err)
					case c.State == store.Claimed:
						claimed.Add(1)
					case c.State == store.InFlight:
						inFlight.Add(1)
					default:
						t.Errorf("state %v", c.State)
					}
				})
			}
		}
		wg.Wait()
		if claimed.Load() != 1 || inFlight.Load() != 199 {
			t.Fatalf("claimed %d, in flight %d; want 1 and 199", claimed.Load(), inFlight.Load())
		}
	})

	t.Run("Apply", func(t *testing.T) {
		order := []providers.Status{
			providers.StatusPending, providers.StatusIncomplete, providers.StatusDocumentsRequired,
			providers.StatusUnderReview, providers.StatusPassed,
		}
		base := time.Now()
		var wg sync.WaitGroup
		for ri, s := range replicas {
			for r := range 5 {
				for i, st := range order {
					wg.Go(func() {
						u := store.Update{
							VerificationID: "shared", Tenant: "t", Provider: "bond", ProgramID: "p",
							Subject: providers.Subject{CustomerID: "c"}, Source: store.SourceWebhook,
							Result:     providers.Result{Status: st, OccurredAt: base.Add(time.Duration(i) * time.Second)},
							ReceivedAt: time.Now(),
							DedupeKey:  fmt.Sprintf("%d-%d-%d", ri, r, i), DedupeTTL: time.Minute,
						}
						if _, err := s.Apply(ctx, u); err != nil {
							t.Error(err)
						}
					})
				}
			}
		}
		wg.Wait()
		for _, s := range replicas {
			v, err := s.Get(ctx, "shared")
			if err != nil || v.Status != providers.StatusPassed {
				t.Fatalf("final = %v, %v; want PASSED", v.Status, err)
			}
		}
		evs, err := b.ReadEvents(ctx, "0", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		prev := providers.StatusNotStarted
		for _, e := range evs {
			if e.PreviousStatus != prev {
				t.Fatalf("event %s: previous %v, want %v (chain broken)", e.ID, e.PreviousStatus, prev)
			}
			prev = e.Status
		}
		if prev != providers.StatusPassed {
			t.Fatalf("last event %v, want PASSED", prev)
		}
	})

	t.Run("Polls", func(t *testing.T) {
		for i := range 30 {
			if err := a.SchedulePoll(ctx, store.PollJob{VerificationID: fmt.Sprint("pj", i), Due: time.Now().Add(-time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		seen := map[string]bool{}
		var wg sync.WaitGroup
		for w := range 10 {
			s := replicas[w%2]
			wg.Go(func() {
				jobs, err := s.ClaimPolls(ctx, fmt.Sprint("w", w), time.Now(), time.Minute, 4)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, j := range jobs {
					if seen[j.VerificationID] {
						t.Errorf("%s claimed twice", j.VerificationID)
					}
					seen[j.VerificationID] = true
				}
			})
		}
		wg.Wait()
		if len(seen) != 30 {
			t.Fatalf("%d of 30 jobs claimed", len(seen))
		}
	})
}

// TestRedisIdempotencyEdges covers what the suite does not: an empty response replays, and an
// empty owner never matches.
func TestRedisIdempotencyEdges(t *testing.T) {
	srv := redistest.Start(t)
	s := newRedisStore(t, newClient(t, srv), store.RedisOptions{})
	ctx := context.Background()
	c, _, err := s.ClaimAndGet(ctx, "empty", "fp", time.Minute, "v-none")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "empty", c.Owner, nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	if r, _, err := s.ClaimAndGet(ctx, "empty", "fp", time.Minute, "v-none"); err != nil || r.State != store.Replay || len(r.Response) != 0 {
		t.Fatalf("claim after an empty response: %+v, %v; want Replay", r, err)
	}
	if err := s.Complete(ctx, "empty", "", []byte("x"), time.Minute); !errors.Is(err, store.ErrNotOwner) {
		t.Fatalf("Complete with an empty owner on a finished key: %v, want ErrNotOwner", err)
	}
	if err := s.Release(ctx, "empty", ""); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.ClaimAndGet(ctx, "empty", "fp", time.Minute, "v-none"); r.State != store.Replay {
		t.Fatalf("Release with an empty owner dropped a finished key: %+v", r)
	}
	// Binary responses survive.
	c, _, _ = s.ClaimAndGet(ctx, "bin", "fp", time.Minute, "v-none")
	resp := []byte{0, 255, '\r', '\n', 1}
	if err := s.Complete(ctx, "bin", c.Owner, resp, time.Minute); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.ClaimAndGet(ctx, "bin", "fp", time.Minute, "v-none"); string(r.Response) != string(resp) {
		t.Fatalf("replayed %v, want %v", r.Response, resp)
	}
}

// TestRedisClosedClient: a client closed under the store ("redis: client is closed") is an
// outage too.
func TestRedisClosedClient(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	s, err := store.NewRedis(store.RedisOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "x"); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("Get on a closed client: %v, want ErrUnavailable wrapping redis.ErrClosed", err)
	}
}
