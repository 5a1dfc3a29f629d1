package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"

	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"google.golang.org/grpc/metadata"
)

// productStock is a product and its stock.
type productStock struct {
	ID    string
	Stock int64
}

func totalStock(ps []productStock) int64 {
	var n int64
	for _, p := range ps {
		n += p.Stock
	}
	return n
}

// listStock reads the whole catalog.
func listStock(ctx context.Context, inventory inventoryv1.InventoryServiceClient) ([]productStock, error) {
	var stock []productStock
	token := ""
	for range 1000 { // at most 100,000 products
		resp, err := inventory.ListProducts(ctx, &inventoryv1.ListProductsRequest{PageSize: 100, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list products: %w", CallError(err))
		}
		for _, p := range resp.GetProducts() {
			stock = append(stock, productStock{ID: p.GetId(), Stock: p.GetStock()})
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(stock) == 0 {
		return nil, errors.New("the catalog is empty: nothing to order")
	}
	return stock, nil
}

// StockNeed is the stock each of k products needs so that orders
// orders of one unit, each of a product picked at random, do not run it
// out: the mean plus four standard deviations of a product's share.
func StockNeed(orders, k int) int64 {
	m := float64(orders) / float64(k)
	return int64(math.Ceil(m+4*math.Sqrt(m))) + 1
}

// pickProducts returns the most products that all have the stock for
// their share of orders, largest stock first, and whether any set does.
func pickProducts(stock []productStock, orders int) ([]productStock, bool) {
	sorted := slices.Clone(stock)
	slices.SortFunc(sorted, func(a, b productStock) int {
		return cmp.Or(cmp.Compare(b.Stock, a.Stock), cmp.Compare(a.ID, b.ID))
	})
	for k := len(sorted); k > 0; k-- {
		if sorted[k-1].Stock >= StockNeed(orders, k) {
			return sorted[:k], true
		}
	}
	return nil, false
}

// maxAdjust is the largest delta one AdjustStock call accepts.
const maxAdjust = 100000

// topUp logs in as the admin and raises every product to its share of the
// run's orders.
func (s *OrderScenario) topUp(ctx context.Context, inventory inventoryv1.InventoryServiceClient, stock []productStock) ([]productStock, error) {
	resp, err := s.users.Login(ctx, &userv1.LoginRequest{Email: s.opts.AdminEmail, Password: s.opts.AdminPassword})
	if err != nil {
		return nil, fmt.Errorf("stock is short for %d orders and restocking needs the admin: log in %s: %w"+
			" (set ADMIN_EMAIL and ADMIN_PASSWORD, or pass --restock=false and lower --rate or --duration)",
			s.opts.Orders, s.opts.AdminEmail, CallError(err))
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+resp.GetAccessToken())
	need := StockNeed(s.opts.Orders, len(stock))
	picked := slices.Clone(stock)
	for i, p := range picked {
		for p.Stock < need {
			delta := min(need-p.Stock, maxAdjust)
			r, err := inventory.AdjustStock(ctx, &inventoryv1.AdjustStockRequest{
				ProductId: p.ID, Delta: delta, Reason: "slipway load " + s.runID + ": stock for the run",
			})
			if err != nil {
				return nil, fmt.Errorf("restock %s by %d as %s: %w", p.ID, delta, s.opts.AdminEmail, CallError(err))
			}
			s.restock.Units += delta
			p.Stock = r.GetProduct().GetStock()
		}
		if p.Stock != stock[i].Stock {
			s.restock.Products++
		}
		picked[i] = p
	}
	s.restock.As = s.opts.AdminEmail
	fmt.Fprintf(s.opts.Log, "setup: stock was short for %d orders: added %d units to %d products as %s (AdjustStock)\n",
		s.opts.Orders, s.restock.Units, s.restock.Products, s.opts.AdminEmail)
	return picked, nil
}
