package server

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// frame is a message already in the protobuf binary encoding. A stream sends an event's
// shared encoding (events.Item.Wire) as a frame, so an event going to ten thousand streams is
// encoded once, not ten thousand times.
type frame []byte

// codec is the standard protobuf codec that also passes frames through unchanged.
type codec struct{ encoding.CodecV2 }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(frame); ok {
		// SliceBuffer's Free does nothing, so grpc never recycles the shared bytes.
		return mem.BufferSlice{mem.SliceBuffer(f)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// codecOption installs codec on a server.
func codecOption() grpc.ServerOption {
	return grpc.ForceServerCodecV2(codec{encoding.GetCodecV2("proto")})
}
