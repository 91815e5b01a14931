package metrics_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/kycgw/kycgw/internal/metrics/metricstest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	unaryMethod  = "/kyc.v1.KycService/GetStatus"
	streamMethod = "/kyc.v1.KycService/StreamEvents"
)

// services is what a server with one unary and one server-streaming method reports.
type services struct{}

func (services) GetServiceInfo() map[string]grpc.ServiceInfo {
	return map[string]grpc.ServiceInfo{"kyc.v1.KycService": {Methods: []grpc.MethodInfo{
		{Name: "GetStatus"},
		{Name: "StreamEvents", IsServerStream: true},
	}}}
}

// fakeStream is a server stream whose sends and receives fail when told to.
type fakeStream struct {
	grpc.ServerStream
	sendErr, recvErr error
}

func (f *fakeStream) Context() context.Context { return context.Background() }
func (f *fakeStream) SendMsg(any) error        { return f.sendErr }
func (f *fakeStream) RecvMsg(any) error        { return f.recvErr }

// TestGRPCSeries: the grpc_server_* families, with the labels and values go-grpc-middleware's
// provider gave them: every method at zero once initialized, calls by code (context errors
// as grpc-go sends them), messages counted only when they went through.
func TestGRPCSeries(t *testing.T) {
	m, reg := newMetrics(t)
	m.GRPC.InitializeMetrics(services{})
	const unary = `grpc_method="GetStatus",grpc_service="kyc.v1.KycService",grpc_type="unary"`
	const stream = `grpc_method="StreamEvents",grpc_service="kyc.v1.KycService",grpc_type="server_stream"`
	gather(t, reg).Check(t, metricstest.Samples{
		`grpc_server_started_total{` + unary + `}`:                             0,
		`grpc_server_handled_total{grpc_code="OK",` + unary + `}`:              0,
		`grpc_server_handled_total{grpc_code="Unauthenticated",` + unary + `}`: 0,
		`grpc_server_handled_total{grpc_code="NotFound",` + stream + `}`:       0,
		`grpc_server_msg_sent_total{` + stream + `}`:                           0,
		`grpc_server_handling_seconds_count{` + stream + `}`:                   0,
	})

	ui := m.GRPC.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: unaryMethod}
	for _, err := range []error{nil, nil, status.Error(codes.NotFound, "x"), context.DeadlineExceeded, errors.New("plain")} {
		_, got := ui(context.Background(), "req", info, func(context.Context, any) (any, error) { return "resp", err })
		if got != err {
			t.Fatalf("interceptor returned %v, want the handler's %v", got, err)
		}
	}
	si := m.GRPC.StreamServerInterceptor()
	sinfo := &grpc.StreamServerInfo{FullMethod: streamMethod, IsServerStream: true}
	err := si(nil, &fakeStream{}, sinfo, func(_ any, ss grpc.ServerStream) error {
		for range 3 {
			if err := ss.SendMsg("event"); err != nil {
				return err
			}
		}
		return ss.RecvMsg(new(string))
	})
	if err != nil {
		t.Fatal(err)
	}
	broken := &fakeStream{sendErr: io.EOF, recvErr: io.EOF}
	_ = si(nil, broken, sinfo, func(_ any, ss grpc.ServerStream) error {
		_ = ss.RecvMsg(new(string))
		return ss.SendMsg("event")
	})
	// A method no one initialized gets its series on its first call.
	_ = si(nil, &fakeStream{}, &grpc.StreamServerInfo{FullMethod: "/other.Svc/Chat", IsClientStream: true, IsServerStream: true},
		func(any, grpc.ServerStream) error { return status.Error(codes.Code(99), "odd") })

	gather(t, reg).Check(t, metricstest.Samples{
		`grpc_server_started_total{` + unary + `}`:                                                                            5,
		`grpc_server_msg_received_total{` + unary + `}`:                                                                       5,
		`grpc_server_msg_sent_total{` + unary + `}`:                                                                           2,
		`grpc_server_handled_total{grpc_code="OK",` + unary + `}`:                                                             2,
		`grpc_server_handled_total{grpc_code="NotFound",` + unary + `}`:                                                       1,
		`grpc_server_handled_total{grpc_code="DeadlineExceeded",` + unary + `}`:                                               1,
		`grpc_server_handled_total{grpc_code="Unknown",` + unary + `}`:                                                        1,
		`grpc_server_handling_seconds_count{` + unary + `}`:                                                                   5,
		`grpc_server_started_total{` + stream + `}`:                                                                           2,
		`grpc_server_msg_sent_total{` + stream + `}`:                                                                          3,
		`grpc_server_msg_received_total{` + stream + `}`:                                                                      1,
		`grpc_server_handled_total{grpc_code="OK",` + stream + `}`:                                                            1,
		`grpc_server_handled_total{grpc_code="Unknown",` + stream + `}`:                                                       1,
		`grpc_server_handling_seconds_count{` + stream + `}`:                                                                  2,
		`grpc_server_started_total{grpc_method="Chat",grpc_service="other.Svc",grpc_type="bidi_stream"}`:                      1,
		`grpc_server_handled_total{grpc_code="Code(99)",grpc_method="Chat",grpc_service="other.Svc",grpc_type="bidi_stream"}`: 1,
	})
}

// TestGRPCCountingDoesNotAllocate: the interceptors run on every call and the stream wrapper
// on every event sent; counting must not add to their garbage.
func TestGRPCCountingDoesNotAllocate(t *testing.T) {
	m, _ := newMetrics(t)
	m.GRPC.InitializeMetrics(services{})
	ui := m.GRPC.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: unaryMethod}
	ctx := context.Background()
	handler := func(context.Context, any) (any, error) { return nil, nil }
	if n := testing.AllocsPerRun(100, func() { _, _ = ui(ctx, nil, info, handler) }); n != 0 {
		t.Errorf("unary call: %v allocations, want 0", n)
	}
	var sent func() error
	si := m.GRPC.StreamServerInterceptor()
	_ = si(nil, &fakeStream{}, &grpc.StreamServerInfo{FullMethod: streamMethod, IsServerStream: true},
		func(_ any, ss grpc.ServerStream) error {
			sent = func() error { return ss.SendMsg(nil) }
			return nil
		})
	if n := testing.AllocsPerRun(100, func() { _ = sent() }); n != 0 {
		t.Errorf("stream message: %v allocations, want 0", n)
	}
}
