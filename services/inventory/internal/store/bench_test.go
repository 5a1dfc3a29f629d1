package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

// BenchmarkInventoryStore times the repository operations behind the
// inventory API on every dialect, each on a fresh migrated database holding
// benchProducts products. PostgreSQL is skipped when unreachable (never under
// CI=true), as in the tests.
//
//	op=reserve-release  Reserve two products for a new order, then Release
//	                    it: two transactions, the stock ends where it began
//	op=get-product      one product by id, from the database
//	op=get-product-cached  one product by id through the product cache
//	                    (WithProductCache), every read a hit: the cost of
//	                    GetProduct's store call in the service
//	op=list-products    one page of 50 products
func BenchmarkInventoryStore(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run("db="+string(d), func(b *testing.B) {
			b.Run("op=reserve-release", func(b *testing.B) {
				s := benchStore(b, d)
				svc := domain.NewInventoryService(s)
				ctx := context.Background()
				items := []domain.Item{{ProductID: benchProductID(1), Quantity: 1}, {ProductID: benchProductID(2), Quantity: 2}}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					order := fmt.Sprintf("bench-order-%d", i)
					i++
					if _, err := svc.Reserve(ctx, order, items); err != nil {
						b.Fatal(err)
					}
					if _, err := svc.Release(ctx, order); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("op=get-product", func(b *testing.B) {
				s := benchStore(b, d)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.GetProduct(ctx, benchProductID(7)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("op=get-product-cached", func(b *testing.B) {
				s := benchStore(b, d, store.WithProductCache(time.Hour))
				ctx := context.Background()
				if _, err := s.GetProduct(ctx, benchProductID(7)); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.GetProduct(ctx, benchProductID(7)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("op=list-products", func(b *testing.B) {
				s := benchStore(b, d)
				ctx := context.Background()
				const page = 50
				b.ReportAllocs()
				for b.Loop() {
					ps, err := s.ListProducts(ctx, "", page)
					if err != nil {
						b.Fatal(err)
					}
					if len(ps) != page {
						b.Fatalf("listed %d products, want %d", len(ps), page)
					}
				}
			})
		})
	}
}

// benchProducts is how many products a benchmark database holds.
const benchProducts = 200

func benchProductID(i int) string { return fmt.Sprintf("bench-product-%03d", i) }

// benchStore is a fresh, migrated database of dialect d holding
// benchProducts products with ample stock, and the store over it.
func benchStore(b *testing.B, d platformstore.Dialect, opts ...store.Option) *store.Store {
	b.Helper()
	db := storetest.Open(b, d)
	ctx := context.Background()
	if err := db.Migrate(ctx, store.Migrations()); err != nil {
		b.Fatal(err)
	}
	s := store.New(db, opts...)
	ps := make([]domain.Product, benchProducts)
	for i := range ps {
		ps[i] = domain.Product{
			ID: benchProductID(i), Name: "Product " + benchProductID(i), Description: "A product to benchmark with",
			Price: domain.Money{AmountMinor: 1250, Currency: "EUR"}, Stock: 1_000_000, UpdatedAt: time.Now(),
		}
	}
	if _, err := s.AddProducts(ctx, ps...); err != nil {
		b.Fatal(err)
	}
	return s
}
