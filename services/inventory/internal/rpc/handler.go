// Package rpc serves slipway.inventory.v1.InventoryService. Its handlers only
// translate: proto in, one domain call, proto out, the error mapped once by
// server.Status. Request shape is checked before them by the platform's
// validation interceptor (protovalidate); the domain checks its own rules.
package rpc

import (
	"context"

	"github.com/google/wire"
	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
)

// ProviderSet provides the Handler.
var ProviderSet = wire.NewSet(NewHandler)

// Policy says who may call each method: anyone may browse the catalog, only
// the order service (and admins) holds and releases stock, for the user who
// orders, and only admins adjust it.
func Policy() auth.Policy {
	return auth.Policy{
		inventoryv1.InventoryService_ListProducts_FullMethodName: auth.Public,
		inventoryv1.InventoryService_GetProduct_FullMethodName:   auth.Public,
		inventoryv1.InventoryService_Reserve_FullMethodName:      auth.Internal.For("order"),
		inventoryv1.InventoryService_Release_FullMethodName:      auth.Internal.For("order"),
		inventoryv1.InventoryService_AdjustStock_FullMethodName:  auth.Admin,
	}
}

// Handler implements inventoryv1.InventoryServiceServer over the domain.
type Handler struct {
	inventoryv1.UnimplementedInventoryServiceServer
	inventory *domain.InventoryService
}

var _ inventoryv1.InventoryServiceServer = (*Handler)(nil)

// NewHandler returns the handler of the inventory service.
func NewHandler(inventory *domain.InventoryService) *Handler {
	return &Handler{inventory: inventory}
}

// ListProducts implements inventoryv1.InventoryServiceServer.
func (h *Handler) ListProducts(ctx context.Context, req *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
	page, err := h.inventory.ListProducts(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, server.Status(err)
	}
	resp := &inventoryv1.ListProductsResponse{
		Products:      make([]*inventoryv1.Product, len(page.Products)),
		NextPageToken: page.NextPageToken,
	}
	for i, p := range page.Products {
		resp.Products[i] = productProto(p)
	}
	return resp, nil
}

// GetProduct implements inventoryv1.InventoryServiceServer.
func (h *Handler) GetProduct(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	p, err := h.inventory.GetProduct(ctx, req.GetId())
	if err != nil {
		return nil, server.Status(err)
	}
	return &inventoryv1.GetProductResponse{Product: productProto(p)}, nil
}

// Reserve implements inventoryv1.InventoryServiceServer.
func (h *Handler) Reserve(ctx context.Context, req *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
	items := make([]domain.Item, len(req.GetItems()))
	for i, it := range req.GetItems() {
		items[i] = domain.Item{ProductID: it.GetProductId(), Quantity: int64(it.GetQuantity())}
	}
	r, err := h.inventory.Reserve(ctx, req.GetOrderId(), items)
	if err != nil {
		return nil, server.Status(err)
	}
	return &inventoryv1.ReserveResponse{Reservation: reservationProto(r), Prices: pricesProto(r.Items)}, nil
}

// Release implements inventoryv1.InventoryServiceServer.
func (h *Handler) Release(ctx context.Context, req *inventoryv1.ReleaseRequest) (*inventoryv1.ReleaseResponse, error) {
	r, err := h.inventory.Release(ctx, req.GetOrderId())
	if err != nil {
		return nil, server.Status(err)
	}
	return &inventoryv1.ReleaseResponse{Reservation: reservationProto(r)}, nil
}

// AdjustStock implements inventoryv1.InventoryServiceServer.
func (h *Handler) AdjustStock(ctx context.Context, req *inventoryv1.AdjustStockRequest) (*inventoryv1.AdjustStockResponse, error) {
	p, err := h.inventory.AdjustStock(ctx, actor(ctx), req.GetProductId(), req.GetDelta(), req.GetReason())
	if err != nil {
		return nil, server.Status(err)
	}
	return &inventoryv1.AdjustStockResponse{Product: productProto(p)}, nil
}

// actor is the caller the auth hook verified; the zero Actor when none.
func actor(ctx context.Context) domain.Actor {
	c, ok := auth.FromContext(ctx)
	if !ok {
		return domain.Actor{}
	}
	return domain.Actor{Subject: c.Subject, Role: string(c.Role)}
}

func productProto(p domain.Product) *inventoryv1.Product {
	return &inventoryv1.Product{
		Id:          p.ID,
		Name:        p.Name,
		Description: p.Description,
		Price:       &moneyv1.Money{Currency: p.Price.Currency, AmountMinor: p.Price.AmountMinor},
		Stock:       p.Stock,
		UpdatedAt:   timestamppb.New(p.UpdatedAt),
	}
}

// pricesProto is the price list of a reservation's lines; a line reserved
// before reservations kept prices has none and is left out.
func pricesProto(items []domain.Item) []*inventoryv1.ReservedPrice {
	prices := make([]*inventoryv1.ReservedPrice, 0, len(items))
	for _, it := range items {
		if it.UnitPrice.Currency == "" {
			continue
		}
		prices = append(prices, &inventoryv1.ReservedPrice{
			ProductId: it.ProductID,
			Name:      it.Name,
			UnitPrice: &moneyv1.Money{Currency: it.UnitPrice.Currency, AmountMinor: it.UnitPrice.AmountMinor},
		})
	}
	return prices
}

var statusProto = map[domain.ReservationStatus]inventoryv1.ReservationStatus{
	domain.StatusReserved:  inventoryv1.ReservationStatus_RESERVATION_STATUS_RESERVED,
	domain.StatusCommitted: inventoryv1.ReservationStatus_RESERVATION_STATUS_COMMITTED,
	domain.StatusReleased:  inventoryv1.ReservationStatus_RESERVATION_STATUS_RELEASED,
}

func reservationProto(r domain.Reservation) *inventoryv1.Reservation {
	items := make([]*inventoryv1.ReservationItem, len(r.Items))
	for i, it := range r.Items {
		items[i] = &inventoryv1.ReservationItem{ProductId: it.ProductID, Quantity: int32(it.Quantity)}
	}
	return &inventoryv1.Reservation{
		OrderId:   r.OrderID,
		Items:     items,
		Status:    statusProto[r.Status],
		CreatedAt: timestamppb.New(r.CreatedAt),
		UpdatedAt: timestamppb.New(r.UpdatedAt),
	}
}
