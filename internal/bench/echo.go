package bench

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The reference service: a unary echo of an opaque payload (the size of a Start request), an
// idle server stream and a broadcast server stream, declared by hand so it needs no generated
// code. Their cost is the transport's alone: proto-encoding a bytes field is a copy, and a
// broadcast sends bytes encoded once. Store is the echo after a given piece of store work
// (storeref.go): the transport's cost plus that work's.
const (
	echoService         = "kycbench.Echo"
	echoMethod          = "/" + echoService + "/Echo"
	storeMethod         = "/" + echoService + "/Store"
	idleMethod          = "/" + echoService + "/Idle"
	idleStreamName      = "Idle"
	broadcastMethod     = "/" + echoService + "/Broadcast"
	broadcastStreamName = "Broadcast"
)

// echoServer is a bare grpc-go server of the reference service on loopback.
type echoServer struct {
	srv  *grpc.Server
	lis  net.Listener
	wg   sync.WaitGroup
	open atomic.Int64 // idle streams being served

	// work is what Store does before it echoes (nil: Store fails).
	work atomic.Pointer[storeWork]

	// The broadcast streams: the least any server must do to fan an event out without one
	// slow subscriber holding up the others. Each stream has a bounded queue (the gateway's
	// size) drained by its own goroutine; a full queue ends that stream.
	queue int
	mu    sync.Mutex
	// listeners are walked on every broadcast, so they sit in one slice (a map's walk misses
	// the cache at 10,000 streams, as the gateway's hub found); index finds one to remove.
	listeners []chan *encoded
	index     map[chan *encoded]int
}

// storeWork is a store reference's work for one call.
type storeWork func(context.Context) error

var errNoStoreWork = status.Error(codes.FailedPrecondition, "no store work set")

// encoded is a message sent as the bytes it holds (see refCodec), in the one buffer slice
// every send shares, as the gateway's events are.
type encoded struct{ bufs mem.BufferSlice }

func newEncoded(b []byte) *encoded { return &encoded{mem.BufferSlice{mem.SliceBuffer(b)}} }

// refCodec is the protobuf codec, except that an *encoded is sent as it is, as the gateway
// sends an event: encoded once for every stream.
type refCodec struct{ encoding.CodecV2 }

func (c refCodec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*encoded); ok {
		return e.bufs, nil
	}
	return c.CodecV2.Marshal(v)
}

var errBroadcastSlow = status.Error(codes.ResourceExhausted, "broadcast stream fell behind")

var echoDesc = grpc.ServiceDesc{
	ServiceName: echoService,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return in, nil
		},
	}, {
		MethodName: "Store",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			w := srv.(*echoServer).work.Load()
			if w == nil {
				return nil, errNoStoreWork
			}
			if err := (*w)(ctx); err != nil {
				return nil, err
			}
			return in, nil
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    idleStreamName,
		ServerStreams: true,
		Handler: func(srv any, ss grpc.ServerStream) error {
			es := srv.(*echoServer)
			if err := ss.RecvMsg(new(emptypb.Empty)); err != nil {
				return err
			}
			es.open.Add(1)
			defer es.open.Add(-1)
			<-ss.Context().Done()
			return nil
		},
	}, {
		StreamName:    broadcastStreamName,
		ServerStreams: true,
		Handler: func(srv any, ss grpc.ServerStream) error {
			es := srv.(*echoServer)
			if err := ss.RecvMsg(new(emptypb.Empty)); err != nil {
				return err
			}
			c := es.listen()
			defer es.unlisten(c)
			done := ss.Context().Done()
			for {
				select {
				case m, ok := <-c:
					if !ok {
						return errBroadcastSlow
					}
					if err := ss.SendMsg(m); err != nil {
						return err
					}
				case <-done:
					return nil
				}
			}
		},
	}},
}

// startEcho starts the reference server; queue bounds each broadcast stream's queue.
func startEcho(queue int) (*echoServer, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &echoServer{
		srv: grpc.NewServer(grpc.ForceServerCodecV2(refCodec{encoding.GetCodecV2("proto")})), lis: lis,
		queue: queue, index: make(map[chan *encoded]int),
	}
	e.srv.RegisterService(&echoDesc, e)
	e.wg.Go(func() { _ = e.srv.Serve(lis) })
	return e, nil
}

func (e *echoServer) addr() string { return e.lis.Addr().String() }

func (e *echoServer) listen() chan *encoded {
	c := make(chan *encoded, e.queue)
	e.mu.Lock()
	e.index[c] = len(e.listeners)
	e.listeners = append(e.listeners, c)
	e.mu.Unlock()
	return c
}

func (e *echoServer) unlisten(c chan *encoded) {
	e.mu.Lock()
	if i, ok := e.index[c]; ok {
		e.removeLocked(i)
	}
	e.mu.Unlock()
}

// removeLocked drops listener i, moving the last one into its place.
func (e *echoServer) removeLocked(i int) {
	last := len(e.listeners) - 1
	delete(e.index, e.listeners[i])
	if i != last {
		e.listeners[i] = e.listeners[last]
		e.index[e.listeners[i]] = i
	}
	e.listeners[last] = nil
	e.listeners = e.listeners[:last]
}

// listening is the number of broadcast streams being served.
func (e *echoServer) listening() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.listeners)
}

// broadcast queues m for every broadcast stream without blocking: a stream whose queue is full
// is ended.
func (e *echoServer) broadcast(m *encoded) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := 0; i < len(e.listeners); {
		c := e.listeners[i]
		select {
		case c <- m:
			i++
		default:
			e.removeLocked(i) // moves the last one to i: visit i again
			close(c)
		}
	}
}

func (e *echoServer) stop() {
	e.srv.Stop()
	e.wg.Wait()
}

// dialGRPC opens a plaintext client connection, as the benchmark's clients all do.
func dialGRPC(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
}

// setWork sets what Store does (nil: nothing set).
func (e *echoServer) setWork(w storeWork) {
	if w == nil {
		e.work.Store(nil)
		return
	}
	e.work.Store(&w)
}

// echoOp calls Echo with payload; the response must come back whole.
func echoOp(conn *grpc.ClientConn, payload []byte) op { return unaryOp(conn, echoMethod, payload) }

// storeOp calls Store with payload: the echo after the server's store work.
func storeOp(conn *grpc.ClientConn, payload []byte) op { return unaryOp(conn, storeMethod, payload) }

func unaryOp(conn *grpc.ClientConn, method string, payload []byte) op {
	return func(ctx context.Context, _ int) error {
		in := &wrapperspb.BytesValue{Value: payload}
		out := new(wrapperspb.BytesValue)
		if err := conn.Invoke(ctx, method, in, out); err != nil {
			return err
		}
		if len(out.Value) != len(payload) {
			return errShortEcho
		}
		return nil
	}
}
