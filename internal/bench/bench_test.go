package bench

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/events"
	"github.com/kycgw/kycgw/internal/store"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReceivedAt(t *testing.T) {
	at := time.Date(2026, 11, 22, 4, 31, 7, 123456789, time.UTC)
	msg, err := proto.Marshal(&kycv1.StreamEventsResponse{Event: &kycv1.Event{
		EventId: "1-0", VerificationId: "vrf_x", Provider: "fake",
		Subject:    &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: "c"}},
		Status:     kycv1.KycStatus_KYC_STATUS_PENDING,
		OccurredAt: timestamppb.New(at.Add(-time.Hour)),
		ReceivedAt: timestamppb.New(at),
		Checks:     []*kycv1.CheckResult{{Name: "ofac", Result: "passed"}},
		Attempt:    2,
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := receivedAt(msg)
	if err != nil || !got.Equal(at) {
		t.Fatalf("receivedAt = %v, %v; want %v", got, err, at)
	}
	empty, _ := proto.Marshal(&kycv1.StreamEventsResponse{Event: &kycv1.Event{EventId: "1-0"}})
	if _, err := receivedAt(empty); err == nil {
		t.Fatal("receivedAt of an event without received_at: no error")
	}

	// The codec reads it from what grpc-go received: one buffer, or a message split across
	// several.
	var c eventCodec
	for _, data := range []mem.BufferSlice{
		{mem.SliceBuffer(msg)},
		{mem.SliceBuffer(msg[:7]), mem.SliceBuffer(msg[7:20]), mem.SliceBuffer(msg[20:])},
	} {
		var read time.Time
		if err := c.Unmarshal(data, &read); err != nil || !read.Equal(at) {
			t.Fatalf("eventCodec.Unmarshal of %d buffers = %v, %v; want %v", len(data), read, err, at)
		}
	}
	var none time.Time
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(empty)}, &none); err == nil {
		t.Fatal("eventCodec.Unmarshal of an event without received_at: no error")
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0.001, 1}} {
		if got := percentile(s, tc.q); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

// TestBroadcastEventIsTheGatewaysEvent: the reference broadcasts the event the gateway's
// store makes of the same update, so both fan-outs carry the same bytes (but for the ids and
// times).
func TestBroadcastEventIsTheGatewaysEvent(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory(store.MemoryOptions{})
	if err := appendEvents(st)(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := st.ReadEvents(ctx, "0", 10, 0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("ReadEvents = %d events, %v; want 1", len(evs), err)
	}
	it, err := events.NewItem(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	gw, err := it.Wire()
	if err != nil {
		t.Fatal(err)
	}

	e, err := startEcho(4)
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop()
	c := e.listen()
	defer e.unlisten(c)
	if err := broadcastEvents(e)(ctx); err != nil {
		t.Fatal(err)
	}
	bare := (<-c).bufs.Materialize()

	var want, got kycv1.StreamEventsResponse
	if err := proto.Unmarshal(gw, &want); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(bare, &got); err != nil {
		t.Fatal(err)
	}
	if _, err := receivedAt(bare); err != nil {
		t.Fatalf("broadcast event: %v", err)
	}
	for _, ev := range []*kycv1.Event{want.Event, got.Event} {
		ev.EventId, ev.VerificationId, ev.Subject, ev.OccurredAt, ev.ReceivedAt = "", "", nil, nil, nil
	}
	if !proto.Equal(&want, &got) {
		t.Errorf("broadcast event differs from the gateway's:\n got %v\nwant %v", &got, &want)
	}
	if d := len(bare) - len(gw); d < -4 || d > 4 {
		t.Errorf("broadcast event is %d bytes, the gateway's %d", len(bare), len(gw))
	}
}

// TestBroadcastEndsFullQueues: a broadcast never blocks on a stream that does not read; it
// ends it, as the gateway ends a slow subscriber.
func TestBroadcastEndsFullQueues(t *testing.T) {
	e, err := startEcho(2)
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop()
	full := e.listen() // never read while broadcasting
	defer e.unlisten(full)
	others := []chan *encoded{e.listen(), e.listen()}
	for _, c := range others {
		defer e.unlisten(c)
	}
	for round := range 2 {
		for range 2 {
			e.broadcast(&encoded{}) // the second round overflows full's queue
		}
		for i, c := range others {
			for range 2 {
				select {
				case <-c:
				default:
					t.Fatalf("round %d: stream %d is missing a message", round, i)
				}
			}
		}
	}
	if n := e.listening(); n != 2 {
		t.Fatalf("%d broadcast streams after overflowing one of three, want 2", n)
	}
	n := 0
	for range full {
		n++
	}
	if n != 2 {
		t.Fatalf("the ended stream's queue held %d messages, want 2", n)
	}
}

// TestFillEvents: the fill appends exactly as many events as asked, each a new verification.
func TestFillEvents(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory(store.MemoryOptions{})
	const n = 150 // more than the fill's goroutines, not a multiple of them
	if err := fillEvents(ctx, st, n); err != nil {
		t.Fatal(err)
	}
	evs, err := st.ReadEvents(ctx, "0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range evs {
		ids[e.VerificationID] = true
	}
	if len(evs) != n || len(ids) != n {
		t.Fatalf("%d events for %d verifications, want %d of each", len(evs), len(ids), n)
	}
}

// TestLogBound: the gateway cases' stores keep the event log to Options.MaxEvents, not to the
// stores' default, so a filled log is the size the report states.
func TestLogBound(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{StoreMemory, StoreRedis} {
		t.Run(name, func(t *testing.T) {
			b := &runner{o: Options{MaxEvents: 40}}
			st, _, release, err := b.newStore(ctx, name)
			if errors.Is(err, errNoRedis) && os.Getenv("CI") != "true" {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			if err := fillEvents(ctx, st, 100); err != nil {
				t.Fatal(err)
			}
			evs, err := st.ReadEvents(ctx, "0", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 40 {
				t.Fatalf("the log holds %d events after 100 appends, want its bound, 40", len(evs))
			}
		})
	}
}

// TestStoreWithoutWork: the reference's Store fails until it is given work, then runs it on
// every call.
func TestStoreWithoutWork(t *testing.T) {
	ctx := context.Background()
	e, err := startEcho(1)
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop()
	conn, err := dialGRPC(e.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	call := storeOp(conn, []byte("payload"))
	if err := call(ctx, 0); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Store without work: %v, want FailedPrecondition", err)
	}
	var runs int
	e.setWork(func(context.Context) error { runs++; return nil })
	for range 3 {
		if err := call(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	e.setWork(nil)
	if runs != 3 {
		t.Fatalf("work ran %d times for 3 calls", runs)
	}
}

// TestPairedTurns: the case and its echo reference take turns echo, case, case, echo, so a
// steady drift in the machine's load weighs on both alike; each side is measured in every
// one of its slices.
func TestPairedTurns(t *testing.T) {
	var mu sync.Mutex
	var turns []byte
	mark := func(c byte) op {
		return func(context.Context, int) error {
			mu.Lock()
			if len(turns) == 0 || turns[len(turns)-1] != c {
				turns = append(turns, c)
			}
			mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			return nil
		}
	}
	res, ref := runPaired(context.Background(), 1, time.Millisecond, 20*time.Millisecond, mark('C'), mark('E'), nil)
	if got := string(turns); got != "ECE" {
		t.Errorf("turns %q, want %q (echo, case, case, echo)", got, "ECE")
	}
	if res.merged != pairedRounds || ref.merged != pairedRounds || res.ops == 0 || ref.ops == 0 {
		t.Errorf("case: %d slices, %d ops; echo: %d slices, %d ops; want %d slices each with ops",
			res.merged, res.ops, ref.merged, ref.ops, pairedRounds)
	}
}
