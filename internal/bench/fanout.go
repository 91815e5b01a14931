package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/events"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// streamsPerConn is how many streams share one client connection: many subscribers are many
// clients, not one connection multiplexing 10,000 streams.
const streamsPerConn = 1000

// receiver is one subscriber's tally.
type receiver struct {
	mu      sync.Mutex
	n       int             // events received in the current phase
	samples []time.Duration // append->receive latency of each
	err     error           // why the stream ended before the benchmark closed it
}

// streamSet is n open streams, each read by one goroutine.
type streamSet struct {
	conns     []*grpc.ClientConn
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	recv      []*receiver
	delivered atomic.Int64 // events received by all streams, all phases
	ended     atomic.Int64 // streams that ended early
}

// recvFunc reads the next message of one stream; it returns the event's append time, or the
// zero time for a message that is not an event.
type recvFunc func() (time.Time, error)

// opener starts one stream on conn.
type opener func(ctx context.Context, conn *grpc.ClientConn) (recvFunc, error)

// gatewayStream subscribes to every event of the benchmark's tenant, live only.
func gatewayStream(ctx context.Context, conn *grpc.ClientConn) (recvFunc, error) {
	return eventStream(ctx, conn, &kycv1.KycService_ServiceDesc.Streams[0],
		kycv1.KycService_StreamEvents_FullMethodName, &kycv1.StreamEventsRequest{})
}

// eventStream opens a server stream of encoded StreamEventsResponses with req. It reads each
// event's received_at off the wire (see eventCodec) rather than unmarshalling the event.
func eventStream(ctx context.Context, conn *grpc.ClientConn, desc *grpc.StreamDesc, method string, req proto.Message) (recvFunc, error) {
	s, err := conn.NewStream(ctx, desc, method, grpc.ForceCodecV2(eventCodec{}))
	if err != nil {
		return nil, err
	}
	if err := s.SendMsg(req); err != nil {
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	return func() (time.Time, error) {
		var at time.Time
		err := s.RecvMsg(&at)
		return at, err
	}, nil
}

var idleStreamDesc = &grpc.StreamDesc{StreamName: idleStreamName, ServerStreams: true}

// idleStream opens the reference service's idle stream: the transport's own cost of a stream.
func idleStream(ctx context.Context, conn *grpc.ClientConn) (recvFunc, error) {
	s, err := conn.NewStream(ctx, idleStreamDesc, idleMethod)
	if err != nil {
		return nil, err
	}
	if err := s.SendMsg(new(emptypb.Empty)); err != nil {
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	return func() (time.Time, error) {
		return time.Time{}, s.RecvMsg(new(emptypb.Empty))
	}, nil
}

var broadcastStreamDesc = &grpc.StreamDesc{StreamName: broadcastStreamName, ServerStreams: true}

// broadcastStream opens the reference service's broadcast stream, read as the gateway's is.
func broadcastStream(ctx context.Context, conn *grpc.ClientConn) (recvFunc, error) {
	return eventStream(ctx, conn, broadcastStreamDesc, broadcastMethod, new(emptypb.Empty))
}

// openStreams opens n streams to addr and waits until served() (the server's count) reaches n.
func openStreams(ctx context.Context, addr string, n int, open opener, served func() int, dial ...grpc.DialOption) (*streamSet, error) {
	sctx, cancel := context.WithCancel(ctx)
	ss := &streamSet{cancel: cancel, recv: make([]*receiver, n)}
	for range (n + streamsPerConn - 1) / streamsPerConn {
		conn, err := dialGRPC(addr, dial...)
		if err != nil {
			ss.close()
			return nil, err
		}
		conn.Connect()
		ss.conns = append(ss.conns, conn)
	}
	for i := range n {
		r := &receiver{}
		ss.recv[i] = r
		conn := ss.conns[i/streamsPerConn]
		ss.wg.Go(func() {
			recv, err := open(sctx, conn)
			for err == nil {
				var at time.Time
				if at, err = recv(); err == nil && !at.IsZero() {
					lat := time.Since(at)
					r.mu.Lock()
					r.n++
					r.samples = append(r.samples, lat)
					r.mu.Unlock()
					ss.delivered.Add(1)
				}
			}
			if sctx.Err() == nil {
				r.mu.Lock()
				r.err = err
				r.mu.Unlock()
				ss.ended.Add(1)
			}
		})
	}
	deadline := time.Now().Add(2*time.Minute + time.Duration(n)*time.Millisecond)
	for served() < n {
		if e := ss.ended.Load(); e > 0 {
			ss.close()
			return nil, fmt.Errorf("%d of %d streams failed to open: %v", e, n, ss.firstErr())
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			got := served()
			ss.close()
			return nil, fmt.Errorf("only %d of %d streams open", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ss, nil
}

func (ss *streamSet) firstErr() error {
	for _, r := range ss.recv {
		if r == nil {
			continue
		}
		r.mu.Lock()
		err := r.err
		r.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

func (ss *streamSet) close() {
	ss.cancel()
	ss.wg.Wait()
	for _, c := range ss.conns {
		c.Close()
	}
}

// phaseResult is the tally of one phase over every stream.
type phaseResult struct {
	events     int   // appended in the phase
	delivered  int64 // received
	lost       int64 // expected and not received (streams that ended included)
	duplicates int64 // received more than once
	ended      int64 // streams ended by the server
	lat        summary
	firstErr   error
}

// collect tallies the phase in which each stream should have received events, and resets the
// counts for the next phase.
func (ss *streamSet) collect(events int) phaseResult {
	pr := phaseResult{events: events, ended: ss.ended.Load(), firstErr: ss.firstErr()}
	var all []time.Duration
	for _, r := range ss.recv {
		r.mu.Lock()
		n, samples := r.n, r.samples
		r.n, r.samples = 0, nil
		r.mu.Unlock()
		pr.delivered += int64(n)
		switch {
		case n < events:
			pr.lost += int64(events - n)
		case n > events:
			pr.duplicates += int64(n - events)
		}
		all = append(all, samples...)
	}
	pr.lat = summarize(all)
	return pr
}

// waitDelivered waits until want events in all have been received, or nothing has arrived for
// quiet (the rest are lost), or ctx ends.
func (ss *streamSet) waitDelivered(ctx context.Context, want int64, quiet time.Duration) {
	last, lastChange := ss.delivered.Load(), time.Now()
	for ctx.Err() == nil {
		got := ss.delivered.Load()
		if got >= want {
			return
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > quiet {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// publisher hands one new event, stamped with the time it is called, to every stream.
type publisher func(ctx context.Context) error

// fanoutUpdate is the update behind every fan-out event: a new verification entering PENDING,
// as a Start makes. Its received_at is what subscribers measure from.
func fanoutUpdate() store.Update {
	n := nextID()
	return store.Update{
		VerificationID: "vrf_fanout" + n,
		Tenant:         benchTenant,
		Provider:       "fake",
		ProgramID:      program,
		Subject:        providers.Subject{CustomerID: "fan-" + n},
		Result:         providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted"},
		Source:         store.SourceStart,
		NewAttempt:     true,
		ReceivedAt:     time.Now(),
	}
}

// fillEvents appends n events through st, each a new verification as a Start makes, from
// 64 goroutines at once (fewer leave the Redis store's automatic pipeline half empty).
func fillEvents(ctx context.Context, st store.Store, n int) error {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for w := range errs {
		wg.Go(func() {
			for left.Add(-1) >= 0 && errs[w] == nil {
				_, errs[w] = st.Apply(ctx, fanoutUpdate())
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// appendEvents publishes by appending to the log through the store, as a Start or a webhook
// would; the gateway's hub tails it.
func appendEvents(st store.Store) publisher {
	return func(ctx context.Context) error {
		_, err := st.Apply(ctx, fanoutUpdate())
		return err
	}
}

// broadcastEvents publishes on the reference server: the event the store makes of the same
// update, encoded once as the gateway sends it, straight to every broadcast stream.
func broadcastEvents(e *echoServer) publisher {
	return func(context.Context) error {
		u := fanoutUpdate()
		_, ev, _, _ := store.Transition(nil, u)
		ev.ID = fmt.Sprintf("%d-0", u.ReceivedAt.UnixMilli())
		it, err := events.NewItem(*ev)
		if err != nil {
			return err
		}
		b, err := it.Wire()
		if err != nil {
			return err
		}
		e.broadcast(newEncoded(b))
		return nil
	}
}

// publishAtRate publishes events at rate per second for d, on an absolute schedule (a late
// one does not push the next ones back), and returns how many it published.
func publishAtRate(ctx context.Context, publish publisher, rate float64, d time.Duration) (int, error) {
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	n := 0
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			return n, nil
		}
		sleepCtx(ctx, time.Until(at))
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if err := publish(ctx); err != nil {
			return n, err
		}
		n++
	}
}
