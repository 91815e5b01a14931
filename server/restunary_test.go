package server

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc"
)

// The REST path composes interceptors itself; it must nest them as grpc-go does (first is
// outermost) and hand each the method's info.
func TestChainUnaryOrder(t *testing.T) {
	var trace []string
	mk := func(name string) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			trace = append(trace, name+">"+info.FullMethod)
			resp, err := h(ctx, req.(string)+name)
			trace = append(trace, "<"+name)
			return resp, err
		}
	}
	chain := chainUnary([]grpc.UnaryServerInterceptor{mk("a"), mk("b")})
	resp, err := chain(context.Background(), "", &grpc.UnaryServerInfo{FullMethod: "/m"}, func(_ context.Context, req any) (any, error) {
		trace = append(trace, "handler")
		return req, nil
	})
	if err != nil || resp != "ab" {
		t.Fatalf("resp %v, err %v; want ab", resp, err)
	}
	if want := []string{"a>/m", "b>/m", "handler", "<b", "<a"}; !slices.Equal(trace, want) {
		t.Fatalf("order %v, want %v", trace, want)
	}
	if resp, _ := chainUnary(nil)(context.Background(), "x", &grpc.UnaryServerInfo{}, func(_ context.Context, req any) (any, error) { return req, nil }); resp != "x" {
		t.Fatalf("empty chain: %v", resp)
	}
}
