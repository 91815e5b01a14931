package server

import (
	"context"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// restUnary is the service as the REST gateway calls it in process: each unary method runs
// through the server's interceptor chain with the gRPC method name, exactly as a call on the
// gRPC port does. grpc-gateway has already put the request headers it forwards into the
// incoming metadata.
type restUnary struct {
	kycv1.UnimplementedKycServiceServer
	svc                   *service
	intercept             grpc.UnaryServerInterceptor
	startInfo, statusInfo *grpc.UnaryServerInfo
}

func newRESTUnary(svc *service, ints []grpc.UnaryServerInterceptor) *restUnary {
	return &restUnary{
		svc: svc, intercept: chainUnary(ints),
		startInfo:  &grpc.UnaryServerInfo{Server: svc, FullMethod: kycv1.KycService_Start_FullMethodName},
		statusInfo: &grpc.UnaryServerInfo{Server: svc, FullMethod: kycv1.KycService_GetStatus_FullMethodName},
	}
}

func (r *restUnary) Start(ctx context.Context, req *kycv1.StartRequest) (*kycv1.StartResponse, error) {
	resp, err := r.intercept(ctx, req, r.startInfo, func(ctx context.Context, req any) (any, error) {
		return r.svc.Start(ctx, req.(*kycv1.StartRequest))
	})
	return typed[*kycv1.StartResponse](resp, err)
}

func (r *restUnary) GetStatus(ctx context.Context, req *kycv1.GetStatusRequest) (*kycv1.GetStatusResponse, error) {
	resp, err := r.intercept(ctx, req, r.statusInfo, func(ctx context.Context, req any) (any, error) {
		return r.svc.GetStatus(ctx, req.(*kycv1.GetStatusRequest))
	})
	return typed[*kycv1.GetStatusResponse](resp, err)
}

// typed narrows an interceptor chain's result; an interceptor that returns a foreign type is a
// bug, reported as Internal rather than a panic.
func typed[T any](resp any, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := resp.(T)
	if !ok {
		return zero, status.Errorf(codes.Internal, "interceptor returned %T", resp)
	}
	return t, nil
}

// chainUnary composes interceptors the way grpc.ChainUnaryInterceptor does: the first is
// outermost.
func chainUnary(ints []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return chainFrom(ints, 0, info, handler)(ctx, req)
	}
}

func chainFrom(ints []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, final grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(ints) {
		return final
	}
	return func(ctx context.Context, req any) (any, error) {
		return ints[i](ctx, req, info, chainFrom(ints, i+1, info, final))
	}
}
