// Package events fans the event log out to in-process subscribers. Each process runs one Hub:
// a single reader that tails the store's event log (the same for every replica when the store
// is shared) and hands each event, converted to its API form once, to every matching
// subscriber's bounded queue. A subscriber that cannot keep up is ended, never silently
// skipped.
//
// It imports the store and the generated API types; of gRPC it knows only grpc-go's buffer
// type, in which it hands out each event's one encoding.
package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/apiconv"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Why a subscription ended.
var (
	// ErrSlow: the subscriber's queue overflowed.
	ErrSlow = errors.New("subscriber fell behind")
	// ErrStopped: the hub stopped (the process is shutting down).
	ErrStopped = errors.New("event hub stopped")
	// ErrLost: the hub itself fell behind the log's retention, so events may be missing.
	ErrLost = errors.New("event hub lost its place in the event log")
	// ErrSourceDown: the event log cannot be read (the store is unreachable). Subscribers are
	// ended rather than left waiting silently; they resume from their last id once it is back.
	ErrSourceDown = errors.New("event log unavailable")
)

// Source is the part of store.Store the hub reads.
type Source interface {
	ReadEvents(ctx context.Context, after string, limit int, block time.Duration) ([]store.Event, error)
	LastEventID(ctx context.Context) (string, error)
}

// Options configure a Hub.
type Options struct {
	// QueueSize bounds each subscriber's queue (0: 1024).
	QueueSize int
	// BatchSize is how many events one read takes (0: 512).
	BatchSize int
	// Block is how long one read waits for new events (0: 5 s). It bounds how late the hub
	// notices a stop when the source cannot be interrupted.
	Block time.Duration
	// Logger receives read errors (0: slog.Default()).
	Logger *slog.Logger
}

// Item is one event as subscribers receive it. Msg is shared by every subscriber and must not
// be modified.
type Item struct {
	ID  store.EventID
	Msg *kycv1.Event

	// wire is Msg as a StreamEventsResponse in the binary encoding, made once for every
	// subscriber: encoding per subscriber was the largest per-stream cost of a fan-out. bufs
	// holds the same bytes as grpc-go sends them, so a send boxes nothing either.
	wireOnce sync.Once
	wire     []byte
	bufs     mem.BufferSlice
	wireErr  error

	tenant         string
	verificationID string
	provider       string
	programID      string
	status         providers.Status
}

// NewItem prepares a stored event for delivery.
func NewItem(e store.Event) (*Item, error) {
	id, err := store.ParseEventID(e.ID)
	if err != nil {
		return nil, err
	}
	return &Item{
		ID: id, Msg: apiconv.Event(e),
		tenant: e.Tenant, verificationID: e.VerificationID, provider: e.Provider,
		programID: e.ProgramID, status: e.Status,
	}, nil
}

// Wire is the event as a kyc.v1.StreamEventsResponse in the protobuf binary encoding, encoded
// on first use and shared afterwards. The bytes must not be modified.
func (it *Item) Wire() ([]byte, error) {
	it.encode()
	return it.wire, it.wireErr
}

// WireBuffers is Wire as a grpc-go buffer slice, shared by every send. Its one buffer is a
// mem.SliceBuffer, whose Free does nothing, so grpc-go never recycles the shared bytes; it
// only reads the slice.
func (it *Item) WireBuffers() (mem.BufferSlice, error) {
	it.encode()
	return it.bufs, it.wireErr
}

func (it *Item) encode() {
	it.wireOnce.Do(func() {
		it.wire, it.wireErr = proto.Marshal(&kycv1.StreamEventsResponse{Event: it.Msg})
		if it.wireErr == nil {
			it.bufs = mem.BufferSlice{mem.SliceBuffer(it.wire)}
		}
	})
}

// Filter selects events. Tenant always applies; empty fields match everything.
type Filter struct {
	Tenant         string
	VerificationID string
	Provider       string
	ProgramID      string
	Statuses       []providers.Status
}

// Match reports whether it passes f.
func (f *Filter) Match(it *Item) bool {
	if it.tenant != f.Tenant ||
		(f.VerificationID != "" && it.verificationID != f.VerificationID) ||
		(f.Provider != "" && it.provider != f.Provider) ||
		(f.ProgramID != "" && it.programID != f.ProgramID) {
		return false
	}
	if len(f.Statuses) == 0 {
		return true
	}
	for _, s := range f.Statuses {
		if s == it.status {
			return true
		}
	}
	return false
}

// Hub distributes events to subscribers.
type Hub struct {
	src  Source
	opts Options

	mu sync.Mutex
	// subs are the live subscriptions, in no order; each knows its index. Dispatch visits
	// every one for every event, so they are kept by value in one array, not behind a map of
	// pointers: at 10,000 streams that walk is a large share of a fan-out.
	subs    []subEntry
	stopped bool
	last    store.EventID // newest event dispatched
	running bool
	down    bool // the last read failed
}

// NewHub returns a hub reading src. Call Run to start it.
func NewHub(src Source, o Options) *Hub {
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if o.Block <= 0 {
		o.Block = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Hub{src: src, opts: o}
}

type subEntry struct {
	filter Filter
	c      chan *Item
	s      *Subscription
}

// Subscription is one subscriber's queue. C is closed when the subscription ends; Err then
// says why (nil after Close).
type Subscription struct {
	C <-chan *Item

	c   chan *Item
	hub *Hub
	idx int   // in hub.subs, under hub.mu; -1 once ended
	err error // written under hub.mu before c is closed
}

// Subscribe registers a subscriber. Every event the hub dispatches after Subscribe returns and
// that passes f is queued for it.
func (h *Hub) Subscribe(f Filter) *Subscription {
	c := make(chan *Item, h.opts.QueueSize)
	s := &Subscription{C: c, c: c, hub: h, idx: -1}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped || h.down {
		s.err = ErrStopped
		if h.down {
			s.err = ErrSourceDown
		}
		close(c)
		return s
	}
	s.idx = len(h.subs)
	h.subs = append(h.subs, subEntry{filter: f, c: c, s: s})
	return s
}

// Err says why C was closed. Call it only after C is closed.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close unregisters the subscription. It is safe to call more than once, and after the hub
// ended it.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.endLocked(s, nil)
}

// endLocked ends s, moving the last subscription into its place.
func (h *Hub) endLocked(s *Subscription, err error) {
	if s.idx < 0 {
		return
	}
	last := len(h.subs) - 1
	h.subs[s.idx] = h.subs[last]
	h.subs[s.idx].s.idx = s.idx
	h.subs[last] = subEntry{}
	h.subs = h.subs[:last]
	s.idx = -1
	s.err = err
	close(s.c)
}

// endAllLocked ends every subscription with err.
func (h *Hub) endAllLocked(err error) {
	for len(h.subs) > 0 {
		h.endLocked(h.subs[len(h.subs)-1].s, err)
	}
}

// Subscribers returns the number of live subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Running reports whether Run is reading the log (for readiness).
func (h *Hub) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running && !h.stopped
}

// Run reads the log and dispatches until ctx is done; then it ends every subscription with
// ErrStopped and returns nil. Read errors are logged and retried with backoff: a store outage
// pauses delivery, it does not end the hub.
func (h *Hub) Run(ctx context.Context) error {
	defer h.Stop()
	cursor := ""
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if cursor == "" {
			id, err := h.src.LastEventID(ctx)
			if err != nil {
				h.sourceDown()
				h.pause(ctx, &backoff, "event hub: reading the log head", err)
				continue
			}
			cursor = id
			h.setRunning(true)
		}
		evs, err := h.src.ReadEvents(ctx, cursor, h.opts.BatchSize, h.opts.Block)
		switch {
		case errors.Is(err, store.ErrCursorExpired):
			// The log was trimmed past us: tell every subscriber (they resume from their own
			// cursor and learn whether they lost anything) and start again from the head.
			h.opts.Logger.Error("event hub fell behind the event log retention")
			h.endAll(ErrLost)
			cursor = ""
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			h.sourceDown()
			h.pause(ctx, &backoff, "event hub: reading events", err)
			continue
		}
		h.setRunning(true)
		backoff = 50 * time.Millisecond
		if len(evs) == 0 {
			continue
		}
		items := make([]*Item, 0, len(evs))
		for _, e := range evs {
			it, err := NewItem(e)
			if err != nil {
				h.opts.Logger.Error("event hub: skipping event with a malformed id", "event_id", e.ID)
				continue
			}
			items = append(items, it)
		}
		h.dispatch(items)
		cursor = evs[len(evs)-1].ID
	}
	return nil
}

func (h *Hub) pause(ctx context.Context, backoff *time.Duration, msg string, err error) {
	h.opts.Logger.Warn(msg, "err", err, "retry_in", *backoff)
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	*backoff = min(*backoff*2, 2*time.Second)
}

func (h *Hub) setRunning(v bool) {
	h.mu.Lock()
	h.running = v
	if v {
		h.down = false
	}
	h.mu.Unlock()
}

// sourceDown ends every subscription with ErrSourceDown and refuses new ones until a read
// succeeds: a stream that silently stops is worse than one that says so.
func (h *Hub) sourceDown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running, h.down = false, true
	h.endAllLocked(ErrSourceDown)
}

// Dispatch hands items to every matching subscriber without blocking: a full queue ends that
// subscriber with ErrSlow. Run calls it; tests and benchmarks that feed the hub directly may
// too. Items must be in increasing id order.
func (h *Hub) dispatch(items []*Item) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, it := range items {
		if !h.last.Less(it.ID) {
			continue
		}
		h.last = it.ID
		for i := 0; i < len(h.subs); {
			e := &h.subs[i]
			if !e.filter.Match(it) {
				i++
				continue
			}
			select {
			case e.c <- it:
				i++
			default:
				h.endLocked(e.s, ErrSlow) // moves the last one to i: visit i again
			}
		}
	}
}

func (h *Hub) endAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endAllLocked(err)
}

// Stop ends every subscription with ErrStopped and refuses new ones. Run calls it when it
// returns; a server shutting down calls it first, so streams end at once (their select then
// waits on two channels, not three). It may be called more than once.
func (h *Hub) Stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	h.running = false
	h.endAllLocked(ErrStopped)
}
