package store_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/internal/store/redistest"
	"github.com/kycgw/kycgw/providers"
)

// BenchmarkStartsWithReaders runs fresh Starts' store calls (the claim with the read, then
// Apply with the completion) from 64 goroutines, with 0 or 8 event readers following the log
// on the same client, as a replica's event hub shares its client with the replica's requests.
// It reports the Redis server's CPU time per Start (INFO cpu), the figure event reading adds
// to: go test ./internal/store -run '^$' -bench StartsWithReaders -benchtime 5s
func BenchmarkStartsWithReaders(b *testing.B) {
	c := redistest.Start(b).Client(b)
	for _, readers := range []int{0, 8} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := c.FlushAll(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			st, err := store.NewRedis(store.RedisOptions{Client: c})
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			for range readers {
				wg.Go(func() {
					after := "0"
					for ctx.Err() == nil {
						evs, err := st.ReadEvents(ctx, after, 512, time.Second)
						if err != nil {
							if ctx.Err() == nil {
								b.Error(err)
							}
							return
						}
						if len(evs) > 0 {
							after = evs[len(evs)-1].ID
						}
					}
				})
			}
			fingerprint, response := strings.Repeat("f", 64), make([]byte, 162)
			var seq atomic.Int64
			before := redisCPU(b, c)
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // 64 in flight
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := strconv.FormatInt(seq.Add(1), 10)
					key, vid := "bench-"+n, "vrf_bench"+n
					claim, cur, err := st.ClaimAndGet(ctx, key, fingerprint, time.Minute, vid)
					if err != nil || claim.State != store.Claimed {
						b.Errorf("claim: %v, %v", claim.State, err)
						return
					}
					if _, err := st.Apply(ctx, store.Update{
						VerificationID: vid, Tenant: "t", Provider: "fake", ProgramID: "p",
						Subject: providers.Subject{CustomerID: "bench-" + n},
						Result:  providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted"},
						Source:  store.SourceStart, NewAttempt: true, ReceivedAt: time.Now(), Read: cur,
						Complete: &store.Completion{Key: key, Owner: claim.Owner, Retain: time.Hour,
							Response: func(store.Verification) ([]byte, error) { return response, nil }},
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((redisCPU(b, c)-before).Microseconds())/float64(b.N), "redis-µs/op")
		})
	}
}

// redisCPU is the Redis server's CPU time so far, user and system.
func redisCPU(b *testing.B, c *redis.Client) time.Duration {
	b.Helper()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	d, ok := redistest.CPU(info)
	if !ok {
		b.Fatalf("no CPU time in INFO cpu: %q", info)
	}
	return d
}
