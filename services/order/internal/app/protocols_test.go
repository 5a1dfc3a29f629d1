package app_test

import (
	"net/http"
	"net/url"
	"testing"

	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/server/protocoltest"
)

// caller calls the order service over one protocol as one bearer token.
// Its methods return the response (nil on failure) and how the call ended;
// anything but a well-formed answer fails the test.
type caller struct {
	protocol protocoltest.Protocol
	s        *service
	token    string
}

func (c caller) client() protocoltest.Client {
	return protocoltest.Client{Protocol: c.protocol, Conn: c.s.conn, HTTPAddr: c.s.HTTPAddr}
}

func (c caller) createOrder(t *testing.T, req *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: orderv1.OrderService_CreateOrder_FullMethodName, Verb: http.MethodPost, Path: "/v1/orders"}
	return protocoltest.Invoke[orderv1.CreateOrderResponse](t, c.client(), r, c.token, req)
}

func (c caller) getOrder(t *testing.T, id string) (*orderv1.GetOrderResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: orderv1.OrderService_GetOrder_FullMethodName, Verb: http.MethodGet, Path: "/v1/orders/" + url.PathEscape(id)}
	return protocoltest.Invoke[orderv1.GetOrderResponse](t, c.client(), r, c.token, &orderv1.GetOrderRequest{Id: id})
}

func (c caller) listMyOrders(t *testing.T, req *orderv1.ListMyOrdersRequest) (*orderv1.ListMyOrdersResponse, protocoltest.Failure) {
	t.Helper()
	q := protocoltest.PageQuery(req)
	r := protocoltest.Route{Procedure: orderv1.OrderService_ListMyOrders_FullMethodName, Verb: http.MethodGet, Path: "/v1/orders?" + q.Encode()}
	return protocoltest.Invoke[orderv1.ListMyOrdersResponse](t, c.client(), r, c.token, req)
}

func (c caller) cancelOrder(t *testing.T, req *orderv1.CancelOrderRequest) (*orderv1.CancelOrderResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: orderv1.OrderService_CancelOrder_FullMethodName, Verb: http.MethodPost, Path: "/v1/orders/" + url.PathEscape(req.GetId()) + ":cancel"}
	return protocoltest.Invoke[orderv1.CancelOrderResponse](t, c.client(), r, c.token, req)
}
