package server

import (
	"bytes"
	"testing"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/events"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"
)

func TestCodecPassesFramesThrough(t *testing.T) {
	c := codec{encoding.GetCodecV2("proto")}
	msg := &kycv1.StreamEventsResponse{Event: &kycv1.Event{EventId: "1-1", VerificationId: "v"}}
	want, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	it, err := events.NewItem(store.Event{ID: "1-1", Tenant: "t", VerificationID: "v", Status: providers.StatusPending})
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := it.Wire()
	got, err := c.Marshal(it)
	if err != nil || !bytes.Equal(got.Materialize(), wire) {
		t.Fatalf("pre-encoded: %x, %v; want %x", got.Materialize(), err, wire)
	}
	// Every send of the event shares one buffer slice: ten thousand streams, no garbage.
	if n := testing.AllocsPerRun(100, func() { _, _ = c.Marshal(it) }); n != 0 {
		t.Errorf("pre-encoded Marshal: %v allocations, want 0", n)
	}
	// Anything else is plain protobuf, both ways.
	enc, err := c.Marshal(msg)
	if err != nil || !bytes.Equal(enc.Materialize(), want) {
		t.Fatalf("message: %x, %v; want %x", enc.Materialize(), err, want)
	}
	var back kycv1.StreamEventsResponse
	if err := c.Unmarshal(enc, &back); err != nil || !proto.Equal(&back, msg) {
		t.Fatalf("unmarshal: %v, %v", &back, err)
	}
	if c.Name() != "proto" {
		t.Fatalf("name %q", c.Name())
	}
}
