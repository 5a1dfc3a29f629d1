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
//	op=place  the saga's stored steps of a two-line order, as CreateOrder
//	          takes them: create it PENDING, price it, place it with its
//	          OrderPlaced, record the capture
//	op=get    read one of benchOrders orders with its lines
func BenchmarkOrderStore(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run("db="+string(d), func(b *testing.B) {
			b.Run("op=place", func(b *testing.B) {
				s := benchOrderStore(b, d)
				now := time.Now()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					o := benchOrder(i, now)
					i++
					benchPlace(b, s, o)
				}
			})
			b.Run("op=get", func(b *testing.B) {
				s := benchOrderStore(b, d)
				ctx := context.Background()
				now := time.Now()
				ids := make([]string, benchOrders)
				for i := range ids {
					o := benchOrder(i, now)
					benchPlace(b, s, o)
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

// benchPlace stores o through the saga's transitions up to captured.
func benchPlace(b *testing.B, s *store.Store, o domain.Order) {
	b.Helper()
	ctx := context.Background()
	created := o
	created.Status, created.Items, created.Total = domain.StatusPending, nil, domain.Money{}
	if err := s.Create(ctx, created); err != nil {
		b.Fatal(err)
	}
	steps := []func() (bool, error){
		func() (bool, error) { return s.Price(ctx, o) },
		func() (bool, error) {
			return s.Place(ctx, domain.OrderPlaced{EventID: "placed-" + o.ID, Order: o, OccurredAt: o.UpdatedAt})
		},
		func() (bool, error) { return s.Captured(ctx, o.ID, o.UpdatedAt) },
	}
	for _, step := range steps {
		if ok, err := step(); err != nil || !ok {
			b.Fatalf("order %s: stored %v, %v", o.ID, ok, err)
		}
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
		ID:        domain.OrderID(user, key),
		UserID:    user,
		Status:    domain.StatusPlaced,
		Requested: []domain.Item{{ProductID: "espresso-blend-1kg", Quantity: 2}, {ProductID: "paper-filters-v60-100", Quantity: 1}},
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
