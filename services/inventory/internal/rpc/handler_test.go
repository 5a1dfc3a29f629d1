package rpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/google/go-cmp/cmp"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/rpc"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

var updated = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// newHandler is the handler over the real domain and a fresh SQLite store
// holding two products.
func newHandler(t *testing.T) *rpc.Handler {
	t.Helper()
	h, _ := newHandlerAndDomain(t)
	return h
}

// newHandlerAndDomain is newHandler and the domain service it calls.
func newHandlerAndDomain(t *testing.T) (*rpc.Handler, *domain.InventoryService) {
	t.Helper()
	db := storetest.Open(t, "sqlite")
	require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
	s := store.New(db)
	_, err := s.AddProducts(t.Context(),
		domain.Product{ID: "mug", Name: "Mug", Description: "Holds coffee.", Price: domain.Money{AmountMinor: 1200, Currency: "USD"}, Stock: 3, UpdatedAt: updated},
		domain.Product{ID: "tea", Name: "Tea", Price: domain.Money{AmountMinor: 450, Currency: "USD"}, Stock: 10, UpdatedAt: updated},
	)
	require.NoError(t, err)
	svc := domain.NewInventoryService(s)
	return rpc.NewHandler(svc), svc
}

// assertCode checks err is a gRPC status with code, and returns it.
func assertCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	require.True(t, ok, "want a gRPC status, got %v", err)
	assert.Equal(t, code, st.Code(), st.Message())
	return st
}

func assertProto(t *testing.T, want, got any) {
	t.Helper()
	assert.Empty(t, cmp.Diff(want, got, protocmp.Transform()))
}

func TestGetProduct(t *testing.T) {
	h := newHandler(t)
	got, err := h.GetProduct(t.Context(), &inventoryv1.GetProductRequest{Id: "mug"})
	require.NoError(t, err)
	assertProto(t, &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{
		Id: "mug", Name: "Mug", Description: "Holds coffee.",
		Price: &moneyv1.Money{Currency: "USD", AmountMinor: 1200}, Stock: 3, UpdatedAt: timestamppb.New(updated),
	}}, got)

	_, err = h.GetProduct(t.Context(), &inventoryv1.GetProductRequest{Id: "nope"})
	assertCode(t, err, codes.NotFound)
}

func TestListProducts(t *testing.T) {
	h := newHandler(t)
	first, err := h.ListProducts(t.Context(), &inventoryv1.ListProductsRequest{PageSize: 1})
	require.NoError(t, err)
	require.Len(t, first.GetProducts(), 1)
	assert.Equal(t, "mug", first.GetProducts()[0].GetId())
	require.NotEmpty(t, first.GetNextPageToken())

	second, err := h.ListProducts(t.Context(), &inventoryv1.ListProductsRequest{PageSize: 1, PageToken: first.GetNextPageToken()})
	require.NoError(t, err)
	require.Len(t, second.GetProducts(), 1)
	assert.Equal(t, "tea", second.GetProducts()[0].GetId())
	assert.Empty(t, second.GetNextPageToken())

	_, err = h.ListProducts(t.Context(), &inventoryv1.ListProductsRequest{PageToken: "%%%"})
	st := assertCode(t, err, codes.InvalidArgument)
	var violations []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				violations = append(violations, v.GetField())
			}
		}
	}
	assert.Equal(t, []string{"page_token"}, violations)
}

func TestReserveAndRelease(t *testing.T) {
	h := newHandler(t)
	ctx := t.Context()
	items := []*inventoryv1.ReservationItem{{ProductId: "tea", Quantity: 2}, {ProductId: "mug", Quantity: 1}}

	got, err := h.Reserve(ctx, &inventoryv1.ReserveRequest{OrderId: "o-1", Items: items})
	require.NoError(t, err)
	r := got.GetReservation()
	assert.Equal(t, "o-1", r.GetOrderId())
	assert.Equal(t, inventoryv1.ReservationStatus_RESERVATION_STATUS_RESERVED, r.GetStatus())
	assertProto(t, []*inventoryv1.ReservationItem{{ProductId: "mug", Quantity: 1}, {ProductId: "tea", Quantity: 2}}, r.GetItems())
	assert.NotZero(t, r.GetCreatedAt().AsTime())
	assertProto(t, []*inventoryv1.ReservedPrice{
		{ProductId: "mug", Name: "Mug", UnitPrice: &moneyv1.Money{Currency: "USD", AmountMinor: 1200}},
		{ProductId: "tea", Name: "Tea", UnitPrice: &moneyv1.Money{Currency: "USD", AmountMinor: 450}},
	}, got.GetPrices()) // the prices the stock was taken at, in product id order

	_, err = h.Reserve(ctx, &inventoryv1.ReserveRequest{OrderId: "o-2", Items: []*inventoryv1.ReservationItem{{ProductId: "mug", Quantity: 3}}})
	st := assertCode(t, err, codes.FailedPrecondition)
	assert.Contains(t, st.Message(), `insufficient stock for product "mug": requested 3, available 2`)

	_, err = h.Reserve(ctx, &inventoryv1.ReserveRequest{OrderId: "o-3", Items: []*inventoryv1.ReservationItem{{ProductId: "nope", Quantity: 1}}})
	assertCode(t, err, codes.NotFound)

	released, err := h.Release(ctx, &inventoryv1.ReleaseRequest{OrderId: "o-1"})
	require.NoError(t, err)
	assert.Equal(t, inventoryv1.ReservationStatus_RESERVATION_STATUS_RELEASED, released.GetReservation().GetStatus())
	mug, err := h.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "mug"})
	require.NoError(t, err)
	assert.Equal(t, int64(3), mug.GetProduct().GetStock())

	_, err = h.Reserve(ctx, &inventoryv1.ReserveRequest{OrderId: "o-1", Items: items})
	assertCode(t, err, codes.FailedPrecondition)
}

// Every status of a reservation's life reaches the client, COMMITTED (set
// by the order's OrderPlaced, not by an RPC) included.
func TestReservationStatuses(t *testing.T) {
	h, svc := newHandlerAndDomain(t)
	ctx := t.Context()
	req := &inventoryv1.ReserveRequest{OrderId: "o-1", Items: []*inventoryv1.ReservationItem{{ProductId: "tea", Quantity: 1}}}
	status := func() inventoryv1.ReservationStatus {
		t.Helper()
		got, err := h.Reserve(ctx, req)
		require.NoError(t, err)
		return got.GetReservation().GetStatus()
	}

	assert.Equal(t, inventoryv1.ReservationStatus_RESERVATION_STATUS_RESERVED, status())
	_, err := svc.Commit(ctx, "o-1")
	require.NoError(t, err)
	assert.Equal(t, inventoryv1.ReservationStatus_RESERVATION_STATUS_COMMITTED, status(), "a repeated Reserve returns the committed reservation")
	released, err := h.Release(ctx, &inventoryv1.ReleaseRequest{OrderId: "o-1"})
	require.NoError(t, err)
	assert.Equal(t, inventoryv1.ReservationStatus_RESERVATION_STATUS_RELEASED, released.GetReservation().GetStatus())
}

func TestAdjustStock(t *testing.T) {
	as := func(role auth.Role) context.Context {
		return auth.WithClaims(t.Context(), auth.Claims{Subject: "someone", Role: role})
	}
	tests := []struct {
		name      string
		ctx       context.Context
		delta     int64
		wantCode  codes.Code
		wantStock int64
	}{
		{name: "admin adds", ctx: as(auth.RoleAdmin), delta: 5, wantStock: 8},
		{name: "admin cannot go below zero", ctx: as(auth.RoleAdmin), delta: -4, wantCode: codes.FailedPrecondition},
		{name: "a service may not adjust", ctx: as(auth.RoleService), delta: 1, wantCode: codes.PermissionDenied},
		{name: "a customer may not adjust", ctx: as(auth.RoleCustomer), delta: 1, wantCode: codes.PermissionDenied},
		{name: "an anonymous caller may not adjust", ctx: t.Context(), delta: 1, wantCode: codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t)
			got, err := h.AdjustStock(tt.ctx, &inventoryv1.AdjustStockRequest{ProductId: "mug", Delta: tt.delta, Reason: "test"})
			if tt.wantCode != codes.OK {
				assertCode(t, err, tt.wantCode)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantStock, got.GetProduct().GetStock())
		})
	}
}

func TestPolicy(t *testing.T) {
	p := rpc.Policy()
	tests := []struct {
		method string
		want   auth.Rule
	}{
		{inventoryv1.InventoryService_ListProducts_FullMethodName, auth.Public},
		{inventoryv1.InventoryService_GetProduct_FullMethodName, auth.Public},
		{inventoryv1.InventoryService_Reserve_FullMethodName, auth.Internal.For("order")},
		{inventoryv1.InventoryService_Release_FullMethodName, auth.Internal.For("order")},
		{inventoryv1.InventoryService_AdjustStock_FullMethodName, auth.Admin},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			assert.Equal(t, tt.want, p.Rule(tt.method))
		})
	}
	assert.Len(t, p, len(inventoryv1.InventoryService_ServiceDesc.Methods), "every method has a rule")
}
