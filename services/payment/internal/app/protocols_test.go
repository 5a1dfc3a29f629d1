package app_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server/protocoltest"
)

// TestProtocolsAgree runs one scenario over gRPC, REST and gRPC-Web against
// one service and asserts that each step answers as expected and that the
// three protocols answer every step alike.
func TestProtocolsAgree(t *testing.T) {
	s := start(t)
	protocols := protocoltest.Protocols

	transcripts := make(map[protocoltest.Protocol]map[string]answer, len(protocols))
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			transcripts[p] = runScenario(t, caller{protocol: p, s: s})
		})
	}
	t.Run("every protocol answers alike", func(t *testing.T) {
		want := transcripts[protocols[0]]
		require.NotEmpty(t, want)
		for _, p := range protocols[1:] {
			assert.Equal(t, want, transcripts[p], "%s answered differently from %s", p, protocols[0])
		}
	})
}

// answer is one step's outcome reduced to what every protocol must report
// alike. Ids, orders and owners differ by protocol (each runs as its own
// users and orders), so steps check them themselves and keep the states.
type answer struct {
	Code   codes.Code
	Fields []string // the fields a google.rpc.BadRequest names, in order

	State     paymentv1.PaymentState   // the payment a call returned
	States    []paymentv1.PaymentState // the payments a listing returned, in order
	Amounts   []int64                  // their amounts, in order
	NoPayment bool                     // a void answered without a payment
	MorePages bool
}

// runScenario runs every step over c, one subtest each, and returns what
// each step answered by step name.
func runScenario(t *testing.T, c caller) map[string]answer {
	owner := "user-owner-" + string(c.protocol)
	ownerToken := c.s.token(t, owner, auth.RoleCustomer)
	otherToken := c.s.token(t, "user-other-"+string(c.protocol), auth.RoleCustomer)
	adminToken := c.s.token(t, "user-admin-"+string(c.protocol), auth.RoleAdmin)
	orderToken := c.s.token(t, "order", auth.RoleService)
	order := func(n string) string { return "o-" + string(c.protocol) + "-" + n }

	got := make(map[string]answer)
	step := func(name string, want answer, call func(t *testing.T) answer) {
		t.Run(name, func(t *testing.T) {
			a := call(t)
			got[name] = a
			assert.Equal(t, want, a)
		})
	}
	authorized := paymentv1.PaymentState_PAYMENT_STATE_AUTHORIZED

	// Five orders of rising amounts: the listing shows them newest first.
	amounts := []int64{100, 200, 300, 400, 500}
	var ids []string
	for i, amount := range amounts {
		n := string(rune('1' + i))
		step("the order service authorizes order "+n, answer{State: authorized}, func(t *testing.T) answer {
			req := &paymentv1.AuthorizePaymentRequest{OrderId: order(n), UserId: owner, Amount: money(amount), PaymentMethod: "pm_card_visa", IdempotencyKey: order(n) + ":authorize"}
			resp, f := c.authorize(t, orderToken, req)
			if p := resp.GetPayment(); p != nil {
				assert.Equal(t, owner, p.GetUserId())
				assert.Equal(t, order(n), p.GetOrderId())
				ids = append(ids, p.GetId())
			}
			return answer{Code: f.Code, Fields: f.Fields, State: resp.GetPayment().GetState()}
		})
	}
	require.Len(t, ids, len(amounts), "every authorize answered an id")

	authorizeAs := func(token string, req *paymentv1.AuthorizePaymentRequest) func(t *testing.T) answer {
		return func(t *testing.T) answer {
			resp, f := c.authorize(t, token, req)
			return answer{Code: f.Code, Fields: f.Fields, State: resp.GetPayment().GetState()}
		}
	}
	again := &paymentv1.AuthorizePaymentRequest{OrderId: order("1"), UserId: owner, Amount: money(100), PaymentMethod: "pm_card_visa", IdempotencyKey: order("1") + ":authorize"}
	step("authorizing again returns the payment", answer{State: authorized}, authorizeAs(orderToken, again))
	other := &paymentv1.AuthorizePaymentRequest{OrderId: order("1"), UserId: owner, Amount: money(999), IdempotencyKey: order("1") + ":authorize"}
	step("another amount for the order", answer{Code: codes.FailedPrecondition}, authorizeAs(orderToken, other))
	declined := &paymentv1.AuthorizePaymentRequest{OrderId: order("d"), UserId: owner, Amount: money(100), PaymentMethod: "pm_card_chargeDeclined", IdempotencyKey: order("d") + ":authorize"}
	step("a declined card", answer{Code: codes.FailedPrecondition}, authorizeAs(orderToken, declined))
	step("authorize as a customer", answer{Code: codes.PermissionDenied}, authorizeAs(ownerToken, &paymentv1.AuthorizePaymentRequest{
		OrderId: order("c"), UserId: owner, Amount: money(100), IdempotencyKey: order("c") + ":authorize",
	}))
	step("authorize without a key", answer{Code: codes.InvalidArgument, Fields: []string{"idempotency_key"}}, authorizeAs(orderToken, &paymentv1.AuthorizePaymentRequest{
		OrderId: order("k"), UserId: owner, Amount: money(100),
	}))
	step("authorize without a token", answer{Code: codes.Unauthenticated}, authorizeAs("", again))

	step("capture order 1", answer{State: paymentv1.PaymentState_PAYMENT_STATE_CAPTURED}, func(t *testing.T) answer {
		resp, f := c.capture(t, orderToken, &paymentv1.CapturePaymentRequest{OrderId: order("1"), Amount: money(100), IdempotencyKey: order("1") + ":capture"})
		return answer{Code: f.Code, Fields: f.Fields, State: resp.GetPayment().GetState()}
	})
	void := func(n string) func(t *testing.T) answer {
		return func(t *testing.T) answer {
			resp, f := c.void(t, orderToken, &paymentv1.VoidPaymentRequest{OrderId: order(n), IdempotencyKey: order(n) + ":void"})
			return answer{Code: f.Code, Fields: f.Fields, State: resp.GetPayment().GetState(), NoPayment: f.Code == codes.OK && resp.GetPayment() == nil}
		}
	}
	step("void the captured order 1", answer{Code: codes.FailedPrecondition}, void("1"))
	step("void order 2", answer{State: paymentv1.PaymentState_PAYMENT_STATE_VOIDED}, void("2"))
	step("void an order never authorized", answer{NoPayment: true}, void("never"))
	step("refund order 1", answer{State: paymentv1.PaymentState_PAYMENT_STATE_REFUNDED}, func(t *testing.T) answer {
		resp, f := c.refund(t, orderToken, &paymentv1.RefundPaymentRequest{OrderId: order("1"), Amount: money(100), IdempotencyKey: order("1") + ":refund"})
		return answer{Code: f.Code, Fields: f.Fields, State: resp.GetPayment().GetState()}
	})

	get := func(token, id string) func(t *testing.T) answer {
		return func(t *testing.T) answer {
			resp, f := c.get(t, token, &paymentv1.GetPaymentRequest{Id: id})
			if p := resp.GetPayment(); p != nil {
				assert.Equal(t, id, p.GetId())
			}
			return answer{Code: f.Code, Fields: f.Fields, State: resp.GetPayment().GetState()}
		}
	}
	step("the owner gets theirs", answer{State: authorized}, get(ownerToken, ids[2]))
	step("an admin gets anyone's", answer{State: authorized}, get(adminToken, ids[2]))
	step("another user gets NotFound", answer{Code: codes.NotFound}, get(otherToken, ids[2]))
	step("an unknown id is NotFound", answer{Code: codes.NotFound}, get(ownerToken, "no-such-id"))
	step("get without a token", answer{Code: codes.Unauthenticated}, get("", ids[2]))

	list := func(token string, req *paymentv1.ListMyPaymentsRequest) func(t *testing.T) answer {
		return func(t *testing.T) answer {
			resp, f := c.list(t, token, req)
			return answer{Code: f.Code, Fields: f.Fields, States: statesOf(resp), Amounts: amountsOf(resp), MorePages: resp.GetNextPageToken() != ""}
		}
	}
	// Newest first: the declined one, then orders 5 to 1.
	declinedState := paymentv1.PaymentState_PAYMENT_STATE_DECLINED
	step("list a page of three", answer{
		States: []paymentv1.PaymentState{declinedState, authorized, authorized}, Amounts: []int64{100, 500, 400}, MorePages: true,
	}, list(ownerToken, &paymentv1.ListMyPaymentsRequest{PageSize: 3}))
	step("follow the page tokens", answer{Amounts: []int64{100, 500, 400, 300, 200, 100}}, func(t *testing.T) answer {
		var all []int64
		req := &paymentv1.ListMyPaymentsRequest{PageSize: 2}
		for range 10 {
			resp, f := c.list(t, ownerToken, req)
			require.Equal(t, codes.OK, f.Code, "page after %q", req.GetPageToken())
			all = append(all, amountsOf(resp)...)
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				return answer{Amounts: all}
			}
		}
		t.Fatal("no last page after 10 pages")
		return answer{}
	})
	step("another user lists none of them", answer{}, list(otherToken, &paymentv1.ListMyPaymentsRequest{}))
	step("list with page_size above 100", answer{Code: codes.InvalidArgument, Fields: []string{"page_size"}},
		list(ownerToken, &paymentv1.ListMyPaymentsRequest{PageSize: 101}))
	step("list with a garbage page token", answer{Code: codes.InvalidArgument, Fields: []string{"page_token"}},
		list(ownerToken, &paymentv1.ListMyPaymentsRequest{PageToken: "not a token!"}))
	step("list without a token", answer{Code: codes.Unauthenticated}, list("", &paymentv1.ListMyPaymentsRequest{}))
	return got
}

func money(amount int64) *moneyv1.Money { return &moneyv1.Money{Currency: "USD", AmountMinor: amount} }

func statesOf(resp *paymentv1.ListMyPaymentsResponse) []paymentv1.PaymentState {
	var states []paymentv1.PaymentState
	for _, p := range resp.GetPayments() {
		states = append(states, p.GetState())
	}
	return states
}

func amountsOf(resp *paymentv1.ListMyPaymentsResponse) []int64 {
	var amounts []int64
	for _, p := range resp.GetPayments() {
		amounts = append(amounts, p.GetAmount().GetAmountMinor())
	}
	return amounts
}

// caller calls the payment service over one protocol. Its methods return the
// response (nil on failure) and how the call ended; anything but a
// well-formed answer, such as a broken connection, fails the test.
type caller struct {
	protocol protocoltest.Protocol
	s        *service
}

func (c caller) client() protocoltest.Client {
	return protocoltest.Client{Protocol: c.protocol, Conn: c.s.conn, HTTPAddr: c.s.HTTPAddr}
}

func (c caller) authorize(t *testing.T, token string, req *paymentv1.AuthorizePaymentRequest) (*paymentv1.AuthorizePaymentResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: paymentv1.PaymentService_AuthorizePayment_FullMethodName, Verb: http.MethodPost, Path: "/v1/payments:authorize"}
	return protocoltest.Invoke[paymentv1.AuthorizePaymentResponse](t, c.client(), r, token, req)
}

func (c caller) capture(t *testing.T, token string, req *paymentv1.CapturePaymentRequest) (*paymentv1.CapturePaymentResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: paymentv1.PaymentService_CapturePayment_FullMethodName, Verb: http.MethodPost, Path: "/v1/payments/" + url.PathEscape(req.GetOrderId()) + ":capture"}
	return protocoltest.Invoke[paymentv1.CapturePaymentResponse](t, c.client(), r, token, req)
}

func (c caller) void(t *testing.T, token string, req *paymentv1.VoidPaymentRequest) (*paymentv1.VoidPaymentResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: paymentv1.PaymentService_VoidPayment_FullMethodName, Verb: http.MethodPost, Path: "/v1/payments/" + url.PathEscape(req.GetOrderId()) + ":void"}
	return protocoltest.Invoke[paymentv1.VoidPaymentResponse](t, c.client(), r, token, req)
}

func (c caller) refund(t *testing.T, token string, req *paymentv1.RefundPaymentRequest) (*paymentv1.RefundPaymentResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: paymentv1.PaymentService_RefundPayment_FullMethodName, Verb: http.MethodPost, Path: "/v1/payments/" + url.PathEscape(req.GetOrderId()) + ":refund"}
	return protocoltest.Invoke[paymentv1.RefundPaymentResponse](t, c.client(), r, token, req)
}

func (c caller) get(t *testing.T, token string, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: paymentv1.PaymentService_GetPayment_FullMethodName, Verb: http.MethodGet, Path: "/v1/payments/" + url.PathEscape(req.GetId())}
	return protocoltest.Invoke[paymentv1.GetPaymentResponse](t, c.client(), r, token, req)
}

func (c caller) list(t *testing.T, token string, req *paymentv1.ListMyPaymentsRequest) (*paymentv1.ListMyPaymentsResponse, protocoltest.Failure) {
	t.Helper()
	q := protocoltest.PageQuery(req)
	r := protocoltest.Route{Procedure: paymentv1.PaymentService_ListMyPayments_FullMethodName, Verb: http.MethodGet, Path: "/v1/payments?" + q.Encode()}
	return protocoltest.Invoke[paymentv1.ListMyPaymentsResponse](t, c.client(), r, token, req)
}
