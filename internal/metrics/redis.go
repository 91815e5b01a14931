package metrics

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisHook returns a go-redis hook that counts failed commands in kycgw_redis_errors_total.
// Add it to the client the store uses; it changes nothing about the commands.
func (m *Metrics) RedisHook() redis.Hook { return redisHook{m} }

type redisHook struct{ m *Metrics }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil {
			h.m.redisFailed(cmd.Name(), err)
		}
		return err
	}
}

// ProcessPipelineHook counts each failed command of a pipeline or transaction under its own
// name: a connection lost mid-pipeline fails every command in it.
func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil {
			for _, c := range cmds {
				if cerr := c.Err(); cerr != nil {
					h.m.redisFailed(c.Name(), cerr)
				}
			}
		}
		return err
	}
}

// redisFailed counts err against the command unless it is not Redis failing: a missing key
// (redis.Nil, or the "no such key" error reply of XINFO and the like), a WATCH race lost to another writer (retried), a script not yet cached (go-redis
// sends it again with EVAL), the caller's own cancellation, or the connection handshake's
// optional commands (HELLO, CLIENT SETINFO and the like: go-redis goes on without them when a
// server does not know them, and a handshake that really fails fails the command after it).
func (m *Metrics) redisFailed(command string, err error) {
	if m == nil || errors.Is(err, redis.Nil) || errors.Is(err, redis.TxFailedErr) ||
		errors.Is(err, context.Canceled) || redis.HasErrorPrefix(err, "NOSCRIPT") ||
		command == "hello" || command == "client" || isNoSuchKey(err) {
		return
	}
	m.redisErrors.WithLabelValues(commandLabel(command)).Inc()
}

func isNoSuchKey(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.Contains(rerr.Error(), "no such key")
}

// commandLabel bounds the label: Redis command names are a fixed vocabulary of short
// lower-case words; anything else (a command built from data) is "other".
func commandLabel(name string) string {
	if name == "" || len(name) > 32 {
		return "other"
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && c != '_' && c != '.' && c != '-' {
			return "other"
		}
	}
	return name
}
