package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
)

// abuseEnv keeps the login limits' waits short enough for a test: one
// client's failure delay on an account doubles from 100 ms to at most
// 500 ms, and one client gets a guess at an account back every 500 ms
// after its burst of 5; the account-wide ceiling (10, then 2.5/s) refills
// faster than one client may spend it. The per-address limit keeps its
// default (20, then 1/s), and so does the time a client that logged in
// stays known to the account (30 days).
var abuseEnv = []string{
	"AUTH_FAILURE_DELAY=100ms", "AUTH_FAILURE_DELAY_MAX=500ms",
	"AUTH_ACCOUNT_RATE_LIMIT=2", "AUTH_ACCOUNT_RATE_BURST=5",
	"AUTH_ACCOUNT_WIDE_RATE_LIMIT=2.5", "AUTH_ACCOUNT_WIDE_RATE_BURST=10",
}

// abuseAnswer is one Login or Register as any protocol answers it.
type abuseAnswer struct {
	code       codes.Code
	retryAfter time.Duration // RetryInfo, or Retry-After over REST
	token      string
}

// abuseClient calls the user service over one protocol from a loopback
// address of its own, which the service sees as the client's address.
type abuseClient struct {
	t        *testing.T
	protocol string
	httpAddr string
	http     *http.Client
	users    userv1.UserServiceClient
}

func (c *cluster) abuseClient(t *testing.T, protocol, local string) *abuseClient {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	p := c.procs["user"]
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", addr)
		}))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close()
		tr.CloseIdleConnections()
	})
	return &abuseClient{t: t, protocol: protocol, httpAddr: p.httpAddr,
		http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, users: userv1.NewUserServiceClient(conn)}
}

func (a *abuseClient) login(email, password string) abuseAnswer {
	a.t.Helper()
	req := &userv1.LoginRequest{Email: email, Password: password}
	resp := &userv1.LoginResponse{}
	ans := a.call(userv1.UserService_Login_FullMethodName, "/v1/sessions", req, resp)
	ans.token = resp.GetAccessToken()
	return ans
}

func (a *abuseClient) register(email, password string) abuseAnswer {
	a.t.Helper()
	return a.call(userv1.UserService_Register_FullMethodName, "/v1/users",
		&userv1.RegisterRequest{Email: email, Password: password, DisplayName: "Abuse"}, &userv1.RegisterResponse{})
}

func (a *abuseClient) call(fullMethod, restPath string, req, resp proto.Message) abuseAnswer {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(a.t.Context(), 30*time.Second)
	defer cancel()
	switch a.protocol {
	case "grpc":
		var err error
		switch r := req.(type) {
		case *userv1.LoginRequest:
			var out *userv1.LoginResponse
			if out, err = a.users.Login(ctx, r); err == nil {
				proto.Merge(resp, out)
			}
		case *userv1.RegisterRequest:
			_, err = a.users.Register(ctx, r)
		}
		st := status.Convert(err)
		return abuseAnswer{code: st.Code(), retryAfter: abuseRetryInfo(st.Details())}
	case "rest":
		return a.rest(ctx, restPath, req, resp)
	case "grpc-web", "connect":
		return a.connect(ctx, fullMethod, req, resp)
	}
	a.t.Fatalf("unknown protocol %q", a.protocol)
	return abuseAnswer{}
}

// restStatusCodes are the REST statuses the abuse tests expect.
var restStatusCodes = map[int]codes.Code{
	http.StatusOK: codes.OK, http.StatusUnauthorized: codes.Unauthenticated,
	http.StatusConflict: codes.AlreadyExists, http.StatusTooManyRequests: codes.ResourceExhausted,
}

func (a *abuseClient) rest(ctx context.Context, path string, req, resp proto.Message) abuseAnswer {
	a.t.Helper()
	body, err := protojson.Marshal(req)
	require.NoError(a.t, err)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+a.httpAddr+path, bytes.NewReader(body))
	require.NoError(a.t, err)
	hr.Header.Set("Content-Type", "application/json")
	// A client naming another address is not believed.
	hr.Header.Set("X-Forwarded-For", "203.0.113.9")
	hr.Header.Set("X-Slipway-Client-Addr", "203.0.113.9:1")
	res, err := a.http.Do(hr)
	require.NoError(a.t, err)
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	require.NoError(a.t, err)
	code, ok := restStatusCodes[res.StatusCode]
	require.True(a.t, ok, "REST %s: %d %s", path, res.StatusCode, got)
	ans := abuseAnswer{code: code}
	switch code {
	case codes.OK:
		require.NoError(a.t, protojson.Unmarshal(got, resp))
	case codes.ResourceExhausted:
		assert.Equal(a.t, "application/problem+json", res.Header.Get("Content-Type"))
		assert.Contains(a.t, string(got), `"code":"RESOURCE_EXHAUSTED"`)
		secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
		require.NoError(a.t, err, "429 without a Retry-After: %q", res.Header.Get("Retry-After"))
		ans.retryAfter = time.Duration(secs) * time.Second
	}
	return ans
}

func (a *abuseClient) connect(ctx context.Context, fullMethod string, req, resp proto.Message) abuseAnswer {
	a.t.Helper()
	var opts []connect.ClientOption
	if a.protocol == "grpc-web" {
		opts = append(opts, connect.WithGRPCWeb())
	}
	url := "http://" + a.httpAddr + fullMethod
	var err error
	switch r := req.(type) {
	case *userv1.LoginRequest:
		var out *connect.Response[userv1.LoginResponse]
		out, err = connect.NewClient[userv1.LoginRequest, userv1.LoginResponse](a.http, url, opts...).CallUnary(ctx, connect.NewRequest(r))
		if err == nil {
			proto.Merge(resp, out.Msg)
		}
	case *userv1.RegisterRequest:
		_, err = connect.NewClient[userv1.RegisterRequest, userv1.RegisterResponse](a.http, url, opts...).CallUnary(ctx, connect.NewRequest(r))
	}
	if err == nil {
		return abuseAnswer{code: codes.OK}
	}
	var ce *connect.Error
	require.ErrorAs(a.t, err, &ce)
	var details []any
	for _, d := range ce.Details() {
		v, err := d.Value()
		require.NoError(a.t, err)
		details = append(details, v)
	}
	return abuseAnswer{code: codes.Code(ce.Code()), retryAfter: abuseRetryInfo(details)}
}

func abuseRetryInfo[T any](details []T) time.Duration {
	for _, d := range details {
		if ri, ok := any(d).(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// abuseAccounts counts the user service's accounts, straight from its
// database (PostgreSQL only: the SQLite fallback is skipped).
func abuseAccounts(t *testing.T, c *cluster) int {
	t.Helper()
	if c.dbs.dialect != "postgres" {
		return -1
	}
	db, err := sql.Open("pgx", c.dbs.urls["user"])
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(*) FROM users").Scan(&n))
	return n
}

// TestSecurityAbusePasswordGuessing guesses one account's password 100
// times, over gRPC, REST, gRPC-Web and Connect in turn, as fast as the
// service answers. Only the first few guesses are checked at all; the rest
// are refused (RESOURCE_EXHAUSTED with RetryInfo, or 429 with Retry-After)
// before any hashing. The real user, at another address, logs in at once
// right after the guessing. Then guesses from many fresh addresses, one
// each, are refused by the account-wide ceiling, while the real user, at
// the address they logged in from, still logs in at once. Nothing
// changed: the same accounts, and the victim's password still works.
func TestSecurityAbusePasswordGuessing(t *testing.T) {
	c := startCluster(t, abuseEnv...)
	victimEmail, victimPassword := "victim-"+randomHex(t, 4)+"@example.com", "correct horse battery"
	victim := c.abuseClient(t, "rest", "127.0.0.2")
	require.Equal(t, codes.OK, victim.register(victimEmail, victimPassword).code)
	accounts := abuseAccounts(t, c)

	protocols := []string{"grpc", "rest", "grpc-web", "connect"}
	attackers := make([]*abuseClient, len(protocols))
	for i, p := range protocols {
		attackers[i] = c.abuseClient(t, p, "127.0.0.1")
	}
	var checked, refused int
	for i := range 100 {
		a := attackers[i%len(attackers)]
		ans := a.login(victimEmail, fmt.Sprintf("guess-%03d", i))
		switch ans.code {
		case codes.Unauthenticated:
			checked++
		case codes.ResourceExhausted:
			refused++
			assert.Positive(t, ans.retryAfter, "guess %d over %s: the refusal says when to come back", i, a.protocol)
			assert.LessOrEqual(t, ans.retryAfter, 2*time.Second, "guess %d over %s: never longer than the caps", i, a.protocol)
		default:
			t.Fatalf("guess %d over %s: %s", i, a.protocol, ans.code)
		}
	}
	t.Logf("100 guesses: %d checked, %d refused", checked, refused)
	assert.LessOrEqual(t, checked, 5, "at most the account's burst of guesses is ever checked")
	assert.GreaterOrEqual(t, refused, 95)

	// The real user, at another address, logs in at once: the attacker's
	// failures slowed the attacker's attempts at the account, not theirs.
	ans := victim.login(victimEmail, victimPassword)
	require.Equal(t, codes.OK, ans.code, "the real user logs in at once (told to retry after %s)", ans.retryAfter)
	require.NotEmpty(t, ans.token)
	assert.Equal(t, codes.ResourceExhausted, attackers[0].login(victimEmail, "guess-after").code,
		"the attacker is still refused")

	// Then many addresses, one guess each: the account-wide ceiling refuses
	// a fresh address, which no per-client limit could, and the real user,
	// from the address that just logged in, still gets in at once.
	var distChecked, distRefused int
	for i := range 100 {
		ans := c.abuseClient(t, protocols[i%len(protocols)], fmt.Sprintf("127.0.1.%d", i+1)).
			login(victimEmail, fmt.Sprintf("spread-%03d", i))
		switch ans.code {
		case codes.Unauthenticated:
			distChecked++
			continue
		case codes.ResourceExhausted:
			distRefused++
			assert.LessOrEqual(t, ans.retryAfter, time.Second, "the ceiling's refusal says when to come back")
		default:
			t.Fatalf("distributed guess %d: %s", i, ans.code)
		}
		owner := victim.login(victimEmail, victimPassword)
		require.Equal(t, codes.OK, owner.code, "the real user at a known address logs in at once (told to retry after %s)", owner.retryAfter)
		if distRefused == 5 {
			break
		}
	}
	t.Logf("distributed guesses from fresh addresses: %d checked, %d refused", distChecked, distRefused)
	assert.Equal(t, 5, distRefused, "the account-wide ceiling refuses fresh addresses")
	assert.LessOrEqual(t, distChecked, 10+10, "about the ceiling's burst is checked, plus what it refilled")

	// Nothing changed: no account appeared or went, and the password is the same.
	if accounts >= 0 {
		assert.Equal(t, accounts, abuseAccounts(t, c))
	}
	assert.Equal(t, codes.OK, victim.login(victimEmail, victimPassword).code, "the victim's password still works")
}

// TestSecurityAbuseRegistrationFlood registers accounts from one address
// as fast as it can: after the address's burst every registration is
// refused before it hashes or stores anything, so the flood creates at most
// the burst of accounts; another address still registers.
func TestSecurityAbuseRegistrationFlood(t *testing.T) {
	c := startCluster(t, abuseEnv...)
	before := abuseAccounts(t, c)
	attacker := c.abuseClient(t, "rest", "127.0.0.1")
	created, refused := 0, 0
	for i := range 40 {
		ans := attacker.register(fmt.Sprintf("flood-%02d-%s@example.com", i, randomHex(t, 2)), "flood password")
		switch ans.code {
		case codes.OK:
			created++
		case codes.ResourceExhausted:
			refused++
			assert.Positive(t, ans.retryAfter)
		default:
			t.Fatalf("registration %d: %s", i, ans.code)
		}
	}
	t.Logf("40 registrations: %d created, %d refused", created, refused)
	assert.LessOrEqual(t, created, 21, "the address's burst of 20, and one more for the second it took")
	assert.GreaterOrEqual(t, refused, 19)
	if before >= 0 {
		assert.Equal(t, before+created, abuseAccounts(t, c), "the refused registrations stored nothing")
	}
	other := c.abuseClient(t, "grpc", "127.0.0.3")
	assert.Equal(t, codes.OK, other.register("other-"+randomHex(t, 4)+"@example.com", "other password").code,
		"another address has its own budget")
}
