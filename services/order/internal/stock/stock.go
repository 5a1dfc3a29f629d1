// Package stock is the inventory service as the order service uses it: it
// implements domain.StockReserver over the inventory's gRPC API and turns
// the inventory's status codes back into the domain's error kinds.
package stock

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/wire"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
)

// pricesInFlight bounds the concurrent GetProduct calls of one Prices.
const pricesInFlight = 8

// Reserver implements domain.StockReserver over an inventory client.
type Reserver struct {
	inventory inventoryv1.InventoryServiceClient
}

var _ domain.StockReserver = (*Reserver)(nil)

// New returns a Reserver that calls inventory.
func New(inventory inventoryv1.InventoryServiceClient) *Reserver {
	return &Reserver{inventory: inventory}
}

// Prices implements domain.StockReserver with one GetProduct per product,
// a few at a time; a product inventory does not know is left out. Only a
// failed CreateOrder asks it: a placed order's prices come from Reserve.
func (r *Reserver) Prices(ctx context.Context, productIDs []string) (map[string]domain.Price, error) {
	var mu sync.Mutex
	prices := make(map[string]domain.Price, len(productIDs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(pricesInFlight)
	for _, id := range productIDs {
		g.Go(func() error {
			resp, err := r.inventory.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: id})
			if status.Code(err) == codes.NotFound {
				return nil
			}
			if err != nil {
				return kind(fmt.Sprintf("get product %q", id), err)
			}
			p := resp.GetProduct()
			mu.Lock()
			defer mu.Unlock()
			prices[id] = domain.Price{
				Name: p.GetName(),
				Unit: domain.Money{AmountMinor: p.GetPrice().GetAmountMinor(), Currency: p.GetPrice().GetCurrency()},
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return prices, nil
}

// Reserve implements domain.StockReserver: the prices are the response's,
// keyed by product id (none from an inventory older than them).
func (r *Reserver) Reserve(ctx context.Context, orderID string, items []domain.Item) (map[string]domain.Price, error) {
	req := &inventoryv1.ReserveRequest{OrderId: orderID, Items: make([]*inventoryv1.ReservationItem, len(items))}
	for i, it := range items {
		req.Items[i] = &inventoryv1.ReservationItem{ProductId: it.ProductID, Quantity: int32(it.Quantity)}
	}
	resp, err := r.inventory.Reserve(ctx, req)
	if err != nil {
		return nil, kind("reserve", err)
	}
	prices := make(map[string]domain.Price, len(resp.GetPrices()))
	for _, p := range resp.GetPrices() {
		prices[p.GetProductId()] = domain.Price{
			Name: p.GetName(),
			Unit: domain.Money{AmountMinor: p.GetUnitPrice().GetAmountMinor(), Currency: p.GetUnitPrice().GetCurrency()},
		}
	}
	return prices, nil
}

// Release implements domain.StockReserver.
func (r *Reserver) Release(ctx context.Context, orderID string) error {
	if _, err := r.inventory.Release(ctx, &inventoryv1.ReleaseRequest{OrderId: orderID}); err != nil {
		return kind("release", err)
	}
	return nil
}

// codeKinds maps the inventory's answers to the domain's error kinds. A code
// missing here (Internal, Unknown, and Unauthenticated or PermissionDenied,
// which mean the order service's own credentials were refused) is the order
// service's fault as its caller sees it: an error of no kind, so Internal.
var codeKinds = map[codes.Code]error{
	codes.NotFound:           errkind.NotFound,
	codes.FailedPrecondition: errkind.FailedPrecondition,
	codes.InvalidArgument:    errkind.Invalid,
	codes.AlreadyExists:      errkind.AlreadyExists,
	codes.Aborted:            errkind.Conflict,
	codes.ResourceExhausted:  errkind.ResourceExhausted,
	codes.Unavailable:        errkind.Unavailable,
	codes.DeadlineExceeded:   errkind.Unavailable,
}

// kind turns an inventory call's error into a domain error. The gRPC status
// itself is not wrapped: the edge would pass it through to the order
// service's caller as if it were the order service's own answer.
func kind(op string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("inventory %s: %w", op, err) // a context error, kept as is
	}
	if st.Code() == codes.Canceled {
		return fmt.Errorf("inventory %s: %s: %w", op, st.Message(), context.Canceled)
	}
	k, known := codeKinds[st.Code()]
	if !known {
		return fmt.Errorf("inventory %s: %s: %s", op, st.Code(), st.Message())
	}
	return fmt.Errorf("inventory %s: %s: %w", op, st.Message(), k)
}

// ProviderSet provides the Reserver; the app binds it to
// domain.StockReserver.
var ProviderSet = wire.NewSet(New)
