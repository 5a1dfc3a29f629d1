package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

// countedPostgres is a fresh, migrated PostgreSQL order database and a
// store over it whose every byte passes a storetest.WireCounter.
func countedPostgres(t *testing.T) (*store.Store, *storetest.WireCounter) {
	t.Helper()
	ctx := context.Background()
	direct := storetest.Open(t, platformstore.Postgres)
	require.NoError(t, direct.Migrate(ctx, store.Migrations()))
	require.NoError(t, events.EnsureSchema(ctx, direct))
	db, counter := storetest.OpenCounted(t, direct, "order")
	return store.New(db), counter
}

// pricedInventory is the inventory as CreateOrder sees it, answering at
// once: every product costs 1250 USD cents, and every Reserve succeeds.
type pricedInventory struct{}

func (pricedInventory) Prices(_ context.Context, ids []string) (map[string]domain.Price, error) {
	prices := make(map[string]domain.Price, len(ids))
	for _, id := range ids {
		prices[id] = domain.Price{Name: "Name of " + id, Unit: usd(1250)}
	}
	return prices, nil
}

func (i pricedInventory) Reserve(ctx context.Context, _ string, items []domain.Item) (map[string]domain.Price, error) {
	ids := make([]string, len(items))
	for n, it := range items {
		ids[n] = it.ProductID
	}
	return i.Prices(ctx, ids)
}

func (pricedInventory) Release(context.Context, string) error { return nil }

// acceptingPayments is a payment service that authorizes and captures at
// once.
type acceptingPayments struct{}

func (acceptingPayments) Authorize(_ context.Context, p domain.PaymentRequest) (domain.PaymentResult, error) {
	return domain.PaymentResult{PaymentID: "pay-" + p.OrderID}, nil
}
func (acceptingPayments) Capture(context.Context, string, domain.Money) error { return nil }
func (acceptingPayments) Void(context.Context, string) error                  { return nil }
func (acceptingPayments) Refund(context.Context, string, domain.Money) error  { return nil }

// TestCreateOrderRoundTrips pins what one paid CreateOrder of two products
// costs the order service's PostgreSQL, counted on the wire: the
// idempotency-key lookup, then one stored transition per saga step (create
// PENDING, price, place with OrderPlaced, record the capture); each
// transition that writes more than its row is one statement too.
// Statements are prepared once per connection (pgx's statement cache), so
// the orders after the first prepare nothing.
func TestCreateOrderRoundTrips(t *testing.T) {
	s, counter := countedPostgres(t)
	svc, err := domain.NewOrderService(s, pricedInventory{}, acceptingPayments{}, nil, domain.DefaultSagaConfig(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	actor := domain.Actor{Subject: "u1", Role: domain.RoleCustomer}
	items := []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 2}}
	createOrder := func(i int) func() {
		return func() {
			o, err := svc.CreateOrder(t.Context(), actor, fmt.Sprintf("key-%08d", i), items, "")
			require.NoError(t, err)
			require.Equal(t, domain.PaymentCaptured, o.PaymentState)
		}
	}
	first := counter.Count(createOrder(0))
	t.Logf("first order: %d round trips, %d statements prepared", first.Trips, first.Parses)
	for i := 1; i <= 3; i++ {
		got := counter.Count(createOrder(i))
		t.Logf("order %d: %d round trips, %d statements prepared", i, got.Trips, got.Parses)
		assert.Equal(t, storetest.Counted{Trips: 5}, got, "order %d", i)
	}
}
