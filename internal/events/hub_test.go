package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/events"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startHub(t *testing.T, o events.Options) (*events.Hub, *store.Memory, func()) {
	t.Helper()
	st := store.NewMemory(store.MemoryOptions{})
	o.Block = 50 * time.Millisecond
	h := events.NewHub(st, o)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.Run(ctx) })
	deadline := time.Now().Add(5 * time.Second)
	for !h.Running() {
		if time.Now().After(deadline) {
			t.Fatal("hub did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return h, st, stop
}

func appendEvent(t *testing.T, st *store.Memory, tenant, id string, s providers.Status) {
	t.Helper()
	_, err := st.Apply(context.Background(), store.Update{
		VerificationID: id, Tenant: tenant, Provider: "bond", ProgramID: "p",
		Subject: providers.Subject{CustomerID: id}, NewAttempt: s == providers.StatusPending,
		Result:     providers.Result{Status: s, ProviderStatus: s.String()},
		Source:     store.SourceWebhook,
		ReceivedAt: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func receive(t *testing.T, s *events.Subscription) *events.Item {
	t.Helper()
	select {
	case it, ok := <-s.C:
		if !ok {
			t.Fatalf("subscription ended: %v", s.Err())
		}
		return it
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return nil
}

func TestFiltersAndTenants(t *testing.T) {
	h, st, _ := startHub(t, events.Options{})
	all := h.Subscribe(events.Filter{Tenant: "t1"})
	defer all.Close()
	passed := h.Subscribe(events.Filter{Tenant: "t1", Statuses: []providers.Status{providers.StatusPassed}})
	defer passed.Close()
	one := h.Subscribe(events.Filter{Tenant: "t1", VerificationID: "v2"})
	defer one.Close()
	other := h.Subscribe(events.Filter{Tenant: "t2"})
	defer other.Close()

	appendEvent(t, st, "t1", "v1", providers.StatusPending)
	appendEvent(t, st, "t1", "v2", providers.StatusPending)
	appendEvent(t, st, "t1", "v1", providers.StatusPassed)

	for i, want := range []string{"v1", "v2", "v1"} {
		if got := receive(t, all).Msg.GetVerificationId(); got != want {
			t.Fatalf("all[%d] = %s, want %s", i, got, want)
		}
	}
	if got := receive(t, passed).Msg.GetStatus().String(); got != "KYC_STATUS_PASSED" {
		t.Fatalf("passed filter got %s", got)
	}
	if got := receive(t, one).Msg.GetVerificationId(); got != "v2" {
		t.Fatalf("verification filter got %s", got)
	}
	select {
	case it := <-other.C:
		t.Fatalf("tenant t2 received tenant t1's event %v", it.Msg)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestSlowSubscriberIsEnded(t *testing.T) {
	h, st, _ := startHub(t, events.Options{QueueSize: 2})
	slow := h.Subscribe(events.Filter{Tenant: "t"})
	defer slow.Close()
	for i := range 5 {
		appendEvent(t, st, "t", fmt.Sprint("v", i), providers.StatusPending)
	}
	// Drain only after the hub has ended it, so reading cannot make room in the queue.
	for deadline := time.Now().Add(5 * time.Second); h.Subscribers() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("slow subscriber was not ended")
		}
	}
	n := 0
	for range slow.C {
		n++
	}
	if n != 2 {
		t.Fatalf("slow subscriber got %d events before it was ended, want its queue size 2", n)
	}
	if !errors.Is(slow.Err(), events.ErrSlow) {
		t.Fatalf("Err = %v, want ErrSlow", slow.Err())
	}
}

// TestEndingKeepsTheOthers ends subscriptions in the middle of the hub's list, by Close and
// by a full queue during a dispatch, and checks that every other subscriber still gets every
// event.
func TestEndingKeepsTheOthers(t *testing.T) {
	h, st, _ := startHub(t, events.Options{QueueSize: 1})
	slow := h.Subscribe(events.Filter{Tenant: "t"}) // never reads
	defer slow.Close()
	subs := make([]*events.Subscription, 3)
	for i := range subs {
		subs[i] = h.Subscribe(events.Filter{Tenant: "t"})
		defer subs[i].Close()
	}
	appendEvent(t, st, "t", "v1", providers.StatusPending)
	for _, s := range subs {
		if got := receive(t, s).Msg.GetVerificationId(); got != "v1" {
			t.Fatalf("got %s, want v1", got)
		}
	}
	subs[0].Close()
	appendEvent(t, st, "t", "v2", providers.StatusPending) // slow's queue is full: it ends
	for i, s := range subs[1:] {
		if got := receive(t, s).Msg.GetVerificationId(); got != "v2" {
			t.Fatalf("subscriber %d got %s, want v2", i+1, got)
		}
	}
	if n := h.Subscribers(); n != 2 {
		t.Errorf("%d subscribers, want 2", n)
	}
	<-slow.C // its one queued event
	if _, ok := <-slow.C; ok || !errors.Is(slow.Err(), events.ErrSlow) {
		t.Errorf("slow subscriber: open %v, Err %v; want ended with ErrSlow", ok, slow.Err())
	}
}

func TestStopEndsSubscribers(t *testing.T) {
	h, _, stop := startHub(t, events.Options{})
	s := h.Subscribe(events.Filter{Tenant: "t"})
	stop()
	if _, ok := <-s.C; ok {
		t.Fatal("received an event after stop")
	}
	if !errors.Is(s.Err(), events.ErrStopped) {
		t.Fatalf("Err = %v, want ErrStopped", s.Err())
	}
	s.Close() // after the hub ended it: no panic
	late := h.Subscribe(events.Filter{Tenant: "t"})
	if _, ok := <-late.C; ok || !errors.Is(late.Err(), events.ErrStopped) {
		t.Fatalf("subscribe after stop: open=%v err=%v", ok, late.Err())
	}
}

// flakySource fails reads while down is set.
type flakySource struct {
	events.Source
	mu   sync.Mutex
	down bool
}

func (f *flakySource) set(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

func (f *flakySource) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return store.ErrUnavailable
	}
	return nil
}

func (f *flakySource) ReadEvents(ctx context.Context, after string, limit int, block time.Duration) ([]store.Event, error) {
	if err := f.err(); err != nil {
		time.Sleep(10 * time.Millisecond)
		return nil, err
	}
	return f.Source.ReadEvents(ctx, after, limit, block)
}

func TestSourceDownEndsSubscribersAndRecovers(t *testing.T) {
	st := store.NewMemory(store.MemoryOptions{})
	src := &flakySource{Source: st}
	h := events.NewHub(src, events.Options{Block: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); !h.Running(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("hub did not start")
		}
	}
	sub := h.Subscribe(events.Filter{Tenant: "t"})
	src.set(true)
	select {
	case _, ok := <-sub.C:
		if ok || !errors.Is(sub.Err(), events.ErrSourceDown) {
			t.Fatalf("open=%v err=%v, want closed with ErrSourceDown", ok, sub.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber not ended while the source was down")
	}
	if s := h.Subscribe(events.Filter{Tenant: "t"}); !errors.Is(func() error { <-s.C; return s.Err() }(), events.ErrSourceDown) {
		t.Fatal("a new subscription was accepted while the source was down")
	}
	src.set(false)
	for deadline := time.Now().Add(5 * time.Second); !h.Running(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("hub did not recover")
		}
	}
	again := h.Subscribe(events.Filter{Tenant: "t"})
	defer again.Close()
	appendEvent(t, st, "t", "v-after", providers.StatusPending)
	if it := receive(t, again); it.Msg.GetVerificationId() != "v-after" {
		t.Fatalf("after recovery got %v", it.Msg)
	}
}

// An item's wire form is its event as a StreamEventsResponse, and one encoding serves every
// caller.
func TestItemWire(t *testing.T) {
	it, err := events.NewItem(store.Event{ID: "5-1", Tenant: "t", VerificationID: "v1", Provider: "bond", Status: providers.StatusPassed})
	if err != nil {
		t.Fatal(err)
	}
	b, err := it.Wire()
	if err != nil {
		t.Fatal(err)
	}
	var got kycv1.StreamEventsResponse
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.GetEvent(), it.Msg) {
		t.Fatalf("decoded %v, want %v", got.GetEvent(), it.Msg)
	}
	if again, _ := it.Wire(); &again[0] != &b[0] {
		t.Fatal("Wire encoded the event twice")
	}
	bufs, err := it.WireBuffers()
	if err != nil || len(bufs) != 1 || &bufs[0].ReadOnlyData()[0] != &b[0] {
		t.Fatalf("WireBuffers: %d buffers, %v; want the one encoding Wire returns", len(bufs), err)
	}
}
