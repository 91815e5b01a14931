package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a Redis store.
type RedisOptions struct {
	// Client is the connection to Redis: single node, Sentinel or Cluster (required). The
	// caller owns it: the store never closes it.
	Client redis.UniversalClient
	// Prefix names the store's keys, so several deployments can share one Redis (default
	// "kycgw"). It becomes the hash tag of every key, so it must not contain '{' or '}'.
	Prefix string
	// MaxEvents bounds the event log by length (0: DefaultMaxEvents). Appends let the log run
	// past it by up to a 1,024th (see trimSlack); reads trim it back exactly, at most once a
	// second per gateway.
	MaxEvents int
	// MaxEventAge bounds the event log by age (0: 24 h).
	MaxEventAge time.Duration
	// NoAutoPipeline sends every command on its own round trip instead of batching
	// concurrent ones (go-redis automatic pipelining, used by default where the client
	// offers it).
	NoAutoPipeline bool
}

// cmdScripter is what the request path needs of a client: commands and scripts.
type cmdScripter interface {
	redis.Cmdable
	redis.Scripter
}

type autoPipeliner interface {
	AutoPipeline() (*redis.AutoPipeliner, error)
}

// Redis is a Store in Redis, shared by every replica that uses the same Redis and Prefix. It
// has the semantics of Memory: the two pass one conformance suite.
//
// Key layout, with P the prefix:
//
//	{P}:idem:<key>                    string, see idemValue; PX = lease, then retention
//	{P}:v:<verification id>           string, the Verification (codec.go)
//	{P}:subj:<provider>:<subject key> string, the id of the latest verification of the subject
//	{P}:dedupe:<dedupe key>           string "1", PX = Update.DedupeTTL
//	{P}:events                        stream, one field "e": the Event (codec.go; id = event id)
//	{P}:events:trimmed                string, the newest event id retention removed
//	{P}:polls                         zset, member verification id, score = due time (Unix ms)
//	{P}:poll:<verification id>        hash due, data, failures | owner, until
//
// Every key carries the same hash tag {P}, so the scripts and transactions that touch several
// keys (Apply: verification, subject, dedupe key, stream and idempotency record; polls: zset and job hashes) work
// on Redis Cluster. The trade-off: the whole store lives in one slot, so on a cluster it is
// served by one primary (its replicas give failover, not more throughput). That is ample for a
// KYC gateway's write rate; shard by deployment (Prefix) if it ever is not.
//
// Requires Redis 7.0 or newer (SET with both NX and GET).
//
// Only ids, fingerprints, statuses and the opaque (server-encrypted) poll data are written; the
// store logs nothing.
type Redis struct {
	c redis.UniversalClient
	// ap carries the single commands and scripts of the request path. With the client's
	// automatic pipelining, concurrent requests share writes and Redis wake-ups instead of
	// paying a round trip each; transactions, blocking reads and the few places that send
	// two commands at once (an explicit pipeline: one round trip) stay on c.
	ap      cmdScripter
	tag     string // "{prefix}"
	events  string
	trimmed string
	polls   string
	maxLen  int64
	// trimSlack is how far past maxLen appends let the log run before trimming it back in
	// one step: at the bound, trimming on every append cost each Start four more commands in
	// Redis (a fifth of the store's Redis CPU for a Start, measured), trimming a batch costs
	// about as much as trimming one.
	trimSlack int64
	maxAge    time.Duration
	// ageTrimEvery spaces the age trims that reads run (a tenth of maxAge, at most a second);
	// lastAgeTrim is when this process last ran one (Unix ns).
	ageTrimEvery time.Duration
	lastAgeTrim  atomic.Int64
	pollKey      string // prefix of the job hashes, for the scripts
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Redis store using o.Client. It does not contact Redis (see Ping).
func NewRedis(o RedisOptions) (*Redis, error) {
	if o.Client == nil {
		return nil, errors.New("store: RedisOptions.Client is required")
	}
	if o.Prefix == "" {
		o.Prefix = "kycgw"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("store: redis prefix %q must not contain '{' or '}'", o.Prefix)
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxEventAge <= 0 {
		o.MaxEventAge = 24 * time.Hour
	}
	tag := "{" + o.Prefix + "}"
	var ap cmdScripter = o.Client
	if a, ok := o.Client.(autoPipeliner); ok && !o.NoAutoPipeline {
		p, err := a.AutoPipeline()
		if err != nil {
			return nil, fmt.Errorf("store: redis automatic pipelining: %w", err)
		}
		ap = p
	}
	return &Redis{
		c:         o.Client,
		ap:        ap,
		tag:       tag,
		events:    tag + ":events",
		trimmed:   tag + ":events:trimmed",
		polls:     tag + ":polls",
		pollKey:   tag + ":poll:",
		maxLen:    int64(o.MaxEvents),
		trimSlack: int64(o.MaxEvents / 1024),
		maxAge:    o.MaxEventAge,

		ageTrimEvery: min(time.Second, o.MaxEventAge/10),
	}, nil
}

func (r *Redis) idemKey(key string) string   { return r.tag + ":idem:" + key }
func (r *Redis) verifKey(id string) string   { return r.tag + ":v:" + id }
func (r *Redis) dedupeKey(key string) string { return r.tag + ":dedupe:" + key }
func (r *Redis) subjectKey(provider, subjectKey string) string {
	return r.tag + ":subj:" + provider + ":" + subjectKey
}

// fail turns an error from go-redis into the store's vocabulary: the caller's own
// cancellation or deadline stays a context error; anything that means Redis cannot serve now
// (network, closed client, pool timeout, LOADING, failover states...) wraps ErrUnavailable;
// other server replies (a bug, such as WRONGTYPE) are returned as they are. Values are never
// part of the message.
func (r *Redis) fail(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("store: redis %s: %w", op, cerr)
	}
	if isUnavailable(err) {
		return fmt.Errorf("store: redis %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("store: redis %s: %w", op, err)
}

// transientReplies are the error replies that mean "Redis cannot serve right now" rather than
// "this command is wrong".
var transientReplies = []string{
	"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS",
	"MISCONF", "OOM", "MOVED", "ASK", "NOAUTH", "WRONGPASS", "NOPERM", "MAXCLIENTS",
	"ERR max number of clients",
}

func isUnavailable(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		// Not a reply from the server: dial and I/O errors, timeouts, a closed client or
		// pool, an interrupted connection. (context errors that are not the caller's, too.)
		return true
	}
	if errors.Is(err, redis.TxFailedErr) {
		return false
	}
	msg := rerr.Error()
	for _, p := range transientReplies {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// pxMillis converts a TTL to whole milliseconds for PX/PEXPIRE, rounding up so a positive
// duration never becomes 0 (which Redis refuses); 0 means "already expired".
func pxMillis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// idemValue encodes an idempotency record as one string, so that taking a key is a single
// SET NX GET (no script): a state byte, the fingerprint's length and the fingerprint, then
// the owner token while in flight ('o') or the stored response once done ('d'). The whole
// in-flight value is the owner handed to the caller: it holds a fresh random token, so
// comparing values is comparing owners.
func idemValue(state byte, fingerprint, rest string) string {
	return string(state) + strconv.Itoa(len(fingerprint)) + ":" + fingerprint + rest
}

// parseIdemValue splits a record; ok is false for a value this store did not write.
func parseIdemValue(v string) (state byte, fingerprint, rest string, ok bool) {
	if len(v) < 2 || (v[0] != 'o' && v[0] != 'd') {
		return 0, "", "", false
	}
	n, after, found := strings.Cut(v[1:], ":")
	l, err := strconv.Atoi(n)
	if !found || err != nil || l < 0 || l > len(after) {
		return 0, "", "", false
	}
	return v[0], after[:l], after[l:], true
}

// completeScript: KEYS[1] the record; ARGV owner, completed record, PX ms (see completeLua).
var completeScript = redis.NewScript(completeLua + `return complete(KEYS[1], ARGV[1], ARGV[2], ARGV[3])`)

// completedValue is the finished record that replaces owner's in-flight one; notOwner is true
// when owner is not an in-flight record at all (so no stored record can match it).
func completedValue(owner string, response []byte) (record string, notOwner bool) {
	state, fp, _, ok := parseIdemValue(owner)
	if !ok || state != 'o' {
		return "", true
	}
	return idemValue('d', fp, string(response)), false
}

// Release: deletes the record only while owner holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`)

// claimAndGetScript takes an idempotency key (SET NX GET) and, when it was free, reads the
// verification too (a key that is taken answers without it: Start needs the verification
// only when it goes on to call the provider).
//
//	KEYS: 1 the idempotency record, 2 the verification
//	ARGV: 1 the in-flight record (the owner), 2 the lease in PX ms ("0": only look)
//
// Returns {the record's previous value or nil, the verification or nil}.
var claimAndGetScript = redis.NewScript(`
local old
if ARGV[2] == '0' then
  old = redis.call('GET', KEYS[1])
else
  old = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'GET', 'PX', ARGV[2])
end
if old then return {old, false} end
return {false, redis.call('GET', KEYS[2])}
`)

// ClaimAndGet implements Store. With a key it is one script, so that the claim and the read
// share a round trip (and the automatic pipeline) with other requests' commands. A live
// record answers Mismatch, Replay or InFlight exactly as Memory does; otherwise the key is
// taken with a new owner for the lease (a lease of 0 ms takes it for no time at all, like
// Memory's already expired record).
func (r *Redis) ClaimAndGet(ctx context.Context, key, fingerprint string, lease time.Duration, verificationID string) (Claim, Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Claim{}, Snapshot{}, err
	}
	if key == "" {
		snap, err := r.snapshot(r.ap.Get(ctx, r.verifKey(verificationID)))
		if err != nil {
			return Claim{}, Snapshot{}, r.readFail(ctx, "get", err)
		}
		return Claim{}, snap, nil
	}
	owner := idemValue('o', fingerprint, newOwnerToken())
	res, err := claimAndGetScript.Run(ctx, r.ap, []string{r.idemKey(key), r.verifKey(verificationID)}, owner, pxMillis(lease)).Slice()
	if err != nil {
		return Claim{}, Snapshot{}, r.fail(ctx, "claim", err)
	}
	if len(res) != 2 {
		return Claim{}, Snapshot{}, fmt.Errorf("store: redis claim: unexpected reply of %d values", len(res))
	}
	old, _ := res[0].(string)
	c, err := r.claimed(old, res[0] == nil, owner, fingerprint)
	if err != nil || c.State != Claimed {
		return c, Snapshot{}, err
	}
	raw, _ := res[1].(string)
	var getErr error
	if res[1] == nil {
		getErr = redis.Nil
	}
	snap, err := decodeSnapshot([]byte(raw), getErr)
	if err != nil {
		return Claim{}, Snapshot{}, r.readFail(ctx, "get", err)
	}
	return c, snap, nil
}

// claimed reads the outcome of taking a key from the value it held before (none: free, so
// now owner's).
func (r *Redis) claimed(old string, none bool, owner, fingerprint string) (Claim, error) {
	if none {
		return Claim{State: Claimed, Owner: owner}, nil
	}
	state, fp, rest, ok := parseIdemValue(old)
	switch {
	case !ok:
		return Claim{}, fmt.Errorf("store: redis claim: unreadable idempotency record")
	case fp != fingerprint:
		return Claim{State: Mismatch}, nil
	case state == 'd':
		return Claim{State: Replay, Response: []byte(rest)}, nil
	}
	return Claim{State: InFlight}, nil
}

// readFail is fail for reads that decode what they read: a value that does not decode is a
// bug or foreign data, not an unavailable Redis.
func (r *Redis) readFail(ctx context.Context, op string, err error) error {
	var de decodeError
	if errors.As(err, &de) {
		return fmt.Errorf("store: redis %s: %w", op, err)
	}
	return r.fail(ctx, op, err)
}

// snapshot reads the reply to a GET of a verification key.
func (r *Redis) snapshot(get *redis.StringCmd) (Snapshot, error) { return decodeSnapshot(get.Bytes()) }

func decodeSnapshot(raw []byte, err error) (Snapshot, error) {
	switch {
	case errors.Is(err, redis.Nil):
		return Snapshot{read: true}, nil
	case err != nil:
		return Snapshot{}, err
	}
	s := Snapshot{read: true, raw: raw}
	s.v = new(Verification)
	if err := unmarshalVerification(raw, s.v); err != nil {
		return Snapshot{}, decodeError{err}
	}
	return s, nil
}

// Complete implements Store.
func (r *Redis) Complete(ctx context.Context, key, owner string, response []byte, retain time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	record, notOwner := completedValue(owner, response)
	if notOwner {
		return ErrNotOwner
	}
	n, err := completeScript.Run(ctx, r.ap, []string{r.idemKey(key)}, owner, record, pxMillis(retain)).Int()
	if err != nil {
		return r.fail(ctx, "complete", err)
	}
	if n != 1 {
		return ErrNotOwner
	}
	return nil
}

// Release implements Store.
func (r *Redis) Release(ctx context.Context, key, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if owner == "" {
		return nil
	}
	if err := releaseScript.Run(ctx, r.ap, []string{r.idemKey(key)}, owner).Err(); err != nil {
		return r.fail(ctx, "release", err)
	}
	return nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, id string) (Verification, error) {
	if err := ctx.Err(); err != nil {
		return Verification{}, err
	}
	snap, err := r.snapshot(r.ap.Get(ctx, r.verifKey(id)))
	if err != nil {
		return Verification{}, r.readFail(ctx, "get", err)
	}
	if snap.v == nil {
		return Verification{}, ErrNotFound
	}
	return *snap.v, nil
}

// Lookup implements Store.
func (r *Redis) Lookup(ctx context.Context, provider, subjectKey string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id, err := r.ap.Get(ctx, r.subjectKey(provider, subjectKey)).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", r.fail(ctx, "lookup", err)
	}
	return id, nil
}

// applyAttempts bounds Apply's optimistic retries. Each failed attempt means another writer
// changed the same verification or dedupe key in between, so exhausting them takes dozens of
// concurrent writers on one verification.
const applyAttempts = 50

// completeLua defines complete(K, owner, value, px), the compare-and-set on an idempotency
// record's owner shared by completeScript and applyScript: 1 when stored, 0 when not the owner.
const completeLua = `
local function complete(K, owner, value, px)
  if redis.call('GET', K) ~= owner then return 0 end
  if tonumber(px) <= 0 then
    redis.call('DEL', K)
  else
    redis.call('SET', K, value, 'PX', px)
  end
  return 1
end
`

// applyScript writes an Update's outcome if what Apply read is still there: a compare-and-set.
//
//	KEYS: 1 verification, 2 dedupe key (the verification key when there is none), 3 subject,
//	      4 stream, 5 trimmed marker, 6 idempotency record (the verification key when none)
//	ARGV: 1 the verification as read ("" when absent), 2 "1" if it was present, 3 "1" to check
//	      that the dedupe key is still absent, 4 dedupe PX ms ("0": do not record), 5 the new
//	      verification ("": record the delivery only), 6 "1" to point the subject at it, 7 its
//	      id, 8 the event, 9 max events, 10 min event id, 11 the owner of the idempotency
//	      claim to complete ("": none), 12 the completed record, 13 its PX ms, 14 the trim
//	      slack
//
// Returns {"conflict"} when another writer got there first, else {"ok", event id or "",
// completion} where completion is "" (none asked), 1 (stored) or 0 (claim not held).
var applyScript = redis.NewScript(trimLua + completeLua + `
local cur = redis.call('GET', KEYS[1])
if ARGV[2] == '1' then
  if cur ~= ARGV[1] then return {'conflict'} end
elseif cur then
  return {'conflict'}
end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return {'conflict'} end
if ARGV[4] ~= '0' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[4]) end
local id = ''
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[1], ARGV[5])
  if ARGV[6] == '1' then redis.call('SET', KEYS[3], ARGV[7]) end
  id = redis.call('XADD', KEYS[4], '*', '` + eventField + `', ARGV[8])
  trim(KEYS[4], KEYS[5], ARGV[9], ARGV[10], ARGV[14])
end
local done = ''
if ARGV[11] ~= '' then done = tostring(complete(KEYS[6], ARGV[11], ARGV[12], ARGV[13])) end
return {'ok', id, done}
`)

// Apply implements Store. It reads the verification and dedupe key (one round trip; none
// when Update.Read holds the verification), computes Transition in Go (so the rules live in
// one place), then writes with applyScript, which checks that what was read is still there;
// if another writer got in between, the whole read-compute-write is retried. All keys share
// the hash tag, so this works on Cluster. A completion rides in the same script.
func (r *Redis) Apply(ctx context.Context, u Update) (Applied, error) {
	if err := ctx.Err(); err != nil {
		return Applied{}, err
	}
	vkey := r.verifKey(u.VerificationID)
	var dkey string
	if u.DedupeKey != "" {
		dkey = r.dedupeKey(u.DedupeKey)
	}
	snap := u.Read
	for attempt := range applyAttempts {
		out, done, err := r.applyOnce(ctx, u, vkey, dkey, snap)
		if err != nil {
			return Applied{}, err
		}
		if done {
			return out, nil
		}
		// Lost the race to another writer (or the snapshot was out of date): read again,
		// after a little (jittered, growing) pause when it was a race.
		if !snap.read {
			pause := time.Duration(rand.Int64N(int64(attempt+1) * int64(200*time.Microsecond)))
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return Applied{}, ctx.Err()
			case <-t.C:
			}
		}
		snap = Snapshot{}
	}
	return Applied{}, fmt.Errorf("store: redis apply: %w: gave up after %d attempts, other writers kept changing the verification",
		ErrUnavailable, applyAttempts)
}

type decodeError struct{ err error }

func (e decodeError) Error() string { return "decoding stored verification: " + e.err.Error() }
func (e decodeError) Unwrap() error { return e.err }

// applyOnce is one read-compute-write, starting from snap when it was read; done is false
// when another writer got in between.
func (r *Redis) applyOnce(ctx context.Context, u Update, vkey, dkey string, snap Snapshot) (out Applied, done bool, err error) {
	var dup bool
	given := snap.read // the caller's snapshot, not yet checked against Redis
	if !snap.read {
		if snap, dup, err = r.readForApply(ctx, vkey, dkey); err != nil {
			return Applied{}, false, r.readFail(ctx, "apply", err)
		}
	}
	cur := snap.v
	if dup {
		out := Applied{Duplicate: true}
		if cur != nil {
			out.Verification = *cur
		}
		return r.completeAfter(ctx, u, out)
	}
	next, ev, ok, stale := Transition(cur, u)
	// A refused (stale) delivery is still a delivery: its retries are duplicates too. A TTL
	// of 0 records nothing (Memory's record would expire at once).
	dedupeTTL := int64(0)
	if dkey != "" {
		dedupeTTL = pxMillis(u.DedupeTTL)
	}
	if !ok && dedupeTTL == 0 {
		if given {
			// Nothing to write, so no script would check the snapshot: read what is there.
			return Applied{}, false, nil
		}
		return r.completeAfter(ctx, u, Applied{Verification: next, Stale: stale})
	}
	var state, evBytes []byte
	if ok {
		state, evBytes = marshalVerification(&next), marshalEvent(ev)
	}
	dk := dkey
	if dk == "" {
		dk = vkey
	}
	ik, owner, record, retain, notOwner := vkey, "", "", int64(0), false
	if c := u.Complete; c != nil {
		resp, err := c.Response(next)
		if err != nil {
			return Applied{}, false, fmt.Errorf("store: apply: building the response to store: %w", err)
		}
		if record, notOwner = completedValue(c.Owner, resp); !notOwner {
			ik, owner, retain = r.idemKey(c.Key), c.Owner, pxMillis(c.Retain)
		}
	}
	res, err := applyScript.Run(ctx, r.ap,
		[]string{vkey, dk, r.subjectKey(next.Provider, next.Subject.Key()), r.events, r.trimmed, ik},
		snap.raw, flag(snap.v != nil), flag(dkey != ""), dedupeTTL, state, flag(ok && (u.NewAttempt || cur == nil)), next.ID,
		evBytes, r.maxLen, "0-0", owner, record, retain, r.trimSlack).StringSlice()
	if err != nil {
		return Applied{}, false, r.fail(ctx, "apply", err)
	}
	if len(res) < 3 || res[0] != "ok" {
		return Applied{}, false, nil
	}
	out = Applied{Verification: next, Stale: stale, NotOwner: notOwner || res[2] == "0"}
	if ok {
		ev.ID = res[1]
		out.Event = ev
	}
	return out, true, nil
}

// completeAfter completes u's claim, if it has one, when applyOnce wrote nothing (so there was
// no script to carry it).
func (r *Redis) completeAfter(ctx context.Context, u Update, out Applied) (Applied, bool, error) {
	c := u.Complete
	if c == nil {
		return out, true, nil
	}
	resp, err := c.Response(out.Verification)
	if err != nil {
		return Applied{}, false, fmt.Errorf("store: apply: building the response to store: %w", err)
	}
	switch err := r.Complete(ctx, c.Key, c.Owner, resp, c.Retain); {
	case errors.Is(err, ErrNotOwner):
		out.NotOwner = true
	case err != nil:
		return Applied{}, false, err
	}
	return out, true, nil
}

// readForApply reads the stored verification and whether the dedupe key is recorded, in one
// round trip.
func (r *Redis) readForApply(ctx context.Context, vkey, dkey string) (Snapshot, bool, error) {
	if dkey == "" {
		snap, err := r.snapshot(r.ap.Get(ctx, vkey))
		return snap, false, err
	}
	p := r.c.Pipeline()
	get := p.Get(ctx, vkey)
	exists := p.Exists(ctx, dkey)
	_, _ = p.Exec(ctx) // each command reports its own error
	snap, err := r.snapshot(get)
	if err != nil {
		return Snapshot{}, false, err
	}
	n, err := exists.Result()
	return snap, n > 0, err
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.fail(ctx, "ping", r.c.Ping(ctx).Err())
}
