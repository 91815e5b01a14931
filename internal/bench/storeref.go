package bench

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/redis/go-redis/v9"
)

// The store references: the echo reference's Store call, on its bare grpc-go server, after
// the store work of a fresh Start and nothing else (no interceptors, validation, provider call,
// sealing or event tail). They split a gateway Start's cost on Redis into what the transport
// and the store take and what the gateway adds.
const (
	// rpcRefPlain: a Start's two store round trips as one plain command each.
	rpcRefPlain = "Echo + SET NX, XADD"
	// rpcRefStore: the store calls a fresh Start makes, through the gateway's store.
	rpcRefStore = "Echo + Start's store calls"
)

// refRetain is how long the references keep what they write: the gateway's default
// idempotency retention, so Redis expires as much as it does for a Start.
const refRetain = 24 * time.Hour

var errKeyTaken = errors.New("store reference: a fresh key was already taken")

// plainWork is the least a durable Start can do in its two round trips, one plain command
// each: take its idempotency key (SET NX GET, with a lease) and append its event (XADD,
// trimmed approximately to the store's default bound). c is an automatic pipeline, as the
// gateway's store uses.
func plainWork(c redis.Cmdable, event []byte) storeWork {
	return func(ctx context.Context) error {
		n := nextID()
		err := c.SetArgs(ctx, "{kycbench}:idem:"+n, "o:"+n, redis.SetArgs{Mode: "NX", Get: true, TTL: refRetain}).Err()
		switch {
		case err == nil:
			return errKeyTaken // GET returned a previous value
		case !errors.Is(err, redis.Nil):
			return err
		}
		return c.XAdd(ctx, &redis.XAddArgs{
			Stream: "{kycbench}:events", MaxLen: store.DefaultMaxEvents, Approx: true, Values: []any{"e", event},
		}).Err()
	}
}

// startStoreWork makes a fresh Start's store calls: the claim with the read of the
// verification, then the verification, its event and the claim's completion in one Apply.
// response stands in for the sealed response the gateway stores.
func startStoreWork(st store.Store, response []byte) storeWork {
	fingerprint := strings.Repeat("f", 64) // the size of the gateway's (hex of a SHA-256 MAC)
	return func(ctx context.Context) error {
		n := nextID()
		key, vid := "ref-"+n, "vrf_ref"+n
		claim, cur, err := st.ClaimAndGet(ctx, key, fingerprint, time.Minute, vid)
		if err != nil {
			return err
		}
		if claim.State != store.Claimed {
			return errKeyTaken
		}
		_, err = st.Apply(ctx, store.Update{
			VerificationID: vid, Tenant: benchTenant, Provider: "fake", ProgramID: program,
			Subject: providers.Subject{CustomerID: "ref-" + n},
			Result:  providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted"},
			Source:  store.SourceStart, NewAttempt: true, ReceivedAt: time.Now(), Read: cur,
			Complete: &store.Completion{Key: key, Owner: claim.Owner, Retain: refRetain,
				Response: func(store.Verification) ([]byte, error) { return response, nil }},
		})
		return err
	}
}
