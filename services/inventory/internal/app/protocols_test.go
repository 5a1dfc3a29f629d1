package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server/protocoltest"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

// The scenario's products: it browses one and moves the stock of another, so
// the browsed product reads the same on every protocol.
const (
	browsedID  = "kenya-nyeri-250g"
	reservedID = "chemex-6-cup"
)

// TestProtocolsAgree runs one scenario over gRPC, REST and gRPC-Web against
// one service and asserts that each step answers as expected and that the
// three protocols answer every step alike.
func TestProtocolsAgree(t *testing.T) {
	s := start(t)
	protocols := protocoltest.Protocols

	transcripts := make(map[protocoltest.Protocol]map[string]answer, len(protocols))
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			transcripts[p] = runScenario(t, caller{protocol: p, s: s})
		})
	}
	t.Run("every protocol answers alike", func(t *testing.T) {
		want := transcripts[protocols[0]]
		require.NotEmpty(t, want)
		for _, p := range protocols[1:] {
			assert.Equal(t, want, transcripts[p], "%s answered differently from %s", p, protocols[0])
		}
	})
}

// answer is one step's outcome reduced to what every protocol must report
// alike. Order ids differ by protocol and stock moves as the scenario runs
// on each, so neither is kept: steps check the order id themselves and
// record the reserved product's stock as a change.
type answer struct {
	Code   codes.Code
	Fields []string // the fields a google.rpc.BadRequest names, in order

	IDs       []string // the products a listing returned, in order
	MorePages bool

	Product     productView
	Stock       int64 // the returned product's stock, for a product the scenario does not move
	Reservation reservationView
	StockChange int64 // the reserved product's stock since the protocol's scenario began
}

type productView struct {
	ID, Name, Currency string
	AmountMinor        int64
}

type reservationView struct {
	Status inventoryv1.ReservationStatus
	Items  []string // "product×quantity"
}

func productOf(p *inventoryv1.Product) productView {
	return productView{ID: p.GetId(), Name: p.GetName(), Currency: p.GetPrice().GetCurrency(), AmountMinor: p.GetPrice().GetAmountMinor()}
}

func reservationOf(r *inventoryv1.Reservation) reservationView {
	v := reservationView{Status: r.GetStatus()}
	for _, it := range r.GetItems() {
		v.Items = append(v.Items, fmt.Sprintf("%s×%d", it.GetProductId(), it.GetQuantity()))
	}
	return v
}

// runScenario runs every step over c, one subtest each, and returns what
// each step answered by step name.
func runScenario(t *testing.T, c caller) map[string]answer {
	catalog := store.Catalog()
	catalogIDs := make([]string, len(catalog))
	for i, p := range catalog {
		catalogIDs[i] = p.ID
	}
	slices.Sort(catalogIDs) // the listing's order
	i := slices.IndexFunc(catalog, func(p domain.Product) bool { return p.ID == browsedID })
	require.GreaterOrEqual(t, i, 0, "the catalog sells %s", browsedID)
	browsed := catalog[i]
	require.Greater(t, len(catalogIDs), 5, "the catalog has more than one page of five")

	service, admin, customer := c.s.token(t, auth.RoleService), c.s.token(t, auth.RoleAdmin), c.s.token(t, auth.RoleCustomer)
	orderID := "order-" + string(c.protocol)
	twoUnits := []*inventoryv1.ReservationItem{{ProductId: reservedID, Quantity: 2}}
	reserveTwo := &inventoryv1.ReserveRequest{OrderId: orderID, Items: twoUnits}

	baseline, f := c.getProduct(t, &inventoryv1.GetProductRequest{Id: reservedID})
	require.Equal(t, codes.OK, f.Code, "read the reserved product's stock")
	// stockChange reads the reserved product over c and says how far its
	// stock moved since the scenario began.
	stockChange := func(t *testing.T) int64 {
		t.Helper()
		resp, f := c.getProduct(t, &inventoryv1.GetProductRequest{Id: reservedID})
		require.Equal(t, codes.OK, f.Code, "read the reserved product's stock")
		return resp.GetProduct().GetStock() - baseline.GetProduct().GetStock()
	}

	got := make(map[string]answer)
	step := func(name string, want answer, call func(t *testing.T) answer) {
		t.Run(name, func(t *testing.T) {
			a := call(t)
			got[name] = a
			assert.Equal(t, want, a)
		})
	}

	step("list a page of five", answer{IDs: catalogIDs[:5], MorePages: true}, func(t *testing.T) answer {
		resp, f := c.listProducts(t, &inventoryv1.ListProductsRequest{PageSize: 5})
		return answer{Code: f.Code, Fields: f.Fields, IDs: productIDs(resp), MorePages: resp.GetNextPageToken() != ""}
	})
	step("follow the page tokens through the catalog", answer{IDs: catalogIDs}, func(t *testing.T) answer {
		var ids []string
		req := &inventoryv1.ListProductsRequest{PageSize: 5}
		for range len(catalogIDs) {
			resp, f := c.listProducts(t, req)
			require.Equal(t, codes.OK, f.Code, "page after %q", req.GetPageToken())
			for _, id := range productIDs(resp) {
				assert.NotContains(t, ids, id, "listed twice")
				ids = append(ids, id)
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				return answer{IDs: ids}
			}
		}
		t.Fatalf("no last page after %d pages", len(catalogIDs))
		return answer{}
	})
	step("list with page_size above 100", answer{Code: codes.InvalidArgument, Fields: []string{"page_size"}}, func(t *testing.T) answer {
		resp, f := c.listProducts(t, &inventoryv1.ListProductsRequest{PageSize: 101})
		return answer{Code: f.Code, Fields: f.Fields, IDs: productIDs(resp)}
	})
	step("list with a garbage page token", answer{Code: codes.InvalidArgument, Fields: []string{"page_token"}}, func(t *testing.T) answer {
		resp, f := c.listProducts(t, &inventoryv1.ListProductsRequest{PageToken: "not a token!"})
		return answer{Code: f.Code, Fields: f.Fields, IDs: productIDs(resp)}
	})

	wantBrowsed := productView{ID: browsed.ID, Name: browsed.Name, Currency: browsed.Price.Currency, AmountMinor: browsed.Price.AmountMinor}
	step("get a seeded product", answer{Product: wantBrowsed, Stock: browsed.Stock}, func(t *testing.T) answer {
		resp, f := c.getProduct(t, &inventoryv1.GetProductRequest{Id: browsedID})
		return answer{Code: f.Code, Fields: f.Fields, Product: productOf(resp.GetProduct()), Stock: resp.GetProduct().GetStock()}
	})
	step("get an unknown product", answer{Code: codes.NotFound}, func(t *testing.T) answer {
		resp, f := c.getProduct(t, &inventoryv1.GetProductRequest{Id: "no-such-product"})
		return answer{Code: f.Code, Fields: f.Fields, Product: productOf(resp.GetProduct())}
	})

	// reserve calls Reserve as token and records the reserved product's
	// stock afterwards; a reservation it returns must be for req's order.
	reserve := func(t *testing.T, token string, req *inventoryv1.ReserveRequest) (*inventoryv1.Reservation, answer) {
		t.Helper()
		resp, f := c.reserve(t, token, req)
		if r := resp.GetReservation(); r != nil {
			assert.Equal(t, req.GetOrderId(), r.GetOrderId())
		}
		return resp.GetReservation(), answer{Code: f.Code, Fields: f.Fields, Reservation: reservationOf(resp.GetReservation()), StockChange: stockChange(t)}
	}
	reserved := answer{Reservation: reservationView{Status: inventoryv1.ReservationStatus_RESERVATION_STATUS_RESERVED, Items: []string{reservedID + "×2"}}, StockChange: -2}
	var first *inventoryv1.Reservation
	step("reserve two units", reserved, func(t *testing.T) answer {
		r, a := reserve(t, service, reserveTwo)
		first = r
		return a
	})
	step("reserve the same again", reserved, func(t *testing.T) answer {
		r, a := reserve(t, service, reserveTwo)
		assert.Empty(t, cmp.Diff(first, r, protocmp.Transform()), "the same reservation, timestamps included")
		return a
	})
	step("reserve other items under the same order", answer{Code: codes.FailedPrecondition, StockChange: -2}, func(t *testing.T) answer {
		_, a := reserve(t, service, &inventoryv1.ReserveRequest{OrderId: orderID, Items: []*inventoryv1.ReservationItem{{ProductId: reservedID, Quantity: 3}}})
		return a
	})
	step("reserve zero units", answer{Code: codes.InvalidArgument, Fields: []string{"items[0].quantity"}, StockChange: -2}, func(t *testing.T) answer {
		_, a := reserve(t, service, &inventoryv1.ReserveRequest{OrderId: orderID + "-zero", Items: []*inventoryv1.ReservationItem{{ProductId: reservedID}}})
		return a
	})
	step("reserve without a token", answer{Code: codes.Unauthenticated, StockChange: -2}, func(t *testing.T) answer {
		_, a := reserve(t, "", &inventoryv1.ReserveRequest{OrderId: orderID + "-anonymous", Items: twoUnits})
		return a
	})
	step("reserve as a customer", answer{Code: codes.PermissionDenied, StockChange: -2}, func(t *testing.T) answer {
		_, a := reserve(t, customer, &inventoryv1.ReserveRequest{OrderId: orderID + "-customer", Items: twoUnits})
		return a
	})

	released := answer{Reservation: reservationView{Status: inventoryv1.ReservationStatus_RESERVATION_STATUS_RELEASED, Items: []string{reservedID + "×2"}}}
	release := func(t *testing.T) answer {
		t.Helper()
		resp, f := c.release(t, service, &inventoryv1.ReleaseRequest{OrderId: orderID})
		if r := resp.GetReservation(); r != nil {
			assert.Equal(t, orderID, r.GetOrderId())
		}
		return answer{Code: f.Code, Fields: f.Fields, Reservation: reservationOf(resp.GetReservation()), StockChange: stockChange(t)}
	}
	step("release", released, release)
	step("release again", released, release)

	adjust := func(t *testing.T, token string) answer {
		t.Helper()
		resp, f := c.adjustStock(t, token, &inventoryv1.AdjustStockRequest{ProductId: reservedID, Delta: 5, Reason: "restock"})
		a := answer{Code: f.Code, Fields: f.Fields, Product: productOf(resp.GetProduct()), StockChange: stockChange(t)}
		if p := resp.GetProduct(); p != nil {
			assert.Equal(t, baseline.GetProduct().GetStock()+a.StockChange, p.GetStock(), "the answer carries the new stock")
		}
		return a
	}
	step("adjust stock as an admin", answer{Product: productOf(baseline.GetProduct()), StockChange: 5}, func(t *testing.T) answer {
		return adjust(t, admin)
	})
	step("adjust stock as a customer", answer{Code: codes.PermissionDenied, StockChange: 5}, func(t *testing.T) answer {
		return adjust(t, customer)
	})
	return got
}

func productIDs(resp *inventoryv1.ListProductsResponse) []string {
	var ids []string
	for _, p := range resp.GetProducts() {
		ids = append(ids, p.GetId())
	}
	return ids
}

// caller calls the inventory service over one protocol. Its methods return
// the response (nil on failure) and how the call ended; anything but a
// well-formed answer, such as a broken connection, fails the test.
type caller struct {
	protocol protocoltest.Protocol
	s        *service
}

func (c caller) client() protocoltest.Client {
	return protocoltest.Client{Protocol: c.protocol, Conn: c.s.conn, HTTPAddr: c.s.HTTPAddr}
}

func (c caller) listProducts(t *testing.T, req *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, protocoltest.Failure) {
	t.Helper()
	q := protocoltest.PageQuery(req)
	r := protocoltest.Route{Procedure: inventoryv1.InventoryService_ListProducts_FullMethodName, Verb: http.MethodGet, Path: "/v1/products?" + q.Encode()}
	return protocoltest.Invoke[inventoryv1.ListProductsResponse](t, c.client(), r, "", req)
}

func (c caller) getProduct(t *testing.T, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: inventoryv1.InventoryService_GetProduct_FullMethodName, Verb: http.MethodGet, Path: "/v1/products/" + url.PathEscape(req.GetId())}
	return protocoltest.Invoke[inventoryv1.GetProductResponse](t, c.client(), r, "", req)
}

func (c caller) reserve(t *testing.T, token string, req *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: inventoryv1.InventoryService_Reserve_FullMethodName, Verb: http.MethodPost, Path: "/v1/reservations"}
	return protocoltest.Invoke[inventoryv1.ReserveResponse](t, c.client(), r, token, req)
}

func (c caller) release(t *testing.T, token string, req *inventoryv1.ReleaseRequest) (*inventoryv1.ReleaseResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: inventoryv1.InventoryService_Release_FullMethodName, Verb: http.MethodPost, Path: "/v1/reservations/" + url.PathEscape(req.GetOrderId()) + ":release"}
	return protocoltest.Invoke[inventoryv1.ReleaseResponse](t, c.client(), r, token, req)
}

func (c caller) adjustStock(t *testing.T, token string, req *inventoryv1.AdjustStockRequest) (*inventoryv1.AdjustStockResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: inventoryv1.InventoryService_AdjustStock_FullMethodName, Verb: http.MethodPost, Path: "/v1/products/" + url.PathEscape(req.GetProductId()) + ":adjustStock"}
	return protocoltest.Invoke[inventoryv1.AdjustStockResponse](t, c.client(), r, token, req)
}
