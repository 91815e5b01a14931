package server

import (
	"bytes"
	"io"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// restJSON is the REST gateway's JSON: proto field names (as documented), default values
// shown, unknown fields refused.
//
// It decodes a request body in one pass. grpc-gateway's JSONPb first reads the body's JSON
// value with encoding/json (to find where it ends in a stream) and then parses that value
// again with protojson: the first pass was 40% of a REST Start's decoding. A unary body is
// one message, already capped by limitBody, so it is read whole and parsed once; anything
// after the message is refused instead of ignored.
type restJSON struct {
	runtime.JSONPb
}

var jsonMarshaler = &restJSON{JSONPb: runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
	UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
}}

// NewDecoder implements runtime.Marshaler.
func (j *restJSON) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		m, ok := v.(proto.Message)
		if !ok {
			// Not a whole message (a body mapped to one field): grpc-gateway's way.
			return j.JSONPb.NewDecoder(r).Decode(v)
		}
		buf := bodyBufs.Get().(*bytes.Buffer)
		defer func() {
			if buf.Cap() <= maxPooledBody {
				buf.Reset()
				bodyBufs.Put(buf)
			}
		}()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		if len(bytes.TrimSpace(buf.Bytes())) == 0 {
			// No body: an empty request, as grpc-gateway's decoder reports it.
			return io.EOF
		}
		// protojson copies what it keeps (strings, bytes), so buf can be reused.
		return j.UnmarshalOptions.Unmarshal(buf.Bytes(), m)
	})
}

// bodyBufs holds request body buffers; one that grew past maxPooledBody (a body near the
// configured limit) is left to the collector rather than kept.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 64 << 10
