package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/server/servertest"
	"github.com/slipway-dev/slipway/platform/telemetry/logtest"
)

// TestProtocolsAnswerAlike runs one account scenario over native gRPC, REST
// and gRPC-Web against the real service, and asserts that the three answer
// every call with the same outcome: one interceptor chain serves them all.
func TestProtocolsAnswerAlike(t *testing.T) {
	svc := startService(t, nil)
	conn := servertest.Dial(t, svc.GRPCAddr)
	base := "http://" + svc.HTTPAddr

	protocols := []struct {
		name   string
		logged string // the protocol the access log records; also names the account
		client userClient
	}{
		{name: "gRPC", logged: "grpc", client: grpcClient{users: userv1.NewUserServiceClient(conn)}},
		{name: "REST", logged: "rest", client: restClient{base: base}},
		{name: "gRPC-Web", logged: "grpc-web", client: newGRPCWebClient(base)},
	}
	got := make(map[string]map[string]outcome, len(protocols))
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			got[p.name] = accountScenario(t, p.client, p.logged+"@example.com")

			// Without this a misrouted client could pass while testing another protocol.
			for _, method := range []string{
				userv1.UserService_Register_FullMethodName, userv1.UserService_Login_FullMethodName,
				userv1.UserService_GetUser_FullMethodName, userv1.UserService_GetMe_FullMethodName,
			} {
				assert.True(t, servedOver(svc.Logs, method, p.logged), "%s served over %s", method, p.logged)
			}
		})
	}

	t.Run("every protocol has the same outcomes", func(t *testing.T) {
		want := got[protocols[0].name]
		require.NotEmpty(t, want)
		for _, p := range protocols[1:] {
			assert.Equal(t, want, got[p.name], "%s and %s disagree", protocols[0].name, p.name)
		}
	})
}

// outcome is one call's answer reduced to what must not depend on the
// protocol. The scenario's own emails and ids are replaced by placeholders
// such as <email> and <id>, so outcomes compare equal across accounts.
type outcome struct {
	Code    codes.Code
	Message string
	Fields  []string // the invalid fields named by the error, sorted
	UserID  string
	Email   string
	Role    userv1.Role
	// TokenType and Token describe a login: Token is true for a non-empty
	// access token whose expiry lies in the future.
	TokenType string
	Token     bool
}

// accountScenario registers, logs in and reads accounts through c as email,
// asserts each step's outcome and returns the outcomes by step name.
func accountScenario(t *testing.T, c userClient, email string) map[string]outcome {
	t.Helper()
	const (
		password    = "correct horse battery"
		displayName = "Protocol Tester"
	)
	var (
		otherEmail   = "other-" + email
		unknownEmail = "nobody-" + email
		id, otherID  string
		token        string
	)
	self := outcome{UserID: "<id>", Email: "<email>", Role: userv1.Role_ROLE_CUSTOMER}
	other := outcome{UserID: "<other-id>", Email: "<other-email>", Role: userv1.Role_ROLE_CUSTOMER}
	loggedIn := self
	loggedIn.TokenType, loggedIn.Token = "Bearer", true

	steps := []struct {
		name string
		call func(t *testing.T) (userResponse, error)
		want outcome
	}{
		{
			name: "register",
			call: func(t *testing.T) (userResponse, error) {
				r, err := c.Register(t, &userv1.RegisterRequest{Email: email, Password: password, DisplayName: displayName})
				id = r.GetUser().GetId()
				return r, err
			},
			want: self,
		},
		{
			name: "register the same email again",
			call: func(t *testing.T) (userResponse, error) {
				return c.Register(t, &userv1.RegisterRequest{Email: email, Password: password, DisplayName: displayName})
			},
			want: outcome{Code: codes.AlreadyExists},
		},
		{
			name: "register another customer",
			call: func(t *testing.T) (userResponse, error) {
				r, err := c.Register(t, &userv1.RegisterRequest{Email: otherEmail, Password: password, DisplayName: displayName})
				otherID = r.GetUser().GetId()
				return r, err
			},
			want: other,
		},
		{
			name: "login",
			call: func(t *testing.T) (userResponse, error) {
				r, err := c.Login(t, &userv1.LoginRequest{Email: email, Password: password})
				token = r.GetAccessToken()
				return r, err
			},
			want: loggedIn,
		},
		{
			name: "login with a wrong password",
			call: func(t *testing.T) (userResponse, error) {
				return c.Login(t, &userv1.LoginRequest{Email: email, Password: "wrong " + password})
			},
			want: outcome{Code: codes.Unauthenticated},
		},
		{
			name: "login with an unknown email",
			call: func(t *testing.T) (userResponse, error) {
				return c.Login(t, &userv1.LoginRequest{Email: unknownEmail, Password: password})
			},
			want: outcome{Code: codes.Unauthenticated},
		},
		{
			name: "GetMe",
			call: func(t *testing.T) (userResponse, error) { return c.GetMe(t, token) },
			want: self,
		},
		{
			name: "GetMe without a token",
			call: func(t *testing.T) (userResponse, error) { return c.GetMe(t, "") },
			want: outcome{Code: codes.Unauthenticated},
		},
		{
			name: "GetMe with a garbage token",
			call: func(t *testing.T) (userResponse, error) { return c.GetMe(t, "not.a.token") },
			want: outcome{Code: codes.Unauthenticated},
		},
		{
			name: "register with an invalid email and a short password",
			call: func(t *testing.T) (userResponse, error) {
				return c.Register(t, &userv1.RegisterRequest{Email: "not-an-email", Password: "abc", DisplayName: displayName})
			},
			want: outcome{Code: codes.InvalidArgument, Fields: []string{"email", "password"}},
		},
		{
			name: "GetUser of themselves",
			call: func(t *testing.T) (userResponse, error) {
				return c.GetUser(t, token, &userv1.GetUserRequest{Id: id})
			},
			want: self,
		},
		{
			name: "GetUser of another customer",
			call: func(t *testing.T) (userResponse, error) {
				return c.GetUser(t, token, &userv1.GetUserRequest{Id: otherID})
			},
			want: outcome{Code: codes.NotFound},
		},
	}

	got := make(map[string]outcome, len(steps))
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resp, err := s.call(t)
			o := newOutcome(t, resp, err, placeholders(map[string]string{
				email: "<email>", otherEmail: "<other-email>", unknownEmail: "<unknown-email>",
				id: "<id>", otherID: "<other-id>",
			}))
			got[s.name] = o

			// Messages are compared across protocols rather than pinned here.
			behaviour := o
			behaviour.Message = ""
			assert.Equal(t, s.want, behaviour)
		})
	}

	wrongPassword, unknown := got["login with a wrong password"], got["login with an unknown email"]
	assert.NotEmpty(t, wrongPassword.Message)
	assert.Equal(t, wrongPassword, unknown, "a failed login does not tell whether the email exists")
	return got
}

// placeholders replaces each non-empty key by its value.
func placeholders(names map[string]string) *strings.Replacer {
	var pairs []string
	for value, placeholder := range names {
		if value != "" { // an empty old string would match everywhere
			pairs = append(pairs, value, placeholder)
		}
	}
	return strings.NewReplacer(pairs...)
}

// userResponse is what every UserService response has.
type userResponse interface{ GetUser() *userv1.User }

// newOutcome reduces a call's answer; err must be a *callError or nil.
func newOutcome(t *testing.T, resp userResponse, err error, names *strings.Replacer) outcome {
	t.Helper()
	if err != nil {
		var ce *callError
		require.ErrorAs(t, err, &ce)
		return outcome{Code: ce.code, Message: names.Replace(ce.message), Fields: ce.fields}
	}
	u := resp.GetUser()
	require.NotNil(t, u, "a successful call returns the user")
	assert.NotNil(t, u.GetCreatedAt(), "created_at")
	o := outcome{Code: codes.OK, UserID: names.Replace(u.GetId()), Email: names.Replace(u.GetEmail()), Role: u.GetRole()}
	if login, ok := resp.(*userv1.LoginResponse); ok {
		o.TokenType = login.GetTokenType()
		o.Token = login.GetAccessToken() != "" && login.GetExpiresAt().AsTime().After(time.Now())
	}
	return o
}

// userClient is UserService as one protocol reaches it. A failed call
// returns a *callError, so failures compare across protocols.
type userClient interface {
	Register(t *testing.T, req *userv1.RegisterRequest) (*userv1.RegisterResponse, error)
	Login(t *testing.T, req *userv1.LoginRequest) (*userv1.LoginResponse, error)
	GetUser(t *testing.T, token string, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error)
	GetMe(t *testing.T, token string) (*userv1.GetMeResponse, error)
}

// callError is a failed call as the protocol reported it: a code, a message
// and the invalid fields it named.
type callError struct {
	code    codes.Code
	message string
	fields  []string
}

func (e *callError) Error() string { return fmt.Sprintf("%s: %s %v", e.code, e.message, e.fields) }

// badRequestFields are the fields a google.rpc.BadRequest names.
func badRequestFields(details []any) []string {
	var fields []string
	for _, d := range details {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	slices.Sort(fields)
	return fields
}

// grpcClient calls the gRPC port.
type grpcClient struct{ users userv1.UserServiceClient }

func (c grpcClient) Register(t *testing.T, req *userv1.RegisterRequest) (*userv1.RegisterResponse, error) {
	resp, err := c.users.Register(t.Context(), req)
	return resp, grpcError(err)
}

func (c grpcClient) Login(t *testing.T, req *userv1.LoginRequest) (*userv1.LoginResponse, error) {
	resp, err := c.users.Login(t.Context(), req)
	return resp, grpcError(err)
}

func (c grpcClient) GetUser(t *testing.T, token string, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	resp, err := c.users.GetUser(withToken(t, token), req)
	return resp, grpcError(err)
}

func (c grpcClient) GetMe(t *testing.T, token string) (*userv1.GetMeResponse, error) {
	resp, err := c.users.GetMe(withToken(t, token), &userv1.GetMeRequest{})
	return resp, grpcError(err)
}

func withToken(t *testing.T, token string) context.Context {
	t.Helper()
	if token == "" {
		return t.Context()
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+token)
}

func grpcError(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	return &callError{code: st.Code(), message: st.Message(), fields: badRequestFields(st.Details())}
}

// restClient calls the grpc-gateway routes of the HTTP port.
type restClient struct{ base string }

func (c restClient) Register(t *testing.T, req *userv1.RegisterRequest) (*userv1.RegisterResponse, error) {
	return restCall[userv1.RegisterResponse](t, http.MethodPost, c.base+"/v1/users", "", req)
}

func (c restClient) Login(t *testing.T, req *userv1.LoginRequest) (*userv1.LoginResponse, error) {
	return restCall[userv1.LoginResponse](t, http.MethodPost, c.base+"/v1/sessions", "", req)
}

func (c restClient) GetUser(t *testing.T, token string, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	return restCall[userv1.GetUserResponse](t, http.MethodGet, c.base+"/v1/users/"+url.PathEscape(req.GetId()), token, nil)
}

func (c restClient) GetMe(t *testing.T, token string) (*userv1.GetMeResponse, error) {
	return restCall[userv1.GetMeResponse](t, http.MethodGet, c.base+"/v1/me", token, nil)
}

// restStatus is the HTTP status REST answers each code of the scenario with.
var restStatus = map[codes.Code]int{
	codes.InvalidArgument: http.StatusBadRequest,
	codes.Unauthenticated: http.StatusUnauthorized,
	codes.NotFound:        http.StatusNotFound,
	codes.AlreadyExists:   http.StatusConflict,
}

// restCall sends body (if any) as JSON and decodes a 200 answer into a Res,
// or a problem into a *callError after checking the problem's shape.
func restCall[Res any, PRes interface {
	*Res
	proto.Message
}](t *testing.T, method, url, token string, body proto.Message) (*Res, error) {
	t.Helper()
	var reqBody string
	if body != nil {
		b, err := protojson.Marshal(body)
		require.NoError(t, err)
		reqBody = string(b)
	}
	resp := do(t, method, url, token, reqBody)
	if resp.status == http.StatusOK {
		out := PRes(new(Res))
		require.NoError(t, protojson.Unmarshal([]byte(resp.body), out), resp.body)
		return out, nil
	}

	require.Equal(t, "application/problem+json", resp.header.Get("Content-Type"), resp.body)
	var p server.Problem
	require.NoError(t, json.Unmarshal([]byte(resp.body), &p), resp.body)
	var code codes.Code
	require.NoError(t, code.UnmarshalJSON([]byte(strconv.Quote(p.Code))), "problem code %q", p.Code)
	assert.Equal(t, restStatus[code], resp.status, "HTTP status for %s", code)
	assert.Equal(t, resp.status, p.Status, "problem status")
	assert.Equal(t, http.StatusText(resp.status), p.Title, "problem title")
	assert.NotEmpty(t, p.RequestID, "problem request_id")
	fields := make([]string, 0, len(p.Errors))
	for _, v := range p.Errors {
		fields = append(fields, v.Field)
	}
	slices.Sort(fields)
	if len(fields) == 0 {
		fields = nil // as the other protocols report no violations
	}
	return nil, &callError{code: code, message: p.Detail, fields: fields}
}

// grpcWebClient calls the HTTP port with connect's gRPC-Web client.
type grpcWebClient struct {
	register *connect.Client[userv1.RegisterRequest, userv1.RegisterResponse]
	login    *connect.Client[userv1.LoginRequest, userv1.LoginResponse]
	getUser  *connect.Client[userv1.GetUserRequest, userv1.GetUserResponse]
	getMe    *connect.Client[userv1.GetMeRequest, userv1.GetMeResponse]
}

func newGRPCWebClient(base string) grpcWebClient {
	return grpcWebClient{
		register: connect.NewClient[userv1.RegisterRequest, userv1.RegisterResponse](
			http.DefaultClient, base+userv1.UserService_Register_FullMethodName, connect.WithGRPCWeb()),
		login: connect.NewClient[userv1.LoginRequest, userv1.LoginResponse](
			http.DefaultClient, base+userv1.UserService_Login_FullMethodName, connect.WithGRPCWeb()),
		getUser: connect.NewClient[userv1.GetUserRequest, userv1.GetUserResponse](
			http.DefaultClient, base+userv1.UserService_GetUser_FullMethodName, connect.WithGRPCWeb()),
		getMe: connect.NewClient[userv1.GetMeRequest, userv1.GetMeResponse](
			http.DefaultClient, base+userv1.UserService_GetMe_FullMethodName, connect.WithGRPCWeb()),
	}
}

func (c grpcWebClient) Register(t *testing.T, req *userv1.RegisterRequest) (*userv1.RegisterResponse, error) {
	return grpcWebCall(t, c.register, "", req)
}

func (c grpcWebClient) Login(t *testing.T, req *userv1.LoginRequest) (*userv1.LoginResponse, error) {
	return grpcWebCall(t, c.login, "", req)
}

func (c grpcWebClient) GetUser(t *testing.T, token string, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	return grpcWebCall(t, c.getUser, token, req)
}

func (c grpcWebClient) GetMe(t *testing.T, token string) (*userv1.GetMeResponse, error) {
	return grpcWebCall(t, c.getMe, token, &userv1.GetMeRequest{})
}

func grpcWebCall[Req, Res any](t *testing.T, client *connect.Client[Req, Res], token string, msg *Req) (*Res, error) {
	t.Helper()
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	resp, err := client.CallUnary(t.Context(), req)
	if err != nil {
		var ce *connect.Error
		require.ErrorAs(t, err, &ce)
		details := make([]any, 0, len(ce.Details()))
		for _, d := range ce.Details() {
			v, err := d.Value()
			require.NoError(t, err, "error detail %s", d.Type())
			details = append(details, v)
		}
		return nil, &callError{code: codes.Code(ce.Code()), message: ce.Message(), fields: badRequestFields(details)}
	}
	return resp.Msg, nil
}

// servedOver reports whether the access log records a call of method over protocol.
func servedOver(logs *logtest.Buffer, method, protocol string) bool {
	return slices.ContainsFunc(logs.Messages("rpc"), func(line map[string]any) bool {
		return line["method"] == method && line["protocol"] == protocol
	})
}
