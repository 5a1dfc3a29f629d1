// Package protocoltest calls a service built on platform/server over each
// protocol it serves (native gRPC on the gRPC port, REST through
// grpc-gateway and gRPC-Web through vanguard on the HTTP port) and reduces
// every answer to what all three must report alike, so a service's tests
// can assert that the protocols agree.
package protocoltest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/slipway-dev/slipway/platform/server"
)

// Protocol is one way a client reaches the service.
type Protocol string

// The protocols a platform service serves.
const (
	GRPC    Protocol = "grpc"
	REST    Protocol = "rest"
	GRPCWeb Protocol = "grpc-web"
)

// Protocols are every Protocol, native gRPC first.
var Protocols = []Protocol{GRPC, REST, GRPCWeb}

// Failure is how an RPC ended, reduced to what every protocol must report
// alike: the gRPC code and the fields its google.rpc.BadRequest names, in
// order. The zero Failure is success.
type Failure struct {
	Code   codes.Code
	Fields []string
}

// Route is where one RPC lives: its gRPC method, which is also its gRPC-Web
// path, and its REST verb and path (with the query, if any).
type Route struct {
	Procedure string
	Verb      string
	Path      string
}

// Client calls one service over one protocol.
type Client struct {
	Protocol Protocol
	// Conn is a connection to the gRPC port.
	Conn grpc.ClientConnInterface
	// HTTPAddr is the HTTP port's host:port.
	HTTPAddr string
}

// Invoke calls r over c's protocol as token ("" for none) and returns the
// response, or nil and how the call failed. An answer that is not
// well-formed for its protocol fails the test.
func Invoke[Res, Req any, PRes interface {
	*Res
	proto.Message
}, PReq interface {
	*Req
	proto.Message
}](t *testing.T, c Client, r Route, token string, req PReq) (PRes, Failure) {
	t.Helper()
	res := PRes(new(Res))
	var f Failure
	switch c.Protocol {
	case GRPC:
		ctx := t.Context()
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		f = grpcFailure(t, c.Conn.Invoke(ctx, r.Procedure, req, res))
	case GRPCWeb:
		client := connect.NewClient[Req, Res](http.DefaultClient, "http://"+c.HTTPAddr+r.Procedure, connect.WithGRPCWeb())
		creq := connect.NewRequest((*Req)(req))
		if token != "" {
			creq.Header().Set("Authorization", "Bearer "+token)
		}
		resp, err := client.CallUnary(t.Context(), creq)
		if f = connectFailure(t, err); f.Code == codes.OK {
			res = PRes(resp.Msg)
		}
	case REST:
		var body []byte
		if r.Verb != http.MethodGet {
			b, err := protojson.Marshal(req)
			require.NoError(t, err)
			body = b
		}
		f = CallREST(t, c.HTTPAddr, r.Verb, r.Path, token, body, res)
	default:
		t.Fatalf("unknown protocol %q", c.Protocol)
	}
	if f.Code != codes.OK {
		return nil, f
	}
	return res, f
}

func grpcFailure(t *testing.T, err error) Failure {
	t.Helper()
	if err == nil {
		return Failure{}
	}
	st, ok := status.FromError(err)
	require.True(t, ok, "a gRPC status: %v", err)
	return Failure{Code: st.Code(), Fields: violationFields(st.Details())}
}

func connectFailure(t *testing.T, err error) Failure {
	t.Helper()
	if err == nil {
		return Failure{}
	}
	var ce *connect.Error
	require.True(t, errors.As(err, &ce), "a connect error: %v", err)
	var details []any
	for _, d := range ce.Details() {
		v, err := d.Value()
		require.NoError(t, err, "decode error detail %s", d.Type())
		details = append(details, v)
	}
	return Failure{Code: codes.Code(ce.Code()), Fields: violationFields(details)}
}

// violationFields names the fields of every google.rpc.BadRequest in details.
func violationFields(details []any) []string {
	var fields []string
	for _, d := range details {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

// restStatus is the HTTP status grpc-gateway gives each code the services'
// tests expect; FailedPrecondition is 400, not 412.
var restStatus = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.FailedPrecondition: http.StatusBadRequest,
	codes.NotFound:           http.StatusNotFound,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.Internal:           http.StatusInternalServerError,
}

// CallREST sends body (nil for none), a JSON request that may be one no
// protobuf message marshals to, to path on httpAddr as token ("" for none),
// decodes a success into res, and reads the code and field names of a
// failure from its application/problem+json body, checking that the HTTP
// status matches the code and that the problem names the request.
func CallREST(t *testing.T, httpAddr, verb, path, token string, body []byte, res proto.Message) Failure {
	t.Helper()
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(t.Context(), verb, "http://"+httpAddr+path, reader)
	require.NoError(t, err)
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		hreq.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(hreq)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)

	if resp.StatusCode == http.StatusOK {
		require.NoError(t, protojson.Unmarshal(b, res), "decode %s", b)
		return Failure{}
	}
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), "%s", b)
	var p server.Problem
	require.NoError(t, json.Unmarshal(b, &p), "decode %s", b)
	var code codes.Code
	require.NoError(t, code.UnmarshalJSON([]byte(strconv.Quote(p.Code))), "the problem's code %q", p.Code)
	assert.Equal(t, resp.StatusCode, p.Status, "the problem repeats the HTTP status")
	if assert.Contains(t, restStatus, code, "an expected code") {
		assert.Equal(t, restStatus[code], resp.StatusCode, "the HTTP status of %s", code)
	}
	assert.NotEmpty(t, p.RequestID, "the problem names the request")
	f := Failure{Code: code}
	for _, v := range p.Errors {
		f.Fields = append(f.Fields, v.Field)
	}
	return f
}
