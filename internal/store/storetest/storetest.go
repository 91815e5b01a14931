// Package storetest is the conformance suite every store.Store implementation runs: the memory
// store and the Redis store must pass the same assertions, in real time.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
)

// Options are the retention settings a test needs the store built with.
type Options struct {
	MaxEvents int
}

// Factory returns a new, empty store for one test; cleanup is the factory's business.
type Factory func(t *testing.T, o Options) store.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	t.Run("IdempotencyClaimReplayMismatch", func(t *testing.T) { testClaim(t, newStore) })
	t.Run("IdempotencyLeaseExpiry", func(t *testing.T) { testLease(t, newStore) })
	t.Run("IdempotencyRelease", func(t *testing.T) { testRelease(t, newStore) })
	t.Run("IdempotencyRetention", func(t *testing.T) { testRetention(t, newStore) })
	t.Run("IdempotencyRace", func(t *testing.T) { testClaimRace(t, newStore) })
	t.Run("ClaimAndGet", func(t *testing.T) { testClaimAndGet(t, newStore) })
	t.Run("ApplyFromSnapshot", func(t *testing.T) { testApplyFromSnapshot(t, newStore) })
	t.Run("ApplyAndComplete", func(t *testing.T) { testApplyAndComplete(t, newStore) })
	t.Run("ApplyInterleaved", func(t *testing.T) { testApplyInterleaved(t, newStore) })
	t.Run("ApplyInterleavedDuplicate", func(t *testing.T) { testApplyInterleavedDuplicate(t, newStore) })
	t.Run("Transitions", func(t *testing.T) { testTransitions(t, newStore) })
	t.Run("Dedupe", func(t *testing.T) { testDedupe(t, newStore) })
	t.Run("ConcurrentApply", func(t *testing.T) { testConcurrentApply(t, newStore) })
	t.Run("EventLog", func(t *testing.T) { testEventLog(t, newStore) })
	t.Run("EventRetention", func(t *testing.T) { testEventRetention(t, newStore) })
	t.Run("PollSchedule", func(t *testing.T) { testPollSchedule(t, newStore) })
	t.Run("PollLeaseTakeover", func(t *testing.T) { testPollLease(t, newStore) })
	t.Run("PollClaimRace", func(t *testing.T) { testPollRace(t, newStore) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustClaim(t *testing.T, s store.Store, key, fp string, lease time.Duration, want store.ClaimState) store.Claim {
	t.Helper()
	c, _, err := s.ClaimAndGet(ctx(t), key, fp, lease, "v-other")
	if err != nil {
		t.Fatalf("ClaimAndGet(%q): %v", key, err)
	}
	if c.State != want {
		t.Fatalf("ClaimAndGet(%q) state = %v, want %v", key, c.State, want)
	}
	return c
}

func testClaim(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	c := mustClaim(t, s, "k1", "fp-a", time.Minute, store.Claimed)
	if c.Owner == "" {
		t.Fatal("Claimed without an owner token")
	}
	mustClaim(t, s, "k1", "fp-a", time.Minute, store.InFlight)
	mustClaim(t, s, "k1", "fp-b", time.Minute, store.Mismatch)
	if err := s.Complete(ctx(t), "k1", "not-the-owner", []byte("x"), time.Hour); !errors.Is(err, store.ErrNotOwner) {
		t.Fatalf("Complete by a stranger: got %v, want ErrNotOwner", err)
	}
	if err := s.Complete(ctx(t), "k1", c.Owner, []byte("result"), time.Hour); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	r := mustClaim(t, s, "k1", "fp-a", time.Minute, store.Replay)
	if string(r.Response) != "result" {
		t.Fatalf("replayed response = %q, want %q", r.Response, "result")
	}
	mustClaim(t, s, "k1", "fp-b", time.Minute, store.Mismatch)
	if err := s.Complete(ctx(t), "k1", c.Owner, []byte("again"), time.Hour); !errors.Is(err, store.ErrNotOwner) {
		t.Fatalf("second Complete: got %v, want ErrNotOwner", err)
	}
	mustClaim(t, s, "k2", "fp-a", time.Minute, store.Claimed) // keys are independent

	// A finished record is nobody's: an empty owner token can neither overwrite nor drop it.
	if err := s.Complete(ctx(t), "k1", "", []byte("forged"), time.Hour); !errors.Is(err, store.ErrNotOwner) {
		t.Fatalf("Complete with an empty owner: %v, want ErrNotOwner", err)
	}
	if err := s.Release(ctx(t), "k1", ""); err != nil {
		t.Fatal(err)
	}
	if r := mustClaim(t, s, "k1", "fp-a", time.Minute, store.Replay); string(r.Response) != "result" {
		t.Fatalf("after empty-owner calls replayed %q", r.Response)
	}
	// An empty outcome is still an outcome.
	e := mustClaim(t, s, "empty", "fp", time.Minute, store.Claimed)
	if err := s.Complete(ctx(t), "empty", e.Owner, nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, s, "empty", "fp", time.Minute, store.Replay)
}

func testLease(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	old := mustClaim(t, s, "lease", "fp", 150*time.Millisecond, store.Claimed)
	time.Sleep(300 * time.Millisecond)
	fresh := mustClaim(t, s, "lease", "fp", time.Minute, store.Claimed)
	if fresh.Owner == old.Owner {
		t.Fatal("a new claim reused the expired owner token")
	}
	if err := s.Complete(ctx(t), "lease", old.Owner, []byte("stale"), time.Hour); !errors.Is(err, store.ErrNotOwner) {
		t.Fatalf("stale owner Complete: got %v, want ErrNotOwner", err)
	}
	if err := s.Complete(ctx(t), "lease", fresh.Owner, []byte("fresh"), time.Hour); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if r := mustClaim(t, s, "lease", "fp", time.Minute, store.Replay); string(r.Response) != "fresh" {
		t.Fatalf("replayed %q, want %q", r.Response, "fresh")
	}
}

func testRelease(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	c := mustClaim(t, s, "rel", "fp", time.Minute, store.Claimed)
	if err := s.Release(ctx(t), "rel", "someone-else"); err != nil {
		t.Fatalf("Release by a stranger: %v", err)
	}
	mustClaim(t, s, "rel", "fp", time.Minute, store.InFlight)
	if err := s.Release(ctx(t), "rel", c.Owner); err != nil {
		t.Fatalf("Release: %v", err)
	}
	mustClaim(t, s, "rel", "other-fp", time.Minute, store.Claimed)
}

func testRetention(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	c := mustClaim(t, s, "ret", "fp", time.Minute, store.Claimed)
	if err := s.Complete(ctx(t), "ret", c.Owner, []byte("r"), 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, s, "ret", "fp", time.Minute, store.Replay)
	time.Sleep(300 * time.Millisecond)
	mustClaim(t, s, "ret", "other", time.Minute, store.Claimed)
}

func testClaimRace(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	const n = 64
	var wg sync.WaitGroup
	states := make(chan store.ClaimState, n)
	for range n {
		wg.Go(func() {
			c, _, err := s.ClaimAndGet(context.Background(), "race", "fp", time.Minute, "v-race")
			if err != nil {
				t.Error(err)
				return
			}
			states <- c.State
		})
	}
	wg.Wait()
	close(states)
	claimed := 0
	for st := range states {
		switch st {
		case store.Claimed:
			claimed++
		case store.InFlight:
		default:
			t.Errorf("unexpected state %v", st)
		}
	}
	if claimed != 1 {
		t.Fatalf("%d callers claimed the key, want exactly 1", claimed)
	}
}

var subject = providers.Subject{CustomerID: "c1"}

func update(id string, st providers.Status, src store.Source, at time.Time) store.Update {
	return store.Update{
		VerificationID: id, Tenant: "t1", Provider: "bond", ProgramID: "p1", Subject: subject,
		Result:     providers.Result{Status: st, ProviderStatus: st.String(), OccurredAt: at},
		Source:     src,
		ReceivedAt: time.Now(),
	}
}

func apply(t *testing.T, s store.Store, u store.Update) store.Applied {
	t.Helper()
	a, err := s.Apply(ctx(t), u)
	if err != nil {
		t.Fatalf("Apply(%v): %v", u.Result.Status, err)
	}
	return a
}

func claimAndGet(t *testing.T, s store.Store, key, fp, id string, want store.ClaimState) (store.Claim, store.Snapshot) {
	t.Helper()
	c, snap, err := s.ClaimAndGet(ctx(t), key, fp, time.Minute, id)
	if err != nil {
		t.Fatalf("ClaimAndGet(%q, %q): %v", key, id, err)
	}
	if c.State != want {
		t.Fatalf("ClaimAndGet(%q) state = %v, want %v", key, c.State, want)
	}
	return c, snap
}

func testClaimAndGet(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	c, snap := claimAndGet(t, s, "k1", "fp", "v1", store.Claimed)
	if _, found := snap.Verification(); found {
		t.Fatal("snapshot of an unknown verification says it exists")
	}
	if c.Owner == "" {
		t.Fatal("Claimed without an owner token")
	}
	claimAndGet(t, s, "k1", "fp", "v1", store.InFlight)
	claimAndGet(t, s, "k1", "other", "v1", store.Mismatch)

	u := update("v1", providers.StatusPending, store.SourceStart, time.Time{})
	u.NewAttempt = true
	apply(t, s, u)
	if err := s.Complete(ctx(t), "k1", c.Owner, []byte("done"), time.Hour); err != nil {
		t.Fatal(err)
	}
	r, snap := claimAndGet(t, s, "k1", "fp", "v1", store.Replay)
	if string(r.Response) != "done" {
		t.Fatalf("replayed %q, want %q", r.Response, "done")
	}
	if _, found := snap.Verification(); found {
		t.Fatal("a replay read the verification")
	}
	_, snap = claimAndGet(t, s, "k2", "fp", "v1", store.Claimed)
	if v, found := snap.Verification(); !found || v.Status != providers.StatusPending || v.Attempt != 1 {
		t.Fatalf("snapshot = %+v (found %v), want the PENDING verification", v, found)
	}
	// Without a key it only reads: no claim, no record.
	nc, snap := claimAndGet(t, s, "", "", "v1", 0)
	if nc.Owner != "" {
		t.Fatalf("keyless ClaimAndGet claimed %+v", nc)
	}
	if _, found := snap.Verification(); !found {
		t.Fatal("keyless ClaimAndGet did not read the verification")
	}
	claimAndGet(t, s, "k3", "fp", "v1", store.Claimed) // and left the key space alone
}

// testApplyFromSnapshot: Apply starts from the caller's snapshot, but an out-of-date snapshot
// must not win over what is stored.
func testApplyFromSnapshot(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	base := time.Now()
	_, absent := claimAndGet(t, s, "", "", "v1", 0)
	first := update("v1", providers.StatusPending, store.SourceStart, time.Time{})
	first.NewAttempt, first.Read = true, absent
	if a := apply(t, s, first); a.Event == nil || a.Verification.Attempt != 1 {
		t.Fatalf("apply from an up-to-date snapshot: %+v", a)
	}
	// Another writer moves it on; then an update arrives carrying the older snapshot.
	_, old := claimAndGet(t, s, "", "", "v1", 0)
	apply(t, s, update("v1", providers.StatusUnderReview, store.SourceWebhook, base.Add(time.Second)))
	late := update("v1", providers.StatusPending, store.SourceWebhook, base.Add(2*time.Second))
	late.Read = old
	if a := apply(t, s, late); a.Event != nil || !a.Stale || a.Verification.Status != providers.StatusUnderReview {
		t.Fatalf("apply from an out-of-date snapshot: event %+v, stale %v, status %v; want refused against UNDER_REVIEW",
			a.Event, a.Stale, a.Verification.Status)
	}
	// A snapshot that says "absent" after the verification was created is out of date too:
	// the retry counts attempts from what is stored.
	again := update("v1", providers.StatusPending, store.SourceStart, base.Add(3*time.Second))
	again.NewAttempt, again.Read = true, absent
	if a := apply(t, s, again); a.Verification.Attempt != 2 {
		t.Fatalf("attempt after an absent snapshot of an existing verification = %d, want 2", a.Verification.Attempt)
	}
	if v, err := s.Get(ctx(t), "v1"); err != nil || v.Attempt != 2 {
		t.Fatalf("stored attempt = %d (%v), want 2", v.Attempt, err)
	}
}

// startedAndClaimed starts verification v1 (PENDING) and claims key k1 for an update of it,
// with the snapshot to hand to Apply.
func startedAndClaimed(t *testing.T, s store.Store) (store.Claim, store.Snapshot) {
	t.Helper()
	first := update("v1", providers.StatusPending, store.SourceStart, time.Time{})
	first.NewAttempt = true
	apply(t, s, first)
	return claimAndGet(t, s, "k1", "fp", "v1", store.Claimed)
}

// testApplyInterleaved: a write that lands between Apply's read and its own write is not
// overwritten: the update is applied again on top of it, and the response is built again from
// the result. The Response callback runs in between, so the test makes the write from there
// (a callback that writes breaks Completion's contract; it is only how the test places it).
func testApplyInterleaved(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	base := time.Now()
	c, snap := startedAndClaimed(t, s)
	var built []string
	u := update("v1", providers.StatusPassed, store.SourceWebhook, base.Add(2*time.Second))
	u.Read = snap
	u.Complete = &store.Completion{Key: "k1", Owner: c.Owner, Retain: time.Hour,
		Response: func(v store.Verification) ([]byte, error) {
			built = append(built, v.Status.String())
			if len(built) == 1 {
				apply(t, s, update("v1", providers.StatusUnderReview, store.SourceWebhook, base.Add(time.Second)))
			}
			return []byte(v.Status.String()), nil
		}}
	a := apply(t, s, u)
	if a.Event == nil || a.Event.PreviousStatus != providers.StatusUnderReview || a.NotOwner {
		t.Fatalf("apply raced by another writer: event %+v, not owner %v; want PASSED after UNDER_REVIEW", a.Event, a.NotOwner)
	}
	if len(built) != 2 {
		t.Fatalf("response built %d times (%v), want twice: once per attempt", len(built), built)
	}
	evs, err := s.ReadEvents(ctx(t), "0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.PreviousStatus.String()+">"+e.Status.String())
	}
	want := []string{"NOT_STARTED>PENDING", "PENDING>UNDER_REVIEW", "UNDER_REVIEW>PASSED"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if r := mustClaim(t, s, "k1", "fp", time.Minute, store.Replay); string(r.Response) != "PASSED" {
		t.Fatalf("replayed %q, want the response built from the final state", r.Response)
	}
}

// testApplyInterleavedDuplicate: when the same delivery (dedupe key) is recorded between
// Apply's read and its write, the update turns into a duplicate and changes nothing. The other
// delivery repeats the current status, so it records its key without changing the
// verification: only the dedupe record tells the two states apart. The write is placed from
// the Response callback, as in testApplyInterleaved.
func testApplyInterleavedDuplicate(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	base := time.Now()
	c, snap := startedAndClaimed(t, s)
	redelivered := update("v1", providers.StatusPending, store.SourceWebhook, base.Add(time.Second))
	redelivered.DedupeKey, redelivered.DedupeTTL = "d1", time.Hour
	u := update("v1", providers.StatusPassed, store.SourceWebhook, base.Add(2*time.Second))
	u.DedupeKey, u.DedupeTTL = "d1", time.Hour
	u.Read = snap
	calls := 0
	u.Complete = &store.Completion{Key: "k1", Owner: c.Owner, Retain: time.Hour,
		Response: func(v store.Verification) ([]byte, error) {
			if calls++; calls == 1 {
				apply(t, s, redelivered)
			}
			return []byte(v.Status.String()), nil
		}}
	a := apply(t, s, u)
	if !a.Duplicate || a.Event != nil || a.Verification.Status != providers.StatusPending {
		t.Fatalf("apply after the same delivery landed: duplicate %v, event %+v, status %v; want a duplicate leaving PENDING",
			a.Duplicate, a.Event, a.Verification.Status)
	}
	evs, err := s.ReadEvents(ctx(t), "0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events, want the first only: neither delivery changed the verification", len(evs))
	}
	if r := mustClaim(t, s, "k1", "fp", time.Minute, store.Replay); string(r.Response) != "PENDING" {
		t.Fatalf("replayed %q, want the response built from the state the duplicate found", r.Response)
	}
}

// testApplyAndComplete: an update can carry the completion of an idempotency claim, with a
// response made from the verification it leaves.
func testApplyAndComplete(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	respond := func(v store.Verification) ([]byte, error) {
		return []byte(fmt.Sprintf("%s:%v:%d", v.ID, v.Status, v.Attempt)), nil
	}
	c, snap := claimAndGet(t, s, "k1", "fp", "v1", store.Claimed)
	u := update("v1", providers.StatusPending, store.SourceStart, time.Time{})
	u.NewAttempt, u.Read = true, snap
	u.Complete = &store.Completion{Key: "k1", Owner: c.Owner, Retain: time.Hour, Response: respond}
	a := apply(t, s, u)
	if a.Event == nil || a.NotOwner {
		t.Fatalf("apply with completion: event %+v, not owner %v", a.Event, a.NotOwner)
	}
	if r := mustClaim(t, s, "k1", "fp", time.Minute, store.Replay); string(r.Response) != "v1:PENDING:1" {
		t.Fatalf("replayed %q, want the response built from the new state", r.Response)
	}

	// An update that changes nothing (a stale one) still completes, from the stored state.
	c2 := mustClaim(t, s, "k2", "fp", time.Minute, store.Claimed)
	apply(t, s, update("v1", providers.StatusPassed, store.SourceWebhook, time.Now()))
	stale := update("v1", providers.StatusPending, store.SourceStart, time.Time{})
	stale.Complete = &store.Completion{Key: "k2", Owner: c2.Owner, Retain: time.Hour, Response: respond}
	if a := apply(t, s, stale); a.Event != nil || a.NotOwner {
		t.Fatalf("stale apply with completion: event %+v, not owner %v", a.Event, a.NotOwner)
	}
	if r := mustClaim(t, s, "k2", "fp", time.Minute, store.Replay); string(r.Response) != "v1:PASSED:1" {
		t.Fatalf("replayed %q, want the unchanged state", r.Response)
	}

	// A lost claim: the update stands, the other owner's claim is untouched.
	lost := mustClaim(t, s, "k3", "fp", 100*time.Millisecond, store.Claimed)
	time.Sleep(200 * time.Millisecond)
	taker := mustClaim(t, s, "k3", "fp", time.Minute, store.Claimed)
	w := update("v2", providers.StatusPending, store.SourceStart, time.Time{})
	w.NewAttempt = true
	w.Complete = &store.Completion{Key: "k3", Owner: lost.Owner, Retain: time.Hour, Response: respond}
	if a := apply(t, s, w); a.Event == nil || !a.NotOwner {
		t.Fatalf("apply with a lost claim: event %+v, not owner %v; want applied and NotOwner", a.Event, a.NotOwner)
	}
	mustClaim(t, s, "k3", "fp", time.Minute, store.InFlight)
	if err := s.Complete(ctx(t), "k3", taker.Owner, []byte("taker"), time.Hour); err != nil {
		t.Fatalf("the new owner's Complete: %v", err)
	}

	// A response that cannot be built fails the update, which then changes nothing.
	c4 := mustClaim(t, s, "k4", "fp", time.Minute, store.Claimed)
	bad := update("v3", providers.StatusPending, store.SourceStart, time.Time{})
	bad.NewAttempt = true
	bad.Complete = &store.Completion{Key: "k4", Owner: c4.Owner, Retain: time.Hour,
		Response: func(store.Verification) ([]byte, error) { return nil, errors.New("no") }}
	if _, err := s.Apply(ctx(t), bad); err == nil {
		t.Fatal("apply with a failing response builder succeeded")
	}
	if _, err := s.Get(ctx(t), "v3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a failed apply Get = %v, want ErrNotFound", err)
	}
	mustClaim(t, s, "k4", "fp", time.Minute, store.InFlight)
}

func testTransitions(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	if _, err := s.Get(ctx(t), "v1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of unknown: got %v, want ErrNotFound", err)
	}
	base := time.Now()
	start := update("v1", providers.StatusPending, store.SourceStart, time.Time{})
	start.NewAttempt = true
	a := apply(t, s, start)
	if a.Event == nil || a.Event.Status != providers.StatusPending || a.Event.PreviousStatus != providers.StatusNotStarted {
		t.Fatalf("start event = %+v, want NOT_STARTED -> PENDING", a.Event)
	}
	if a.Verification.Attempt != 1 {
		t.Fatalf("attempt = %d, want 1", a.Verification.Attempt)
	}
	if id, err := s.Lookup(ctx(t), "bond", subject.Key()); err != nil || id != "v1" {
		t.Fatalf("Lookup = %q, %v; want v1", id, err)
	}

	steps := []struct {
		st      providers.Status
		at      time.Time
		applied bool
	}{
		{providers.StatusDocumentsRequired, base.Add(time.Second), true},
		{providers.StatusPending, base.Add(2 * time.Second), false},                   // backwards
		{providers.StatusReenterInformation, base.Add(500 * time.Millisecond), false}, // same rank, older
		{providers.StatusReenterInformation, base.Add(3 * time.Second), true},         // same rank, newer
		{providers.StatusUnderReview, base.Add(4 * time.Second), true},
		{providers.StatusPassed, base.Add(5 * time.Second), true},
		{providers.StatusFailed, base.Add(6 * time.Second), false}, // nothing leaves PASSED
		{providers.StatusUnderReview, base.Add(7 * time.Second), false},
	}
	for i, st := range steps {
		a := apply(t, s, update("v1", st.st, store.SourceWebhook, st.at))
		if got := a.Event != nil; got != st.applied {
			t.Fatalf("step %d (%v): applied = %v, want %v", i, st.st, got, st.applied)
		}
		if a.Stale == st.applied {
			t.Fatalf("step %d (%v): stale = %v, want %v", i, st.st, a.Stale, !st.applied)
		}
	}
	v, err := s.Get(ctx(t), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != providers.StatusPassed || v.PassedAt.IsZero() {
		t.Fatalf("final = %v passed_at %v, want PASSED with passed_at", v.Status, v.PassedAt)
	}
	retry := update("v1", providers.StatusPending, store.SourceStart, time.Time{})
	retry.NewAttempt = true
	if a := apply(t, s, retry); a.Event != nil {
		t.Fatal("a new attempt was opened on a PASSED verification")
	}

	// ERROR is retryable: a new attempt goes back to PENDING, and a late event from the old
	// attempt cannot touch it.
	apply(t, s, func() store.Update {
		u := update("v2", providers.StatusPending, store.SourceStart, time.Time{})
		u.NewAttempt = true
		return u
	}())
	apply(t, s, update("v2", providers.StatusError, store.SourceWebhook, time.Now()))
	retry = update("v2", providers.StatusPending, store.SourceStart, time.Time{})
	retry.NewAttempt = true
	a = apply(t, s, retry)
	if a.Event == nil || a.Verification.Attempt != 2 || a.Event.PreviousStatus != providers.StatusError {
		t.Fatalf("retry after ERROR: event %+v attempt %d", a.Event, a.Verification.Attempt)
	}
	late := update("v2", providers.StatusFailed, store.SourceWebhook, time.Now().Add(-time.Hour))
	if a := apply(t, s, late); a.Event != nil {
		t.Fatal("an event dated before the attempt changed it")
	}
}

func testDedupe(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	u := update("d1", providers.StatusUnderReview, store.SourceWebhook, time.Now())
	u.DedupeKey, u.DedupeTTL = "bond|d1|under_review", time.Minute
	if a := apply(t, s, u); a.Event == nil || a.Duplicate {
		t.Fatalf("first delivery: %+v", a)
	}
	if a := apply(t, s, u); !a.Duplicate || a.Event != nil {
		t.Fatalf("second delivery: duplicate=%v event=%v, want duplicate and no event", a.Duplicate, a.Event)
	}
	u.DedupeTTL = 150 * time.Millisecond
	u.DedupeKey = "short"
	apply(t, s, u)
	time.Sleep(300 * time.Millisecond)
	if a := apply(t, s, u); a.Duplicate {
		t.Fatal("dedupe key outlived its TTL")
	}
}

func testConcurrentApply(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	order := []providers.Status{
		providers.StatusPending, providers.StatusDocumentsRequired, providers.StatusUnderReview, providers.StatusPassed,
	}
	base := time.Now()
	var wg sync.WaitGroup
	for r := range 8 {
		for i, st := range order {
			wg.Go(func() {
				u := update("cc", st, store.SourceWebhook, base.Add(time.Duration(i)*time.Second))
				u.DedupeKey, u.DedupeTTL = fmt.Sprintf("cc-%d-%d", r, i), time.Minute
				if _, err := s.Apply(context.Background(), u); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	v, err := s.Get(ctx(t), "cc")
	if err != nil || v.Status != providers.StatusPassed {
		t.Fatalf("final = %v, %v; want PASSED", v.Status, err)
	}
	evs, err := s.ReadEvents(ctx(t), "0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	prev := providers.StatusNotStarted
	for _, e := range evs {
		if e.PreviousStatus != prev {
			t.Fatalf("event %s: previous %v, want %v (a transition was lost or duplicated)", e.ID, e.PreviousStatus, prev)
		}
		prev = e.Status
	}
	if prev != providers.StatusPassed {
		t.Fatalf("last event status %v, want PASSED", prev)
	}
}

func testEventLog(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	if id, err := s.LastEventID(ctx(t)); err != nil || id != "0" {
		t.Fatalf("LastEventID of empty log = %q, %v; want \"0\"", id, err)
	}
	if _, err := s.ReadEvents(ctx(t), "nope", 10, 0); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("bad cursor: got %v, want ErrBadCursor", err)
	}
	var ids []string
	for i := range 5 {
		u := update(fmt.Sprintf("e%d", i), providers.StatusPending, store.SourceStart, time.Time{})
		u.NewAttempt = true
		ids = append(ids, apply(t, s, u).Event.ID)
	}
	for i := 1; i < len(ids); i++ {
		a, _ := store.ParseEventID(ids[i-1])
		b, _ := store.ParseEventID(ids[i])
		if !a.Less(b) {
			t.Fatalf("event ids not increasing: %s then %s", ids[i-1], ids[i])
		}
	}
	if last, _ := s.LastEventID(ctx(t)); last != ids[4] {
		t.Fatalf("LastEventID = %s, want %s", last, ids[4])
	}
	all, err := s.ReadEvents(ctx(t), "0", 0, 0)
	if err != nil || len(all) != 5 {
		t.Fatalf("ReadEvents(0) = %d events, %v; want 5", len(all), err)
	}
	page, _ := s.ReadEvents(ctx(t), ids[1], 2, 0)
	if len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[3] {
		t.Fatalf("ReadEvents(after %s, 2) = %v", ids[1], page)
	}
	if none, _ := s.ReadEvents(ctx(t), ids[4], 10, 0); len(none) != 0 {
		t.Fatalf("read past the end returned %d events", len(none))
	}

	// A blocked read wakes on append.
	got := make(chan []store.Event, 1)
	go func() {
		evs, err := s.ReadEvents(context.Background(), ids[4], 10, 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- evs
	}()
	time.Sleep(100 * time.Millisecond)
	u := update("e-late", providers.StatusPending, store.SourceStart, time.Time{})
	u.NewAttempt = true
	want := apply(t, s, u).Event.ID
	select {
	case evs := <-got:
		if len(evs) != 1 || evs[0].ID != want {
			t.Fatalf("blocked read got %v, want [%s]", evs, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked read did not wake on append")
	}
	// A blocked read times out empty.
	if evs, err := s.ReadEvents(ctx(t), want, 10, 100*time.Millisecond); err != nil || len(evs) != 0 {
		t.Fatalf("timed-out read = %v, %v", evs, err)
	}
}

func testEventRetention(t *testing.T, newStore Factory) {
	s := newStore(t, Options{MaxEvents: 3})
	var ids []string
	for i := range 6 {
		u := update(fmt.Sprintf("r%d", i), providers.StatusPending, store.SourceStart, time.Time{})
		u.NewAttempt = true
		ids = append(ids, apply(t, s, u).Event.ID)
	}
	all, err := s.ReadEvents(ctx(t), "0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].ID != ids[3] {
		t.Fatalf("retained %d events starting %v, want 3 starting %s", len(all), all, ids[3])
	}
	if _, err := s.ReadEvents(ctx(t), ids[1], 10, 0); !errors.Is(err, store.ErrCursorExpired) {
		t.Fatalf("cursor before the retained events: got %v, want ErrCursorExpired", err)
	}
	if evs, err := s.ReadEvents(ctx(t), ids[2], 10, 0); err != nil || len(evs) != 3 {
		t.Fatalf("cursor at the retention edge: %d events, %v; want 3", len(evs), err)
	}
}

func testPollSchedule(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	now := time.Now()
	for i, due := range []time.Duration{-2 * time.Second, -time.Second, time.Hour} {
		job := store.PollJob{VerificationID: fmt.Sprint("p", i), Due: now.Add(due), Data: []byte{byte(i)}}
		if err := s.SchedulePoll(ctx(t), job); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := s.ClaimPolls(ctx(t), "a", now, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].VerificationID != "p0" || jobs[1].VerificationID != "p1" || jobs[1].Data[0] != 1 {
		t.Fatalf("claimed %+v, want p0 then p1 (due ones, oldest first)", jobs)
	}
	if again, _ := s.ClaimPolls(ctx(t), "b", now, time.Minute, 10); len(again) != 0 {
		t.Fatalf("leased jobs were claimed again: %+v", again)
	}
	if err := s.FinishPoll(ctx(t), "b", jobs[0], true); !errors.Is(err, store.ErrNotOwner) {
		t.Fatalf("FinishPoll by a non-owner: %v, want ErrNotOwner", err)
	}
	jobs[0].Due, jobs[0].Data, jobs[0].Failures = now.Add(-time.Millisecond), []byte("next"), 3
	if err := s.FinishPoll(ctx(t), "a", jobs[0], false); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishPoll(ctx(t), "a", jobs[1], true); err != nil {
		t.Fatal(err)
	}
	got, _ := s.ClaimPolls(ctx(t), "b", now, time.Minute, 10)
	if len(got) != 1 || got[0].VerificationID != "p0" || string(got[0].Data) != "next" || got[0].Failures != 3 {
		t.Fatalf("after reschedule claimed %+v, want p0 with the new data", got)
	}
	if err := s.FinishPoll(ctx(t), "b", got[0], true); err != nil {
		t.Fatal(err)
	}
	if later, _ := s.ClaimPolls(ctx(t), "c", now.Add(2*time.Hour), time.Minute, 1); len(later) != 1 || later[0].VerificationID != "p2" {
		t.Fatalf("limit 1 at a later time claimed %+v, want p2", later)
	}
}

func testPollLease(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	if err := s.SchedulePoll(ctx(t), store.PollJob{VerificationID: "lz", Due: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	jobs, _ := s.ClaimPolls(ctx(t), "dead", time.Now(), 150*time.Millisecond, 10)
	if len(jobs) != 1 {
		t.Fatalf("claimed %d jobs", len(jobs))
	}
	time.Sleep(300 * time.Millisecond)
	taken, _ := s.ClaimPolls(ctx(t), "alive", time.Now(), time.Minute, 10)
	if len(taken) != 1 {
		t.Fatal("a dead owner's job did not come due again after its lease")
	}
	if err := s.FinishPoll(ctx(t), "dead", jobs[0], true); !errors.Is(err, store.ErrNotOwner) {
		t.Fatalf("the dead owner finished a job it lost: %v", err)
	}
	if err := s.FinishPoll(ctx(t), "alive", taken[0], true); err != nil {
		t.Fatal(err)
	}
}

func testPollRace(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	for i := range 20 {
		if err := s.SchedulePoll(ctx(t), store.PollJob{VerificationID: fmt.Sprint("r", i), Due: time.Now().Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			jobs, err := s.ClaimPolls(context.Background(), fmt.Sprint("w", w), time.Now(), time.Minute, 5)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, j := range jobs {
				if prev, dup := seen[j.VerificationID]; dup {
					t.Errorf("%s claimed by %s and w%d", j.VerificationID, prev, w)
				}
				seen[j.VerificationID] = fmt.Sprint("w", w)
			}
		})
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Fatalf("%d of 20 jobs claimed", len(seen))
	}
}
