package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// eventField is the one field of a stream entry: the Event (codec.go), without its id (the
// entry id is the event id).
const eventField = "e"

// maxBlockSlice caps each XREAD BLOCK. go-redis v9 does not interrupt a blocking read when
// its context is cancelled (the context only bounds waiting for a pooled connection, and sets
// the socket deadline when ContextTimeoutEnabled and the context has a deadline), so a long
// block is served as a series of short ones with a ctx check in between: a cancelled
// ReadEvents returns within maxBlockSlice (plus one round trip). A context deadline is
// honoured exactly: the last slice ends at it.
const maxBlockSlice = 500 * time.Millisecond

// Retention, and how expired cursors are detected.
//
// A cursor is expired when it is older than the newest event retention removed (Memory's
// rule). Redis does not say which entries a trim removed: XINFO STREAM's max-deleted-entry-id
// only follows XDEL, not XADD MAXLEN or XTRIM (verified on Redis 7.0), and the first retained
// id does not tell a cursor exactly at the edge (fine) from one before it (expired). So the
// store trims with a script that notes the newest id it removes in {P}:events:trimmed, and the
// expiry check compares the cursor with that. Apply's script trims by length right after the
// XADD, once the log is more than trimSlack past MaxEvents, back to MaxEvents in one step.
// The age bound is applied by reads, in the MULTI of ReadEvents, at most once per
// ageTrimEvery (a tenth of MaxEventAge, at most a second) per process, with the length bound
// applied exactly there too. An event may outlive MaxEventAge by that much, and the expiry check
// stays exact because it compares with what was actually removed. (Every gateway's event
// reader reads after every append, so age retention keeps up without costing each append a
// scan.) In the MULTI the script is sent with EVAL, not EVALSHA: there a NOSCRIPT (script
// cache flushed by a restart or failover) would fail that one command after the others had
// run. Trims made by hand (XTRIM, XDEL) are not seen.
//
// trimLua defines trim(S, M, maxlen, minid, slack), the retention step shared by trimScript
// and applyScript. Once stream S is more than slack entries past the length bound, it removes
// the entries past it (XLEN is O(1), and the entries it reads are the ones it removes); and
// it removes entries older than the age bound, found by reading forward from the oldest: reading backward from the age bound walks every retained
// entry in Redis 7 (27 ms at 100,000 entries, measured), on every call. It notes the newest
// removed id in M and returns it (or nil).
const trimLua = `
local function trim(S, M, maxlen, minid, slack)
  local newest = nil
  local excess = redis.call('XLEN', S) - tonumber(maxlen)
  if excess > tonumber(slack) then
    local r
    if excess <= tonumber(maxlen) then
      r = redis.call('XRANGE', S, '-', '+', 'COUNT', excess)
    else
      r = redis.call('XREVRANGE', S, '+', '-', 'COUNT', tonumber(maxlen) + 1)
    end
    newest = r[#r][1]
    redis.call('XTRIM', S, 'MAXLEN', '=', maxlen)
  end
  if minid ~= '0-0' then
    local from = '-'
    repeat
      local old = redis.call('XRANGE', S, from, '(' .. minid, 'COUNT', 1000)
      if #old > 0 then
        newest = old[#old][1]
        from = '(' .. newest
      end
    until #old < 1000
    if from ~= '-' then redis.call('XTRIM', S, 'MINID', '=', minid) end
  end
  if newest then redis.call('SET', M, newest) end
  return newest
end
`

// trimScript: KEYS[1] stream, KEYS[2] trimmed marker; ARGV: max length, min id ("<ms>-0").
// It trims to the length bound exactly.
var trimScript = redis.NewScript(trimLua + `return trim(KEYS[1], KEYS[2], ARGV[1], ARGV[2], 0) or ''`)

// trim queues the retention script on p (a MULTI).
func (r *Redis) trim(ctx context.Context, p redis.Pipeliner) *redis.Cmd {
	return trimScript.Eval(ctx, p, []string{r.events, r.trimmed}, r.maxLen, r.minID())
}

// minID is the MINID threshold for MaxEventAge. Stream ids carry the Redis server's clock
// while this uses the gateway's; the skew between the two only shifts retention by as much,
// which is irrelevant at a 24 h horizon.
func (r *Redis) minID() string {
	ms := time.Now().Add(-r.maxAge).UnixMilli()
	if ms < 0 {
		ms = 0
	}
	return fmt.Sprintf("%d-0", ms)
}

// ReadEvents implements Store. The non-blocking read is one XRANGE from the cursor while the
// cursor's entry is still in the log (see read), and otherwise one MULTI (retention, the
// trimmed marker, XRANGE from the exclusive cursor with COUNT), so the expiry check and the
// read see the same stream. When nothing is there and block > 0, XREAD BLOCK from the cursor
// serves as the wake-up and the read runs again, which keeps the expiry check exact even if
// retention ran while we waited.
func (r *Redis) ReadEvents(ctx context.Context, after string, limit int, block time.Duration) ([]Event, error) {
	cursor, err := ParseEventID(after)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var deadline time.Time
	if block > 0 {
		deadline = time.Now().Add(block)
	}
	for {
		evs, err := r.read(ctx, after, cursor, limit)
		if err != nil || len(evs) > 0 || block <= 0 {
			return evs, err
		}
		woke, err := r.waitFor(ctx, cursor, deadline)
		if err != nil || !woke {
			return nil, err
		}
	}
}

// read returns up to limit events after cursor, exactly as readRange does, more cheaply in
// the common case. A reader that keeps up reads from a cursor that is still in the log, and
// then one XRANGE that starts at the cursor itself answers alone: retention only removes a
// prefix of the log, so while the cursor's entry is there nothing after it was removed and
// the trimmed marker need not be read. That XRANGE rides the automatic pipeline, where
// readRange's MULTI takes a pooled connection and four commands. Every replica's event hub
// reads after every append, so this is paid per event per replica: with eight readers it
// halved the Redis CPU each spent per event (BENCHMARKS.md). Anything else (the cursor's
// entry gone or never there, "0" and "0-0", an age trim due) takes readRange.
func (r *Redis) read(ctx context.Context, after string, cursor EventID, limit int) ([]Event, error) {
	if cursor == (EventID{}) || time.Now().UnixNano()-r.lastAgeTrim.Load() >= int64(r.ageTrimEvery) {
		return r.readRange(ctx, after, cursor, limit)
	}
	from := cursor.String()
	var msgs []redis.XMessage
	var err error
	if limit > 0 {
		msgs, err = r.ap.XRangeN(ctx, r.events, from, "+", int64(limit)+1).Result()
	} else {
		msgs, err = r.ap.XRange(ctx, r.events, from, "+").Result()
	}
	if err != nil {
		return nil, r.fail(ctx, "read events", err)
	}
	if len(msgs) == 0 || msgs[0].ID != from {
		return r.readRange(ctx, after, cursor, limit)
	}
	return decodeEvents(msgs[1:])
}

func (r *Redis) readRange(ctx context.Context, after string, cursor EventID, limit int) ([]Event, error) {
	start := "-"
	if cursor != (EventID{}) {
		start = "(" + cursor.String()
	}
	var trim *redis.Cmd
	var trimmed *redis.StringCmd
	var rng *redis.XMessageSliceCmd
	// Appends trim by length; reads apply the age bound, at most once per ageTrimEvery per
	// process (running the script in every read was most of a read's cost in Redis).
	now := time.Now().UnixNano()
	last := r.lastAgeTrim.Load()
	trimNow := now-last >= int64(r.ageTrimEvery) && r.lastAgeTrim.CompareAndSwap(last, now)
	// The error is the first failed command's; each is checked below instead (GET's
	// redis.Nil, before anything was ever trimmed, is not a failure).
	_, _ = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if trimNow {
			trim = r.trim(ctx, p)
		}
		trimmed = p.Get(ctx, r.trimmed)
		if limit > 0 {
			rng = p.XRangeN(ctx, r.events, start, "+", int64(limit))
		} else {
			rng = p.XRange(ctx, r.events, start, "+")
		}
		return nil
	})
	errs := []error{trimmed.Err(), rng.Err()}
	if trim != nil {
		errs = append(errs, trim.Err())
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, r.fail(ctx, "read events", err)
		}
	}
	if after != "0" {
		// "0" means the oldest retained and never expires; "0-0" is an id like any other.
		if id, err := ParseEventID(trimmed.Val()); err == nil && cursor.Less(id) {
			return nil, ErrCursorExpired
		}
	}
	return decodeEvents(rng.Val())
}

// waitFor blocks until an entry after cursor exists (true), deadline passes (false) or ctx
// is done.
func (r *Redis) waitFor(ctx context.Context, cursor EventID, deadline time.Time) (bool, error) {
	from := cursor.String()
	if cursor == (EventID{}) {
		from = "0-0"
	}
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return false, nil
		}
		wait = min(wait, maxBlockSlice)
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(d))
		}
		// BLOCK 0 would mean forever: never ask for less than a millisecond.
		wait = max(wait, time.Millisecond)
		res, err := r.c.XRead(ctx, &redis.XReadArgs{
			Streams: []string{r.events, from},
			Count:   1,
			Block:   wait,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue // timed out: check ctx and the deadline, then block again
		case err != nil:
			return false, r.fail(ctx, "read events", err)
		}
		for _, s := range res {
			if len(s.Messages) > 0 {
				return true, nil
			}
		}
	}
}

func decodeEvents(msgs []redis.XMessage) ([]Event, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values[eventField].(string)
		var ev Event
		if err := unmarshalEvent([]byte(raw), &ev); err != nil {
			return nil, fmt.Errorf("store: redis read events: decoding event %s: %w", m.ID, err)
		}
		ev.ID = m.ID
		out = append(out, ev)
	}
	return out, nil
}

// isNoSuchKey reports XINFO's reply for a missing stream.
func isNoSuchKey(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.Contains(rerr.Error(), "no such key")
}

// LastEventID implements Store: the last id the stream generated, which (like Memory's) stays
// the newest id even when retention has since removed that event; "0" when nothing was ever
// appended.
func (r *Redis) LastEventID(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	info, err := r.c.XInfoStream(ctx, r.events).Result()
	if isNoSuchKey(err) {
		return "0", nil
	}
	if err != nil {
		return "", r.fail(ctx, "last event id", err)
	}
	id, err := ParseEventID(info.LastGeneratedID)
	if err != nil {
		return "", fmt.Errorf("store: redis last event id: %w", err)
	}
	return id.String(), nil
}
