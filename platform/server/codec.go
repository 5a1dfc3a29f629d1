package server

import (
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// requestCodec is the gRPC server's codec: protobuf, except that a request
// body that does not decode is an INVALID_ARGUMENT rather than grpc-go's
// hard-coded INTERNAL (a 500 over Connect and gRPC-Web). grpc-go turns any
// Unmarshal error into Internal before an interceptor runs, so the codec
// records the failure against the message and reports success; the chain
// takes the record back (decodeError) before anything reads the message, and
// refuses the call. Only failed decodes are recorded, so the cost of a good
// call is one atomic load.
type requestCodec struct {
	proto       encoding.CodecV2
	pending     atomic.Int64
	undecodable sync.Map // proto.Message (a pointer) -> the decode error
}

func newRequestCodec() *requestCodec {
	return &requestCodec{proto: encoding.GetCodecV2(protoenc.Name)}
}

// Name is "proto": the codec replaces the default for that content subtype.
func (c *requestCodec) Name() string { return c.proto.Name() }

// Marshal encodes v as protobuf.
func (c *requestCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

// Unmarshal decodes data into v; a message that does not decode is recorded
// for decodeError instead of failing the call with Internal.
func (c *requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.proto.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	if _, ok := v.(proto.Message); !ok {
		return err
	}
	c.undecodable.Store(v, err)
	c.pending.Add(1)
	return nil
}

// decodeError returns, and forgets, the refusal for a request message that
// did not decode; nil for one that did. The chain calls it once for every
// message the server decoded, whatever else it then refuses, so no record
// outlives its call.
func (c *requestCodec) decodeError(msg any) error {
	if c == nil || c.pending.Load() == 0 {
		return nil
	}
	if _, found := c.undecodable.LoadAndDelete(msg); !found {
		return nil
	}
	c.pending.Add(-1)
	name := "the request message"
	if m, ok := msg.(proto.Message); ok {
		name = string(proto.MessageName(m))
	}
	return status.Errorf(codes.InvalidArgument, "the request body is not a valid %s", name)
}
