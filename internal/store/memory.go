package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// MemoryOptions configure a Memory store.
type MemoryOptions struct {
	// MaxEvents bounds the event log by length (0: DefaultMaxEvents).
	MaxEvents int
	// MaxEventAge bounds the event log by age (0: 24 h).
	MaxEventAge time.Duration
	// Now is the clock; tests replace it. Default time.Now.
	Now func() time.Time
}

// Memory is a Store in process memory, safe for concurrent use. It implements the same
// semantics as the Redis store (leases, TTLs, stream-shaped ids, retention), within one
// process.
type Memory struct {
	opts MemoryOptions

	mu   sync.Mutex
	idem map[string]*idemRecord
	// verifs holds each verification in the store codec's binary form (codec.go), as Redis
	// does: a Verification is a dozen strings, slices and times, pointers the garbage collector
	// follows on every cycle. With hundreds of thousands of verifications in the store, its
	// mark phases grew to 100 ms and more, and requests queued behind them (the p99 of a
	// busy gateway). The bytes are one pointer-free object each.
	verifs  map[string][]byte
	subject map[string]string
	dedupe  map[string]time.Time // key -> expiry
	// events are in ascending id order; events[0] is the oldest retained. Encoded like
	// verifications, for the same reason; 40 bytes each, so growing the log (under mu) copies
	// little.
	events  []loggedEvent
	lastID  EventID
	trimmed EventID       // newest id dropped by retention (zero: none)
	notify  chan struct{} // closed and replaced on every append
	// due indexes the expiries of idempotency and dedupe records by Unix second, so that a
	// sweep visits the records that are due rather than every record. With a day's retention
	// a busy store holds hundreds of thousands, and walking them all once a second, under mu,
	// stalled every request for milliseconds. An entry whose record has since been extended,
	// replaced or removed is skipped.
	due     map[int64][]dueKey
	sweptTo int64 // every second before this one has been swept
	polls   map[string]*pollRecord
}

// loggedEvent is an Event in the store codec's form, which leaves out the id.
type loggedEvent struct {
	id EventID
	b  []byte
}

type dueKey struct {
	key    string
	dedupe bool // a dedupe key, else an idempotency record
}

type pollRecord struct {
	job   PollJob
	owner string    // set while leased
	until time.Time // lease end
}

type idemRecord struct {
	fingerprint string
	owner       string // the claimant's token while in flight
	done        bool   // finished: response holds the outcome
	response    []byte
	expires     time.Time // lease end while in flight, retention end when finished
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory(o MemoryOptions) *Memory {
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxEventAge <= 0 {
		o.MaxEventAge = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Memory{
		opts:    o,
		idem:    make(map[string]*idemRecord),
		verifs:  make(map[string][]byte),
		subject: make(map[string]string),
		dedupe:  make(map[string]time.Time),
		notify:  make(chan struct{}),
		polls:   make(map[string]*pollRecord),
		due:     make(map[int64][]dueKey),
	}
}

func newOwnerToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics on failure since Go 1.24)
	return hex.EncodeToString(b[:])
}

// ClaimAndGet implements Store.
func (m *Memory) ClaimAndGet(ctx context.Context, key, fingerprint string, lease time.Duration, verificationID string) (Claim, Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Claim{}, Snapshot{}, err
	}
	now := m.opts.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var c Claim
	if key != "" {
		m.sweepLocked(now)
		if c = m.claimLocked(now, key, fingerprint, lease); c.State != Claimed {
			return c, Snapshot{}, nil
		}
	}
	v, err := m.verifLocked(verificationID)
	if err != nil {
		return Claim{}, Snapshot{}, err
	}
	return c, Snapshot{read: true, v: v}, nil
}

// verifLocked decodes the stored verification id (nil: none).
func (m *Memory) verifLocked(id string) (*Verification, error) {
	b, ok := m.verifs[id]
	if !ok {
		return nil, nil
	}
	v := new(Verification)
	if err := unmarshalVerification(b, v); err != nil {
		return nil, fmt.Errorf("store: memory: %w", decodeError{err})
	}
	return v, nil
}

func (m *Memory) claimLocked(now time.Time, key, fingerprint string, lease time.Duration) Claim {
	if r, ok := m.idem[key]; ok && now.Before(r.expires) {
		switch {
		case r.fingerprint != fingerprint:
			return Claim{State: Mismatch}
		case r.done:
			return Claim{State: Replay, Response: r.response}
		default:
			return Claim{State: InFlight}
		}
	}
	owner := newOwnerToken()
	m.idem[key] = &idemRecord{fingerprint: fingerprint, owner: owner, expires: now.Add(lease)}
	m.dueLocked(key, false, now.Add(lease))
	return Claim{State: Claimed, Owner: owner}
}

// Complete implements Store.
func (m *Memory) Complete(ctx context.Context, key, owner string, response []byte, retain time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.opts.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.completeLocked(now, key, owner, response, retain)
}

func (m *Memory) completeLocked(now time.Time, key, owner string, response []byte, retain time.Duration) error {
	r, ok := m.idem[key]
	if !ok || r.done || owner == "" || r.owner != owner || !now.Before(r.expires) {
		return ErrNotOwner
	}
	r.owner, r.done = "", true
	r.response = append([]byte(nil), response...)
	r.expires = now.Add(retain)
	m.dueLocked(key, false, r.expires)
	return nil
}

// Release implements Store.
func (m *Memory) Release(ctx context.Context, key, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.idem[key]; ok && !r.done && owner != "" && r.owner == owner {
		delete(m.idem, key)
	}
	return nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, id string) (Verification, error) {
	if err := ctx.Err(); err != nil {
		return Verification{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.verifLocked(id)
	switch {
	case err != nil:
		return Verification{}, err
	case v == nil:
		return Verification{}, ErrNotFound
	}
	return *v, nil
}

// Lookup implements Store.
func (m *Memory) Lookup(ctx context.Context, provider, subjectKey string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.subject[provider+"\x00"+subjectKey]
	if !ok {
		return "", ErrNotFound
	}
	return id, nil
}

// Apply implements Store. Update.Read is not needed: the read happens under the same lock.
func (m *Memory) Apply(ctx context.Context, u Update) (Applied, error) {
	if err := ctx.Err(); err != nil {
		return Applied{}, err
	}
	now := m.opts.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
	cur, err := m.verifLocked(u.VerificationID)
	if err != nil {
		return Applied{}, err
	}
	var out Applied
	var ev *Event
	if exp, ok := m.dedupe[u.DedupeKey]; u.DedupeKey != "" && ok && now.Before(exp) {
		out.Duplicate = true
		if cur != nil {
			out.Verification = *cur
		}
	} else {
		var changed bool
		out.Verification, ev, changed, out.Stale = Transition(cur, u)
		if !changed {
			ev = nil
		}
	}
	// The response is built before anything changes, so a failure leaves the store as it was.
	var resp []byte
	if c := u.Complete; c != nil {
		if resp, err = c.Response(out.Verification); err != nil {
			return Applied{}, fmt.Errorf("store: apply: building the response to store: %w", err)
		}
	}
	if !out.Duplicate && u.DedupeKey != "" {
		// A refused (stale) delivery is still a delivery: its retries are duplicates too.
		m.dedupe[u.DedupeKey] = now.Add(u.DedupeTTL)
		m.dueLocked(u.DedupeKey, true, now.Add(u.DedupeTTL))
	}
	if ev != nil {
		next := out.Verification
		m.verifs[next.ID] = marshalVerification(&next)
		if u.NewAttempt || cur == nil {
			m.subject[next.Provider+"\x00"+next.Subject.Key()] = next.ID
		}
		m.appendLocked(ev, now)
		out.Event = ev
	}
	if c := u.Complete; c != nil {
		out.NotOwner = m.completeLocked(now, c.Key, c.Owner, resp, c.Retain) != nil
	}
	return out, nil
}

func (m *Memory) appendLocked(ev *Event, now time.Time) {
	id := nextEventID(m.lastID, now)
	m.lastID = id
	ev.ID = id.String()
	m.events = append(m.events, loggedEvent{id: id, b: marshalEvent(ev)})
	m.trimLocked(now)
	close(m.notify)
	m.notify = make(chan struct{})
}

// trimLocked applies retention like XADD MAXLEN / MINID: by count, then by age.
func (m *Memory) trimLocked(now time.Time) {
	drop := len(m.events) - m.opts.MaxEvents
	if drop < 0 {
		drop = 0
	}
	minMS := uint64(now.Add(-m.opts.MaxEventAge).UnixMilli())
	for drop < len(m.events) {
		if m.events[drop].id.MS >= minMS {
			break
		}
		drop++
	}
	if drop == 0 {
		return
	}
	m.trimmed = m.events[drop-1].id
	// Reslice: copying the retained events here cost a copy of the whole log per append once
	// it was full (100,000 events, every Apply). Clearing the dropped slots releases what they
	// reference now; the slots themselves go when append next outgrows the array and copies
	// only the retained events, so each event is copied a few times at most and the array
	// stays within a fraction of the retained size.
	clear(m.events[:drop])
	m.events = m.events[drop:]
}

// dueLocked notes that key's record expires at exp.
func (m *Memory) dueLocked(key string, dedupe bool, exp time.Time) {
	sec := max(exp.Unix(), m.sweptTo) // already due (a TTL of 0): the next sweep
	m.due[sec] = append(m.due[sec], dueKey{key: key, dedupe: dedupe})
}

// sweepLocked drops the idempotency and dedupe records that expired in the seconds since the
// last sweep. A record expiring in the current second waits for the next one; until then the
// lookups, which check the expiry themselves, treat it as gone.
func (m *Memory) sweepLocked(now time.Time) {
	end := now.Unix()
	if end <= m.sweptTo {
		return
	}
	if end-m.sweptTo > int64(len(m.due)) {
		// A long pause (or the first sweep): fewer buckets than seconds to walk.
		for sec := range m.due {
			if sec < end {
				m.sweepSecondLocked(sec, now)
			}
		}
	} else {
		for sec := m.sweptTo; sec < end; sec++ {
			m.sweepSecondLocked(sec, now)
		}
	}
	m.sweptTo = end
}

func (m *Memory) sweepSecondLocked(sec int64, now time.Time) {
	keys, ok := m.due[sec]
	if !ok {
		return
	}
	delete(m.due, sec)
	for _, k := range keys {
		if k.dedupe {
			if exp, ok := m.dedupe[k.key]; ok && !now.Before(exp) {
				delete(m.dedupe, k.key)
			}
		} else if r, ok := m.idem[k.key]; ok && !now.Before(r.expires) {
			delete(m.idem, k.key)
		}
	}
}

// ReadEvents implements Store.
func (m *Memory) ReadEvents(ctx context.Context, after string, limit int, block time.Duration) ([]Event, error) {
	cursor, err := ParseEventID(after)
	if err != nil {
		return nil, err
	}
	var timer *time.Timer
	for {
		m.mu.Lock()
		m.trimLocked(m.opts.Now())
		if after != "0" && cursor.Less(m.trimmed) {
			m.mu.Unlock()
			return nil, ErrCursorExpired
		}
		i := sort.Search(len(m.events), func(i int) bool { return cursor.Less(m.events[i].id) })
		if i < len(m.events) || block <= 0 {
			end := len(m.events)
			if limit > 0 && end-i > limit {
				end = i + limit
			}
			// The entries never change once appended (trimming only drops them), so they are
			// decoded after the lock is released.
			logged := slices.Clone(m.events[i:end])
			m.mu.Unlock()
			return decodeLogged(logged)
		}
		wake := m.notify
		m.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(block)
			defer timer.Stop()
		}
		select {
		case <-wake:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func decodeLogged(logged []loggedEvent) ([]Event, error) {
	if len(logged) == 0 {
		return nil, nil
	}
	out := make([]Event, len(logged))
	for j, e := range logged {
		if err := unmarshalEvent(e.b, &out[j]); err != nil {
			return nil, fmt.Errorf("store: memory read events: decoding event %s: %w", e.id, decodeError{err})
		}
		out[j].ID = e.id.String()
	}
	return out, nil
}

// LastEventID implements Store.
func (m *Memory) LastEventID(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastID.String(), nil
}

// Ping implements Store.
func (m *Memory) Ping(ctx context.Context) error { return ctx.Err() }

// SchedulePoll implements Store.
func (m *Memory) SchedulePoll(ctx context.Context, job PollJob) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	job.Data = append([]byte(nil), job.Data...)
	m.polls[job.VerificationID] = &pollRecord{job: job}
	return nil
}

// ClaimPolls implements Store.
func (m *Memory) ClaimPolls(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]PollJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*pollRecord
	for _, r := range m.polls {
		if r.job.Due.After(now) || (r.owner != "" && now.Before(r.until)) {
			continue
		}
		due = append(due, r)
	}
	sort.Slice(due, func(i, j int) bool { return due[i].job.Due.Before(due[j].job.Due) })
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	out := make([]PollJob, len(due))
	for i, r := range due {
		r.owner, r.until = owner, now.Add(lease)
		out[i] = r.job
		out[i].Data = append([]byte(nil), r.job.Data...)
	}
	return out, nil
}

// FinishPoll implements Store.
func (m *Memory) FinishPoll(ctx context.Context, owner string, job PollJob, done bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.polls[job.VerificationID]
	if !ok || r.owner != owner || !m.opts.Now().Before(r.until) {
		return ErrNotOwner
	}
	if done {
		delete(m.polls, job.VerificationID)
		return nil
	}
	job.Data = append([]byte(nil), job.Data...)
	m.polls[job.VerificationID] = &pollRecord{job: job}
	return nil
}
