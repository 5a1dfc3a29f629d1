package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/slipway-dev/slipway/api/events"
	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
)

const password = "correct-horse-battery"

// customer registers and logs in a new user over s.
func customer(t *testing.T, s *shop, name string) (userID, token string) {
	t.Helper()
	ctx := context.Background()
	email := name + "-" + randomHex(t, 4) + "@example.com"
	u, err := s.Register(ctx, email, password)
	require.NoError(t, err)
	token, err = s.Login(ctx, email, password)
	require.NoError(t, err)
	require.NotEmpty(t, token)
	return u.GetId(), token
}

// stocked picks a product with at least n units.
func stocked(t *testing.T, s *shop, n int64) *inventoryv1.Product {
	t.Helper()
	products, err := s.ListProducts(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, products)
	for _, p := range products {
		if p.GetStock() >= n {
			return p
		}
	}
	t.Fatalf("no product with %d units", n)
	return nil
}

func stockOf(t *testing.T, s *shop, id string) int64 {
	t.Helper()
	p, err := s.GetProduct(context.Background(), id)
	require.NoError(t, err)
	return p.GetStock()
}

// notificationsFor waits until want notifications of the order exist, then
// checks there are no more.
func notificationsFor(t *testing.T, s *shop, token, orderID string, want int) []*notificationv1.Notification {
	t.Helper()
	var got []*notificationv1.Notification
	require.Eventually(t, func() bool {
		all, err := s.ListMyNotifications(context.Background(), token)
		if err != nil {
			return false
		}
		got = got[:0]
		for _, n := range all {
			if n.GetOrderId() == orderID {
				got = append(got, n)
			}
		}
		return len(got) >= want
	}, 20*time.Second, 50*time.Millisecond, "waiting for %d notification(s) of order %s", want, orderID)
	return got
}

func TestAnOrderFlowsThroughEveryServiceOnEveryProtocol(t *testing.T) {
	c := startCluster(t)
	defer c.dumpOnFailure()
	ctx := context.Background()
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			s := c.shop(t, protocol)
			userID, token := customer(t, s, protocol)
			product := stocked(t, s, 5)
			before := product.GetStock()

			traceID := randomHex(t, 16)
			s.traceparent = "00-" + traceID + "-" + randomHex(t, 8) + "-01"
			order, err := s.CreateOrder(ctx, token, "e2e-"+protocol+"-"+randomHex(t, 4),
				&orderv1.LineItem{ProductId: product.GetId(), Quantity: 2})
			s.traceparent = ""
			require.NoError(t, err)

			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, order.GetStatus())
			assert.Equal(t, userID, order.GetUserId(), "the order belongs to the token's user")
			assert.Equal(t, 2*product.GetPrice().GetAmountMinor(), order.GetTotal().GetAmountMinor(), "the server computes the total")
			assert.Equal(t, before-2, stockOf(t, s, product.GetId()), "stock goes down")

			got, err := s.GetOrder(ctx, token, order.GetId())
			require.NoError(t, err)
			assert.Equal(t, order.GetId(), got.GetId())
			mine, err := s.ListMyOrders(ctx, token)
			require.NoError(t, err)
			require.Len(t, mine, 1)
			assert.Equal(t, order.GetId(), mine[0].GetId())

			placed := notificationsFor(t, s, token, order.GetId(), 1)
			require.Len(t, placed, 1)
			assert.Equal(t, notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_PLACED, placed[0].GetKind())

			require.Eventually(t, func() bool {
				in := c.otlp.servicesIn(traceID)
				return in["order"] && in["inventory"] && in["notification"]
			}, 20*time.Second, 100*time.Millisecond, "the CreateOrder trace holds spans of order, inventory and notification")

			cancelled, err := s.CancelOrder(ctx, token, order.GetId())
			require.NoError(t, err)
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_CANCELLED, cancelled.GetStatus())
			require.Eventually(t, func() bool { return stockOf(t, s, product.GetId()) == before },
				10*time.Second, 50*time.Millisecond, "cancelling returns the stock")
			both := notificationsFor(t, s, token, order.GetId(), 2)
			assert.Len(t, both, 2)
		})
	}
}

func TestConcurrentDuplicatesPlaceOneOrder(t *testing.T) {
	c := startCluster(t)
	defer c.dumpOnFailure()
	s := c.shop(t, "grpc")
	_, token := customer(t, s, "dup")
	product := stocked(t, s, 10)
	before := product.GetStock()

	const n = 20
	ids := make(chan string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			o, err := s.CreateOrder(context.Background(), token, "one-key-for-all",
				&orderv1.LineItem{ProductId: product.GetId(), Quantity: 3})
			if err != nil {
				errs <- err
				return
			}
			ids <- o.GetId()
		})
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Errorf("a duplicate failed: %v", err)
	}
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	require.Len(t, seen, 1, "every duplicate returns the same order")

	orders, err := s.ListMyOrders(context.Background(), token)
	require.NoError(t, err)
	assert.Len(t, orders, 1, "one order")
	assert.Equal(t, before-3, stockOf(t, s, product.GetId()), "one reservation")
	var orderID string
	for id := range seen {
		orderID = id
	}
	notificationsFor(t, s, token, orderID, 1)
	time.Sleep(500 * time.Millisecond)
	assert.Len(t, notificationsFor(t, s, token, orderID, 1), 1, "one notification")

	_, err = s.CreateOrder(context.Background(), token, "one-key-for-all",
		&orderv1.LineItem{ProductId: product.GetId(), Quantity: 4})
	assert.Equal(t, codes.FailedPrecondition, codeOf(err), "the same key with other items is refused")
}

func TestOrdersAreAcceptedWhileTheBrokerIsDown(t *testing.T) {
	c := startCluster(t)
	defer c.dumpOnFailure()
	s := c.shop(t, "rest")
	_, token := customer(t, s, "outage")
	product := stocked(t, s, 10)

	c.nats.Stop()
	var orderIDs []string
	for i := range 3 {
		o, err := s.CreateOrder(context.Background(), token, "outage-"+string(rune('a'+i))+randomHex(t, 4),
			&orderv1.LineItem{ProductId: product.GetId(), Quantity: 1})
		require.NoError(t, err, "orders are accepted while NATS is down")
		orderIDs = append(orderIDs, o.GetId())
	}
	c.nats.Start()

	for _, id := range orderIDs {
		notificationsFor(t, s, token, id, 1)
	}
	time.Sleep(500 * time.Millisecond)
	for _, id := range orderIDs {
		assert.Len(t, notificationsFor(t, s, token, id, 1), 1, "exactly one notification for order %s", id)
	}
}

func TestResettingTheConsumerCreatesNoDuplicates(t *testing.T) {
	c := startCluster(t)
	defer c.dumpOnFailure()
	s := c.shop(t, "grpc-web")
	_, token := customer(t, s, "reset")
	product := stocked(t, s, 10)
	var orderIDs []string
	for i := range 3 {
		o, err := s.CreateOrder(context.Background(), token, "reset-"+string(rune('a'+i))+randomHex(t, 4),
			&orderv1.LineItem{ProductId: product.GetId(), Quantity: 1})
		require.NoError(t, err)
		orderIDs = append(orderIDs, o.GetId())
	}
	for _, id := range orderIDs {
		notificationsFor(t, s, token, id, 1)
	}

	// A consumer offset reset: drop the durable consumer, so the service
	// recreates it and JetStream delivers the whole stream again.
	c.stop("notification")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(c.nats.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, js.DeleteConsumer(ctx, events.StreamOrders, "notification"))
	c.start("notification")

	require.Eventually(t, func() bool {
		cons, err := js.Consumer(ctx, events.StreamOrders, "notification")
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.Delivered.Stream >= uint64(len(orderIDs)) && info.NumPending == 0 && info.NumAckPending == 0
	}, 20*time.Second, 50*time.Millisecond, "everything was delivered again and acknowledged")
	for _, id := range orderIDs {
		assert.Len(t, notificationsFor(t, s, token, id, 1), 1, "still exactly one notification for %s", id)
	}
}

func TestUsersCannotReachEachOthersOrders(t *testing.T) {
	c := startCluster(t)
	defer c.dumpOnFailure()
	ctx := context.Background()
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			s := c.shop(t, protocol)
			_, alice := customer(t, s, "alice")
			_, bob := customer(t, s, "bob")
			product := stocked(t, s, 2)
			order, err := s.CreateOrder(ctx, alice, "alice-"+randomHex(t, 4), &orderv1.LineItem{ProductId: product.GetId(), Quantity: 1})
			require.NoError(t, err)
			notificationsFor(t, s, alice, order.GetId(), 1)

			_, err = s.GetOrder(ctx, bob, order.GetId())
			assert.Equal(t, codes.NotFound, codeOf(err), "bob cannot read alice's order")
			_, err = s.CancelOrder(ctx, bob, order.GetId())
			assert.Equal(t, codes.NotFound, codeOf(err), "bob cannot cancel alice's order")
			bobs, err := s.ListMyOrders(ctx, bob)
			require.NoError(t, err)
			assert.Empty(t, bobs, "bob's list has none of alice's orders")
			notes, err := s.ListMyNotifications(ctx, bob)
			require.NoError(t, err)
			assert.Empty(t, notes, "bob sees none of alice's notifications")

			still, err := s.GetOrder(ctx, alice, order.GetId())
			require.NoError(t, err)
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, still.GetStatus(), "bob's cancel changed nothing")
			_, err = s.ListMyOrders(ctx, "")
			assert.Equal(t, codes.Unauthenticated, codeOf(err))
		})
	}
}
