package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The poll schedule: {P}:polls is a zset of verification ids scored by when they are next due
// (Unix ms); {P}:poll:<id> is a hash with the job (due as RFC 3339 with nanoseconds, data,
// failures) and, while leased, owner and until (Unix ms).
//
// Clocks: due times and the `now` of ClaimPolls are the caller's (the replica's Go clock), and
// a lease runs until now+lease in that clock. FinishPoll checks the lease against this
// process's Go clock (time.Now), as Memory checks it against its store clock; replicas are
// expected to keep their clocks in sync (NTP), as for any lease. Redis TIME is not used.
//
// Due comparisons are made in whole milliseconds (Memory compares nanoseconds).
//
// The scripts reach the job hashes by name (prefix in ARGV) rather than through KEYS, as
// which jobs are due is only known inside the script; all of them share the zset's hash tag, so
// they live in the same slot and this is safe on Cluster.

// claimPollsScript: KEYS[1] zset; ARGV: job key prefix, now ms, until ms, owner, limit.
// Takes the due jobs oldest first, skips those leased to a live owner, leases up to limit of
// them (owner, until, score = until) and returns id, due, data, failures for each.
var claimPollsScript = redis.NewScript(`
local now = tonumber(ARGV[2])
local limit = tonumber(ARGV[5])
local out = {}
local n = 0
local skipped = 0
while limit <= 0 or n < limit do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', skipped, 100)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    if limit > 0 and n >= limit then break end
    local k = ARGV[1] .. id
    local f = redis.call('HMGET', k, 'owner', 'until', 'due', 'data', 'failures')
    if not f[3] then
      -- the job's hash is gone: drop the orphaned schedule entry
      redis.call('ZREM', KEYS[1], id)
    elseif f[1] and f[1] ~= '' and tonumber(f[2] or '0') > now then
      skipped = skipped + 1
    else
      redis.call('HSET', k, 'owner', ARGV[4], 'until', ARGV[3])
      redis.call('ZADD', KEYS[1], ARGV[3], id)
      n = n + 1
      out[#out + 1] = id
      out[#out + 1] = f[3]
      out[#out + 1] = f[4] or ''
      out[#out + 1] = f[5] or '0'
    end
  end
end
return out
`)

// finishPollScript: KEYS[1] zset, KEYS[2] job hash; ARGV: owner, now ms, done (1/0), due ms,
// due, data, failures, verification id. Returns 0 when owner does not hold a live lease on the job.
var finishPollScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[2], 'owner', 'until')
if (not f[1]) or f[1] == '' or f[1] ~= ARGV[1] or tonumber(f[2] or '0') <= tonumber(ARGV[2]) then
  return 0
end
redis.call('DEL', KEYS[2])
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[8])
  return 1
end
redis.call('HSET', KEYS[2], 'due', ARGV[5], 'data', ARGV[6], 'failures', ARGV[7])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[8])
return 1
`)

func (r *Redis) pollJobKey(id string) string { return r.pollKey + id }

// SchedulePoll implements Store.
func (r *Redis) SchedulePoll(ctx context.Context, job PollJob) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	due, err := job.Due.MarshalText()
	if err != nil {
		return fmt.Errorf("store: redis schedule poll: %w", err)
	}
	k := r.pollJobKey(job.VerificationID)
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "due", due, "data", job.Data, "failures", job.Failures)
		p.ZAdd(ctx, r.polls, redis.Z{Score: float64(job.Due.UnixMilli()), Member: job.VerificationID})
		return nil
	})
	return r.fail(ctx, "schedule poll", err)
}

// ClaimPolls implements Store.
func (r *Redis) ClaimPolls(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]PollJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nowMS := now.UnixMilli()
	// A claimed job's score moves to the end of its lease, out of the due range; a lease
	// shorter than a millisecond is one.
	untilMS := nowMS + max(pxMillis(lease), 1)
	res, err := claimPollsScript.Run(ctx, r.c, []string{r.polls},
		r.pollKey, nowMS, untilMS, owner, limit).Slice()
	if err != nil {
		return nil, r.fail(ctx, "claim polls", err)
	}
	out := make([]PollJob, 0, len(res)/4)
	for i := 0; i+3 < len(res); i += 4 {
		id, _ := res[i].(string)
		due, _ := res[i+1].(string)
		data, _ := res[i+2].(string)
		failures, _ := res[i+3].(string)
		job := PollJob{VerificationID: id}
		if err := job.Due.UnmarshalText([]byte(due)); err != nil {
			return nil, fmt.Errorf("store: redis claim polls: decoding due time: %w", err)
		}
		if data != "" {
			job.Data = []byte(data)
		}
		if job.Failures, err = strconv.Atoi(failures); err != nil {
			return nil, fmt.Errorf("store: redis claim polls: decoding failures: %w", err)
		}
		out = append(out, job)
	}
	return out, nil
}

// FinishPoll implements Store.
func (r *Redis) FinishPoll(ctx context.Context, owner string, job PollJob, done bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	due, err := job.Due.MarshalText()
	if err != nil {
		return fmt.Errorf("store: redis finish poll: %w", err)
	}
	doneArg := "0"
	if done {
		doneArg = "1"
	}
	n, err := finishPollScript.Run(ctx, r.c, []string{r.polls, r.pollJobKey(job.VerificationID)},
		owner, time.Now().UnixMilli(), doneArg, job.Due.UnixMilli(), due, job.Data, job.Failures, job.VerificationID).Int()
	if err != nil {
		return r.fail(ctx, "finish poll", err)
	}
	if n != 1 {
		return ErrNotOwner
	}
	return nil
}
