package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/store"
)

// The sandbox provider's test cards (services/payment/internal/provider/sandbox).
const (
	cardVisa     = "pm_card_visa"
	cardDeclined = "pm_card_chargeDeclined"
	cardTimeout  = "pm_card_timeout" // never answers; nothing is held
)

// settleWithin bounds how long an order may take to reach its last state.
const settleWithin = 60 * time.Second

func (s *shop) CreatePaidOrder(ctx context.Context, token, key, method string, items ...*orderv1.LineItem) (*orderv1.Order, error) {
	resp := &orderv1.CreateOrderResponse{}
	err := do(ctx, s, "order", orderv1.OrderService_CreateOrder_FullMethodName, restRoute{"POST", "/v1/orders", true}, token,
		&orderv1.CreateOrderRequest{IdempotencyKey: key, Items: items, PaymentMethod: method}, resp)
	return resp.GetOrder(), err
}

func (s *shop) GetPayment(ctx context.Context, token, id string) (*paymentv1.Payment, error) {
	resp := &paymentv1.GetPaymentResponse{}
	err := do(ctx, s, "payment", paymentv1.PaymentService_GetPayment_FullMethodName, restRoute{"GET", "/v1/payments/" + id, false}, token,
		&paymentv1.GetPaymentRequest{Id: id}, resp)
	return resp.GetPayment(), err
}

func (s *shop) ListMyPayments(ctx context.Context, token string) ([]*paymentv1.Payment, error) {
	resp := &paymentv1.ListMyPaymentsResponse{}
	err := do(ctx, s, "payment", paymentv1.PaymentService_ListMyPayments_FullMethodName, restRoute{"GET", "/v1/payments?pageSize=100", false}, token,
		&paymentv1.ListMyPaymentsRequest{PageSize: 100}, resp)
	return resp.GetPayments(), err
}

// paymentsOf lists the owner's payments of one order.
func paymentsOf(t *testing.T, s *shop, token, orderID string) []*paymentv1.Payment {
	t.Helper()
	all, err := s.ListMyPayments(context.Background(), token)
	require.NoError(t, err)
	var out []*paymentv1.Payment
	for _, p := range all {
		if p.GetOrderId() == orderID {
			out = append(out, p)
		}
	}
	return out
}

// settled reports whether nothing is left to do for o: placed and
// captured, failed, or cancelled.
func settled(o *orderv1.Order) bool {
	switch o.GetStatus() {
	case orderv1.OrderStatus_ORDER_STATUS_PLACED:
		return o.GetPaymentState() == orderv1.PaymentState_PAYMENT_STATE_CAPTURED
	case orderv1.OrderStatus_ORDER_STATUS_FAILED, orderv1.OrderStatus_ORDER_STATUS_CANCELLED:
		return true
	}
	return false
}

// awaitSettled polls the order until it is settled and returns it; an
// order still in flight after settleWithin is stuck.
func awaitSettled(t *testing.T, s *shop, token, id string) *orderv1.Order {
	t.Helper()
	var o *orderv1.Order
	require.Eventually(t, func() bool {
		got, err := s.GetOrder(context.Background(), token, id)
		if err != nil {
			return false
		}
		o = got
		return settled(o)
	}, settleWithin, 100*time.Millisecond, "order %s is stuck", id)
	return o
}

// stateName is a payment state without its enum prefix, so that the order's
// view and the payment service's can be compared.
func stateName[E interface{ String() string }](e E) string {
	return strings.TrimPrefix(e.String(), "PAYMENT_STATE_")
}

// books reads what the services' own databases hold, as an auditor would:
// inventory's reservations and the sandbox provider's ledger (what the
// customer's card was actually charged), behind the APIs.
type books struct {
	inventory, payment *store.DB
}

func (c *cluster) books(t *testing.T) *books {
	t.Helper()
	open := func(svc string) *store.DB {
		db, err := store.Open(context.Background(), c.dbs.urls[svc], "e2e-"+svc, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	return &books{inventory: open("inventory"), payment: open("payment")}
}

// reservation is the status of the order's reservation in inventory
// (RESERVED, COMMITTED, RELEASED), "" when it has none.
func (b *books) reservation(t *testing.T, orderID string) string {
	t.Helper()
	rows, err := b.inventory.QueryContext(context.Background(), `SELECT status FROM reservations WHERE order_id = $1`, orderID)
	require.NoError(t, err)
	defer rows.Close()
	status := ""
	for rows.Next() {
		require.NoError(t, rows.Scan(&status))
	}
	require.NoError(t, rows.Err())
	return status
}

// charge is one payment at the sandbox provider.
type charge struct {
	status                         string
	currency                       string
	authorized, captured, refunded int64
}

// charges are the provider's payments of the order.
func (b *books) charges(t *testing.T, orderID string) []charge {
	t.Helper()
	rows, err := b.payment.QueryContext(context.Background(),
		`SELECT status, currency, authorized, captured, refunded FROM sandbox_payments WHERE order_id = $1`, orderID)
	require.NoError(t, err)
	defer rows.Close()
	var out []charge
	for rows.Next() {
		var c charge
		require.NoError(t, rows.Scan(&c.status, &c.currency, &c.authorized, &c.captured, &c.refunded))
		out = append(out, c)
	}
	require.NoError(t, rows.Err())
	return out
}

// assertPaidFor checks the saga's invariants on a settled order, through
// the APIs and in the books: one payment per order, for the order's total;
// charged at most once at the provider; a captured order has its stock
// committed; a failed or cancelled one has its stock released and its
// payment voided, declined or refunded.
func assertPaidFor(t *testing.T, s *shop, b *books, token string, o *orderv1.Order) {
	t.Helper()
	require.True(t, settled(o), "order %s is not settled: %v", o.GetId(), o)
	pays := paymentsOf(t, s, token, o.GetId())
	require.LessOrEqual(t, len(pays), 1, "one payment per order")
	charges := b.charges(t, o.GetId())
	require.LessOrEqual(t, len(charges), 1, "one charge per order at the provider")
	var captured, refunded int64
	for _, ch := range charges {
		captured += ch.captured
		refunded += ch.refunded
		assert.LessOrEqual(t, ch.captured, ch.authorized, "never captured more than authorized")
		assert.Equal(t, o.GetTotal().GetAmountMinor(), ch.authorized, "the provider authorized the order's total")
		assert.Equal(t, o.GetTotal().GetCurrency(), strings.ToUpper(ch.currency), "the provider writes currencies in lower case, as Stripe does")
	}
	if len(pays) == 1 {
		p := pays[0]
		assert.Equal(t, o.GetTotal().GetAmountMinor(), p.GetAmount().GetAmountMinor(), "the payment is for the order's total")
		assert.Equal(t, o.GetTotal().GetCurrency(), p.GetAmount().GetCurrency())
		assert.Equal(t, o.GetUserId(), p.GetUserId(), "the payment belongs to the order's owner")
		assert.Equal(t, stateName(o.GetPaymentState()), stateName(p.GetState()), "the order and the payment service agree")
	}
	// reservationIs waits until inventory's reservation of the order is in
	// one of want ("" for none).
	reservationIs := func(msg string, want ...string) {
		t.Helper()
		if !assert.Eventually(t, func() bool { return slices.Contains(want, b.reservation(t, o.GetId())) },
			20*time.Second, 100*time.Millisecond, msg) {
			assert.Contains(t, want, b.reservation(t, o.GetId()), msg)
		}
	}
	switch o.GetStatus() {
	case orderv1.OrderStatus_ORDER_STATUS_PLACED:
		require.Len(t, pays, 1, "a placed order has its payment")
		assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_CAPTURED, pays[0].GetState())
		require.Len(t, charges, 1, "a placed order was charged")
		assert.Equal(t, "captured", charges[0].status)
		assert.Equal(t, o.GetTotal().GetAmountMinor(), captured, "captured once, in full")
		assert.Zero(t, refunded)
		reservationIs("a captured order's stock is committed", "COMMITTED")
	case orderv1.OrderStatus_ORDER_STATUS_FAILED:
		assert.NotEmpty(t, o.GetFailureReason(), "a failed order says why")
		assert.Contains(t, []orderv1.PaymentState{orderv1.PaymentState_PAYMENT_STATE_NONE,
			orderv1.PaymentState_PAYMENT_STATE_DECLINED, orderv1.PaymentState_PAYMENT_STATE_VOIDED}, o.GetPaymentState(),
			"a failed order holds no money")
		assert.Zero(t, captured, "a failed order was never charged")
		for _, ch := range charges {
			assert.Equal(t, "voided", ch.status, "a failed order's authorization is voided")
		}
		reservationIs("a failed order's stock is released", "RELEASED", "")
	case orderv1.OrderStatus_ORDER_STATUS_CANCELLED:
		require.Len(t, pays, 1, "a cancelled order was paid for")
		require.Len(t, charges, 1)
		switch o.GetPaymentState() {
		case orderv1.PaymentState_PAYMENT_STATE_REFUNDED:
			assert.Equal(t, "refunded", charges[0].status)
			assert.Equal(t, o.GetTotal().GetAmountMinor(), captured, "captured once")
			assert.Equal(t, captured, refunded, "refunded in full")
		case orderv1.PaymentState_PAYMENT_STATE_VOIDED:
			assert.Equal(t, "voided", charges[0].status)
			assert.Zero(t, captured)
		default:
			t.Errorf("a cancelled order's payment is %s: want VOIDED or REFUNDED", o.GetPaymentState())
		}
		reservationIs("a cancelled order's stock is released", "RELEASED")
	}
}

// awaitStock waits until the product's stock is want.
func awaitStock(t *testing.T, s *shop, productID string, want int64, msg string) {
	t.Helper()
	if !assert.Eventually(t, func() bool { return stockOf(t, s, productID) == want }, 20*time.Second, 50*time.Millisecond, msg) {
		assert.Equal(t, want, stockOf(t, s, productID), msg)
	}
}

// payProtocols are the protocols the payment flows are driven over.
var payProtocols = []string{"grpc", "rest"}

func TestPaymentFlows(t *testing.T) {
	c := startCluster(t)
	defer c.dumpOnFailure()
	b := c.books(t)
	ctx := context.Background()
	for _, protocol := range payProtocols {
		t.Run(protocol+"/a paid order is captured and only its owner sees the payment", func(t *testing.T) {
			s := c.shop(t, protocol)
			aliceID, alice := customer(t, s, "alice")
			_, bob := customer(t, s, "bob")
			product := stocked(t, s, 5)
			before := product.GetStock()

			created, err := s.CreatePaidOrder(ctx, alice, "paid-"+randomHex(t, 4), cardVisa,
				&orderv1.LineItem{ProductId: product.GetId(), Quantity: 2})
			require.NoError(t, err)
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, created.GetStatus(), "a good card places the order at once")
			assert.Empty(t, created.GetFailureReason())
			o := awaitSettled(t, s, alice, created.GetId())
			require.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, o.GetStatus())
			assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_CAPTURED, o.GetPaymentState())
			assert.Equal(t, 2*product.GetPrice().GetAmountMinor(), o.GetTotal().GetAmountMinor())
			assert.Equal(t, before-2, stockOf(t, s, product.GetId()), "stock deducted")
			assertPaidFor(t, s, b, alice, o)

			pays := paymentsOf(t, s, alice, o.GetId())
			require.Len(t, pays, 1)
			p := pays[0]
			assert.Equal(t, aliceID, p.GetUserId())
			assert.Equal(t, "sandbox", p.GetProvider())
			assert.Equal(t, cardVisa, p.GetPaymentMethod())
			assert.NotEmpty(t, p.GetProviderRef())
			got, err := s.GetPayment(ctx, alice, p.GetId())
			require.NoError(t, err)
			assert.Equal(t, p.GetId(), got.GetId())
			assert.Equal(t, o.GetId(), got.GetOrderId())
			assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_CAPTURED, got.GetState())

			_, err = s.GetPayment(ctx, bob, p.GetId())
			assert.Equal(t, codes.NotFound, codeOf(err), "bob cannot read alice's payment")
			bobs, err := s.ListMyPayments(ctx, bob)
			require.NoError(t, err)
			assert.Empty(t, bobs, "bob's list has none of alice's payments")
			_, err = s.ListMyPayments(ctx, "")
			assert.Equal(t, codes.Unauthenticated, codeOf(err))

			notes := notificationsFor(t, s, alice, o.GetId(), 1)
			require.Len(t, notes, 1)
			assert.Equal(t, notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_PLACED, notes[0].GetKind())
			assert.Equal(t, "Order placed", notes[0].GetTitle())
		})

		t.Run(protocol+"/a declined card fails the order and returns the stock", func(t *testing.T) {
			s := c.shop(t, protocol)
			_, token := customer(t, s, "declined")
			product := stocked(t, s, 5)
			before := product.GetStock()

			o, err := s.CreatePaidOrder(ctx, token, "declined-"+randomHex(t, 4), cardDeclined,
				&orderv1.LineItem{ProductId: product.GetId(), Quantity: 2})
			require.NoError(t, err, "a decline answers the FAILED order, not an error")
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_FAILED, o.GetStatus())
			assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_DECLINED, o.GetPaymentState())
			assert.Contains(t, strings.ToLower(o.GetFailureReason()), "declined", "the reason names the decline")
			got, err := s.GetOrder(ctx, token, o.GetId())
			require.NoError(t, err)
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_FAILED, got.GetStatus(), "the failure is stored")
			assert.Equal(t, o.GetFailureReason(), got.GetFailureReason())

			awaitStock(t, s, product.GetId(), before, "a declined order's stock is back")
			assertPaidFor(t, s, b, token, got)
			pays := paymentsOf(t, s, token, o.GetId())
			require.Len(t, pays, 1, "the declined attempt is on record")
			assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_DECLINED, pays[0].GetState())
			assert.Equal(t, "card_declined", pays[0].GetDeclineCode())
			assert.Empty(t, b.charges(t, o.GetId()), "a decline holds nothing at the provider")

			notes := notificationsFor(t, s, token, o.GetId(), 1)
			require.Len(t, notes, 1)
			assert.Equal(t, "Order failed", notes[0].GetTitle())
			assert.Contains(t, notes[0].GetBody(), "failed")
			assert.Contains(t, strings.ToLower(notes[0].GetBody()), "declined", "the notification says why")
			assert.Equal(t, notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_FAILED, notes[0].GetKind())
			time.Sleep(500 * time.Millisecond)
			assert.Len(t, notificationsFor(t, s, token, o.GetId(), 1), 1, "no \"Order placed\" for a declined order")

			_, err = s.CancelOrder(ctx, token, o.GetId())
			assert.Equal(t, codes.FailedPrecondition, codeOf(err), "a failed order cannot be cancelled")
		})

		t.Run(protocol+"/cancelling a captured order refunds it and returns the stock", func(t *testing.T) {
			s := c.shop(t, protocol)
			_, token := customer(t, s, "refund")
			product := stocked(t, s, 5)
			before := product.GetStock()

			created, err := s.CreatePaidOrder(ctx, token, "refund-"+randomHex(t, 4), cardVisa,
				&orderv1.LineItem{ProductId: product.GetId(), Quantity: 3})
			require.NoError(t, err)
			o := awaitSettled(t, s, token, created.GetId())
			require.Equal(t, orderv1.PaymentState_PAYMENT_STATE_CAPTURED, o.GetPaymentState(), "captured before the cancel")
			notificationsFor(t, s, token, o.GetId(), 1)

			cancelled, err := s.CancelOrder(ctx, token, o.GetId())
			require.NoError(t, err)
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_CANCELLED, cancelled.GetStatus())
			assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_REFUNDED, cancelled.GetPaymentState())
			awaitStock(t, s, product.GetId(), before, "a cancelled order's stock is back")
			got, err := s.GetOrder(ctx, token, o.GetId())
			require.NoError(t, err)
			assertPaidFor(t, s, b, token, got)
			pays := paymentsOf(t, s, token, o.GetId())
			require.Len(t, pays, 1)
			assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_REFUNDED, pays[0].GetState())
			notes := notificationsFor(t, s, token, o.GetId(), 2)
			kinds := make([]notificationv1.NotificationKind, 0, len(notes))
			for _, n := range notes {
				kinds = append(kinds, n.GetKind())
			}
			assert.ElementsMatch(t, []notificationv1.NotificationKind{
				notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_PLACED,
				notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_CANCELLED,
			}, kinds, "placed, then cancelled")

			again, err := s.CancelOrder(ctx, token, o.GetId())
			assert.Equal(t, codes.FailedPrecondition, codeOf(err), "a cancelled order is not cancelled twice: %v", again)
			assert.Len(t, paymentsOf(t, s, token, o.GetId()), 1)
		})

		t.Run(protocol+"/20 concurrent duplicates charge once", func(t *testing.T) {
			s := c.shop(t, protocol)
			_, token := customer(t, s, "dup")
			product := stocked(t, s, 10)
			before := product.GetStock()
			key := "dup-pay-" + randomHex(t, 4)

			const n = 20
			ids := make(chan string, n)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					o, err := s.CreatePaidOrder(ctx, token, key, cardVisa, &orderv1.LineItem{ProductId: product.GetId(), Quantity: 3})
					if !assert.NoError(t, err, "a duplicate failed") {
						return
					}
					assert.NotEqual(t, orderv1.OrderStatus_ORDER_STATUS_FAILED, o.GetStatus(), "a duplicate failed the order: %s", o.GetFailureReason())
					ids <- o.GetId()
				})
			}
			wg.Wait()
			close(ids)
			seen := map[string]bool{}
			for id := range ids {
				seen[id] = true
			}
			require.Len(t, seen, 1, "every duplicate answers the same order")
			var orderID string
			for id := range seen {
				orderID = id
			}

			o := awaitSettled(t, s, token, orderID)
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, o.GetStatus())
			assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_CAPTURED, o.GetPaymentState())
			orders, err := s.ListMyOrders(ctx, token)
			require.NoError(t, err)
			assert.Len(t, orders, 1, "one order")
			all, err := s.ListMyPayments(ctx, token)
			require.NoError(t, err)
			require.Len(t, all, 1, "exactly one payment")
			assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_CAPTURED, all[0].GetState())
			assert.Equal(t, before-3, stockOf(t, s, product.GetId()), "stock deducted once")
			assertPaidFor(t, s, b, token, o)
		})
	}
}

// crash kills svc with SIGKILL, as a lost machine would: no drain, no
// cleanup, whatever it was doing cut in half.
func (c *cluster) crash(svc string) {
	c.t.Helper()
	p, ok := c.procs[svc]
	require.True(c.t, ok, "%s is not running", svc)
	delete(c.procs, svc)
	require.NoError(c.t, p.cmd.Process.Kill())
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("%s did not die of SIGKILL", svc)
	}
}

// resumedBy reports whether p logged that it resumed the order's saga.
func resumedBy(p *process, orderID string) bool {
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "order saga resumed" && m["order_id"] == orderID {
			return true
		}
	}
	return false
}

// createInFlight starts CreateOrder with card over protocol and returns
// the order once its stock is reserved and priced, that is while its
// authorization is on its way, and the channel the call's outcome arrives on.
func createInFlight(t *testing.T, c *cluster, protocol, token, card string, item *orderv1.LineItem) (*orderv1.Order, <-chan error) {
	t.Helper()
	ctx := context.Background()
	key := "in-flight-" + randomHex(t, 4)
	answered := make(chan error, 1)
	go func() {
		_, err := c.shop(t, protocol).CreatePaidOrder(ctx, token, key, card, item)
		answered <- err
	}()
	s := c.shop(t, protocol)
	var priced *orderv1.Order
	require.Eventually(t, func() bool {
		orders, err := s.ListMyOrders(ctx, token)
		if err != nil {
			return false
		}
		for _, o := range orders {
			if o.GetIdempotencyKey() == key && o.GetTotal().GetAmountMinor() > 0 {
				priced = o
			}
		}
		return priced != nil
	}, 10*time.Second, 20*time.Millisecond, "the order is priced")
	require.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PENDING, priced.GetStatus(), "the authorization has not answered yet")
	return priced, answered
}

// crashOrder kills order with SIGKILL and starts a fresh instance on the
// same database.
func crashOrder(c *cluster) *process {
	c.t.Helper()
	c.crash("order")
	return c.start("order")
}

// capturedPayments counts the owner's captured payments.
func capturedPayments(t *testing.T, s *shop, token string) int {
	t.Helper()
	all, err := s.ListMyPayments(context.Background(), token)
	require.NoError(t, err)
	n := 0
	for _, p := range all {
		if p.GetState() == paymentv1.PaymentState_PAYMENT_STATE_CAPTURED {
			n++
		}
	}
	return n
}

func TestPaymentSagaSurvivesAnOrderCrash(t *testing.T) {
	// The sandbox takes a second and a half per call, so order can be
	// killed with an authorization in flight; CreateOrder still waits its
	// usual 3 s, longer than a capture takes. The restarted instance
	// resumes an order 5 s after its last step, well before the deadline.
	c := startCluster(t,
		"SANDBOX_LATENCY_MEDIAN=1500ms", "SANDBOX_LATENCY_P99=2500ms",
		"PAYMENT_DEADLINE=15s", "SAGA_RECOVERY_INTERVAL=300ms")
	defer c.dumpOnFailure()
	b := c.books(t)
	ctx := context.Background()
	s := c.shop(t, "grpc")
	product := stocked(t, s, 20)
	line := func(qty int32) *orderv1.LineItem { return &orderv1.LineItem{ProductId: product.GetId(), Quantity: qty} }

	t.Run("killed after answering PENDING, a payment that never answers is voided and the order fails", func(t *testing.T) {
		_, token := customer(t, s, "crash-pending")
		before := stockOf(t, s, product.GetId())
		o, err := s.CreatePaidOrder(ctx, token, "crash-timeout-"+randomHex(t, 4), cardTimeout, line(3))
		require.NoError(t, err)
		require.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PENDING, o.GetStatus(), "CreateOrder answers while the payment is in flight")
		assert.Equal(t, before-3, stockOf(t, s, product.GetId()), "the stock is held meanwhile")

		restarted := crashOrder(c)
		failed := awaitSettled(t, s, token, o.GetId())
		assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_FAILED, failed.GetStatus(), "a payment that never answers fails at the deadline")
		assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_VOIDED, failed.GetPaymentState(), "whatever may have been authorized is voided")
		assertPaidFor(t, s, b, token, failed)
		if pays := paymentsOf(t, s, token, o.GetId()); len(pays) == 1 {
			assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_VOIDED, pays[0].GetState())
		}
		awaitStock(t, s, product.GetId(), before, "the failed order's stock is back")
		assert.True(t, resumedBy(restarted, o.GetId()), "the restarted instance finished the order")
		notes := notificationsFor(t, s, token, o.GetId(), 1)
		assert.Equal(t, notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_FAILED, notes[0].GetKind())
		assert.Equal(t, "Order failed", notes[0].GetTitle())
	})

	for _, protocol := range payProtocols {
		t.Run("killed mid-authorize, a good card's order is placed and captured once/"+protocol, func(t *testing.T) {
			s := c.shop(t, protocol)
			_, token := customer(t, s, "crash-authorize-"+protocol)
			before := stockOf(t, s, product.GetId())
			o, answered := createInFlight(t, c, protocol, token, cardVisa, line(2))
			time.Sleep(300 * time.Millisecond)
			restarted := crashOrder(c)
			assert.Error(t, <-answered, "the client lost its answer with the process")

			got := awaitSettled(t, s, token, o.GetId())
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, got.GetStatus(),
				"the authorization cut by the crash is settled under the same key: %s", got.GetFailureReason())
			assert.Equal(t, orderv1.PaymentState_PAYMENT_STATE_CAPTURED, got.GetPaymentState())
			assertPaidFor(t, s, b, token, got)
			assert.Equal(t, before-2, stockOf(t, s, product.GetId()), "stock deducted once")
			assert.True(t, resumedBy(restarted, o.GetId()), "the restarted instance finished the order")
			assert.Equal(t, 1, capturedPayments(t, s, token), "one capture")
			notes := notificationsFor(t, s, token, o.GetId(), 1)
			assert.Equal(t, "Order placed", notes[0].GetTitle())
		})
	}

	t.Run("one payment that never answers does not hold up the recovery of the others", func(t *testing.T) {
		_, token := customer(t, s, "crash-both")
		before := stockOf(t, s, product.GetId())
		stalled, err := s.CreatePaidOrder(ctx, token, "crash-stalled-"+randomHex(t, 4), cardTimeout, line(3))
		require.NoError(t, err)
		require.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PENDING, stalled.GetStatus())
		o, answered := createInFlight(t, c, "grpc", token, cardVisa, line(2))
		time.Sleep(300 * time.Millisecond)
		crashOrder(c)
		assert.Error(t, <-answered)

		got := awaitSettled(t, s, token, o.GetId())
		assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, got.GetStatus(), "the good card's order: %s", got.GetFailureReason())
		assertPaidFor(t, s, b, token, got)
		failed := awaitSettled(t, s, token, stalled.GetId())
		assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_FAILED, failed.GetStatus())
		assertPaidFor(t, s, b, token, failed)
		awaitStock(t, s, product.GetId(), before-2, "the placed order holds its 2, the failed one holds none")
	})
}
