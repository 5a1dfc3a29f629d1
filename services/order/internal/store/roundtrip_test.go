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

// TestCreateOrderRoundTrips pins what one CreateOrder of two products costs
// the order service's PostgreSQL, counted on the wire: the idempotency-key
// lookup and the one statement that places the order, its items and its
// OrderPlaced (7 round trips when they were a transaction of one insert per
// row: BEGIN, order, two items, outbox, COMMIT).
// Statements are prepared once per connection (pgx's statement cache), so
// the orders after the first prepare nothing.
func TestCreateOrderRoundTrips(t *testing.T) {
	s, counter := countedPostgres(t)
	svc := domain.NewOrderService(s, pricedInventory{}, nil, slog.New(slog.DiscardHandler))
	actor := domain.Actor{Subject: "u1", Role: domain.RoleCustomer}
	items := []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 2}}
	createOrder := func(i int) func() {
		return func() {
			_, err := svc.CreateOrder(t.Context(), actor, fmt.Sprintf("key-%08d", i), items)
			require.NoError(t, err)
		}
	}
	first := counter.Count(createOrder(0))
	t.Logf("first order: %d round trips, %d statements prepared", first.Trips, first.Parses)
	for i := 1; i <= 3; i++ {
		got := counter.Count(createOrder(i))
		t.Logf("order %d: %d round trips, %d statements prepared", i, got.Trips, got.Parses)
		assert.Equal(t, storetest.Counted{Trips: 2}, got, "order %d", i)
	}
}
