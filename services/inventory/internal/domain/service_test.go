package domain_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/errkind/errkindtest"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain/mock"
)

var (
	now      = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)
	earlier  = now.Add(-time.Hour)
	errStore = fmt.Errorf("connection reset: %w", errkind.Unavailable)
	ttl      = 10 * time.Minute // the fixture's reservation TTL, not the default
	admin    = domain.Actor{Subject: "user-1", Role: domain.RoleAdmin}
	customer = domain.Actor{Subject: "user-2", Role: "customer"}
)

// fixture is an InventoryService over a scripted store whose InTx runs its
// function once on a scripted transaction.
type fixture struct {
	store *mock.MockStore
	tx    *mock.MockTx
	svc   *domain.InventoryService
}

// newFixture is a fixture with setup, when not nil, run on it first: a
// table case scripts the store there.
func newFixture(t *testing.T, setup func(fixture)) fixture {
	t.Helper()
	ctrl := gomock.NewController(t)
	f := fixture{store: mock.NewMockStore(ctrl), tx: mock.NewMockTx(ctrl)}
	f.svc = domain.NewInventoryService(f.store, domain.WithReservationTTL(ttl))
	f.svc.SetClock(func() time.Time { return now })
	if setup != nil {
		setup(f)
	}
	return f
}

// expectTx expects one transaction, run on f.tx.
func (f fixture) expectTx() {
	f.store.EXPECT().InTx(gomock.Any(), gomock.Any()).
		DoAndReturn(func(ctx context.Context, fn func(context.Context, domain.Tx) error) error {
			return fn(ctx, f.tx)
		})
}

func products(ids ...string) []domain.Product {
	ps := make([]domain.Product, len(ids))
	for i, id := range ids {
		ps[i] = domain.Product{ID: id, Name: id, Price: domain.Money{AmountMinor: 100, Currency: "USD"}, Stock: 5}
	}
	return ps
}

func productIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%03d", i)
	}
	return ids
}

func TestListProducts(t *testing.T) {
	token := func(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }
	tests := []struct {
		name      string
		pageSize  int
		pageToken string
		setup     func(f fixture)
		wantIDs   []string
		wantNext  string
		wantField string
		wantErr   error
	}{
		{
			name: "default page size is 20 and a full page has a next token",
			setup: func(f fixture) {
				f.store.EXPECT().ListProducts(gomock.Any(), "", 21).Return(products(productIDs(21)...), nil)
			},
			wantIDs:  productIDs(20),
			wantNext: token("p-019"),
		},
		{
			name:     "the last page has no next token",
			pageSize: 5,
			setup: func(f fixture) {
				f.store.EXPECT().ListProducts(gomock.Any(), "", 6).Return(products("a", "b"), nil)
			},
			wantIDs: []string{"a", "b"},
		},
		{
			name:     "a page of exactly page size has no next token",
			pageSize: 2,
			setup: func(f fixture) {
				f.store.EXPECT().ListProducts(gomock.Any(), "", 3).Return(products("a", "b"), nil)
			},
			wantIDs: []string{"a", "b"},
		},
		{
			name:     "page size above the maximum is capped at 100",
			pageSize: 1000,
			setup: func(f fixture) {
				f.store.EXPECT().ListProducts(gomock.Any(), "", 101).Return(products("a"), nil)
			},
			wantIDs: []string{"a"},
		},
		{
			name:      "the page token resumes after the last id",
			pageSize:  1,
			pageToken: token("b"),
			setup: func(f fixture) {
				f.store.EXPECT().ListProducts(gomock.Any(), "b", 2).Return(products("c", "d"), nil)
			},
			wantIDs:  []string{"c"},
			wantNext: token("c"),
		},
		{
			name:      "a token that is not base64 is a field error",
			pageToken: "not base64!",
			wantField: "page_token",
		},
		{
			name:      "a token of nothing is a field error",
			pageToken: "=",
			wantField: "page_token",
		},
		{
			name:      "a negative page size is a field error",
			pageSize:  -1,
			wantField: "page_size",
		},
		{
			name: "a store failure is returned",
			setup: func(f fixture) {
				f.store.EXPECT().ListProducts(gomock.Any(), "", 21).Return(nil, errStore)
			},
			wantErr: errkind.Unavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.setup)
			page, err := f.svc.ListProducts(t.Context(), tt.pageSize, tt.pageToken)
			if !errkindtest.WantSuccess(t, err, tt.wantField, tt.wantErr) {
				return
			}
			require.NoError(t, err)
			var ids []string
			for _, p := range page.Products {
				ids = append(ids, p.ID)
			}
			assert.Equal(t, tt.wantIDs, ids)
			assert.Equal(t, tt.wantNext, page.NextPageToken)
		})
	}
}

func TestGetProduct(t *testing.T) {
	tests := []struct {
		name      string
		id        string
		setup     func(f fixture)
		want      domain.Product
		wantField string
		wantErr   error
	}{
		{
			name: "found",
			id:   "a",
			setup: func(f fixture) {
				f.store.EXPECT().GetProduct(gomock.Any(), "a").Return(products("a")[0], nil)
			},
			want: products("a")[0],
		},
		{
			name: "unknown product is not found",
			id:   "nope",
			setup: func(f fixture) {
				f.store.EXPECT().GetProduct(gomock.Any(), "nope").Return(domain.Product{}, domain.ErrNotFound)
			},
			wantErr: domain.ErrNotFound,
		},
		{name: "empty id is a field error", wantField: "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.setup)
			got, err := f.svc.GetProduct(t.Context(), tt.id)
			if errkindtest.WantSuccess(t, err, tt.wantField, tt.wantErr) {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestReserve(t *testing.T) {
	reserved := func(items ...domain.Item) domain.Reservation {
		return domain.Reservation{OrderID: "o-1", Items: items, Status: domain.StatusReserved, ExpiresAt: now.Add(ttl), CreatedAt: now, UpdatedAt: now}
	}
	storedAt := func(r domain.Reservation, at time.Time) domain.Reservation {
		r.CreatedAt, r.UpdatedAt = at, at
		return r
	}
	a2, b1, b4 := domain.Item{ProductID: "a", Quantity: 2}, domain.Item{ProductID: "b", Quantity: 1}, domain.Item{ProductID: "b", Quantity: 4}
	// priced is it as ReserveItems answers it: with its product's name and price.
	priced := func(it domain.Item) domain.Item {
		it.Name, it.UnitPrice = "Name of "+it.ProductID, domain.Money{AmountMinor: 1250, Currency: "EUR"}
		return it
	}

	tests := []struct {
		name      string
		orderID   string
		items     []domain.Item
		setup     func(f fixture)
		want      domain.Reservation
		wantField string
		wantErr   error
		check     func(t *testing.T, err error)
	}{
		{
			name:    "a new order takes every item's stock in product order and answers its prices",
			orderID: "o-1",
			items:   []domain.Item{b1, a2},
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().ReserveItems(gomock.Any(), reserved(a2, b1)).
					Return(true, []domain.Item{priced(b1), priced(a2)}, nil)
			},
			want: reserved(priced(a2), priced(b1)),
		},
		{
			name:    "lines repeating a product are merged",
			orderID: "o-1",
			items:   []domain.Item{{ProductID: "b", Quantity: 3}, a2, b1},
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().ReserveItems(gomock.Any(), reserved(a2, b4)).
					Return(true, []domain.Item{priced(a2), priced(b4)}, nil)
			},
			want: reserved(priced(a2), priced(b4)),
		},
		{
			name:    "the same items again return the stored reservation and its prices without taking stock",
			orderID: "o-1",
			items:   []domain.Item{b1, a2},
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().ReserveItems(gomock.Any(), gomock.Any()).Return(false, nil, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(storedAt(reserved(priced(a2), priced(b1)), earlier), nil)
			},
			want: storedAt(reserved(priced(a2), priced(b1)), earlier),
		},
		{
			name:    "the same items split into different lines are the same request",
			orderID: "o-1",
			items:   []domain.Item{{ProductID: "b", Quantity: 1}, {ProductID: "b", Quantity: 3}, a2},
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().ReserveItems(gomock.Any(), gomock.Any()).Return(false, nil, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(storedAt(reserved(a2, b4), earlier), nil)
			},
			want: storedAt(reserved(a2, b4), earlier),
		},
		{
			name:    "different items under the same order id fail",
			orderID: "o-1",
			items:   []domain.Item{a2},
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().ReserveItems(gomock.Any(), gomock.Any()).Return(false, nil, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(storedAt(reserved(a2, b1), earlier), nil)
			},
			wantErr: domain.ErrFailedPrecondition,
			check: func(t *testing.T, err error) {
				assert.ErrorContains(t, err, "different items")
			},
		},
		{
			name:    "a released order cannot be reserved again",
			orderID: "o-1",
			items:   []domain.Item{a2},
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().ReserveItems(gomock.Any(), gomock.Any()).Return(false, nil, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(domain.Reservation{
					OrderID: "o-1", Status: domain.StatusReleased, CreatedAt: earlier, UpdatedAt: earlier,
				}, nil)
			},
			wantErr: domain.ErrFailedPrecondition,
			check: func(t *testing.T, err error) {
				assert.ErrorContains(t, err, "released")
			},
		},
		{
			name:    "too little stock names the product, requested and available units",
			orderID: "o-1",
			items:   []domain.Item{a2, b4},
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().ReserveItems(gomock.Any(), gomock.Any()).Return(true, []domain.Item{priced(a2)}, nil)
				f.tx.EXPECT().GetProduct(gomock.Any(), "b").Return(domain.Product{ID: "b", Stock: 3}, nil)
			},
			wantErr: domain.ErrFailedPrecondition,
			check: func(t *testing.T, err error) {
				var ise *domain.InsufficientStockError
				require.ErrorAs(t, err, &ise)
				assert.Equal(t, domain.InsufficientStockError{ProductID: "b", Requested: 4, Available: 3}, *ise)
				assert.ErrorContains(t, err, `insufficient stock for product "b": requested 4, available 3`)
			},
		},
		{
			name:    "an unknown product is not found",
			orderID: "o-1",
			items:   []domain.Item{{ProductID: "ghost", Quantity: 1}},
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().ReserveItems(gomock.Any(), gomock.Any()).Return(true, nil, nil)
				f.tx.EXPECT().GetProduct(gomock.Any(), "ghost").
					Return(domain.Product{}, fmt.Errorf("product %q: %w", "ghost", domain.ErrNotFound))
			},
			wantErr: domain.ErrNotFound,
		},
		{
			name:    "a store failure while reserving is returned",
			orderID: "o-1",
			items:   []domain.Item{a2, b1},
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().ReserveItems(gomock.Any(), gomock.Any()).Return(false, nil, errStore)
			},
			wantErr: errkind.Unavailable,
		},
		{
			name:    "a failed commit is returned",
			orderID: "o-1",
			items:   []domain.Item{a2},
			setup: func(f fixture) {
				f.store.EXPECT().InTx(gomock.Any(), gomock.Any()).Return(errStore)
			},
			wantErr: errkind.Unavailable,
		},
		{name: "order id is required", items: []domain.Item{a2}, wantField: "order_id"},
		{name: "items are required", orderID: "o-1", wantField: "items"},
		{
			name:      "quantity must be positive",
			orderID:   "o-1",
			items:     []domain.Item{a2, {ProductID: "b", Quantity: 0}},
			wantField: "items[1].quantity",
		},
		{
			name:      "quantity is at most 1000 a line",
			orderID:   "o-1",
			items:     []domain.Item{{ProductID: "a", Quantity: 1001}},
			wantField: "items[0].quantity",
		},
		{
			name:      "at most 50 lines",
			orderID:   "o-1",
			items:     make([]domain.Item, 51),
			wantField: "items",
		},
		{
			name:      "product id is required",
			orderID:   "o-1",
			items:     []domain.Item{{Quantity: 1}},
			wantField: "items[0].product_id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.setup)
			got, err := f.svc.Reserve(t.Context(), tt.orderID, tt.items)
			if errkindtest.WantSuccess(t, err, tt.wantField, tt.wantErr, "order o-1") {
				assert.Equal(t, tt.want, got)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	a2, b1 := domain.Item{ProductID: "a", Quantity: 2}, domain.Item{ProductID: "b", Quantity: 1}
	held := domain.Reservation{OrderID: "o-1", Items: []domain.Item{a2, b1}, Status: domain.StatusReserved, CreatedAt: earlier, UpdatedAt: earlier}
	released := held
	released.Status, released.UpdatedAt = domain.StatusReleased, now

	tests := []struct {
		name      string
		orderID   string
		setup     func(f fixture)
		want      domain.Reservation
		wantField string
		wantErr   error
	}{
		{
			name:    "a held reservation returns its stock",
			orderID: "o-1",
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().CreateReservation(gomock.Any(), gomock.Any()).Return(false, nil)
				f.tx.EXPECT().MarkReleased(gomock.Any(), "o-1", now).Return(true, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(released, nil)
				f.tx.EXPECT().PutStock(gomock.Any(), "a", int64(2), now).Return(true, nil)
				f.tx.EXPECT().PutStock(gomock.Any(), "b", int64(1), now).Return(true, nil)
			},
			want: released,
		},
		{
			name:    "releasing again returns nothing twice",
			orderID: "o-1",
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().CreateReservation(gomock.Any(), gomock.Any()).Return(false, nil)
				f.tx.EXPECT().MarkReleased(gomock.Any(), "o-1", now).Return(false, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(released, nil)
			},
			want: released,
		},
		{
			name:    "an order never reserved leaves a released tombstone",
			orderID: "o-1",
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().CreateReservation(gomock.Any(), domain.Reservation{
					OrderID: "o-1", Status: domain.StatusReleased, CreatedAt: now, UpdatedAt: now,
				}).Return(true, nil)
			},
			want: domain.Reservation{OrderID: "o-1", Status: domain.StatusReleased, CreatedAt: now, UpdatedAt: now},
		},
		{
			name:    "a store failure while returning stock is returned",
			orderID: "o-1",
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().CreateReservation(gomock.Any(), gomock.Any()).Return(false, nil)
				f.tx.EXPECT().MarkReleased(gomock.Any(), "o-1", now).Return(true, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(released, nil)
				f.tx.EXPECT().PutStock(gomock.Any(), "a", int64(2), now).Return(false, errStore)
			},
			wantErr: errkind.Unavailable,
		},
		{
			name:    "a product gone from the catalog fails the release rather than lose the stock",
			orderID: "o-1",
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().CreateReservation(gomock.Any(), gomock.Any()).Return(false, nil)
				f.tx.EXPECT().MarkReleased(gomock.Any(), "o-1", now).Return(true, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(released, nil)
				f.tx.EXPECT().PutStock(gomock.Any(), "a", int64(2), now).Return(false, nil)
			},
			wantErr: domain.ErrNotFound,
		},
		{name: "order id is required", wantField: "order_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.setup)
			got, err := f.svc.Release(t.Context(), tt.orderID)
			if errkindtest.WantSuccess(t, err, tt.wantField, tt.wantErr, "order o-1") {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestAdjustStock(t *testing.T) {
	after := domain.Product{ID: "a", Name: "A", Stock: 7, UpdatedAt: now}
	tests := []struct {
		name      string
		actor     domain.Actor
		productID string
		delta     int64
		reason    string
		setup     func(f fixture)
		want      domain.Product
		wantField string
		wantErr   error
		check     func(t *testing.T, err error)
	}{
		{
			name: "an admin adds stock and the change is recorded", actor: admin, productID: "a", delta: 5, reason: "restock",
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().PutStock(gomock.Any(), "a", int64(5), now).Return(true, nil)
				f.tx.EXPECT().RecordAdjustment(gomock.Any(), domain.StockAdjustment{
					ProductID: "a", Delta: 5, Reason: "restock", Actor: "user-1", At: now,
				}).Return(nil)
				f.tx.EXPECT().GetProduct(gomock.Any(), "a").Return(after, nil)
			},
			want: after,
		},
		{
			name: "an admin removes stock", actor: admin, productID: "a", delta: -3, reason: "damaged",
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().TakeStock(gomock.Any(), "a", int64(3), now).Return(true, nil)
				f.tx.EXPECT().RecordAdjustment(gomock.Any(), gomock.Any()).Return(nil)
				f.tx.EXPECT().GetProduct(gomock.Any(), "a").Return(after, nil)
			},
			want: after,
		},
		{
			name: "stock cannot go below zero", actor: admin, productID: "a", delta: -9,
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().TakeStock(gomock.Any(), "a", int64(9), now).Return(false, nil)
				f.tx.EXPECT().GetProduct(gomock.Any(), "a").Return(domain.Product{ID: "a", Stock: 4}, nil)
			},
			wantErr: domain.ErrFailedPrecondition,
			check: func(t *testing.T, err error) {
				assert.ErrorContains(t, err, `insufficient stock for product "a": requested 9, available 4`)
			},
		},
		{
			name: "an unknown product is not found", actor: admin, productID: "ghost", delta: 1,
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().PutStock(gomock.Any(), "ghost", int64(1), now).Return(false, nil)
			},
			wantErr: domain.ErrNotFound,
		},
		{
			name: "a failure to record the change fails the adjustment", actor: admin, productID: "a", delta: 1,
			setup: func(f fixture) {
				f.expectTx()
				f.tx.EXPECT().PutStock(gomock.Any(), "a", int64(1), now).Return(true, nil)
				f.tx.EXPECT().RecordAdjustment(gomock.Any(), gomock.Any()).Return(errStore)
			},
			wantErr: errkind.Unavailable,
		},
		{name: "a customer may not adjust stock", actor: customer, productID: "a", delta: 1, wantErr: domain.ErrPermissionDenied},
		{name: "an anonymous caller may not adjust stock", productID: "a", delta: 1, wantErr: domain.ErrPermissionDenied},
		{name: "a zero delta is a field error", actor: admin, productID: "a", wantField: "delta"},
		{name: "product id is required", actor: admin, delta: 1, wantField: "product_id"},
		{
			name: "a long reason is a field error", actor: admin, productID: "a", delta: 1,
			reason: string(make([]byte, 201)), wantField: "reason",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.setup)
			got, err := f.svc.AdjustStock(t.Context(), tt.actor, tt.productID, tt.delta, tt.reason)
			if errkindtest.WantSuccess(t, err, tt.wantField, tt.wantErr) {
				assert.Equal(t, tt.want, got)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	tests := []struct {
		name string
		a, b []domain.Item
		same bool
	}{
		{
			name: "order does not matter",
			a:    []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 2}},
			b:    []domain.Item{{ProductID: "b", Quantity: 2}, {ProductID: "a", Quantity: 1}},
			same: true,
		},
		{
			name: "repeated lines equal their sum",
			a:    []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "a", Quantity: 2}},
			b:    []domain.Item{{ProductID: "a", Quantity: 3}},
			same: true,
		},
		{
			name: "quantities matter",
			a:    []domain.Item{{ProductID: "a", Quantity: 1}},
			b:    []domain.Item{{ProductID: "a", Quantity: 2}},
		},
		{
			name: "products matter",
			a:    []domain.Item{{ProductID: "a", Quantity: 1}},
			b:    []domain.Item{{ProductID: "b", Quantity: 1}},
		},
		{
			name: "ids cannot run into quantities",
			a:    []domain.Item{{ProductID: "a1", Quantity: 1}},
			b:    []domain.Item{{ProductID: "a", Quantity: 11}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fa, fb := domain.Fingerprint(tt.a), domain.Fingerprint(tt.b)
			assert.Len(t, fa, 64)
			if tt.same {
				assert.Equal(t, fa, fb)
			} else {
				assert.NotEqual(t, fa, fb)
			}
		})
	}
	assert.Empty(t, domain.Fingerprint(nil), "a tombstone has no items and no fingerprint")
}

// The insufficient-stock error is a FailedPrecondition and nothing else.
func TestInsufficientStockErrorKind(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &domain.InsufficientStockError{ProductID: "a", Requested: 2, Available: 1})
	assert.ErrorIs(t, err, errkind.FailedPrecondition)
	assert.False(t, errors.Is(err, errkind.Invalid))
	assert.False(t, errors.Is(err, errkind.NotFound))
}

func TestReserveExpiresAfterTheDefaultTTL(t *testing.T) {
	ctrl := gomock.NewController(t)
	store, tx := mock.NewMockStore(ctrl), mock.NewMockTx(ctrl)
	svc := domain.NewInventoryService(store)
	svc.SetClock(func() time.Time { return now })
	store.EXPECT().InTx(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, fn func(context.Context, domain.Tx) error) error {
		return fn(ctx, tx)
	})
	tx.EXPECT().ReserveItems(gomock.Any(), gomock.Any()).Return(true, []domain.Item{{ProductID: "a", Quantity: 1}}, nil)

	r, err := svc.Reserve(t.Context(), "o-1", []domain.Item{{ProductID: "a", Quantity: 1}})
	require.NoError(t, err)
	assert.Equal(t, now.Add(15*time.Minute), r.ExpiresAt)
}

func TestCommit(t *testing.T) {
	items := []domain.Item{{ProductID: "a", Quantity: 2}}
	committed := domain.Reservation{OrderID: "o-1", Items: items, Status: domain.StatusCommitted, CreatedAt: earlier, UpdatedAt: now}
	released := domain.Reservation{OrderID: "o-1", Items: items, Status: domain.StatusReleased, ExpiresAt: earlier.Add(ttl), CreatedAt: earlier, UpdatedAt: earlier.Add(ttl)}

	tests := []struct {
		name      string
		orderID   string
		setup     func(f fixture)
		want      domain.Reservation
		wantField string
		wantErr   error
	}{
		{
			name:    "a held reservation is committed and no longer expires",
			orderID: "o-1",
			setup: func(f fixture) {
				gomock.InOrder(
					f.tx.EXPECT().MarkCommitted(gomock.Any(), "o-1", now).Return(true, nil),
					f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(committed, nil),
				)
			},
			want: committed,
		},
		{
			name:    "committing again changes nothing",
			orderID: "o-1",
			setup: func(f fixture) {
				f.tx.EXPECT().MarkCommitted(gomock.Any(), "o-1", now).Return(false, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(committed, nil)
			},
			want: committed,
		},
		{
			name:    "a released reservation stays released",
			orderID: "o-1",
			setup: func(f fixture) {
				f.tx.EXPECT().MarkCommitted(gomock.Any(), "o-1", now).Return(false, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(released, nil)
			},
			wantErr: domain.ErrReleased,
		},
		{
			name:    "an order never reserved is not found",
			orderID: "o-1",
			setup: func(f fixture) {
				f.tx.EXPECT().MarkCommitted(gomock.Any(), "o-1", now).Return(false, nil)
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(domain.Reservation{}, domain.ErrNotFound)
			},
			wantErr: domain.ErrNotFound,
		},
		{
			name:    "a store failure is returned",
			orderID: "o-1",
			setup: func(f fixture) {
				f.tx.EXPECT().MarkCommitted(gomock.Any(), "o-1", now).Return(false, errStore)
			},
			wantErr: errkind.Unavailable,
		},
		{name: "order id is required", wantField: "order_id"},
	}
	// Commit runs in a transaction of its own; CommitInTx in the caller's.
	calls := map[string]func(f fixture, ctx context.Context, orderID string) (domain.Reservation, error){
		"own transaction": func(f fixture, ctx context.Context, orderID string) (domain.Reservation, error) {
			if orderID != "" {
				f.expectTx()
			}
			return f.svc.Commit(ctx, orderID)
		},
		"caller's transaction": func(f fixture, ctx context.Context, orderID string) (domain.Reservation, error) {
			return f.svc.CommitInTx(ctx, f.tx, orderID)
		},
	}
	for callName, call := range calls {
		for _, tt := range tests {
			t.Run(callName+"/"+tt.name, func(t *testing.T) {
				f := newFixture(t, tt.setup)
				got, err := call(f, t.Context(), tt.orderID)
				if errkindtest.WantSuccess(t, err, tt.wantField, tt.wantErr, "order o-1") {
					assert.Equal(t, tt.want, got)
				}
			})
		}
	}
}

func TestErrReleasedIsAFailedPrecondition(t *testing.T) {
	err := fmt.Errorf("commit: %w", domain.ErrReleased)
	assert.ErrorIs(t, err, domain.ErrFailedPrecondition)
	assert.False(t, errors.Is(err, domain.ErrNotFound))
}

// ReleaseInTx does what Release does, on the caller's transaction: a
// COMMITTED reservation (an order cancelled after it was placed) gives its
// stock back too.
func TestReleaseInTx(t *testing.T) {
	a2 := domain.Item{ProductID: "a", Quantity: 2}
	released := domain.Reservation{OrderID: "o-1", Items: []domain.Item{a2}, Status: domain.StatusReleased, CreatedAt: earlier, UpdatedAt: now}

	t.Run("a committed reservation returns its stock", func(t *testing.T) {
		f := newFixture(t, nil) // no InTx is expected: the caller owns the transaction
		gomock.InOrder(
			f.tx.EXPECT().CreateReservation(gomock.Any(), gomock.Any()).Return(false, nil),
			f.tx.EXPECT().MarkReleased(gomock.Any(), "o-1", now).Return(true, nil),
			f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(released, nil),
			f.tx.EXPECT().PutStock(gomock.Any(), "a", int64(2), now).Return(true, nil),
		)
		got, err := f.svc.ReleaseInTx(t.Context(), f.tx, "o-1")
		require.NoError(t, err)
		assert.Equal(t, released, got)
	})
	t.Run("a failure is returned for the caller to roll back", func(t *testing.T) {
		f := newFixture(t, nil)
		f.tx.EXPECT().CreateReservation(gomock.Any(), gomock.Any()).Return(false, errStore)
		_, err := f.svc.ReleaseInTx(t.Context(), f.tx, "o-1")
		assert.ErrorIs(t, err, errkind.Unavailable)
		assert.ErrorContains(t, err, "order o-1")
	})
	t.Run("order id is required", func(t *testing.T) {
		f := newFixture(t, nil)
		_, err := f.svc.ReleaseInTx(t.Context(), f.tx, "")
		errkindtest.AssertFieldError(t, err, "order_id")
	})
}

// ReleaseFailedInTx releases what a failed order still holds, on the
// caller's transaction, and never the stock of a committed reservation.
func TestReleaseFailedInTx(t *testing.T) {
	a2 := domain.Item{ProductID: "a", Quantity: 2}
	held := domain.Reservation{OrderID: "o-1", Items: []domain.Item{a2}, Status: domain.StatusReserved, ExpiresAt: now.Add(ttl), CreatedAt: earlier, UpdatedAt: earlier}
	released := held
	released.Status, released.UpdatedAt = domain.StatusReleased, now
	committed := held
	committed.Status, committed.ExpiresAt = domain.StatusCommitted, time.Time{}
	tombstone := domain.Reservation{OrderID: "o-1", Status: domain.StatusReleased, CreatedAt: now, UpdatedAt: now}

	tests := []struct {
		name      string
		orderID   string
		setup     func(f fixture)
		want      domain.Reservation
		wantField string
		wantErr   error
	}{
		{
			name:    "a held reservation returns its stock",
			orderID: "o-1",
			setup: func(f fixture) {
				gomock.InOrder(
					f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(held, nil),
					f.tx.EXPECT().CreateReservation(gomock.Any(), gomock.Any()).Return(false, nil),
					f.tx.EXPECT().MarkReleased(gomock.Any(), "o-1", now).Return(true, nil),
					f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(released, nil),
					f.tx.EXPECT().PutStock(gomock.Any(), "a", int64(2), now).Return(true, nil),
				)
			},
			want: released,
		},
		{
			name:    "an already released one returns nothing again",
			orderID: "o-1",
			setup: func(f fixture) {
				gomock.InOrder(
					f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(released, nil),
					f.tx.EXPECT().CreateReservation(gomock.Any(), gomock.Any()).Return(false, nil),
					f.tx.EXPECT().MarkReleased(gomock.Any(), "o-1", now).Return(false, nil),
					f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(released, nil),
				)
			},
			want: released,
		},
		{
			name:    "a committed one is left committed, its stock taken",
			orderID: "o-1",
			setup: func(f fixture) {
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(committed, nil)
			},
			want: committed,
		},
		{
			name:    "an order never reserved leaves a released tombstone",
			orderID: "o-1",
			setup: func(f fixture) {
				gomock.InOrder(
					f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(domain.Reservation{}, fmt.Errorf("reservation of order o-1: %w", domain.ErrNotFound)),
					f.tx.EXPECT().CreateReservation(gomock.Any(), tombstone).Return(true, nil),
				)
			},
			want: tombstone,
		},
		{
			name:    "a failed read is returned for the caller to roll back",
			orderID: "o-1",
			setup: func(f fixture) {
				f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(domain.Reservation{}, errStore)
			},
			wantErr: errkind.Unavailable,
		},
		{name: "order id is required", wantField: "order_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.setup) // no InTx is expected: the caller owns the transaction
			got, err := f.svc.ReleaseFailedInTx(t.Context(), f.tx, tt.orderID)
			if errkindtest.WantSuccess(t, err, tt.wantField, tt.wantErr, "order o-1") {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestExpireReservations(t *testing.T) {
	a1 := domain.Item{ProductID: "a", Quantity: 1}
	expiredOf := func(id string) domain.Reservation {
		return domain.Reservation{OrderID: id, Items: []domain.Item{a1}, Status: domain.StatusReleased, ExpiresAt: earlier, CreatedAt: earlier, UpdatedAt: now}
	}

	t.Run("each expired reservation is released once in its own transaction", func(t *testing.T) {
		f := newFixture(t, nil)
		f.store.EXPECT().ExpiredReservations(gomock.Any(), now, "", 100).Return([]string{"o-1", "o-2", "o-3"}, nil)
		f.store.EXPECT().InTx(gomock.Any(), gomock.Any()).Times(3).
			DoAndReturn(func(ctx context.Context, fn func(context.Context, domain.Tx) error) error { return fn(ctx, f.tx) })
		f.tx.EXPECT().MarkExpired(gomock.Any(), "o-1", now).Return(true, nil)
		f.tx.EXPECT().GetReservation(gomock.Any(), "o-1").Return(expiredOf("o-1"), nil)
		f.tx.EXPECT().PutStock(gomock.Any(), "a", int64(1), now).Return(true, nil)
		// Another sweeper, a commit or a release got to o-2 first.
		f.tx.EXPECT().MarkExpired(gomock.Any(), "o-2", now).Return(false, nil)
		// o-3's product left the catalog: it fails alone and is retried next time.
		f.tx.EXPECT().MarkExpired(gomock.Any(), "o-3", now).Return(true, nil)
		f.tx.EXPECT().GetReservation(gomock.Any(), "o-3").Return(expiredOf("o-3"), nil)
		f.tx.EXPECT().PutStock(gomock.Any(), "a", int64(1), now).Return(false, nil)

		n, err := f.svc.ExpireReservations(t.Context())
		assert.Equal(t, 1, n)
		assert.ErrorIs(t, err, domain.ErrNotFound)
		assert.ErrorContains(t, err, "1 of them failed")
		assert.ErrorContains(t, err, "order o-3")
	})
	t.Run("a full batch is followed by the next one", func(t *testing.T) {
		f := newFixture(t, nil)
		ids := productIDs(100)
		gomock.InOrder(
			f.store.EXPECT().ExpiredReservations(gomock.Any(), now, "", 100).Return(ids, nil),
			f.store.EXPECT().ExpiredReservations(gomock.Any(), now, "p-099", 100).Return([]string{"p-100"}, nil),
		)
		f.store.EXPECT().InTx(gomock.Any(), gomock.Any()).Times(101).
			DoAndReturn(func(ctx context.Context, fn func(context.Context, domain.Tx) error) error { return fn(ctx, f.tx) })
		f.tx.EXPECT().MarkExpired(gomock.Any(), gomock.Any(), now).Times(101).Return(true, nil)
		f.tx.EXPECT().GetReservation(gomock.Any(), gomock.Any()).Times(101).Return(domain.Reservation{Items: []domain.Item{a1}}, nil)
		f.tx.EXPECT().PutStock(gomock.Any(), "a", int64(1), now).Times(101).Return(true, nil)

		n, err := f.svc.ExpireReservations(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 101, n)
	})
	t.Run("nothing expired", func(t *testing.T) {
		f := newFixture(t, nil)
		f.store.EXPECT().ExpiredReservations(gomock.Any(), now, "", 100).Return(nil, nil)
		n, err := f.svc.ExpireReservations(t.Context())
		require.NoError(t, err)
		assert.Zero(t, n)
	})
	t.Run("a failure to list is returned", func(t *testing.T) {
		f := newFixture(t, nil)
		f.store.EXPECT().ExpiredReservations(gomock.Any(), now, "", 100).Return(nil, errStore)
		_, err := f.svc.ExpireReservations(t.Context())
		assert.ErrorIs(t, err, errkind.Unavailable)
	})
	t.Run("a cancelled sweep stops between reservations", func(t *testing.T) {
		f := newFixture(t, nil)
		ctx, cancel := context.WithCancel(t.Context())
		f.store.EXPECT().ExpiredReservations(gomock.Any(), now, "", 100).Return([]string{"o-1", "o-2"}, nil)
		f.store.EXPECT().InTx(gomock.Any(), gomock.Any()).
			DoAndReturn(func(ctx context.Context, fn func(context.Context, domain.Tx) error) error { return fn(ctx, f.tx) })
		f.tx.EXPECT().MarkExpired(gomock.Any(), "o-1", now).DoAndReturn(func(context.Context, string, time.Time) (bool, error) {
			cancel()
			return false, nil
		})
		_, err := f.svc.ExpireReservations(ctx)
		assert.ErrorIs(t, err, context.Canceled)
	})
}
