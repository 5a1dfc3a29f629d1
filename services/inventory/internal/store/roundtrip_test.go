package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

// countedPostgres is a fresh, migrated PostgreSQL database holding products
// a and b, and a store over it whose every byte passes a storetest.WireCounter.
func countedPostgres(t *testing.T) (*store.Store, *storetest.WireCounter) {
	t.Helper()
	ctx := context.Background()
	direct := storetest.Open(t, platformstore.Postgres)
	require.NoError(t, direct.Migrate(ctx, store.Migrations()))
	_, err := store.New(direct).AddProducts(ctx, product("a", 1000), product("b", 1000))
	require.NoError(t, err)
	db, counter := storetest.OpenCounted(t, direct, "inventory")
	return store.New(db), counter
}

// TestReserveRoundTrips pins what one CreateOrder costs the inventory's
// PostgreSQL, counted on the wire: its Reserve, which answers the prices
// the order charges, so the order service reads no product. BEGIN, one
// statement and COMMIT, whatever the number of products (9 round trips for
// two products when the order service read each product and Reserve ran a
// statement per row). Statements are prepared once per connection (pgx's
// statement cache), so the orders after the first prepare nothing.
func TestReserveRoundTrips(t *testing.T) {
	s, counter := countedPostgres(t)
	svc := domain.NewInventoryService(s)
	items := []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 2}}
	createOrder := func(i int) func() {
		return func() {
			r, err := svc.Reserve(t.Context(), fmt.Sprintf("order-%d", i), items)
			require.NoError(t, err)
			require.Len(t, r.Items, 2)
			assert.Equal(t, domain.Money{AmountMinor: 1250, Currency: "EUR"}, r.Items[1].UnitPrice)
		}
	}
	first := counter.Count(createOrder(0))
	t.Logf("first order: %d round trips, %d statements prepared", first.Trips, first.Parses)
	for i := 1; i <= 3; i++ {
		got := counter.Count(createOrder(i))
		t.Logf("order %d: %d round trips, %d statements prepared", i, got.Trips, got.Parses)
		assert.Equal(t, storetest.Counted{Trips: 3}, got, "order %d", i)
	}
}
