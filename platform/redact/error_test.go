package redact_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/redact"
)

// The secret parts of the webhook URLs below; none may survive redaction.
var secrets = []string{"hook-user", "hook-pass", "T0SECRET", "B0SECRET", "tok3n", "s1gnature", "frag-secret"}

func assertNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, secret := range secrets {
		assert.NotContains(t, s, secret)
	}
}

func TestURLsInMasksEveryPartThatMayCarryACredential(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"no url here", "no url here"},
		{"https://hooks.example.com", "https://hooks.example.com"},
		{"https://hooks.example.com/", "https://hooks.example.com/"},
		{"nats://127.0.0.1:4222 is down", "nats://127.0.0.1:4222 is down"},
		{"https://hooks.example.com/services/T0SECRET/B0SECRET/tok3n", "https://hooks.example.com/xxxxx"},
		{"https://hooks.example.com/hook?token=tok3n&sig=s1gnature", "https://hooks.example.com/xxxxx?xxxxx"},
		{"https://hooks.example.com?tok3n", "https://hooks.example.com?xxxxx"},
		{"http://hook-user:hook-pass@127.0.0.1:1/x", "http://xxxxx@127.0.0.1:1/xxxxx"},
		{"http://hook-user@127.0.0.1:1", "http://xxxxx@127.0.0.1:1"},
		{"https://h.example.com/#frag-secret", "https://h.example.com/#xxxxx"},
		{
			`Post "https://hook-user:hook-pass@h.example.com/T0SECRET?sig=s1gnature": dial tcp 127.0.0.1:1: connect: connection refused`,
			`Post "https://xxxxx@h.example.com/xxxxx?xxxxx": dial tcp 127.0.0.1:1: connect: connection refused`,
		},
		{"two: http://a.example/tok3n and https://b.example/?sig=s1gnature.", "two: http://a.example/xxxxx and https://b.example/?xxxxx"},
		{"HTTPS://H.EXAMPLE/T0SECRET", "HTTPS://H.EXAMPLE/xxxxx"},
	}
	for _, tt := range tests {
		got := redact.URLsIn(tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		assertNoSecret(t, got)
	}
}

// TestErrorRedactsARealNetHTTPFailure posts to a closed port with a URL
// that carries a secret in every part, as NOTIFY_WEBHOOK_URL may, and
// checks the error net/http returns.
func TestErrorRedactsARealNetHTTPFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	raw := "http://hook-user:hook-pass@" + addr + "/services/T0SECRET/B0SECRET/tok3n?sig=s1gnature"
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, raw, strings.NewReader("{}"))
	require.NoError(t, err)
	resp, sendErr := http.DefaultClient.Do(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	require.Error(t, sendErr)
	wrapped := fmt.Errorf("deliver notification n1: %w", sendErr)
	require.Contains(t, wrapped.Error(), "tok3n", "the unredacted error leaks (the case this guards against)")

	red := redact.Error(wrapped)
	assertNoSecret(t, red.Error())
	assertNoSecret(t, fmt.Sprintf("%v %+v %s %q", red, red, red, red))
	assert.Contains(t, red.Error(), addr, "the host and port stay, to tell which endpoint failed")
	assert.Contains(t, red.Error(), "deliver notification n1")
	assert.Contains(t, red.Error(), "connection refused")

	var ue *url.Error
	assert.ErrorAs(t, red, &ue, "the chain is kept for errors.As")
	var opErr *net.OpError
	assert.ErrorAs(t, red, &opErr)
}

func TestErrorKeepsTheChainAndLeavesCleanErrorsAlone(t *testing.T) {
	assert.NoError(t, redact.Error(nil))

	clean := fmt.Errorf("store notification: %w", context.Canceled)
	assert.Same(t, clean, redact.Error(clean), "nothing to redact: the error itself")

	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	timeout := &url.Error{Op: "Post", URL: "https://h.example.com/tok3n", Err: ctx.Err()}
	red := redact.Error(fmt.Errorf("attempt 2: %w", timeout))
	assert.ErrorIs(t, red, context.DeadlineExceeded)
	assert.Equal(t, `attempt 2: Post "https://h.example.com/xxxxx": context deadline exceeded`, red.Error())
}

func TestErrorRedactsAURLThatDidNotParse(t *testing.T) {
	// url.Parse fails on a space in the host and quotes the whole raw URL,
	// where a free-text scan would stop at the space.
	_, err := url.Parse("https://hook-user:hook-pass@h example.com/tok3n?sig=s1gnature") //nolint:staticcheck // SA1007: the parse must fail
	require.Error(t, err)
	red := redact.Error(fmt.Errorf("webhook: %w", err))
	assertNoSecret(t, red.Error())

	joined := errors.Join(errors.New("first"), &url.Error{Op: "Get", URL: "http://x.example/a b/tok3n", Err: errors.New("boom")})
	assertNoSecret(t, redact.Error(joined).Error())
}
