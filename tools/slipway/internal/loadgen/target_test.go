package loadgen

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

func TestHTTPErrorCode(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   codes.Code
	}{
		{400, `{"code":"INVALID_ARGUMENT","detail":"bad email"}`, codes.InvalidArgument},
		{409, `{"code":"FAILED_PRECONDITION"}`, codes.FailedPrecondition},
		{401, ``, codes.Unauthenticated},
		{403, `forbidden`, codes.PermissionDenied},
		{404, `{"error":"nope"}`, codes.NotFound},
		{429, ``, codes.ResourceExhausted},
		{500, `<html>`, codes.Internal},
		{502, ``, codes.Unavailable},
		{504, ``, codes.DeadlineExceeded},
		{418, ``, codes.Unknown},
	}
	for _, tt := range tests {
		got, msg := httpErrorCode(tt.status, []byte(tt.body))
		assert.Equal(t, tt.want, got, "HTTP %d %s", tt.status, tt.body)
		assert.Contains(t, msg, fmt.Sprintf("HTTP %d", tt.status))
	}
}

func TestPickProducts(t *testing.T) {
	stock := []productStock{{"a", 100}, {"b", 40}, {"c", 10}, {"d", 0}}
	picked, ok := pickProducts(stock, 30)
	require.True(t, ok)
	// need(30, 3) = 10 + 4*sqrt(10) + 1 = 24 > 10; need(30, 2) = 15 + 4*sqrt(15) + 1 = 32 <= 40.
	assert.Equal(t, []productStock{{"a", 100}, {"b", 40}}, picked)
	_, ok = pickProducts(stock, 1000)
	assert.False(t, ok)
}

// Traffic goes to loopback addresses only: names and unspecified hosts are
// resolved to them, anything else is refused, and the dialer checks again.
func TestLoopbackOnly(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:50051", "127.0.0.1:50051"},
		{"127.8.9.10:1", "127.8.9.10:1"},
		{"[::1]:50051", "[::1]:50051"},
		{"[::ffff:127.0.0.1]:50051", "127.0.0.1:50051"},
		{"localhost:50051", "127.0.0.1:50051"},
		{":50051", "127.0.0.1:50051"},
		{"0.0.0.0:50051", "127.0.0.1:50051"},
	} {
		got, err := LoopbackAddr("--addr", tt.addr)
		require.NoError(t, err, tt.addr)
		assert.Equal(t, tt.want, got)
	}
	for _, addr := range []string{"10.0.0.1:50051", "192.168.1.2:80", "[2001:db8::1]:443", "example.com:50051", "localhost.example.com:1", "[::ffff:10.0.0.1]:5"} {
		_, err := LoopbackAddr("--addr", addr)
		require.ErrorIs(t, err, ErrNotLoopback, addr)
	}
	for _, raw := range []string{"http://example.com/v1/products", "http://10.1.1.1:8083/", "http://[2001:db8::1]/"} {
		_, err := LoopbackURL(raw, false)
		require.ErrorIs(t, err, ErrNotLoopback, raw)
	}
	u, err := LoopbackURL("http://localhost:8083/v1/products?page_size=3", false)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8083/v1/products?page_size=3", u.String())
	_, err = LoopbackURL("https://127.0.0.1/", false)
	require.Error(t, err)

	// The dialer is the backstop: it refuses before any packet leaves.
	_, err = dialer.DialContext(t.Context(), "tcp", "192.0.2.1:80")
	require.ErrorIs(t, err, ErrNotLoopback)

}
