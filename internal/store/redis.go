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
	// MaxEvents bounds the event log by length (0: 100,000).
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
// keys (Apply: verification, subject, dedupe key and stream; polls: zset and job hashes) work
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
	// paying a round trip each; transactions and blocking reads stay on c.
	ap      cmdScripter
	tag     string // "{prefix}"
	events  string
	trimmed string
	polls   string
	maxLen  int64
	maxAge  time.Duration
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
		o.MaxEvents = 100_000
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
		c:       o.Client,
		ap:      ap,
		tag:     tag,
		events:  tag + ":events",
		trimmed: tag + ":events:trimmed",
		polls:   tag + ":polls",
		pollKey: tag + ":poll:",
		maxLen:  int64(o.MaxEvents),
		maxAge:  o.MaxEventAge,

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

// Complete: compare-and-set on the owner (the whole in-flight value); returns 1 when stored,
// 0 when not the owner.
var completeScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) <= 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`)

// Release: deletes the record only while owner holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`)

// Claim implements Store. A live record answers Mismatch, Replay or InFlight exactly as
// Memory does; otherwise the key is taken with a new owner for the lease (a lease of 0 ms
// takes it for no time at all, like Memory's already expired record).
func (r *Redis) Claim(ctx context.Context, key, fingerprint string, lease time.Duration) (Claim, error) {
	if err := ctx.Err(); err != nil {
		return Claim{}, err
	}
	owner := idemValue('o', fingerprint, newOwnerToken())
	var old string
	var err error
	if px := pxMillis(lease); px > 0 {
		old, err = r.ap.SetArgs(ctx, r.idemKey(key), owner, redis.SetArgs{Mode: "NX", Get: true, TTL: time.Duration(px) * time.Millisecond}).Result()
	} else {
		old, err = r.ap.Get(ctx, r.idemKey(key)).Result()
	}
	switch {
	case errors.Is(err, redis.Nil):
		return Claim{State: Claimed, Owner: owner}, nil
	case err != nil:
		return Claim{}, r.fail(ctx, "claim", err)
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

// Complete implements Store.
func (r *Redis) Complete(ctx context.Context, key, owner string, response []byte, retain time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	state, fp, _, ok := parseIdemValue(owner)
	if !ok || state != 'o' {
		return ErrNotOwner
	}
	n, err := completeScript.Run(ctx, r.ap, []string{r.idemKey(key)}, owner, idemValue('d', fp, string(response)), pxMillis(retain)).Int()
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
	raw, err := r.ap.Get(ctx, r.verifKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Verification{}, ErrNotFound
	}
	if err != nil {
		return Verification{}, r.fail(ctx, "get", err)
	}
	var v Verification
	if err := unmarshalVerification(raw, &v); err != nil {
		return Verification{}, fmt.Errorf("store: redis get: decoding verification: %w", err)
	}
	return v, nil
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

// applyScript writes an Update's outcome if what Apply read is still there: a compare-and-set.
//
//	KEYS: verification, dedupe key (the verification key when there is none), subject, stream,
//	      trimmed marker
//	ARGV: 1 the verification as read ("" when absent), 2 "1" if it was present, 3 "1" to check
//	      that the dedupe key is still absent, 4 dedupe PX ms ("0": do not record), 5 the new
//	      verification ("": record the delivery only), 6 "1" to point the subject at it, 7 its
//	      id, 8 the event, 9 max events, 10 min event id
//
// Returns {"conflict"} when another writer got there first, else {"ok", event id or ""}.
var applyScript = redis.NewScript(trimLua + `
local cur = redis.call('GET', KEYS[1])
if ARGV[2] == '1' then
  if cur ~= ARGV[1] then return {'conflict'} end
elseif cur then
  return {'conflict'}
end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return {'conflict'} end
if ARGV[4] ~= '0' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[4]) end
if ARGV[5] == '' then return {'ok', ''} end
redis.call('SET', KEYS[1], ARGV[5])
if ARGV[6] == '1' then redis.call('SET', KEYS[3], ARGV[7]) end
local id = redis.call('XADD', KEYS[4], '*', '` + eventField + `', ARGV[8])
trim(KEYS[4], KEYS[5], ARGV[9], ARGV[10])
return {'ok', id}
`)

// Apply implements Store. It reads the verification and dedupe key (one round trip), computes
// Transition in Go (so the rules live in one place), then writes with applyScript, which
// checks that what was read is still there; if another writer got in between, the whole
// read-compute-write is retried. All keys share the hash tag, so this works on Cluster.
func (r *Redis) Apply(ctx context.Context, u Update) (Applied, error) {
	if err := ctx.Err(); err != nil {
		return Applied{}, err
	}
	vkey := r.verifKey(u.VerificationID)
	var dkey string
	if u.DedupeKey != "" {
		dkey = r.dedupeKey(u.DedupeKey)
	}
	for attempt := range applyAttempts {
		out, done, err := r.applyOnce(ctx, u, vkey, dkey)
		if err != nil {
			var de decodeError
			if errors.As(err, &de) {
				return Applied{}, fmt.Errorf("store: redis apply: %w", err)
			}
			return Applied{}, r.fail(ctx, "apply", err)
		}
		if done {
			return out, nil
		}
		// Lost the race to another writer: back off a little (jittered, growing) and retry.
		pause := time.Duration(rand.Int64N(int64(attempt+1) * int64(200*time.Microsecond)))
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return Applied{}, ctx.Err()
		case <-t.C:
		}
	}
	return Applied{}, fmt.Errorf("store: redis apply: %w: gave up after %d attempts, other writers kept changing the verification",
		ErrUnavailable, applyAttempts)
}

type decodeError struct{ err error }

func (e decodeError) Error() string { return "decoding stored verification: " + e.err.Error() }
func (e decodeError) Unwrap() error { return e.err }

// applyOnce is one read-compute-write; done is false when another writer got in between.
func (r *Redis) applyOnce(ctx context.Context, u Update, vkey, dkey string) (out Applied, done bool, err error) {
	get, dup, err := r.readForApply(ctx, vkey, dkey)
	if err != nil {
		return Applied{}, false, err
	}
	var cur *Verification
	if get != nil {
		var v Verification
		if err := unmarshalVerification(get, &v); err != nil {
			return Applied{}, false, decodeError{err}
		}
		cur = &v
	}
	if dup {
		out := Applied{Duplicate: true}
		if cur != nil {
			out.Verification = *cur
		}
		return out, true, nil
	}
	next, ev, ok, stale := Transition(cur, u)
	// A refused (stale) delivery is still a delivery: its retries are duplicates too. A TTL
	// of 0 records nothing (Memory's record would expire at once).
	dedupeTTL := int64(0)
	if dkey != "" {
		dedupeTTL = pxMillis(u.DedupeTTL)
	}
	if !ok && dedupeTTL == 0 {
		return Applied{Verification: next, Stale: stale}, true, nil
	}
	var state, evBytes []byte
	if ok {
		state, evBytes = marshalVerification(&next), marshalEvent(ev)
	}
	dk := dkey
	if dk == "" {
		dk = vkey
	}
	res, err := applyScript.Run(ctx, r.ap,
		[]string{vkey, dk, r.subjectKey(next.Provider, next.Subject.Key()), r.events, r.trimmed},
		get, flag(get != nil), flag(dkey != ""), dedupeTTL, state, flag(ok && (u.NewAttempt || cur == nil)), next.ID,
		evBytes, r.maxLen, "0-0").StringSlice()
	if err != nil {
		return Applied{}, false, err
	}
	if len(res) == 0 || res[0] != "ok" {
		return Applied{}, false, nil
	}
	if !ok {
		return Applied{Verification: next, Stale: stale}, true, nil
	}
	ev.ID = res[1]
	return Applied{Verification: next, Event: ev}, true, nil
}

// readForApply reads the stored verification (nil when absent) and whether the dedupe key is
// recorded, in one round trip.
func (r *Redis) readForApply(ctx context.Context, vkey, dkey string) ([]byte, bool, error) {
	if dkey == "" {
		raw, err := r.ap.Get(ctx, vkey).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, false, nil
		}
		return raw, false, err
	}
	var get *redis.StringCmd
	var exists *redis.IntCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, vkey)
		exists = p.Exists(ctx, dkey)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, err
	}
	if err := exists.Err(); err != nil {
		return nil, false, err
	}
	raw, err := get.Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, exists.Val() > 0, nil
	case err != nil:
		return nil, false, err
	}
	return raw, exists.Val() > 0, nil
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
