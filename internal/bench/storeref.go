package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kycgw/kycgw/internal/events"
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
	// rpcRefReaders: the same, while the event readers of refReaders more replicas follow
	// the log: what each replica adds to Redis per event.
	rpcRefReaders = "Echo + Start's store calls, 8 replicas' event readers"
	refReaders    = 8
)

// refRetain is how long the references keep what they write: the gateway's default
// idempotency retention, so Redis expires as much as it does for a Start.
const refRetain = 24 * time.Hour

var errKeyTaken = errors.New("store reference: a fresh key was already taken")

// plainWork is the least a durable Start can do in its two round trips, one plain command
// each: take its idempotency key (SET NX GET, with a lease) and append its event (XADD,
// trimmed approximately to the log's bound, maxEvents). c is an automatic pipeline, as the
// gateway's store uses.
func plainWork(c redis.Cmdable, event []byte, maxEvents int) storeWork {
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
			Stream: "{kycbench}:events", MaxLen: int64(maxEvents), Approx: true, Values: []any{"e", event},
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

// eventReaders are the event readers of other replicas: each has its own client and store on
// the same Redis and does what a gateway's event hub does per event (read from its cursor,
// then prepare the event for delivery), with no streams to deliver to.
type eventReaders struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	cursor []atomic.Pointer[string] // the newest event each has read
	errs   []error
	close  []func() error
}

// startEventReaders starts n readers from the log's newest event, on clients made like c.
func startEventReaders(ctx context.Context, c redis.UniversalClient, n, maxEvents int) (*eventReaders, error) {
	rc, ok := c.(*redis.Client)
	if !ok {
		return nil, fmt.Errorf("event readers: %T is not a single-node client", c)
	}
	ctx, cancel := context.WithCancel(ctx)
	er := &eventReaders{cancel: cancel, cursor: make([]atomic.Pointer[string], n), errs: make([]error, n)}
	for i := range n {
		opt := *rc.Options()
		client := redis.NewClient(&opt)
		er.close = append(er.close, client.Close)
		st, err := store.NewRedis(store.RedisOptions{Client: client, MaxEvents: maxEvents})
		var from string
		if err == nil {
			from, err = st.LastEventID(ctx)
		}
		if err != nil {
			er.stop()
			return nil, fmt.Errorf("event readers: %w", err)
		}
		er.cursor[i].Store(&from)
		er.wg.Go(func() { er.errs[i] = er.follow(ctx, i, st, from) })
	}
	return er, nil
}

func (er *eventReaders) follow(ctx context.Context, i int, st store.Store, from string) error {
	for ctx.Err() == nil {
		evs, err := st.ReadEvents(ctx, from, 512, 100*time.Millisecond) // short: stop waits for the read
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, e := range evs {
			if _, err := events.NewItem(e); err != nil {
				return err
			}
		}
		if len(evs) > 0 {
			last := evs[len(evs)-1].ID
			er.cursor[i].Store(&last)
			from = last
		}
	}
	return nil
}

// caughtUp waits until every reader has read up to last, and fails if one has stopped or
// has not within a few seconds: a reader that fell behind would make its row measure less.
func (er *eventReaders) caughtUp(last string) error {
	deadline := time.Now().Add(5 * time.Second)
	for i := range er.cursor {
		for *er.cursor[i].Load() != last {
			if time.Now().After(deadline) {
				return fmt.Errorf("event reader %d is at %s, the log at %s", i, *er.cursor[i].Load(), last)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// stop ends the readers and closes their clients; it returns what ended any of them early.
func (er *eventReaders) stop() error {
	er.cancel()
	er.wg.Wait()
	for _, closeClient := range er.close {
		_ = closeClient()
	}
	return errors.Join(er.errs...)
}
