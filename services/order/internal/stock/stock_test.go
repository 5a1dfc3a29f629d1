package stock_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/stock"
)

// inventory is a gRPC inventory that answers from a fixed catalog and
// fails every call with err when set. It records the requests it gets.
type inventory struct {
	inventoryv1.UnimplementedInventoryServiceServer
	products map[string]*inventoryv1.Product
	err      error

	mu       sync.Mutex
	reserves []*inventoryv1.ReserveRequest
	releases []string
}

func (f *inventory) GetProduct(_ context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	p, ok := f.products[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "product %q not found", req.GetId())
	}
	return &inventoryv1.GetProductResponse{Product: p}, nil
}

func (f *inventory) Reserve(_ context.Context, req *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
	f.mu.Lock()
	f.reserves = append(f.reserves, req)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	resp := &inventoryv1.ReserveResponse{}
	for _, it := range req.GetItems() {
		if p, ok := f.products[it.GetProductId()]; ok {
			resp.Prices = append(resp.Prices, &inventoryv1.ReservedPrice{ProductId: p.GetId(), Name: p.GetName(), UnitPrice: p.GetPrice()})
		}
	}
	return resp, nil
}

func (f *inventory) Release(_ context.Context, req *inventoryv1.ReleaseRequest) (*inventoryv1.ReleaseResponse, error) {
	f.mu.Lock()
	f.releases = append(f.releases, req.GetOrderId())
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return &inventoryv1.ReleaseResponse{}, nil
}

// serve runs f on an in-memory gRPC server and returns a Reserver over it.
func serve(t *testing.T, f *inventory) *stock.Reserver {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	inventoryv1.RegisterInventoryServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///inventory",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return stock.New(inventoryv1.NewInventoryServiceClient(conn))
}

func product(id, name, currency string, minor int64) *inventoryv1.Product {
	return &inventoryv1.Product{Id: id, Name: name, Price: &moneyv1.Money{Currency: currency, AmountMinor: minor}, Stock: 10}
}

func TestPrices(t *testing.T) {
	f := &inventory{products: map[string]*inventoryv1.Product{
		"beans":   product("beans", "Kenya Nyeri 250 g", "USD", 1450),
		"filters": product("filters", "Paper filters", "USD", 699),
	}}
	r := serve(t, f)
	got, err := r.Prices(t.Context(), []string{"beans", "unicorn", "filters"})
	require.NoError(t, err)
	assert.Equal(t, map[string]domain.Price{
		"beans":   {Name: "Kenya Nyeri 250 g", Unit: domain.Money{AmountMinor: 1450, Currency: "USD"}},
		"filters": {Name: "Paper filters", Unit: domain.Money{AmountMinor: 699, Currency: "USD"}},
	}, got, "an unknown product is left out, not an error")
}

func TestReserveAndRelease(t *testing.T) {
	f := &inventory{products: map[string]*inventoryv1.Product{
		"beans":   product("beans", "Kenya Nyeri 250 g", "USD", 1450),
		"filters": product("filters", "Paper filters", "USD", 699),
	}}
	r := serve(t, f)
	items := []domain.Item{{ProductID: "beans", Quantity: 3}, {ProductID: "filters", Quantity: 1}}
	prices, err := r.Reserve(t.Context(), "order-1", items)
	require.NoError(t, err)
	assert.Equal(t, map[string]domain.Price{
		"beans":   {Name: "Kenya Nyeri 250 g", Unit: domain.Money{AmountMinor: 1450, Currency: "USD"}},
		"filters": {Name: "Paper filters", Unit: domain.Money{AmountMinor: 699, Currency: "USD"}},
	}, prices, "the prices the reservation answered")
	require.NoError(t, r.Release(t.Context(), "order-1"))

	require.Len(t, f.reserves, 1)
	assert.Equal(t, "order-1", f.reserves[0].GetOrderId())
	var got []string
	for _, it := range f.reserves[0].GetItems() {
		got = append(got, fmt.Sprintf("%s×%d", it.GetProductId(), it.GetQuantity()))
	}
	assert.Equal(t, []string{"beans×3", "filters×1"}, got)
	assert.Equal(t, []string{"order-1"}, f.releases)
}

// Inventory's answers keep their meaning as domain kinds, and none leaks
// through as the order service's own gRPC status.
func TestInventoryErrorsBecomeKinds(t *testing.T) {
	tests := []struct {
		code     codes.Code
		wantKind error // nil: an error of no kind, Internal at the edge
		wantCode codes.Code
	}{
		{codes.NotFound, errkind.NotFound, codes.NotFound},
		{codes.FailedPrecondition, errkind.FailedPrecondition, codes.FailedPrecondition},
		{codes.InvalidArgument, errkind.Invalid, codes.InvalidArgument},
		{codes.Unavailable, errkind.Unavailable, codes.Unavailable},
		{codes.DeadlineExceeded, errkind.Unavailable, codes.Unavailable},
		{codes.ResourceExhausted, errkind.ResourceExhausted, codes.ResourceExhausted},
		{codes.Aborted, errkind.Conflict, codes.Aborted},
		{codes.Unauthenticated, nil, codes.Internal},
		{codes.PermissionDenied, nil, codes.Internal},
		{codes.Internal, nil, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			f := &inventory{err: status.Error(tt.code, "inventory says no")}
			r := serve(t, f)
			calls := map[string]error{
				"prices": func() error { _, err := r.Prices(t.Context(), []string{"beans"}); return err }(),
				"reserve": func() error {
					_, err := r.Reserve(t.Context(), "order-1", []domain.Item{{ProductID: "beans", Quantity: 1}})
					return err
				}(),
				"release": r.Release(t.Context(), "order-1"),
			}
			for name, err := range calls {
				if tt.code == codes.NotFound && name == "prices" {
					assert.NoError(t, err, "an unknown product is no error for prices")
					continue
				}
				require.Error(t, err, name)
				assert.ErrorContains(t, err, "inventory says no", name)
				if tt.wantKind != nil {
					assert.ErrorIs(t, err, tt.wantKind, name)
				}
				assert.Equal(t, tt.wantCode, status.Code(server.Status(err)), name)
			}
		})
	}
}

func TestCancelledCall(t *testing.T) {
	r := serve(t, &inventory{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := r.Release(ctx, "order-1")
	assert.ErrorIs(t, err, context.Canceled)
}
