package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
)

// undecodable is a protobuf body no message decodes: field 536870911 with
// the reserved wire type 7.
const undecodable = "\xff\xff\xff\xff\x0f"

// rawCodec sends a []byte as the message body, as a hostile client would.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}
func (rawCodec) Name() string { return "proto" }

func TestUndecodableRequestsAreInvalidArgumentOnEveryProtocol(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()

	t.Run("native gRPC", func(t *testing.T) {
		var reply []byte
		err := h.grpcConn.Invoke(ctx, inventoryv1.InventoryService_GetProduct_FullMethodName,
			[]byte(undecodable), &reply, grpc.ForceCodecV2(rawCodec{}))
		assert.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
		assert.Contains(t, status.Convert(err).Message(), "slipway.inventory.v1.GetProductRequest")
	})
	t.Run("Connect with a binary body", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, h.baseURL+inventoryv1.InventoryService_GetProduct_FullMethodName,
			strings.NewReader(undecodable))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/proto")
		req.Header.Set("Connect-Protocol-Version", "1")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, string(raw))
		var e struct{ Code, Message string }
		require.NoError(t, json.Unmarshal(raw, &e), string(raw))
		assert.Equal(t, "invalid_argument", e.Code)
		assert.NotContains(t, e.Message, "proto:", "no parser internals")
	})
	t.Run("gRPC-Web with a binary body", func(t *testing.T) {
		frame := append([]byte{0, 0, 0, 0, byte(len(undecodable))}, undecodable...)
		req, err := http.NewRequest(http.MethodPost, h.baseURL+inventoryv1.InventoryService_GetProduct_FullMethodName,
			strings.NewReader(string(frame)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/grpc-web+proto")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		status := resp.Header.Get("Grpc-Status")
		if status == "" { // trailers-only responses may put it in the body's trailer frame
			status = grpcWebTrailer(raw, "grpc-status")
		}
		assert.Equal(t, "3", status, "INVALID_ARGUMENT, got %q", raw)
	})
	t.Run("the next good request on the connection is served", func(t *testing.T) {
		client := grpc_health_v1.NewHealthClient(h.grpcConn)
		_, err := client.Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		require.NoError(t, err)
		_, err = inventoryv1.NewInventoryServiceClient(h.grpcConn).ListProducts(ctx, &inventoryv1.ListProductsRequest{})
		assert.NotEqual(t, codes.InvalidArgument, status.Code(err), "a decoded request is never taken for an undecodable one: %v", err)
	})
}

// grpcWebTrailer reads key from the trailer frame (flag 0x80) of a gRPC-Web
// response body.
func grpcWebTrailer(body []byte, key string) string {
	for len(body) >= 5 {
		n := int(body[1])<<24 | int(body[2])<<16 | int(body[3])<<8 | int(body[4])
		if len(body) < 5+n {
			return ""
		}
		if body[0]&0x80 != 0 {
			for line := range strings.SplitSeq(string(body[5:5+n]), "\r\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), key) {
					return strings.TrimSpace(v)
				}
			}
		}
		body = body[5+n:]
	}
	return ""
}
