package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/platform/events"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

// BenchmarkOrderStore times the order repository on every dialect, each on
// a fresh migrated database. PostgreSQL is skipped when unreachable (never
// under CI=true), as in the tests.
//
//	op=place  insert a two-line order and its OrderPlaced outbox row in one
//	          transaction, as CreateOrder does
//	op=get    read one of benchOrders orders with its lines
func BenchmarkOrderStore(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run("db="+string(d), func(b *testing.B) {
			b.Run("op=place", func(b *testing.B) {
				s := benchOrderStore(b, d)
				ctx := context.Background()
				now := time.Now()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					o := benchOrder(i, now)
					i++
					if err := s.Place(ctx, o, domain.OrderPlaced{EventID: "placed-" + o.ID, Order: o, OccurredAt: now}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("op=get", func(b *testing.B) {
				s := benchOrderStore(b, d)
				ctx := context.Background()
				now := time.Now()
				ids := make([]string, benchOrders)
				for i := range ids {
					o := benchOrder(i, now)
					if err := s.Place(ctx, o, domain.OrderPlaced{EventID: "placed-" + o.ID, Order: o, OccurredAt: now}); err != nil {
						b.Fatal(err)
					}
					ids[i] = o.ID
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					o, err := s.Get(ctx, ids[i%len(ids)])
					i++
					if err != nil {
						b.Fatal(err)
					}
					if len(o.Items) != 2 {
						b.Fatalf("order %s has %d lines, want 2", o.ID, len(o.Items))
					}
				}
			})
		})
	}
}

// benchOrders is how many orders op=get reads from.
const benchOrders = 100

// benchOrderStore is a fresh, migrated database of dialect d (orders and
// the outbox) and the store over it.
func benchOrderStore(b *testing.B, d platformstore.Dialect) *store.Store {
	b.Helper()
	db := storetest.Open(b, d)
	ctx := context.Background()
	if err := db.Migrate(ctx, store.Migrations()); err != nil {
		b.Fatal(err)
	}
	if err := events.EnsureSchema(ctx, db); err != nil {
		b.Fatal(err)
	}
	return store.New(db)
}

// benchOrder is the i-th PLACED order of one user, with two lines.
func benchOrder(i int, at time.Time) domain.Order {
	user, key := fmt.Sprintf("bench-user-%d", i%10), fmt.Sprintf("bench-key-%08d", i)
	eur := func(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "EUR"} }
	return domain.Order{
		ID:     domain.OrderID(user, key),
		UserID: user,
		Status: domain.StatusPlaced,
		Items: []domain.OrderItem{
			{ProductID: "espresso-blend-1kg", Name: "House Espresso Blend", Quantity: 2, UnitPrice: eur(3400), LineTotal: eur(6800)},
			{ProductID: "paper-filters-v60-100", Name: "V60 Paper Filters", Quantity: 1, UnitPrice: eur(750), LineTotal: eur(750)},
		},
		Total:          eur(7550),
		IdempotencyKey: key,
		Fingerprint:    "fp-" + key,
		CreatedAt:      at,
		UpdatedAt:      at,
	}
}
