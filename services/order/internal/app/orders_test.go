package app_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	apievents "github.com/slipway-dev/slipway/api/events"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/discovery/etcdtest"
	"github.com/slipway-dev/slipway/platform/server/protocoltest"
)

// The two customers of these tests, new on every run: the NATS server may
// be shared with earlier runs.
var (
	alice = uuid.NewString()
	bob   = uuid.NewString()
)

// orderView is an order reduced to what must read the same whichever
// protocol placed it: ids, keys and times differ by protocol.
type orderView struct {
	UserID  string
	Status  orderv1.OrderStatus
	Payment orderv1.PaymentState
	Items   []string // "product×quantity@unit=line currency"
	Total   string
}

func viewOf(o *orderv1.Order) orderView {
	v := orderView{
		UserID:  o.GetUserId(),
		Status:  o.GetStatus(),
		Payment: o.GetPaymentState(),
		Total:   fmt.Sprintf("%d %s", o.GetTotal().GetAmountMinor(), o.GetTotal().GetCurrency()),
	}
	for _, it := range o.GetItems() {
		v.Items = append(v.Items, fmt.Sprintf("%s×%d@%d=%d %s", it.GetProductId(), it.GetQuantity(),
			it.GetUnitPrice().GetAmountMinor(), it.GetLineTotal().GetAmountMinor(), it.GetLineTotal().GetCurrency()))
	}
	return v
}

func line(product string, quantity int32) *orderv1.LineItem {
	return &orderv1.LineItem{ProductId: product, Quantity: quantity}
}

// TestCreateOrderOnEveryProtocol places the same order over gRPC, REST and
// gRPC-Web and checks that each answers as expected and all answer alike,
// for the happy path and the errors a client can cause.
func TestCreateOrderOnEveryProtocol(t *testing.T) {
	s := start(t, nil)
	token := s.token(t, alice, auth.RoleCustomer)
	// Lines that repeat a product are merged; prices come from inventory.
	items := []*orderv1.LineItem{line("kenya-nyeri-250g", 2), line("paper-filters", 1), line("kenya-nyeri-250g", 1)}
	// CreateOrder answers once the payment is captured.
	want := orderView{
		UserID:  alice,
		Status:  orderv1.OrderStatus_ORDER_STATUS_PLACED,
		Payment: orderv1.PaymentState_PAYMENT_STATE_CAPTURED,
		Items:   []string{"kenya-nyeri-250g×3@1450=4350 USD", "paper-filters×1@699=699 USD"},
		Total:   "5049 USD",
	}

	type answer struct {
		Order  orderView
		Failed protocoltest.Failure
	}
	transcripts := map[protocoltest.Protocol]map[string]answer{}
	for _, p := range protocoltest.Protocols {
		t.Run(string(p), func(t *testing.T) {
			c := caller{protocol: p, s: s, token: token}
			key := "key-" + string(p) + "-0001"
			got := map[string]answer{}
			step := func(name string, wantAnswer answer, call func(t *testing.T) answer) {
				t.Run(name, func(t *testing.T) {
					a := call(t)
					got[name] = a
					assert.Equal(t, wantAnswer, a)
				})
			}

			var placed *orderv1.Order
			step("create", answer{Order: want}, func(t *testing.T) answer {
				resp, f := c.createOrder(t, &orderv1.CreateOrderRequest{IdempotencyKey: key, Items: items})
				placed = resp.GetOrder()
				if placed != nil {
					_, err := uuid.Parse(placed.GetId())
					assert.NoError(t, err, "the id is a UUID")
					assert.Equal(t, key, placed.GetIdempotencyKey())
				}
				return answer{Order: viewOf(placed), Failed: f}
			})
			require.NotNil(t, placed)
			step("create again with the same key", answer{Order: want}, func(t *testing.T) answer {
				resp, f := c.createOrder(t, &orderv1.CreateOrderRequest{IdempotencyKey: key, Items: items})
				assert.Equal(t, placed.GetId(), resp.GetOrder().GetId(), "the same order")
				return answer{Order: viewOf(resp.GetOrder()), Failed: f}
			})
			step("get", answer{Order: want}, func(t *testing.T) answer {
				resp, f := c.getOrder(t, placed.GetId())
				return answer{Order: viewOf(resp.GetOrder()), Failed: f}
			})
			step("the key with other items", answer{Order: viewOf(nil), Failed: protocoltest.Failure{Code: codes.FailedPrecondition}}, func(t *testing.T) answer {
				resp, f := c.createOrder(t, &orderv1.CreateOrderRequest{IdempotencyKey: key, Items: []*orderv1.LineItem{line("chemex-6-cup", 1)}})
				return answer{Order: viewOf(resp.GetOrder()), Failed: f}
			})
			unknown := protocoltest.Failure{Code: codes.InvalidArgument, Fields: []string{"items[1].product_id"}}
			step("an unknown product", answer{Order: viewOf(nil), Failed: unknown}, func(t *testing.T) answer {
				resp, f := c.createOrder(t, &orderv1.CreateOrderRequest{IdempotencyKey: key + "-unknown",
					Items: []*orderv1.LineItem{line("paper-filters", 1), line("unicorn-beans", 1)}})
				return answer{Order: viewOf(resp.GetOrder()), Failed: f}
			})
			mixed := protocoltest.Failure{Code: codes.InvalidArgument, Fields: []string{"items[1].product_id"}}
			step("two currencies", answer{Order: viewOf(nil), Failed: mixed}, func(t *testing.T) answer {
				resp, f := c.createOrder(t, &orderv1.CreateOrderRequest{IdempotencyKey: key + "-mixed",
					Items: []*orderv1.LineItem{line("paper-filters", 1), line("hand-grinder-eu", 1)}})
				return answer{Order: viewOf(resp.GetOrder()), Failed: f}
			})
			step("too little stock", answer{Order: viewOf(nil), Failed: protocoltest.Failure{Code: codes.FailedPrecondition}}, func(t *testing.T) answer {
				resp, f := c.createOrder(t, &orderv1.CreateOrderRequest{IdempotencyKey: key + "-short",
					Items: []*orderv1.LineItem{line("hand-grinder-eu", 6)}})
				return answer{Order: viewOf(resp.GetOrder()), Failed: f}
			})
			zero := protocoltest.Failure{Code: codes.InvalidArgument, Fields: []string{"items[0].quantity"}}
			step("a zero quantity is refused before the handler", answer{Order: viewOf(nil), Failed: zero}, func(t *testing.T) answer {
				resp, f := c.createOrder(t, &orderv1.CreateOrderRequest{IdempotencyKey: key + "-zero", Items: []*orderv1.LineItem{line("paper-filters", 0)}})
				return answer{Order: viewOf(resp.GetOrder()), Failed: f}
			})
			step("without a token", answer{Order: viewOf(nil), Failed: protocoltest.Failure{Code: codes.Unauthenticated}}, func(t *testing.T) answer {
				anonymous := caller{protocol: p, s: s}
				resp, f := anonymous.createOrder(t, &orderv1.CreateOrderRequest{IdempotencyKey: key + "-anon", Items: items})
				return answer{Order: viewOf(resp.GetOrder()), Failed: f}
			})
			step("a garbage page token", answer{Order: viewOf(nil), Failed: protocoltest.Failure{Code: codes.InvalidArgument, Fields: []string{"page_token"}}}, func(t *testing.T) answer {
				_, f := c.listMyOrders(t, &orderv1.ListMyOrdersRequest{PageToken: "not a token!"})
				return answer{Order: viewOf(nil), Failed: f}
			})
			transcripts[p] = got
		})
	}
	t.Run("every protocol answers alike", func(t *testing.T) {
		first := transcripts[protocoltest.Protocols[0]]
		require.NotEmpty(t, first)
		for _, p := range protocoltest.Protocols[1:] {
			assert.Equal(t, first, transcripts[p], "%s answered differently from %s", p, protocoltest.Protocols[0])
		}
	})
	t.Run("each protocol's order was reserved once", func(t *testing.T) {
		// Two holds a protocol: its order, and the order in two currencies,
		// whose prices only its reservation tells and whose stock is given
		// back at once.
		holds, returns := s.inventory.counts()
		assert.Equal(t, 2*len(protocoltest.Protocols), holds, "%s", s.inventory)
		assert.Equal(t, len(protocoltest.Protocols), returns, "%s", s.inventory)
		assert.Equal(t, int64(100-3*len(protocoltest.Protocols)), s.inventory.stock("kenya-nyeri-250g"))
		assert.Equal(t, int64(5), s.inventory.stock("hand-grinder-eu"), "the two-currency order's stock came back")
	})
	t.Run("each protocol's order was paid once, and only the placed ones", func(t *testing.T) {
		n := len(protocoltest.Protocols)
		assert.Equal(t, paymentCounts{Authorized: n, Captured: n}, s.payments.counts())
		assert.Equal(t, n, s.payments.callsOf(paymentv1.PaymentService_CapturePayment_FullMethodName), "one capture an order")
		assert.Equal(t, []string{"order"}, s.payments.callerSubjects(), "the order service's own token")
	})
	t.Run("the listing pages through all of them, newest first", func(t *testing.T) {
		// An order is stored before its stock is reserved: those whose stock
		// could not be had are listed too, FAILED.
		var want []string
		for _, p := range slices.Backward(protocoltest.Protocols) {
			key := "key-" + string(p) + "-0001"
			want = append(want, key+"-short FAILED", key+"-mixed FAILED", key+"-unknown FAILED", key+" PLACED")
		}
		for _, p := range protocoltest.Protocols {
			c := caller{protocol: p, s: s, token: token}
			var keys []string
			req := &orderv1.ListMyOrdersRequest{PageSize: 2}
			for range 10 {
				resp, f := c.listMyOrders(t, req)
				require.Equal(t, codes.OK, f.Code)
				for _, o := range resp.GetOrders() {
					keys = append(keys, o.GetIdempotencyKey()+" "+strings.TrimPrefix(o.GetStatus().String(), "ORDER_STATUS_"))
				}
				if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
					break
				}
			}
			assert.Equal(t, want, keys, p)
		}
	})
}

// OWASP API1 (broken object level authorization): on every protocol, user B
// can neither read, cancel nor list user A's order, and cannot tell it
// exists.
func TestOrdersAreTheirOwnersOnly(t *testing.T) {
	s := start(t, nil)
	aliceToken, bobToken := s.token(t, alice, auth.RoleCustomer), s.token(t, bob, auth.RoleCustomer)
	resp, err := s.client.CreateOrder(s.as(t, alice), &orderv1.CreateOrderRequest{
		IdempotencyKey: "alice-key-0001", Items: []*orderv1.LineItem{line("chemex-6-cup", 1)},
	})
	require.NoError(t, err)
	id := resp.GetOrder().GetId()

	for _, p := range protocoltest.Protocols {
		t.Run(string(p), func(t *testing.T) {
			b := caller{protocol: p, s: s, token: bobToken}
			_, f := b.getOrder(t, id)
			assert.Equal(t, protocoltest.Failure{Code: codes.NotFound}, f, "get")
			_, missing := b.getOrder(t, uuid.NewString())
			assert.Equal(t, missing, f, "exactly like an order that does not exist")

			_, f = b.cancelOrder(t, &orderv1.CancelOrderRequest{Id: id, Reason: "not mine"})
			assert.Equal(t, protocoltest.Failure{Code: codes.NotFound}, f, "cancel")

			list, f := b.listMyOrders(t, &orderv1.ListMyOrdersRequest{})
			require.Equal(t, protocoltest.Failure{}, f, "list")
			assert.Empty(t, list.GetOrders())

			a := caller{protocol: p, s: s, token: aliceToken}
			got, f := a.getOrder(t, id)
			require.Equal(t, protocoltest.Failure{}, f)
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, got.GetOrder().GetStatus(), "bob's cancel changed nothing")
		})
	}
	t.Run("an admin may read it but not cancel it", func(t *testing.T) {
		c := caller{protocol: protocoltest.GRPC, s: s, token: s.token(t, "admin-1", auth.RoleAdmin)}
		got, f := c.getOrder(t, id)
		require.Equal(t, protocoltest.Failure{}, f)
		assert.Equal(t, alice, got.GetOrder().GetUserId())
		_, f = c.cancelOrder(t, &orderv1.CancelOrderRequest{Id: id})
		assert.Equal(t, protocoltest.Failure{Code: codes.NotFound}, f)
	})
	_, returns := s.inventory.counts()
	assert.Zero(t, returns, "no stock was released")
}

// The order belongs to the token's user whatever the request says: no
// request field, header or service token places an order for someone else.
func TestAnOrderBelongsToTheTokensUser(t *testing.T) {
	s := start(t, nil)
	bobToken := s.token(t, bob, auth.RoleCustomer)

	t.Run("a user_id in a REST body is ignored", func(t *testing.T) {
		body := fmt.Sprintf(`{"idempotency_key":"bob-key-rest-0001","user_id":%q,"userId":%q,"items":[{"product_id":"paper-filters","quantity":1}]}`, alice, alice)
		var resp orderv1.CreateOrderResponse
		f := protocoltest.CallREST(t, s.HTTPAddr, http.MethodPost, "/v1/orders", bobToken, []byte(body), &resp)
		require.Equal(t, protocoltest.Failure{}, f)
		assert.Equal(t, bob, resp.GetOrder().GetUserId())
	})
	t.Run("a customer naming another user in the on-behalf-of header", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+bobToken, auth.OnBehalfOfHeader, alice)
		resp, err := s.client.CreateOrder(ctx, &orderv1.CreateOrderRequest{
			IdempotencyKey: "bob-key-grpc-0001", Items: []*orderv1.LineItem{line("paper-filters", 1)},
		})
		require.NoError(t, err)
		assert.Equal(t, bob, resp.GetOrder().GetUserId())
	})
	t.Run("a service acting for another user has no orders", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(t.Context(),
			"authorization", "Bearer "+s.token(t, "notification", auth.RoleService), auth.OnBehalfOfHeader, alice)
		_, err := s.client.CreateOrder(ctx, &orderv1.CreateOrderRequest{
			IdempotencyKey: "svc-key-grpc-0001", Items: []*orderv1.LineItem{line("paper-filters", 1)},
		})
		assert.Equal(t, codes.PermissionDenied, status.Code(err))
	})

	aliceOrders, err := s.client.ListMyOrders(s.as(t, alice), &orderv1.ListMyOrdersRequest{})
	require.NoError(t, err)
	assert.Empty(t, aliceOrders.GetOrders(), "nothing was placed for alice")
	bobOrders, err := s.client.ListMyOrders(s.as(t, bob), &orderv1.ListMyOrdersRequest{})
	require.NoError(t, err)
	assert.Len(t, bobOrders.GetOrders(), 2)

	s.inventory.mu.Lock()
	defer s.inventory.mu.Unlock()
	assert.Equal(t, []string{bob, bob}, s.inventory.onBehalfOf,
		"inventory saw the order service's token acting for the token's user")
}

func TestConcurrentCreateOrderWithOneKey(t *testing.T) {
	s := start(t, nil)
	req := &orderv1.CreateOrderRequest{IdempotencyKey: "one-key-0001", Items: []*orderv1.LineItem{line("chemex-6-cup", 2)}}
	const n = 20
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := s.client.CreateOrder(s.as(t, alice), req)
			if assert.NoError(t, err) {
				ids <- resp.GetOrder().GetId()
			}
		})
	}
	wg.Wait()
	close(ids)
	var first string
	for id := range ids {
		if first == "" {
			first = id
		}
		assert.Equal(t, first, id, "every duplicate answers with one order")
	}
	holds, returns := s.inventory.counts()
	assert.Equal(t, 1, holds, "stock was reserved once")
	assert.Zero(t, returns)
	assert.Equal(t, int64(98), s.inventory.stock("chemex-6-cup"))
	assert.Equal(t, paymentCounts{Authorized: 1, Captured: 1}, s.payments.counts(), "paid for once")
	assert.Equal(t, 1, s.payments.callsOf(paymentv1.PaymentService_AuthorizePayment_FullMethodName), "only the winner drives the saga")
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_CAPTURED, s.payments.state(first))

	list, err := s.client.ListMyOrders(s.as(t, alice), &orderv1.ListMyOrdersRequest{})
	require.NoError(t, err)
	assert.Len(t, list.GetOrders(), 1)

	_, err = s.client.CreateOrder(s.as(t, alice), &orderv1.CreateOrderRequest{
		IdempotencyKey: req.GetIdempotencyKey(), Items: []*orderv1.LineItem{line("chemex-6-cup", 3)},
	})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "the key with other items")
	holds, _ = s.inventory.counts()
	assert.Equal(t, 1, holds)
}

// A declined card fails the order: CreateOrder answers it FAILED with the
// decline as its reason, its stock is given back, nothing is captured and
// OrderFailed is published (for inventory and the customer's notification).
func TestDeclinedPaymentFailsTheOrder(t *testing.T) {
	s := start(t, nil)
	since := time.Now().Add(-time.Second)
	before := s.inventory.stock("chemex-6-cup")

	req := &orderv1.CreateOrderRequest{IdempotencyKey: "declined-key-0001", PaymentMethod: cardDeclined,
		Items: []*orderv1.LineItem{line("chemex-6-cup", 3)}}
	resp, err := s.client.CreateOrder(s.as(t, alice), req)
	require.NoError(t, err, "a decline is an answer, not an error")
	o := resp.GetOrder()
	assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_FAILED, o.GetStatus())
	assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_DECLINED, o.GetPaymentState())
	assert.Contains(t, o.GetFailureReason(), "card_declined")
	assert.Contains(t, o.GetFailureReason(), "Your card was declined.")

	holds, returns := s.inventory.counts()
	assert.Equal(t, 1, holds, "the stock was reserved before the payment")
	assert.Equal(t, 1, returns, "and released on the decline")
	assert.Equal(t, before, s.inventory.stock("chemex-6-cup"))
	assert.Equal(t, paymentCounts{Declined: 1}, s.payments.counts(), "nothing authorized, captured or voided")
	assert.Zero(t, s.payments.callsOf(paymentv1.PaymentService_CapturePayment_FullMethodName))

	t.Run("the key answers the failed order again, calling no one", func(t *testing.T) {
		again, err := s.client.CreateOrder(s.as(t, alice), req)
		require.NoError(t, err)
		assert.Equal(t, o.GetId(), again.GetOrder().GetId())
		assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_FAILED, again.GetOrder().GetStatus())
		assert.Equal(t, 1, s.payments.callsOf(paymentv1.PaymentService_AuthorizePayment_FullMethodName))
		holds, _ := s.inventory.counts()
		assert.Equal(t, 1, holds)
	})
	t.Run("a failed order cannot be cancelled", func(t *testing.T) {
		_, err := s.client.CancelOrder(s.as(t, alice), &orderv1.CancelOrderRequest{Id: o.GetId()})
		assert.Equal(t, codes.FailedPrecondition, status.Code(err))
	})
	t.Run("OrderFailed is published", func(t *testing.T) {
		failed := orderFailedEvents(t, s, since, o.GetId())
		require.Len(t, failed, 1, "one OrderFailed\n%s", s.Logs)
		assert.Equal(t, alice, failed[0].GetUserId())
		assert.Contains(t, failed[0].GetReason(), "card_declined")
	})
}

// A payment service that is briefly unreachable delays the order, and the
// retries, under one key, charge once.
func TestPaymentOutagesAreRetried(t *testing.T) {
	authorize := paymentv1.PaymentService_AuthorizePayment_FullMethodName
	for _, tc := range []struct {
		name   string
		inject func(f *fakePayments)
	}{
		{"unreachable twice", func(f *fakePayments) { f.unavailable(authorize, 2) }},
		{"authorized, then the answer lost twice", func(f *fakePayments) { f.loseAnswers(authorize, 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, nil)
			tc.inject(s.payments)
			resp, err := s.client.CreateOrder(s.as(t, alice), &orderv1.CreateOrderRequest{
				IdempotencyKey: "flaky-key-0001", Items: []*orderv1.LineItem{line("paper-filters", 2)},
			})
			require.NoError(t, err)
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, resp.GetOrder().GetStatus(), "%s", s.Logs)
			assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_CAPTURED, resp.GetOrder().GetPaymentState())
			assert.Empty(t, resp.GetOrder().GetFailureReason())
			assert.Equal(t, 3, s.payments.callsOf(authorize), "two failures, then the answer")
			assert.Equal(t, paymentCounts{Authorized: 1, Captured: 1}, s.payments.counts(), "one authorization")
			holds, returns := s.inventory.counts()
			assert.Equal(t, 1, holds)
			assert.Zero(t, returns)
		})
	}
}

// Cancelling an order whose payment was captured refunds it and releases
// its stock; a second cancel is refused and refunds nothing more.
func TestCancelRefundsTheCapturedPayment(t *testing.T) {
	s := start(t, nil)
	resp, err := s.client.CreateOrder(s.as(t, alice), &orderv1.CreateOrderRequest{
		IdempotencyKey: "refund-key-0001", Items: []*orderv1.LineItem{line("chemex-6-cup", 1)},
	})
	require.NoError(t, err)
	id := resp.GetOrder().GetId()
	require.Equal(t, orderv1.PaymentState_PAYMENT_STATE_CAPTURED, resp.GetOrder().GetPaymentState())
	require.Equal(t, int64(99), s.inventory.stock("chemex-6-cup"))
	var (
		mu               sync.Mutex
		paymentAtRelease []paymentv1.PaymentState
	)
	s.inventory.observeReleases(func(orderID string) {
		mu.Lock()
		defer mu.Unlock()
		paymentAtRelease = append(paymentAtRelease, s.payments.state(orderID))
	})

	cancelled, err := s.client.CancelOrder(s.as(t, alice), &orderv1.CancelOrderRequest{Id: id, Reason: "changed my mind"})
	require.NoError(t, err)
	assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_CANCELLED, cancelled.GetOrder().GetStatus())
	assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_REFUNDED, cancelled.GetOrder().GetPaymentState())
	assert.Equal(t, paymentCounts{Authorized: 1, Captured: 1, Refunded: 1}, s.payments.counts(), "refunded, not voided")
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_REFUNDED, s.payments.state(id))
	assert.Equal(t, int64(100), s.inventory.stock("chemex-6-cup"), "the stock was released")
	mu.Lock()
	assert.Equal(t, []paymentv1.PaymentState{paymentv1.PaymentState_PAYMENT_STATE_REFUNDED}, paymentAtRelease,
		"released once, after the refund")
	mu.Unlock()

	_, err = s.client.CancelOrder(s.as(t, alice), &orderv1.CancelOrderRequest{Id: id})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "only a PLACED order can be cancelled")
	assert.Equal(t, 1, s.payments.counts().Refunded)
	got, err := s.client.GetOrder(s.as(t, alice), &orderv1.GetOrderRequest{Id: id})
	require.NoError(t, err)
	assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_REFUNDED, got.GetOrder().GetPaymentState())
}

// orderFailedEvents reads the OrderFailed events of orderID published
// since, waiting up to 15s for the first; the shared server carries other
// tests' events too. Each carries its event id as Nats-Msg-Id.
func orderFailedEvents(t *testing.T, s *service, since time.Time, orderID string) []*orderv1.OrderFailed {
	t.Helper()
	nc, err := nats.Connect(s.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	cons, err := js.OrderedConsumer(t.Context(), apievents.StreamOrders, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{apievents.SubjectOrderFailed},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &since,
	})
	require.NoError(t, err)
	var out []*orderv1.OrderFailed
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if len(out) > 0 {
				return out // drained: a duplicate would have come by now
			}
			continue
		}
		var ev orderv1.OrderFailed
		require.NoError(t, proto.Unmarshal(msg.Data(), &ev))
		if ev.GetOrderId() == orderID {
			assert.Equal(t, ev.GetEventId(), msg.Headers().Get(nats.MsgIdHdr), "Nats-Msg-Id is the event id")
			out = append(out, &ev)
		}
	}
	return out
}

// The outbox relay publishes each event to NATS with the event id as
// Nats-Msg-Id, and the trace context of the request in the headers.
func TestEventsArePublished(t *testing.T) {
	s := start(t, nil)
	since := time.Now().Add(-time.Second)
	resp, err := s.client.CreateOrder(s.as(t, alice), &orderv1.CreateOrderRequest{
		IdempotencyKey: "evented-key-0001", Items: []*orderv1.LineItem{line("kenya-nyeri-250g", 2), line("paper-filters", 1)},
	})
	require.NoError(t, err)
	o := resp.GetOrder()
	require.Equal(t, orderv1.PaymentState_PAYMENT_STATE_CAPTURED, o.GetPaymentState())
	_, err = s.client.CancelOrder(s.as(t, alice), &orderv1.CancelOrderRequest{Id: o.GetId(), Reason: "too much coffee"})
	require.NoError(t, err)
	assert.Equal(t, paymentCounts{Authorized: 1, Captured: 1, Refunded: 1}, s.payments.counts(), "cancel refunded the capture")
	assert.Equal(t, int64(100), s.inventory.stock("kenya-nyeri-250g"), "cancel released the stock")

	nc, err := nats.Connect(s.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	cons, err := js.OrderedConsumer(t.Context(), apievents.StreamOrders, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{apievents.SubjectsOrders},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &since,
	})
	require.NoError(t, err)

	// The shared server carries other tests' events too: keep this order's.
	var placed, cancelled []jetstream.Msg
	deadline := time.Now().Add(15 * time.Second)
	for (len(placed) == 0 || len(cancelled) == 0) && time.Now().Before(deadline) {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			continue
		}
		switch msg.Subject() {
		case apievents.SubjectOrderPlaced:
			var ev orderv1.OrderPlaced
			require.NoError(t, proto.Unmarshal(msg.Data(), &ev))
			if ev.GetOrderId() == o.GetId() {
				placed = append(placed, msg)
				assert.Equal(t, alice, ev.GetUserId())
				assert.Equal(t, int64(3599), ev.GetTotal().GetAmountMinor())
				assert.Len(t, ev.GetItems(), 2)
				assert.Equal(t, ev.GetEventId(), msg.Headers().Get(nats.MsgIdHdr), "Nats-Msg-Id is the event id")
			}
		case apievents.SubjectOrderCancelled:
			var ev orderv1.OrderCancelled
			require.NoError(t, proto.Unmarshal(msg.Data(), &ev))
			if ev.GetOrderId() == o.GetId() {
				cancelled = append(cancelled, msg)
				assert.Equal(t, "too much coffee", ev.GetReason())
				assert.Equal(t, ev.GetEventId(), msg.Headers().Get(nats.MsgIdHdr))
			}
		}
	}
	require.Len(t, placed, 1, "one OrderPlaced\n%s", s.Logs)
	require.Len(t, cancelled, 1, "one OrderCancelled")
	assert.NotEqual(t, placed[0].Headers().Get(nats.MsgIdHdr), cancelled[0].Headers().Get(nats.MsgIdHdr))
	for _, msg := range append(placed, cancelled...) {
		assert.True(t, strings.HasPrefix(msg.Headers().Get("traceparent"), "00-"), "the request's trace travels with the event")
	}
}

// With DISCOVERY=etcd the service finds its peers by name in etcd (their
// static addresses here lead nowhere) and registers itself there.
func TestDiscoveryThroughEtcd(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	s := start(t, func(peers string) map[string]string {
		for _, name := range []string{"inventory", "payment", "user"} {
			deregister, err := discovery.Register(t.Context(), cli, name, peers, 10*time.Second)
			require.NoError(t, err)
			t.Cleanup(func() { _ = deregister(context.Background()) })
		}
		return map[string]string{
			"DISCOVERY":      "etcd://" + etcd.Endpoint,
			"INVENTORY_ADDR": "127.0.0.1:1",
			"PAYMENT_ADDR":   "127.0.0.1:1",
			"USER_ADDR":      "127.0.0.1:1",
		}
	})
	resp, err := s.client.CreateOrder(s.as(t, alice), &orderv1.CreateOrderRequest{
		IdempotencyKey: "etcd-key-0001", Items: []*orderv1.LineItem{line("paper-filters", 1)},
	})
	require.NoError(t, err)
	assert.Equal(t, alice, resp.GetOrder().GetUserId())

	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := cli.Get(t.Context(), discovery.Prefix+"order/", clientv3.WithPrefix())
		require.NoError(c, err)
		var keys []string
		for _, kv := range got.Kvs {
			keys = append(keys, string(kv.Key))
		}
		assert.Equal(c, []string{discovery.Prefix + "order/" + s.GRPCAddr}, keys)
	}, 10*time.Second, 50*time.Millisecond, "the instance registers once it serves")
}
