package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
)

func TestDecodeTimeout(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "100m", want: 100 * time.Millisecond},
		{in: "5S", want: 5 * time.Second},
		{in: "1H", want: time.Hour},
		{in: "2M", want: 2 * time.Minute},
		{in: "7u", want: 7 * time.Microsecond},
		{in: "9n", want: 9 * time.Nanosecond},
		{in: "99999999H", want: time.Duration(math.MaxInt64)}, // clamped, not overflowed
		{in: "5", err: true},
		{in: "123456789S", err: true},
		{in: "10x", err: true},
		{in: "-1S", err: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := decodeTimeout(tt.in)
			if tt.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEncodeGrpcMessage(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain message", "plain message"},
		{"100% gone", "100%25 gone"},
		{"line\nbreak", "line%0Abreak"},
		{"café", "caf%C3%A9"},
		{"bad \xff byte", "bad %EF%BF%BD byte"}, // invalid UTF-8 is sent as U+FFFD, as grpc-go does
	} {
		assert.Equal(t, tt.want, encodeGrpcMessage(tt.in), "%q", tt.in)
	}
}

func TestMetadataHeaderRoundTrip(t *testing.T) {
	encoded := encodeMetadataHeader("trace-bin", "\x00\x01binary")
	decoded, err := decodeMetadataHeader("trace-bin", encoded)
	require.NoError(t, err)
	assert.Equal(t, "\x00\x01binary", decoded)
	padded, err := decodeMetadataHeader("trace-bin", "AAFiaW5hcnk=")
	require.NoError(t, err)
	assert.Equal(t, "\x00\x01binary", padded, "padded base64 is read too")
	_, err = decodeMetadataHeader("trace-bin", "not base64!")
	assert.Error(t, err)
	plain, err := decodeMetadataHeader("x-request-id", "not base64!")
	require.NoError(t, err)
	assert.Equal(t, "not base64!", plain, "only -bin keys are binary")
}

// protocolSeen answers GetProduct with the protocol tag its call carried.
type protocolSeen struct {
	inventoryv1.UnimplementedInventoryServiceServer
}

func (protocolSeen) GetProduct(ctx context.Context, _ *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: strings.Join(md.Get(protocolHeader), ",")}}, nil
}

func envelope(flags byte, msg []byte) []byte {
	out := make([]byte, grpcEnvelope, grpcEnvelope+len(msg))
	out[0] = flags
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg))) //nolint:gosec // a test message
	return append(out, msg...)
}

// TestGRPCTargetRequests checks how the in-process gRPC target reads a
// request: one message, uncompressed, no larger than allowed, and a call
// tagged as an HTTP one even when the tag is missing.
func TestGRPCTargetRequests(t *testing.T) {
	passThrough := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(ctx, req)
	}
	target := &grpcTarget{
		d:      newDispatcher([]Service{{Desc: &inventoryv1.InventoryService_ServiceDesc, Impl: protocolSeen{}}}, passThrough),
		tracer: noop.NewTracerProvider().Tracer(""), prop: propagation.TraceContext{}, maxBytes: 64,
	}
	msg, err := proto.Marshal(&inventoryv1.GetProductRequest{Id: "mug"})
	require.NoError(t, err)
	for _, tt := range []struct {
		name     string
		body     []byte
		protocol string
		code     codes.Code
		sawTag   string
	}{
		{name: "tagged call", body: envelope(0, msg), protocol: "grpc-web", code: codes.OK, sawTag: "grpc-web"},
		{name: "untagged call is still an HTTP one", body: envelope(0, msg), code: codes.OK, sawTag: "grpc-http"},
		{name: "compressed without an encoding", body: envelope(1, msg), protocol: "grpc-web", code: codes.Internal},
		{name: "larger than allowed", body: envelope(0, make([]byte, 65)), protocol: "grpc-web", code: codes.ResourceExhausted},
		{name: "two messages", body: append(envelope(0, msg), envelope(0, msg)...), protocol: "grpc-web", code: codes.Internal},
		{name: "cut short", body: envelope(0, msg)[:grpcEnvelope+2], protocol: "grpc-web", code: codes.Internal},
		{name: "empty body", body: nil, protocol: "grpc-web", code: codes.Internal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/slipway.inventory.v1.InventoryService/GetProduct", bytes.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/grpc")
			if tt.protocol != "" {
				r.Header.Set(protocolHeader, tt.protocol)
			}
			w := httptest.NewRecorder()
			target.ServeHTTP(w, r)
			res := w.Result()
			body, _ := io.ReadAll(res.Body)
			assert.Equal(t, strconv.Itoa(int(tt.code)), res.Trailer.Get("Grpc-Status"), "status; message %q", res.Trailer.Get("Grpc-Message"))
			if tt.code != codes.OK {
				assert.Empty(t, body, "no message with an error")
				return
			}
			require.Greater(t, len(body), grpcEnvelope)
			var resp inventoryv1.GetProductResponse
			require.NoError(t, proto.Unmarshal(body[grpcEnvelope:], &resp))
			assert.Equal(t, tt.sawTag, resp.GetProduct().GetId(), "the protocol tag the handler saw")
		})
	}
}
