package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
)

// protocols the shop is driven over.
var protocols = []string{"grpc", "rest", "grpc-web"}

// shop calls the services over one protocol, as a client would.
type shop struct {
	t        *testing.T
	protocol string
	c        *cluster
	conns    map[string]*grpc.ClientConn
	// traceparent, when set, is sent with every call.
	traceparent string
}

func (c *cluster) shop(t *testing.T, protocol string) *shop {
	t.Helper()
	s := &shop{t: t, protocol: protocol, c: c, conns: map[string]*grpc.ClientConn{}}
	t.Cleanup(func() {
		for _, conn := range s.conns {
			_ = conn.Close()
		}
	})
	return s
}

// restRoute is how a method is reached over REST.
type restRoute struct {
	method, path string
	body         bool
}

// callError is a failed call as any protocol reports it.
type callError struct {
	code   codes.Code
	msg    string
	fields []string
}

func (e *callError) Error() string { return fmt.Sprintf("%s: %s %v", e.code, e.msg, e.fields) }

// codeOf is the gRPC code of err (OK for nil).
func codeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var ce *callError
	if errors.As(err, &ce) {
		return ce.code
	}
	return codes.Unknown
}

func do[Req, Res any](ctx context.Context, s *shop, svc, fullMethod string, route restRoute, token string, req *Req, resp *Res) error {
	p := s.c.procs[svc]
	require.NotNil(s.t, p, "%s is not running", svc)
	e := endpoint{protocol: s.protocol, http: http.DefaultClient, baseURL: "http://" + p.httpAddr, headers: map[string]string{}}
	if token != "" {
		e.headers["authorization"] = "Bearer " + token
	}
	if s.traceparent != "" {
		e.headers["traceparent"] = s.traceparent
	}
	if s.protocol == "grpc" {
		conn, ok := s.conns[svc]
		if !ok || conn.Target() != p.grpcAddr {
			var err error
			conn, err = grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(s.t, err)
			s.conns[svc] = conn
		}
		e.grpc = conn
	}
	return call(ctx, s.t, e, fullMethod, route, req, resp)
}

// endpoint is how one protocol reaches one service: the gRPC connection for
// "grpc", else the HTTP client and the HTTP port's base URL.
type endpoint struct {
	protocol string // grpc, grpc-web, connect or rest
	grpc     *grpc.ClientConn
	http     *http.Client
	baseURL  string // scheme://host:port
	// headers go with every call (as metadata over native gRPC);
	// httpHeaders only with the protocols over the HTTP port.
	headers, httpHeaders map[string]string
}

// call makes one unary call over e, as a client of that protocol would, and
// returns a failure as a *callError whatever the protocol.
func call[Req, Res any](ctx context.Context, t *testing.T, e endpoint, fullMethod string, route restRoute, req *Req, resp *Res) error {
	t.Helper()
	reqMsg, respMsg := any(req).(proto.Message), any(resp).(proto.Message)
	setHeaders := func(h http.Header) {
		for k, v := range e.headers {
			h.Set(k, v)
		}
		for k, v := range e.httpHeaders {
			h.Set(k, v)
		}
	}
	switch e.protocol {
	case "grpc":
		require.NotNil(t, e.grpc, "no gRPC connection")
		md := metadata.MD{}
		for k, v := range e.headers {
			md.Set(k, v)
		}
		return grpcError(e.grpc.Invoke(metadata.NewOutgoingContext(ctx, md), fullMethod, reqMsg, respMsg))
	case "grpc-web", "connect":
		var opts []connect.ClientOption
		if e.protocol == "grpc-web" {
			opts = append(opts, connect.WithGRPCWeb())
		}
		r := connect.NewRequest(req)
		setHeaders(r.Header())
		out, err := connect.NewClient[Req, Res](e.http, e.baseURL+fullMethod, opts...).CallUnary(ctx, r)
		if err != nil {
			return connectError(err)
		}
		proto.Merge(respMsg, any(out.Msg).(proto.Message))
		return nil
	case "rest":
		return restCall(ctx, t, e, route, setHeaders, reqMsg, respMsg)
	}
	return fmt.Errorf("unknown protocol %q", e.protocol)
}

func restCall(ctx context.Context, t *testing.T, e endpoint, route restRoute, setHeaders func(http.Header), req, resp proto.Message) error {
	var body io.Reader
	if route.body {
		b, err := protojson.Marshal(req)
		require.NoError(t, err)
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, route.method, e.baseURL+route.path, body)
	require.NoError(t, err)
	hr.Header.Set("Content-Type", "application/json")
	setHeaders(hr.Header)
	res, err := recording(e.http).Do(hr)
	if err != nil {
		return &callError{code: codes.Unavailable, msg: err.Error()}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	if res.StatusCode != http.StatusOK {
		var p struct {
			Code   string
			Detail string
			Errors []struct{ Field string }
		}
		require.NoError(t, json.Unmarshal(data, &p), "REST error body (HTTP %d): %s", res.StatusCode, data)
		e := &callError{code: codeFromName(p.Code), msg: p.Detail}
		for _, f := range p.Errors {
			e.fields = append(e.fields, f.Field)
		}
		return e
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, resp)
}

func grpcError(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	return &callError{code: st.Code(), msg: st.Message()}
}

func connectError(err error) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return &callError{code: codes.Unknown, msg: err.Error()}
	}
	return &callError{code: codes.Code(ce.Code()), msg: ce.Message()}
}

func codeFromName(name string) codes.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if strings.EqualFold(strings.ReplaceAll(name, "_", ""), strings.ReplaceAll(c.String(), "_", "")) {
			return c
		}
	}
	if name == "CANCELLED" {
		return codes.Canceled
	}
	return codes.Unknown
}

// The shop's calls, one per RPC the tests use.

func (s *shop) Register(ctx context.Context, email, password string) (*userv1.User, error) {
	resp := &userv1.RegisterResponse{}
	err := do(ctx, s, "user", "/slipway.user.v1.UserService/Register", restRoute{"POST", "/v1/users", true}, "",
		&userv1.RegisterRequest{Email: email, Password: password, DisplayName: "E2E"}, resp)
	return resp.GetUser(), err
}

func (s *shop) Login(ctx context.Context, email, password string) (string, error) {
	resp := &userv1.LoginResponse{}
	err := do(ctx, s, "user", "/slipway.user.v1.UserService/Login", restRoute{"POST", "/v1/sessions", true}, "",
		&userv1.LoginRequest{Email: email, Password: password}, resp)
	return resp.GetAccessToken(), err
}

func (s *shop) ListProducts(ctx context.Context) ([]*inventoryv1.Product, error) {
	resp := &inventoryv1.ListProductsResponse{}
	err := do(ctx, s, "inventory", "/slipway.inventory.v1.InventoryService/ListProducts", restRoute{"GET", "/v1/products?pageSize=100", false}, "",
		&inventoryv1.ListProductsRequest{PageSize: 100}, resp)
	return resp.GetProducts(), err
}

func (s *shop) GetProduct(ctx context.Context, id string) (*inventoryv1.Product, error) {
	resp := &inventoryv1.GetProductResponse{}
	err := do(ctx, s, "inventory", "/slipway.inventory.v1.InventoryService/GetProduct", restRoute{"GET", "/v1/products/" + id, false}, "",
		&inventoryv1.GetProductRequest{Id: id}, resp)
	return resp.GetProduct(), err
}

func (s *shop) CreateOrder(ctx context.Context, token, key string, items ...*orderv1.LineItem) (*orderv1.Order, error) {
	resp := &orderv1.CreateOrderResponse{}
	err := do(ctx, s, "order", "/slipway.order.v1.OrderService/CreateOrder", restRoute{"POST", "/v1/orders", true}, token,
		&orderv1.CreateOrderRequest{IdempotencyKey: key, Items: items}, resp)
	return resp.GetOrder(), err
}

func (s *shop) GetOrder(ctx context.Context, token, id string) (*orderv1.Order, error) {
	resp := &orderv1.GetOrderResponse{}
	err := do(ctx, s, "order", "/slipway.order.v1.OrderService/GetOrder", restRoute{"GET", "/v1/orders/" + id, false}, token,
		&orderv1.GetOrderRequest{Id: id}, resp)
	return resp.GetOrder(), err
}

func (s *shop) ListMyOrders(ctx context.Context, token string) ([]*orderv1.Order, error) {
	resp := &orderv1.ListMyOrdersResponse{}
	err := do(ctx, s, "order", "/slipway.order.v1.OrderService/ListMyOrders", restRoute{"GET", "/v1/orders?pageSize=100", false}, token,
		&orderv1.ListMyOrdersRequest{PageSize: 100}, resp)
	return resp.GetOrders(), err
}

func (s *shop) CancelOrder(ctx context.Context, token, id string) (*orderv1.Order, error) {
	resp := &orderv1.CancelOrderResponse{}
	err := do(ctx, s, "order", "/slipway.order.v1.OrderService/CancelOrder", restRoute{"POST", "/v1/orders/" + id + ":cancel", true}, token,
		&orderv1.CancelOrderRequest{Id: id, Reason: "e2e"}, resp)
	return resp.GetOrder(), err
}

func (s *shop) ListMyNotifications(ctx context.Context, token string) ([]*notificationv1.Notification, error) {
	resp := &notificationv1.ListMyNotificationsResponse{}
	err := do(ctx, s, "notification", "/slipway.notification.v1.NotificationService/ListMyNotifications",
		restRoute{"GET", "/v1/notifications?pageSize=100", false}, token,
		&notificationv1.ListMyNotificationsRequest{PageSize: 100}, resp)
	return resp.GetNotifications(), err
}
