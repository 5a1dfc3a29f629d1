package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/server"
)

// protocol is one way a client reaches the service: native gRPC on the gRPC
// port, or REST (grpc-gateway) and gRPC-Web (vanguard) on the HTTP port.
type protocol string

const (
	grpcProtocol    protocol = "grpc"
	restProtocol    protocol = "rest"
	grpcWebProtocol protocol = "grpc-web"
)

var protocols = []protocol{grpcProtocol, restProtocol, grpcWebProtocol}

// failure is how an RPC ended, reduced to what every protocol must report
// alike: the gRPC code and the fields its google.rpc.BadRequest names.
// The zero failure is success.
type failure struct {
	Code   codes.Code
	Fields []string
}

// caller calls the order service over one protocol as one bearer token.
// Its methods return the response (nil on failure) and how the call ended;
// anything but a well-formed answer fails the test.
type caller struct {
	protocol protocol
	s        *service
	token    string
}

// route is where one RPC lives: its gRPC method, which is also its gRPC-Web
// path, and its REST verb and path (with the query, if any).
type route struct {
	procedure  string
	verb, path string
}

func (c caller) createOrder(t *testing.T, req *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, failure) {
	t.Helper()
	r := route{orderv1.OrderService_CreateOrder_FullMethodName, http.MethodPost, "/v1/orders"}
	return invoke[orderv1.CreateOrderResponse](t, c, r, req)
}

func (c caller) getOrder(t *testing.T, id string) (*orderv1.GetOrderResponse, failure) {
	t.Helper()
	r := route{orderv1.OrderService_GetOrder_FullMethodName, http.MethodGet, "/v1/orders/" + url.PathEscape(id)}
	return invoke[orderv1.GetOrderResponse](t, c, r, &orderv1.GetOrderRequest{Id: id})
}

func (c caller) listMyOrders(t *testing.T, req *orderv1.ListMyOrdersRequest) (*orderv1.ListMyOrdersResponse, failure) {
	t.Helper()
	q := url.Values{}
	if req.GetPageSize() != 0 {
		q.Set("page_size", strconv.Itoa(int(req.GetPageSize())))
	}
	if req.GetPageToken() != "" {
		q.Set("page_token", req.GetPageToken())
	}
	r := route{orderv1.OrderService_ListMyOrders_FullMethodName, http.MethodGet, "/v1/orders?" + q.Encode()}
	return invoke[orderv1.ListMyOrdersResponse](t, c, r, req)
}

func (c caller) cancelOrder(t *testing.T, req *orderv1.CancelOrderRequest) (*orderv1.CancelOrderResponse, failure) {
	t.Helper()
	r := route{orderv1.OrderService_CancelOrder_FullMethodName, http.MethodPost, "/v1/orders/" + url.PathEscape(req.GetId()) + ":cancel"}
	return invoke[orderv1.CancelOrderResponse](t, c, r, req)
}

// invoke calls r over c's protocol and returns the response, or nil and how
// the call failed.
func invoke[Res, Req any, PRes interface {
	*Res
	proto.Message
}, PReq interface {
	*Req
	proto.Message
}](t *testing.T, c caller, r route, req PReq) (PRes, failure) {
	t.Helper()
	res := PRes(new(Res))
	var f failure
	switch c.protocol {
	case grpcProtocol:
		ctx := t.Context()
		if c.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
		}
		f = grpcFailure(t, c.s.conn.Invoke(ctx, r.procedure, req, res))
	case grpcWebProtocol:
		client := connect.NewClient[Req, Res](http.DefaultClient, "http://"+c.s.httpAddr+r.procedure, connect.WithGRPCWeb())
		creq := connect.NewRequest((*Req)(req))
		if c.token != "" {
			creq.Header().Set("Authorization", "Bearer "+c.token)
		}
		resp, err := client.CallUnary(t.Context(), creq)
		if f = connectFailure(t, err); f.Code == codes.OK {
			res = PRes(resp.Msg)
		}
	case restProtocol:
		var body []byte
		if r.verb != http.MethodGet {
			b, err := protojson.Marshal(req)
			require.NoError(t, err)
			body = b
		}
		f = restCall(t, c.s.httpAddr, r.verb, r.path, c.token, body, res)
	default:
		t.Fatalf("unknown protocol %q", c.protocol)
	}
	if f.Code != codes.OK {
		return nil, f
	}
	return res, f
}

func grpcFailure(t *testing.T, err error) failure {
	t.Helper()
	if err == nil {
		return failure{}
	}
	st, ok := status.FromError(err)
	require.True(t, ok, "a gRPC status: %v", err)
	return failure{Code: st.Code(), Fields: violationFields(st.Details())}
}

func connectFailure(t *testing.T, err error) failure {
	t.Helper()
	if err == nil {
		return failure{}
	}
	var ce *connect.Error
	require.True(t, errors.As(err, &ce), "a connect error: %v", err)
	var details []any
	for _, d := range ce.Details() {
		v, err := d.Value()
		require.NoError(t, err, "decode error detail %s", d.Type())
		details = append(details, v)
	}
	return failure{Code: codes.Code(ce.Code()), Fields: violationFields(details)}
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

// restStatus is the HTTP status grpc-gateway gives each code the tests
// expect; FailedPrecondition is 400, not 412.
var restStatus = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.FailedPrecondition: http.StatusBadRequest,
	codes.NotFound:           http.StatusNotFound,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.Internal:           http.StatusInternalServerError,
}

// restCall sends body (nil for none) to path, decodes a success into res,
// and reads the code and field names of a failure from its
// application/problem+json body, checking that the HTTP status matches.
func restCall(t *testing.T, httpAddr, verb, path, token string, body []byte, res proto.Message) failure {
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
		return failure{}
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
	f := failure{Code: code}
	for _, v := range p.Errors {
		f.Fields = append(f.Fields, v.Field)
	}
	return f
}
