package bench

import (
	"errors"
	"time"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The fan-out subscribers share the machine with the gateway, so they are kept lean: instead
// of unmarshalling every event they read the one field they measure from, event.received_at,
// straight from the wire. The server is unaffected (it speaks protobuf as always).

// Field numbers in kyc.v1 (proto/kyc/v1/kyc.proto) and google.protobuf.Timestamp.
const (
	fieldResponseEvent   = 1  // StreamEventsResponse.event
	fieldEventReceivedAt = 11 // Event.received_at
	fieldTimestampSecs   = 1
	fieldTimestampNanos  = 2
)

var errNoReceivedAt = errors.New("stream message has no event.received_at")

// eventCodec marshals requests as protobuf and reads each response's event.received_at into
// a *time.Time, in place in the buffers grpc-go received it in. (A []byte codec has grpc-go
// copy every message into a new slice first: some 300 bytes of garbage a delivery, and the
// collections they bring scan every stream's goroutine.) Its name is "proto", so the server
// sees an ordinary protobuf call.
type eventCodec struct{}

func (eventCodec) Name() string { return "proto" }

func (eventCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := proto.Marshal(v.(proto.Message))
	return mem.BufferSlice{mem.SliceBuffer(b)}, err
}

func (eventCodec) Unmarshal(data mem.BufferSlice, v any) error {
	var b []byte
	if len(data) == 1 {
		b = data[0].ReadOnlyData() // valid until Unmarshal returns
	} else {
		b = data.Materialize()
	}
	at, err := receivedAt(b)
	if err != nil {
		return err
	}
	*(v.(*time.Time)) = at
	return nil
}

// receivedAt reads event.received_at from an encoded StreamEventsResponse.
func receivedAt(msg []byte) (time.Time, error) {
	ev, ok := field(msg, fieldResponseEvent)
	if !ok {
		return time.Time{}, errNoReceivedAt
	}
	ts, ok := field(ev, fieldEventReceivedAt)
	if !ok {
		return time.Time{}, errNoReceivedAt
	}
	var secs, nanos uint64
	for len(ts) > 0 {
		num, typ, n := protowire.ConsumeTag(ts)
		if n < 0 {
			return time.Time{}, errNoReceivedAt
		}
		ts = ts[n:]
		if typ == protowire.VarintType && (num == fieldTimestampSecs || num == fieldTimestampNanos) {
			v, m := protowire.ConsumeVarint(ts)
			if m < 0 {
				return time.Time{}, errNoReceivedAt
			}
			if num == fieldTimestampSecs {
				secs = v
			} else {
				nanos = v
			}
			ts = ts[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, ts)
		if m < 0 {
			return time.Time{}, errNoReceivedAt
		}
		ts = ts[m:]
	}
	return time.Unix(int64(secs), int64(int32(nanos))), nil
}

// field returns the bytes of the first length-delimited field num of msg.
func field(msg []byte, num protowire.Number) ([]byte, bool) {
	for len(msg) > 0 {
		n, typ, k := protowire.ConsumeTag(msg)
		if k < 0 {
			return nil, false
		}
		msg = msg[k:]
		if n == num && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			return v, m >= 0
		}
		m := protowire.ConsumeFieldValue(n, typ, msg)
		if m < 0 {
			return nil, false
		}
		msg = msg[m:]
	}
	return nil, false
}
