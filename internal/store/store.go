// Package store keeps what kycgw must not lose: idempotency records, verification state, the
// event log and webhook deduplication keys. Store is the interface the server uses; Memory is
// the embedded, single-process implementation, and a Redis implementation shares its semantics
// (leases, TTLs, stream-shaped event ids) so the two pass one conformance suite.
//
// The package knows nothing of gRPC or generated code; it imports only providers' domain types.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/kycgw/kycgw/providers"
)

// Errors returned by stores.
var (
	// ErrNotFound: no such verification (or subject index entry).
	ErrNotFound = errors.New("not found")
	// ErrNotOwner: the idempotency claim is no longer held by this owner (its lease expired
	// and another caller claimed the key, or it was completed).
	ErrNotOwner = errors.New("idempotency claim not held by this owner")
	// ErrCursorExpired: the event cursor is older than the retained events.
	ErrCursorExpired = errors.New("event cursor older than retained events")
	// ErrBadCursor: the event cursor is not an event id.
	ErrBadCursor = errors.New("malformed event cursor")
	// ErrUnavailable: the backing service cannot be reached.
	ErrUnavailable = errors.New("store unavailable")
)

// Store is the state kycgw shares between its parts, and between replicas when the
// implementation is shared.
type Store interface {
	// ClaimAndGet tries to take the idempotency key for one request with the given
	// fingerprint, for lease. When it takes it, it also reads the verification, in the same
	// round trip where the store is remote: what a Start needs before it calls the provider.
	// A key that is not taken (replay, in flight, mismatch) answers with the zero Snapshot.
	// With an empty key it only reads, and the Claim is the zero value. The snapshot can be
	// handed back in Update.Read.
	ClaimAndGet(ctx context.Context, key, fingerprint string, lease time.Duration, verificationID string) (Claim, Snapshot, error)
	// Complete stores the response for a key claimed by owner and keeps it for retain. It
	// fails with ErrNotOwner if the claim was lost (compare-and-set on the owner token).
	Complete(ctx context.Context, key, owner string, response []byte, retain time.Duration) error
	// Release drops a claim held by owner without storing a response, so the key can be
	// retried at once (used for outcomes that must not be replayed, like an unavailable
	// provider). Releasing a claim that is not held is not an error.
	Release(ctx context.Context, key, owner string) error

	// Get returns a verification by id.
	Get(ctx context.Context, verificationID string) (Verification, error)
	// Lookup returns the id of the verification most recently started for a subject at a
	// provider instance (webhooks name the subject, not the verification).
	Lookup(ctx context.Context, provider, subjectKey string) (string, error)
	// Apply changes a verification atomically under the transition rules (see Transition),
	// appends the resulting event to the log, records the subject index and the dedupe key, or
	// does none of it.
	Apply(ctx context.Context, u Update) (Applied, error)

	// ReadEvents returns up to limit events after the cursor ("0" means from the oldest
	// retained), in id order. When none are there it waits up to block for one (0: no wait).
	ReadEvents(ctx context.Context, after string, limit int, block time.Duration) ([]Event, error)
	// LastEventID returns the id of the newest event, or "0" when the log is empty.
	LastEventID(ctx context.Context) (string, error)

	// SchedulePoll creates or replaces the poll job of a verification (providers without
	// webhooks are polled until their verifications are final).
	SchedulePoll(ctx context.Context, job PollJob) error
	// ClaimPolls leases up to limit jobs that are due at now to owner, for lease: until the
	// lease runs out no other owner gets them, so each verification is polled by one replica
	// at a time, and a dead replica's jobs come due again.
	ClaimPolls(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]PollJob, error)
	// FinishPoll reschedules a claimed job (job.Due, job.Data, job.Failures) or, when done,
	// removes it. It fails with ErrNotOwner if owner no longer holds the job.
	FinishPoll(ctx context.Context, owner string, job PollJob, done bool) error

	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
}

// PollJob is one verification to poll. Data is opaque to the store (the server keeps what the
// poll needs there, encrypted).
type PollJob struct {
	VerificationID string
	Due            time.Time
	Data           []byte
	Failures       int
}

// ClaimState is the outcome of a Claim.
type ClaimState int

// Claim outcomes.
const (
	// Claimed: the caller owns the key until Complete, Release or the lease runs out.
	Claimed ClaimState = iota + 1
	// Replay: a finished request with the same fingerprint; Response holds its result.
	Replay
	// InFlight: a request with this key is being processed.
	InFlight
	// Mismatch: the key was used with a different request.
	Mismatch
)

// Claim is the outcome of taking an idempotency key (Store.ClaimAndGet).
type Claim struct {
	State    ClaimState
	Owner    string // set when Claimed
	Response []byte // set when Replay
}

// Snapshot is a verification as a store read it, or the fact that it did not exist. Handed
// back in Update.Read, it spares Apply its own read: Apply starts from the snapshot and reads
// again only if the verification changed in between. The zero Snapshot means "not read".
//
// It is small on purpose (the verification is behind a pointer): it is passed by value down
// the request path.
type Snapshot struct {
	read bool
	v    *Verification // nil: absent
	// raw is the stored encoding, which a store that compares-and-sets compares.
	raw []byte
}

// Verification returns the verification read, and false when there was none.
func (s Snapshot) Verification() (Verification, bool) {
	if s.v == nil {
		return Verification{}, false
	}
	return *s.v, true
}

// Completion stores the outcome of an idempotent request together with the update it made,
// so recording the change and its replayable response is one write (see Update.Complete).
type Completion struct {
	// Key, Owner and Retain are Complete's arguments.
	Key    string
	Owner  string
	Retain time.Duration
	// Response builds the stored response from the verification as the update leaves it. A
	// store that retries optimistically may call it more than once, so it must only compute.
	Response func(Verification) ([]byte, error)
}

// Source says what produced a change.
type Source int

// Sources; the numbering matches kyc.v1.EventSource.
const (
	SourceStart Source = iota + 1
	SourceWebhook
	SourcePoll
)

// Verification is the stored state of one verification. It holds no applicant data.
type Verification struct {
	ID        string
	Tenant    string
	Provider  string
	ProgramID string
	Subject   providers.Subject

	Status         providers.Status
	ProviderStatus string
	Attempt        int
	// AttemptStartedAt is when the current attempt was opened.
	AttemptStartedAt time.Time
	// StatusAt is when the provider says the current status was reached (the receive time
	// when it did not say); the "newer" test of the transition rules compares against it.
	StatusAt time.Time

	CreatedAt  time.Time
	UpdatedAt  time.Time
	PassedAt   time.Time
	NextAction providers.NextAction
	Checks     []providers.Check
	Reason     providers.Reason
}

// Update is one observed provider outcome to apply to a verification.
type Update struct {
	// Identity of the verification; Tenant, Provider, ProgramID and Subject are used when the
	// verification is created.
	VerificationID string
	Tenant         string
	Provider       string
	ProgramID      string
	Subject        providers.Subject

	Result        providers.Result
	Source        Source
	ProviderEvent string
	// NewAttempt opens a new attempt (the provider accepted a new submission).
	NewAttempt bool
	ReceivedAt time.Time

	// DedupeKey, when set, makes Apply a no-op (Duplicate) if the key was applied within
	// DedupeTTL, and records it otherwise.
	DedupeKey string
	DedupeTTL time.Duration

	// Read, when set, is the verification as the caller last read it (ClaimAndGet): Apply
	// uses it instead of reading, unless it is out of date.
	Read Snapshot
	// Complete, when set, also completes an idempotency claim with a response made from the
	// resulting verification, whether or not the update changed anything. The update stands
	// even when the claim is no longer held (Applied.NotOwner).
	Complete *Completion
}

// Event is one entry of the event log: a change of a verification's status.
type Event struct {
	ID             string // assigned by the store on append: "<ms>-<seq>"
	Tenant         string
	VerificationID string
	Provider       string
	ProgramID      string
	Subject        providers.Subject
	Status         providers.Status
	PreviousStatus providers.Status
	ProviderEvent  string
	Source         Source
	Attempt        int
	OccurredAt     time.Time
	ReceivedAt     time.Time
	NextAction     providers.NextAction
	Checks         []providers.Check
	Reason         providers.Reason
}

// Applied is the result of Store.Apply.
type Applied struct {
	// Verification is the state after the update (unchanged when nothing applied).
	Verification Verification
	// Event is the appended event, nil when the update changed nothing.
	Event *Event
	// Duplicate is true when the dedupe key had been seen.
	Duplicate bool
	// Stale is true when the update was refused by the transition rules (a late or
	// out-of-order event).
	Stale bool
	// NotOwner is true when Update.Complete's claim was no longer held, so its response was
	// not stored (Complete's ErrNotOwner).
	NotOwner bool
}

// DefaultMaxEvents is the event log's length bound when the options leave it at 0.
const DefaultMaxEvents = 100_000
