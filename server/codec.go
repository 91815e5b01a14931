package server

import (
	"github.com/kycgw/kycgw/internal/events"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// preEncoded is a message that carries its own protobuf binary encoding. A stream sends an
// event's *events.Item itself: the item encodes its StreamEventsResponse once, so an event
// going to ten thousand streams is encoded once, not ten thousand times (and sending a
// pointer boxes nothing).
type preEncoded interface {
	WireBuffers() (mem.BufferSlice, error)
}

var _ preEncoded = (*events.Item)(nil)

// codec is the standard protobuf codec that also sends pre-encoded messages as they are.
type codec struct{ encoding.CodecV2 }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if p, ok := v.(preEncoded); ok {
		return p.WireBuffers()
	}
	return c.CodecV2.Marshal(v)
}

// codecOption installs codec on a server.
func codecOption() grpc.ServerOption {
	return grpc.ForceServerCodecV2(codec{encoding.GetCodecV2("proto")})
}
