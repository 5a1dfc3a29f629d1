package app_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
)

// quickSaga is a saga configuration that gives up and recovers within a
// test: CreateOrder waits 300ms for the payment, the recovery worker
// resumes what rested 300ms, and an order fails 1.5s after it was created.
func quickSaga(string) map[string]string {
	return map[string]string{
		"PAYMENT_DEADLINE":       "1500ms",
		"PAYMENT_SYNC_BUDGET":    "300ms",
		"PAYMENT_RETRY_INITIAL":  "20ms",
		"PAYMENT_RETRY_MAX":      "100ms",
		"SAGA_RECOVERY_INTERVAL": "100ms",
		"SAGA_RECOVERY_GRACE":    "300ms",
		"SAGA_RECOVERY_LEASE":    "2s",
	}
}

// eventually waits for the order to reach status and returns it.
func (s *service) eventually(t *testing.T, id string, want orderv1.OrderStatus) *orderv1.Order {
	t.Helper()
	var o *orderv1.Order
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := s.client.GetOrder(s.as(t, alice), &orderv1.GetOrderRequest{Id: id})
		require.NoError(c, err)
		o = resp.GetOrder()
		assert.Equal(c, want, o.GetStatus())
	}, 10*time.Second, 50*time.Millisecond, "order %s never became %s\n%s", id, want, s.Logs)
	return o
}

// An order whose payment is not settled within CreateOrder's budget is
// answered PENDING and finished by the recovery worker: placed and captured
// once the payment service is back, or voided and failed (its stock given
// back) when it stays away past the deadline.
func TestTheRecoveryWorkerFinishesPendingOrders(t *testing.T) {
	authorize := paymentv1.PaymentService_AuthorizePayment_FullMethodName
	create := func(t *testing.T, s *service, key string) *orderv1.Order {
		t.Helper()
		resp, err := s.client.CreateOrder(s.as(t, alice), &orderv1.CreateOrderRequest{
			IdempotencyKey: key, Items: []*orderv1.LineItem{line("chemex-6-cup", 2)},
		})
		require.NoError(t, err)
		require.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PENDING, resp.GetOrder().GetStatus(), "the payment is still in flight")
		assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_NONE, resp.GetOrder().GetPaymentState())
		assert.Equal(t, int64(98), s.inventory.stock("chemex-6-cup"), "the stock is held meanwhile")
		return resp.GetOrder()
	}

	t.Run("the payment service comes back", func(t *testing.T) {
		s := start(t, quickSaga)
		s.payments.unavailable(authorize, 1_000_000)
		o := create(t, s, "late-key-0001")
		s.payments.unavailable(authorize, 0)

		got := s.eventually(t, o.GetId(), orderv1.OrderStatus_ORDER_STATUS_PLACED)
		assert.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.Equal(c, paymentv1.PaymentState_PAYMENT_STATE_CAPTURED, s.payments.state(o.GetId()))
		}, 5*time.Second, 50*time.Millisecond)
		assert.Equal(t, paymentCounts{Authorized: 1, Captured: 1}, s.payments.counts())
		assert.Equal(t, "9400 USD", viewOf(got).Total)
		_, returns := s.inventory.counts()
		assert.Zero(t, returns)
		var resumed map[string]any
		assert.EventuallyWithT(t, func(c *assert.CollectT) {
			var ok bool
			resumed, ok = s.Logs.Find("order saga resumed")
			assert.True(c, ok, "the worker, not the request, finished it")
		}, 5*time.Second, 50*time.Millisecond, "%s", s.Logs)
		assert.Equal(t, o.GetId(), resumed["order_id"])
		assert.Equal(t, "PENDING", resumed["from_status"])
		assert.Equal(t, "CAPTURED", resumed["payment"])
	})
	t.Run("the payment service stays away past the deadline", func(t *testing.T) {
		s := start(t, quickSaga)
		s.payments.unavailable(authorize, 1_000_000)
		o := create(t, s, "lost-key-0001")

		got := s.eventually(t, o.GetId(), orderv1.OrderStatus_ORDER_STATUS_FAILED)
		assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_VOIDED, got.GetPaymentState(), "whatever may have been authorized was voided")
		assert.Contains(t, got.GetFailureReason(), "deadline")
		assert.Positive(t, s.payments.callsOf(paymentv1.PaymentService_VoidPayment_FullMethodName))
		assert.Equal(t, paymentCounts{}, s.payments.counts(), "nothing was charged")
		assert.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.Equal(c, int64(100), s.inventory.stock("chemex-6-cup"), "the stock came back")
		}, 5*time.Second, 50*time.Millisecond)
	})
}

// An order placed while its capture cannot be made rests PLACED and
// AUTHORIZED; cancelling it voids the authorization (nothing to refund) and
// releases the stock.
func TestCancelBeforeCaptureVoids(t *testing.T) {
	s := start(t, quickSaga)
	s.payments.unavailable(paymentv1.PaymentService_CapturePayment_FullMethodName, 1_000_000)
	resp, err := s.client.CreateOrder(s.as(t, alice), &orderv1.CreateOrderRequest{
		IdempotencyKey: "void-key-0001", Items: []*orderv1.LineItem{line("chemex-6-cup", 1)},
	})
	require.NoError(t, err)
	o := resp.GetOrder()
	require.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, o.GetStatus())
	require.Equal(t, orderv1.PaymentState_PAYMENT_STATE_AUTHORIZED, o.GetPaymentState(), "the capture is retried later")

	cancelled, err := s.client.CancelOrder(s.as(t, alice), &orderv1.CancelOrderRequest{Id: o.GetId(), Reason: "too slow"})
	require.NoError(t, err)
	assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_CANCELLED, cancelled.GetOrder().GetStatus())
	assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_VOIDED, cancelled.GetOrder().GetPaymentState())
	assert.Equal(t, paymentCounts{Authorized: 1, Voided: 1}, s.payments.counts(), "voided, never captured nor refunded")
	assert.Equal(t, int64(100), s.inventory.stock("chemex-6-cup"))
}
