package server

import (
	"bytes"
	"testing"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
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
	got, err := c.Marshal(frame(want))
	if err != nil || !bytes.Equal(got.Materialize(), want) {
		t.Fatalf("frame: %x, %v; want %x", got.Materialize(), err, want)
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
