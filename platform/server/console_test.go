package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/config"
)

// The origins `slipway dev` puts in CORS_ALLOWED_ORIGINS for its console.
var consoleOrigins = []string{"http://localhost:8080", "http://127.0.0.1:8080"}

// grpcWebFrame frames a message as gRPC-Web does: flag byte, big-endian
// length, payload.
func grpcWebFrame(flag byte, payload []byte) []byte {
	out := make([]byte, 5, 5+len(payload))
	out[0] = flag
	binary.BigEndian.PutUint32(out[1:], uint32(len(payload)))
	return append(out, payload...)
}

// readGRPCWebFrames splits a gRPC-Web response body into its message and
// its trailers.
func readGRPCWebFrames(t *testing.T, body []byte) (message []byte, trailers string) {
	t.Helper()
	for len(body) > 0 {
		require.GreaterOrEqual(t, len(body), 5, "a frame header")
		n := int(binary.BigEndian.Uint32(body[1:5]))
		require.GreaterOrEqual(t, len(body), 5+n, "a whole frame")
		if body[0]&0x80 != 0 {
			trailers += string(body[5 : 5+n])
		} else {
			message = body[5 : 5+n]
		}
		body = body[5+n:]
	}
	return message, trailers
}

func TestCORSLetsTheDevConsoleCallGRPCWeb(t *testing.T) {
	h := start(t, func(b *config.Base) { b.CORSOrigins = consoleOrigins })
	url := h.baseURL + "/slipway.inventory.v1.InventoryService/GetProduct"

	for _, origin := range consoleOrigins {
		t.Run(origin, func(t *testing.T) {
			// What a browser asks before connect-web's gRPC-Web transport may POST.
			pre, _ := http.NewRequest(http.MethodOptions, url, nil)
			pre.Header.Set("Origin", origin)
			pre.Header.Set("Access-Control-Request-Method", "POST")
			pre.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout")
			resp, err := http.DefaultClient.Do(pre)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusNoContent, resp.StatusCode)
			assert.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
			assert.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST")
			allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
			for _, hdr := range []string{"authorization", "content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"} {
				assert.Contains(t, allowed, hdr)
			}

			// The call itself, framed as gRPC-Web.
			msg, err := proto.Marshal(&inventoryv1.GetProductRequest{Id: "mug"})
			require.NoError(t, err)
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(grpcWebFrame(0, msg)))
			req.Header.Set("Origin", origin)
			req.Header.Set("Content-Type", "application/grpc-web+proto")
			req.Header.Set("X-Grpc-Web", "1")
			resp, err = http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			assert.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
			assert.Contains(t, resp.Header.Get("Access-Control-Expose-Headers"), "Grpc-Status",
				"the page can read the status when it comes as a header (trailers-only answers)")

			message, trailers := readGRPCWebFrames(t, body)
			var got inventoryv1.GetProductResponse
			require.NoError(t, proto.Unmarshal(message, &got))
			assert.Equal(t, "Enamel mug", got.GetProduct().GetName())
			assert.Contains(t, strings.ToLower(trailers), "grpc-status: 0")
		})
	}

	t.Run("another origin gets no CORS headers", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(grpcWebFrame(0, nil)))
		req.Header.Set("Origin", "http://localhost:3000")
		req.Header.Set("Content-Type", "application/grpc-web+proto")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
	})
}

func TestOpenAPIDocumentFollowsTheCORSPolicy(t *testing.T) {
	h := start(t, func(b *config.Base) { b.CORSOrigins = consoleOrigins })
	for _, tt := range []struct{ origin, want string }{
		{consoleOrigins[0], consoleOrigins[0]},
		{"https://evil.example", ""},
		{"", ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, h.baseURL+"/openapi.yaml", nil)
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, tt.want, resp.Header.Get("Access-Control-Allow-Origin"), "origin %q: never *", tt.origin)
	}
}

func TestHealthChecksAreNotTraced(t *testing.T) {
	h := start(t, nil) // start itself asks grpc.health.v1 until SERVING
	_, err := healthpb.NewHealthClient(h.grpcConn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = inventoryv1.NewInventoryServiceClient(h.grpcConn).GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: "mug"})
	require.NoError(t, err)

	// The GetProduct span ends after the response is sent; the health
	// checks, made before it, have ended by then.
	const getProduct = "slipway.inventory.v1.InventoryService/GetProduct"
	require.Eventually(t, func() bool {
		for _, s := range h.spans.GetSpans() {
			if s.Name == getProduct {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "the RPC is traced")
	for _, s := range h.spans.GetSpans() {
		assert.NotContains(t, s.Name, "grpc.health.v1", "probes leave no spans")
	}
}
