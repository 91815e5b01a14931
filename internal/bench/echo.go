package bench

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The reference service: a unary echo of an opaque payload (the size of a Start request) and
// an idle server stream, declared by hand so it needs no generated code. Its cost is the
// transport's alone: proto-encoding a bytes field is a copy.
const (
	echoService    = "kycbench.Echo"
	echoMethod     = "/" + echoService + "/Echo"
	idleMethod     = "/" + echoService + "/Idle"
	idleStreamName = "Idle"
)

// echoServer is a bare grpc-go server of the reference service on loopback.
type echoServer struct {
	srv  *grpc.Server
	lis  net.Listener
	wg   sync.WaitGroup
	open atomic.Int64 // idle streams being served
}

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
	}},
}

func startEcho() (*echoServer, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &echoServer{srv: grpc.NewServer(), lis: lis}
	e.srv.RegisterService(&echoDesc, e)
	e.wg.Go(func() { _ = e.srv.Serve(lis) })
	return e, nil
}

func (e *echoServer) addr() string { return e.lis.Addr().String() }

func (e *echoServer) stop() {
	e.srv.Stop()
	e.wg.Wait()
}

// dialGRPC opens a plaintext client connection, as the benchmark's clients all do.
func dialGRPC(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
}

// echoOp calls Echo with payload; the response must come back whole.
func echoOp(conn *grpc.ClientConn, payload []byte) op {
	return func(ctx context.Context, _ int) error {
		in := &wrapperspb.BytesValue{Value: payload}
		out := new(wrapperspb.BytesValue)
		if err := conn.Invoke(ctx, echoMethod, in, out); err != nil {
			return err
		}
		if len(out.Value) != len(payload) {
			return errShortEcho
		}
		return nil
	}
}
