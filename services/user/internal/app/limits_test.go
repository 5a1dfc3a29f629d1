package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/platform/server/servertest"
)

// addrLimited is the user service limiting each client address to
// addrBurst failed logins, with the other limits off so that only the
// address decides.
const addrBurst = 3

func addrLimitedService(t *testing.T) *servertest.Process {
	return startService(t, map[string]string{
		"AUTH_ADDR_RATE_LIMIT": "0.001", "AUTH_ADDR_RATE_BURST": strconv.Itoa(addrBurst),
		"AUTH_ACCOUNT_RATE_LIMIT": "0", "AUTH_ACCOUNT_WIDE_RATE_LIMIT": "0", "AUTH_FAILURE_DELAY": "0s",
	})
}

// loginAttempt is one wrong-password login from a client bound to a local
// address, sending forged headers that name another client each time.
type loginAttempt func(t *testing.T, email string, forged string) (code codes.Code, retryAfter time.Duration)

// dialFrom dials from the loopback address local, so the service sees a
// client other than 127.0.0.1.
func dialFrom(local string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return d.DialContext
}

func httpClientFrom(local string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialFrom(local)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// forgedHeaders are every way a client might try to name its address.
func forgedHeaders(h http.Header, forged string) {
	h.Set("X-Forwarded-For", forged)
	h.Set("X-Real-Ip", forged)
	h.Set("X-Slipway-Client-Addr", forged+":1")
	h.Set("Grpc-Metadata-X-Slipway-Client-Addr", forged+":1")
	h.Set("Grpc-Metadata-X-Forwarded-For", forged)
}

func grpcAttempt(t *testing.T, svc *servertest.Process, local string) loginAttempt {
	conn, err := grpc.NewClient(svc.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return dialFrom(local)(ctx, "tcp", addr) }))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	users := userv1.NewUserServiceClient(conn)
	return func(t *testing.T, email, forged string) (codes.Code, time.Duration) {
		ctx := metadata.AppendToOutgoingContext(t.Context(),
			"x-slipway-client-addr", forged+":1", "x-forwarded-for", forged, "x-real-ip", forged)
		_, err := users.Login(ctx, &userv1.LoginRequest{Email: email, Password: "wrong guess"})
		st := status.Convert(err)
		return st.Code(), retryInfo(st.Details())
	}
}

func restAttempt(svc *servertest.Process, local string) loginAttempt {
	client := httpClientFrom(local)
	return func(t *testing.T, email, forged string) (codes.Code, time.Duration) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+svc.HTTPAddr+"/v1/sessions",
			strings.NewReader(fmt.Sprintf(`{"email":%q,"password":"wrong guess"}`, email)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		forgedHeaders(req.Header, forged)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return codes.Unauthenticated, 0
		case http.StatusTooManyRequests:
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), string(body))
			assert.Contains(t, string(body), `"code":"RESOURCE_EXHAUSTED"`)
			secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After %q", resp.Header.Get("Retry-After"))
			return codes.ResourceExhausted, time.Duration(secs) * time.Second
		}
		t.Fatalf("REST login: %d %s", resp.StatusCode, body)
		return codes.Unknown, 0
	}
}

func connectAttempt(svc *servertest.Process, local string, opts ...connect.ClientOption) loginAttempt {
	login := connect.NewClient[userv1.LoginRequest, userv1.LoginResponse](httpClientFrom(local),
		"http://"+svc.HTTPAddr+userv1.UserService_Login_FullMethodName, opts...)
	return func(t *testing.T, email, forged string) (codes.Code, time.Duration) {
		req := connect.NewRequest(&userv1.LoginRequest{Email: email, Password: "wrong guess"})
		forgedHeaders(req.Header(), forged)
		_, err := login.CallUnary(t.Context(), req)
		var ce *connect.Error
		require.ErrorAs(t, err, &ce)
		var details []any
		for _, d := range ce.Details() {
			v, err := d.Value()
			require.NoError(t, err)
			details = append(details, v)
		}
		return codes.Code(ce.Code()), retryInfo(details)
	}
}

func retryInfo[T any](details []T) time.Duration {
	for _, d := range details {
		if ri, ok := any(d).(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// TestLoginLimitPerAddressOnEveryProtocol guesses passwords for many
// accounts from one address over each protocol, forging every header that
// could name another client. The address is limited all the same, with a
// retry hint (RetryInfo, or 429 with Retry-After); a client at another
// address is not, so the address really is the connection's.
func TestLoginLimitPerAddressOnEveryProtocol(t *testing.T) {
	protocols := []struct {
		name    string
		attempt func(t *testing.T, svc *servertest.Process, local string) loginAttempt
	}{
		{"gRPC", grpcAttempt},
		{"REST", func(_ *testing.T, svc *servertest.Process, local string) loginAttempt { return restAttempt(svc, local) }},
		{"Connect", func(_ *testing.T, svc *servertest.Process, local string) loginAttempt {
			return connectAttempt(svc, local)
		}},
		{"gRPC-Web", func(_ *testing.T, svc *servertest.Process, local string) loginAttempt {
			return connectAttempt(svc, local, connect.WithGRPCWeb())
		}},
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			svc := addrLimitedService(t)
			attacker := p.attempt(t, svc, "127.0.0.1")
			for i := range addrBurst {
				code, _ := attacker(t, fmt.Sprintf("victim%d@example.com", i), fmt.Sprintf("10.0.0.%d", i))
				require.Equal(t, codes.Unauthenticated, code, "guess %d is within the burst", i+1)
			}
			for i := range 5 {
				code, wait := attacker(t, fmt.Sprintf("other%d@example.com", i), fmt.Sprintf("10.1.0.%d", i))
				require.Equal(t, codes.ResourceExhausted, code, "a forged address does not escape the limit")
				assert.Positive(t, wait, "the refusal says when to come back")
			}
			code, _ := p.attempt(t, svc, "127.0.0.2")(t, "victim0@example.com", "10.0.0.0")
			assert.Equal(t, codes.Unauthenticated, code, "another address has its own budget")
		})
	}
}
