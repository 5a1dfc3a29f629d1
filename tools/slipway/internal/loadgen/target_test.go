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
