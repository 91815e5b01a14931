package bench

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/kycgw/kycgw/internal/store/redistest"
	"github.com/redis/go-redis/v9"
)

// errNoRedis means redis-server is not on PATH: the Redis rows are skipped, never faked.
var errNoRedis = redistest.ErrNoRedisServer

// redisServer is a private redis-server (the one the tests use): a free 127.0.0.1 port, nothing
// kept on disk, killed at the end.
type redisServer struct {
	*redistest.Server
	addr string
	dir  string
}

func startRedis() (*redisServer, error) {
	dir, err := os.MkdirTemp("", "kycbench-redis-")
	if err != nil {
		return nil, err
	}
	s, err := redistest.Launch(dir, false)
	if err != nil {
		os.RemoveAll(dir)
		if errors.Is(err, redistest.ErrNoRedisServer) {
			return nil, errNoRedis
		}
		return nil, err
	}
	return &redisServer{Server: s, addr: s.Addr(), dir: dir}, nil
}

func (r *redisServer) stop() {
	r.Stop()
	os.RemoveAll(r.dir)
}

// redisCPU is the cpuClock of the Redis server behind c: the CPU time, user and system, that
// INFO reports for the whole server process.
func redisCPU(c redis.UniversalClient) cpuClock {
	return func() (time.Duration, bool) {
		info, err := c.Info(context.Background(), "cpu").Result()
		if err != nil {
			return 0, false
		}
		return redistest.CPU(info)
	}
}
