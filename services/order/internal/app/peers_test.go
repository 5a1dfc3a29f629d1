package app_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/platform/auth"
)

// The order service's peers in these tests are small, honest stand-ins
// served over real gRPC: the real inventory, payment and user services live
// in other modules, whose internal packages cannot be imported here.

// serviceAccountPassword is the password of the order service's account.
const serviceAccountPassword = "order-test-password"

// product is one catalog entry of the fake inventory.
type product struct {
	name     string
	currency string
	price    int64
	stock    int64
}

// fakeInventory is inventoryv1.InventoryService over an in-memory catalog,
// with the real one's reservation rules: all or nothing, idempotent by order
// id, other items under a reserved order id refused, and a release of an
// order never reserved leaving a tombstone that refuses a later reserve.
type fakeInventory struct {
	inventoryv1.UnimplementedInventoryServiceServer

	mu           sync.Mutex
	products     map[string]*product
	reservations map[string]*reservation // by order id
	holds        int                     // reserves that took stock
	returns      int                     // releases that gave stock back
	onBehalfOf   []string                // the end user each Reserve named
	onRelease    func(orderID string)    // when set, called with each Release (see observeReleases)
}

type reservation struct {
	items    map[string]int64
	prices   []*inventoryv1.ReservedPrice // as they were when the stock was taken
	released bool
}

func newFakeInventory() *fakeInventory {
	return &fakeInventory{
		products: map[string]*product{
			"kenya-nyeri-250g": {name: "Kenya Nyeri 250 g", currency: "USD", price: 1450, stock: 100},
			"chemex-6-cup":     {name: "Chemex 6 cup", currency: "USD", price: 4700, stock: 100},
			"paper-filters":    {name: "Paper filters", currency: "USD", price: 699, stock: 100},
			"hand-grinder-eu":  {name: "Hand grinder", currency: "EUR", price: 9900, stock: 5},
		},
		reservations: map[string]*reservation{},
	}
}

func (f *fakeInventory) productProto(id string, p *product) *inventoryv1.Product {
	return &inventoryv1.Product{
		Id: id, Name: p.name, Stock: p.stock,
		Price: &moneyv1.Money{Currency: p.currency, AmountMinor: p.price},
	}
}

func (f *fakeInventory) GetProduct(_ context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.products[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "product %q not found", req.GetId())
	}
	return &inventoryv1.GetProductResponse{Product: f.productProto(req.GetId(), p)}, nil
}

func (f *fakeInventory) ListProducts(context.Context, *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.products))
	for id := range f.products {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	resp := &inventoryv1.ListProductsResponse{}
	for _, id := range ids {
		resp.Products = append(resp.Products, f.productProto(id, f.products[id]))
	}
	return resp, nil
}

func (f *fakeInventory) Reserve(ctx context.Context, req *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
	want := map[string]int64{}
	for _, it := range req.GetItems() {
		want[it.GetProductId()] += int64(it.GetQuantity())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := auth.FromContext(ctx); ok {
		f.onBehalfOf = append(f.onBehalfOf, c.OnBehalfOf)
	}
	if r, ok := f.reservations[req.GetOrderId()]; ok {
		switch {
		case r.released:
			return nil, status.Errorf(codes.FailedPrecondition, "order %s was already released", req.GetOrderId())
		case !mapsEqual(r.items, want):
			return nil, status.Errorf(codes.FailedPrecondition, "order %s holds other items", req.GetOrderId())
		}
		return &inventoryv1.ReserveResponse{Prices: r.prices}, nil
	}
	for id, q := range want {
		p, ok := f.products[id]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "product %q not found", id)
		}
		if p.stock < q {
			return nil, status.Errorf(codes.FailedPrecondition, "insufficient stock for product %q: requested %d, available %d", id, q, p.stock)
		}
	}
	r := &reservation{items: want}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		p := f.products[id]
		p.stock -= want[id]
		r.prices = append(r.prices, &inventoryv1.ReservedPrice{
			ProductId: id, Name: p.name, UnitPrice: &moneyv1.Money{Currency: p.currency, AmountMinor: p.price},
		})
	}
	f.reservations[req.GetOrderId()] = r
	f.holds++
	return &inventoryv1.ReserveResponse{Prices: r.prices}, nil
}

func (f *fakeInventory) Release(_ context.Context, req *inventoryv1.ReleaseRequest) (*inventoryv1.ReleaseResponse, error) {
	f.mu.Lock()
	observe := f.onRelease
	f.mu.Unlock()
	if observe != nil {
		observe(req.GetOrderId())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reservations[req.GetOrderId()]
	switch {
	case !ok:
		f.reservations[req.GetOrderId()] = &reservation{released: true}
	case !r.released:
		r.released = true
		for id, q := range r.items {
			f.products[id].stock += q
		}
		f.returns++
	}
	return &inventoryv1.ReleaseResponse{}, nil
}

// observeReleases calls observe with the order id of each Release, before
// it takes effect, so a test can check what had happened by then.
func (f *fakeInventory) observeReleases(observe func(orderID string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onRelease = observe
}

// stock is the units of a product on hand.
func (f *fakeInventory) stock(id string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.products[id].stock
}

// counts returns how many reserves took stock and how many releases gave
// it back.
func (f *fakeInventory) counts() (holds, returns int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holds, f.returns
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// fakeUsers is the part of userv1.UserService the order service calls:
// Login, for its service account only, with tokens from the test's signer.
type fakeUsers struct {
	userv1.UnimplementedUserServiceServer
	signer *auth.Signer

	mu     sync.Mutex
	logins int
}

func (u *fakeUsers) Login(_ context.Context, req *userv1.LoginRequest) (*userv1.LoginResponse, error) {
	u.mu.Lock()
	u.logins++
	u.mu.Unlock()
	name, ok := strings.CutSuffix(req.GetEmail(), "@service.slipway.local")
	if !ok || req.GetPassword() != serviceAccountPassword {
		return nil, status.Error(codes.Unauthenticated, "invalid email or password")
	}
	token, expires, err := u.signer.Sign(auth.Claims{Subject: name, Email: req.GetEmail(), Role: auth.RoleService})
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &userv1.LoginResponse{AccessToken: token, TokenType: "Bearer", ExpiresAt: timestamppb.New(expires)}, nil
}

// peerPolicy is the real services' rules for the methods the fakes serve:
// browsing and login are public, holding stock and charging for orders are
// for the order service.
var peerPolicy = auth.Policy{
	paymentv1.PaymentService_AuthorizePayment_FullMethodName: auth.Internal.For("order"),
	paymentv1.PaymentService_CapturePayment_FullMethodName:   auth.Internal.For("order"),
	paymentv1.PaymentService_VoidPayment_FullMethodName:      auth.Internal.For("order"),
	paymentv1.PaymentService_RefundPayment_FullMethodName:    auth.Internal.For("order"),
	inventoryv1.InventoryService_GetProduct_FullMethodName:   auth.Public,
	inventoryv1.InventoryService_ListProducts_FullMethodName: auth.Public,
	inventoryv1.InventoryService_Reserve_FullMethodName:      auth.Internal.For("order"),
	inventoryv1.InventoryService_Release_FullMethodName:      auth.Internal.For("order"),
	userv1.UserService_Login_FullMethodName:                  auth.Public,
}

// servePeers serves inventory, payments and users on one gRPC listener on port 0,
// enforcing peerPolicy with the signer's key, and returns its address.
func servePeers(t *testing.T, signer *auth.Signer, inventory *fakeInventory, payments *fakePayments, users *fakeUsers) string {
	t.Helper()
	authenticate := auth.Authenticate(auth.NewKeyVerifier(signer.PublicKey(), auth.DefaultIssuer), peerPolicy)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}))
	inventoryv1.RegisterInventoryServiceServer(srv, inventory)
	paymentv1.RegisterPaymentServiceServer(srv, payments)
	userv1.RegisterUserServiceServer(srv, users)
	var lc net.ListenConfig
	lis, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() {
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			srv.Stop()
		}
	})
	return lis.Addr().String()
}

// describe is a short form of a fake's state for failure messages.
func (f *fakeInventory) String() string {
	holds, returns := f.counts()
	return fmt.Sprintf("inventory{holds: %d, returns: %d}", holds, returns)
}
