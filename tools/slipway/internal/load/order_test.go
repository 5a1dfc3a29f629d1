package load

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// fakeShop is the three services the create-order scenario talks to, in
// memory.
type fakeShop struct {
	userv1.UnimplementedUserServiceServer
	inventoryv1.UnimplementedInventoryServiceServer
	orderv1.UnimplementedOrderServiceServer

	mu       sync.Mutex
	accounts map[string]string // email -> password
	tokens   map[string]string // token -> email
	stock    map[string]int64
	adjusted map[string]int64 // by the admin
	keys     map[string]bool
	orders   []*orderv1.CreateOrderRequest
	bad      []string
}

func newFakeShop(stock map[string]int64) *fakeShop {
	return &fakeShop{
		accounts: map[string]string{workspace.DevAdminEmail: workspace.DevAdminPassword}, tokens: map[string]string{},
		stock: stock, adjusted: map[string]int64{}, keys: map[string]bool{},
	}
}

func (f *fakeShop) Register(_ context.Context, req *userv1.RegisterRequest) (*userv1.RegisterResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.accounts[req.GetEmail()]; ok {
		return nil, status.Error(codes.AlreadyExists, "taken")
	}
	f.accounts[req.GetEmail()] = req.GetPassword()
	return &userv1.RegisterResponse{User: &userv1.User{Email: req.GetEmail()}}, nil
}

func (f *fakeShop) Login(_ context.Context, req *userv1.LoginRequest) (*userv1.LoginResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pw, ok := f.accounts[req.GetEmail()]; !ok || pw != req.GetPassword() {
		return nil, status.Error(codes.Unauthenticated, "wrong email or password")
	}
	token := fmt.Sprintf("token-%d", len(f.tokens))
	f.tokens[token] = req.GetEmail()
	return &userv1.LoginResponse{AccessToken: token}, nil
}

// bearer is the token a gRPC call carries.
func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if auth := md.Get("authorization"); len(auth) == 1 {
		return strings.TrimPrefix(auth[0], "Bearer ")
	}
	return ""
}

func (f *fakeShop) ListProducts(_ context.Context, req *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// One product a page, to walk the pages.
	ids := slices.Sorted(maps.Keys(f.stock))
	i := 0
	if req.GetPageToken() != "" {
		_, _ = fmt.Sscan(req.GetPageToken(), &i)
	}
	resp := &inventoryv1.ListProductsResponse{Products: []*inventoryv1.Product{{Id: ids[i], Stock: f.stock[ids[i]]}}}
	if i+1 < len(ids) {
		resp.NextPageToken = fmt.Sprint(i + 1)
	}
	return resp, nil
}

func (f *fakeShop) AdjustStock(ctx context.Context, req *inventoryv1.AdjustStockRequest) (*inventoryv1.AdjustStockResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens[bearer(ctx)] != workspace.DevAdminEmail {
		return nil, status.Error(codes.PermissionDenied, "admins only")
	}
	f.stock[req.GetProductId()] += req.GetDelta()
	f.adjusted[req.GetProductId()] += req.GetDelta()
	return &inventoryv1.AdjustStockResponse{Product: &inventoryv1.Product{Id: req.GetProductId(), Stock: f.stock[req.GetProductId()]}}, nil
}

func (f *fakeShop) placeOrder(token string, req *orderv1.CreateOrderRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	user := f.tokens[token]
	switch {
	case user == "" || user == workspace.DevAdminEmail:
		f.bad = append(f.bad, "order without a customer token")
	case f.keys[req.GetIdempotencyKey()]:
		f.bad = append(f.bad, "idempotency key reused: "+req.GetIdempotencyKey())
	case len(req.GetItems()) != 1 || req.GetItems()[0].GetQuantity() != 1:
		f.bad = append(f.bad, "not one unit of one product")
	}
	f.keys[req.GetIdempotencyKey()] = true
	f.orders = append(f.orders, req)
	p := req.GetItems()[0].GetProductId()
	if f.stock[p] < 1 {
		return status.Error(codes.FailedPrecondition, "insufficient stock for "+p)
	}
	f.stock[p]--
	return nil
}

func (f *fakeShop) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, error) {
	if err := f.placeOrder(bearer(ctx), req); err != nil {
		return nil, err
	}
	return &orderv1.CreateOrderResponse{Order: &orderv1.Order{Id: req.GetIdempotencyKey()}}, nil
}

// ServeHTTP is the order service's REST CreateOrder.
func (f *fakeShop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req orderv1.CreateOrderRequest
	if r.Method != http.MethodPost || r.URL.Path != "/v1/orders" || protojson.Unmarshal(body, &req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err := f.placeOrder(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), &req); err != nil {
		w.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(w, `{"code":"FAILED_PRECONDITION"}`)
		return
	}
	_, _ = io.WriteString(w, `{}`)
}

func TestRunCreateOrder(t *testing.T) {
	start := func(t *testing.T, stock map[string]int64) (*fakeShop, string, string) {
		t.Helper()
		shop := newFakeShop(stock)
		addr := serveGRPC(t, func(s *grpc.Server) {
			userv1.RegisterUserServiceServer(s, shop)
			inventoryv1.RegisterInventoryServiceServer(s, shop)
			orderv1.RegisterOrderServiceServer(s, shop)
		})
		web := httptest.NewServer(shop)
		t.Cleanup(web.Close)
		return shop, addr, strings.TrimPrefix(web.URL, "http://")
	}
	addrs := func(addr string) []string {
		return []string{"--user-addr", addr, "--inventory-addr", addr, "--order-addr", addr}
	}

	t.Run("enough stock: no restock", func(t *testing.T) {
		shop, addr, _ := start(t, map[string]int64{"a": 1000, "b": 1000, "c": 5})
		code, res, stderr := runJSON(t, append(addrs(addr), "--users", "5", "--rate", "50", "--duration", "1s", "--warmup", "200ms")...)
		require.Equal(t, cli.ExitOK, code, stderr)
		assert.Empty(t, shop.bad, "fresh idempotency keys, warm-up included")
		assert.Len(t, shop.orders, 10+50, "warm-up and run")
		assert.Equal(t, int64(50), res.Totals.Completed, "the warm-up is left out")
		require.NotNil(t, res.Warmup)
		assert.Equal(t, int64(10), res.Warmup.Requests)
		assert.Equal(t, int64(0), res.Totals.Errors)
		assert.Len(t, shop.accounts, 1+5, "the admin and five fresh users")
		assert.Empty(t, shop.adjusted, "stock was enough")
		require.NotNil(t, res.Setup)
		assert.Equal(t, loadgen.Setup{Users: 5, Products: 2}, *res.Setup, "c cannot cover its share")
		assert.Contains(t, stderr, "setup: registered and logged in 5 users", "--quiet leaves the setup lines")
	})

	t.Run("short stock: restock as the admin", func(t *testing.T) {
		shop, addr, _ := start(t, map[string]int64{"a": 5, "b": 0, "c": 10})
		code, res, stderr := runJSON(t, append(addrs(addr), "--users", "3", "--rate", "60", "--duration", "1s")...)
		require.Equal(t, cli.ExitOK, code, stderr)
		assert.Empty(t, shop.bad)
		assert.Equal(t, int64(60), res.Totals.OK)
		need := loadgen.StockNeed(60, 3)
		assert.Equal(t, map[string]int64{"a": need - 5, "b": need, "c": need - 10}, shop.adjusted)
		require.NotNil(t, res.Setup.Restock)
		assert.Equal(t, loadgen.Restock{Products: 3, Units: 3*need - 15, As: workspace.DevAdminEmail}, *res.Setup.Restock)
		assert.Contains(t, stderr, "added")
	})

	t.Run("short stock without --restock fails before the run", func(t *testing.T) {
		shop, addr, _ := start(t, map[string]int64{"a": 5})
		code, _, stderr := runJSON(t, append(addrs(addr), "--restock=false", "--rate", "50", "--duration", "1s")...)
		assert.Equal(t, cli.ExitFailed, code)
		assert.Contains(t, stderr, "not enough stock for 50 orders")
		assert.Empty(t, shop.orders)
	})

	t.Run("over REST", func(t *testing.T) {
		shop, addr, web := start(t, map[string]int64{"a": 1000})
		code, res, stderr := runJSON(t, append(addrs(addr), "--protocol", "rest", "--order-http-addr", web,
			"--users", "2", "--rate", "40", "--duration", "500ms")...)
		require.Equal(t, cli.ExitOK, code, stderr)
		assert.Empty(t, shop.bad)
		assert.Len(t, shop.orders, 20)
		assert.Equal(t, int64(20), res.Totals.OK)
		assert.Equal(t, map[string]int64{"200": 20}, res.HTTPStatus)
		assert.Contains(t, res.Config.Target, "/v1/orders (REST)")
	})

	t.Run("records the services' CPU, memory and orders for slipway cost", func(t *testing.T) {
		shop, addr, _ := start(t, map[string]int64{"a": 1000})
		// order's /metrics: 2 ms of CPU per order taken, 50 MiB plus 1 MiB a
		// order; user's: unchanged. Two order instances add up.
		orderMetrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			shop.mu.Lock()
			n := len(shop.orders)
			shop.mu.Unlock()
			fmt.Fprintf(w, "process_cpu_seconds_total %g\nprocess_resident_memory_bytes %d\n", float64(n)*0.002, (50+n)<<20)
		}))
		t.Cleanup(orderMetrics.Close)
		userMetrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "process_cpu_seconds_total 7\nprocess_resident_memory_bytes 1048576\n")
		}))
		t.Cleanup(userMetrics.Close)
		host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
		code, res, stderr := runJSON(t, append(addrs(addr), "--users", "2", "--rate", "40", "--duration", "1s",
			"--metrics", "order="+host(orderMetrics)+",order="+host(orderMetrics)+",user="+host(userMetrics))...)
		require.Equal(t, cli.ExitOK, code, stderr)
		require.Equal(t, int64(40), res.Totals.OK)
		require.NotNil(t, res.Usage, res.Metrics)
		assert.Empty(t, res.Metrics)
		require.NotNil(t, res.Usage.Orders)
		assert.Equal(t, int64(40), *res.Usage.Orders)
		assert.Positive(t, res.Usage.Seconds)
		require.Len(t, res.Usage.Services, 2)
		o := res.Usage.Services[0]
		assert.Equal(t, "order", o.Service)
		assert.InDelta(t, 2*40*0.002, o.CPUSeconds, 1e-9, "two instances, 2 ms an order each")
		assert.InDelta(t, 2*50<<20, o.RSSBytesStart, 1e-3)
		assert.InDelta(t, 2*90<<20, o.RSSBytesEnd, 1e-3)
		assert.InDelta(t, 2*70<<20, o.RSSBytesAvg, 1e-3)
		u := res.Usage.Services[1]
		assert.Equal(t, serviceRun{Service: "user", RSSBytesStart: 1 << 20, RSSBytesEnd: 1 << 20, RSSBytesAvg: 1 << 20}, u, "no CPU spent")
	})

	t.Run("a service whose /metrics fails is named, the others recorded", func(t *testing.T) {
		_, addr, _ := start(t, map[string]int64{"a": 1000})
		ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "process_cpu_seconds_total 1\nprocess_resident_memory_bytes 1048576\n")
		}))
		t.Cleanup(ok.Close)
		broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "go_goroutines 3\n")
		}))
		t.Cleanup(broken.Close)
		code, res, stderr := runJSON(t, append(addrs(addr), "--users", "2", "--rate", "20", "--duration", "500ms",
			"--metrics", "user="+strings.TrimPrefix(ok.URL, "http://")+",order="+strings.TrimPrefix(broken.URL, "http://"))...)
		require.Equal(t, cli.ExitOK, code, stderr)
		assert.Nil(t, res.Usage, "the meter's check refuses a target without the process metrics")
		assert.Contains(t, res.Metrics, "order at "+broken.URL+"/metrics has no process_cpu_seconds_total")
	})

	t.Run("nothing listening", func(t *testing.T) {
		addr := "127.0.0.1:" + fmt.Sprint(clitest.FreePort(t))
		code, _, stderr := runJSON(t, append(addrs(addr), "--rate", "1", "--duration", "1s")...)
		assert.Equal(t, cli.ExitFailed, code)
		assert.Contains(t, stderr, "is the system running?")
	})
}

// brokenIdempotencyShop answers a repeated idempotency key with a new order,
// the bug a client's retry must expose.
type brokenIdempotencyShop struct {
	orderv1.UnimplementedOrderServiceServer
	n atomic.Int64
}

func (b *brokenIdempotencyShop) CreateOrder(context.Context, *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, error) {
	return &orderv1.CreateOrderResponse{Order: &orderv1.Order{Id: fmt.Sprintf("order-%d", b.n.Add(1))}}, nil
}

// The scenario's chaos options: a user lookup before each order, a retry
// with the same idempotency key, and every acknowledged order reported.
func TestOrderScenarioLookupsRetriesAndAcknowledgements(t *testing.T) {
	scenario := func(t *testing.T, order orderv1.OrderServiceServer) (*fakeShop, *loadgen.OrderScenario) {
		t.Helper()
		shop := newFakeShop(map[string]int64{"a": 1000})
		if order == nil {
			order = shop
		}
		addr := serveGRPC(t, func(s *grpc.Server) {
			userv1.RegisterUserServiceServer(s, shop)
			inventoryv1.RegisterInventoryServiceServer(s, shop)
			orderv1.RegisterOrderServiceServer(s, order)
		})
		s, err := loadgen.NewOrderScenario(t.Context(), loadgen.OrderOptions{
			UserAddr: addr, InventoryAddr: addr, OrderAddr: addr, Protocol: "grpc", Users: 2, Orders: 10,
			AdminEmail: workspace.DevAdminEmail, MaxInflight: 4, Log: io.Discard,
		})
		require.NoError(t, err)
		t.Cleanup(s.Close)
		return shop, s
	}

	t.Run("a retried order counts once and is acknowledged once", func(t *testing.T) {
		shop, s := scenario(t, nil)
		acked := map[string]int{}
		s.RetryEvery, s.OnOrder = 2, func(id, _ string) { acked[id]++ }
		for seq := range 4 {
			out := s.Do(t.Context(), seq)
			assert.Equal(t, loadgen.CodeOK, out.Code, out.Message)
		}
		assert.Len(t, shop.orders, 4+2, "orders 0 and 2 were sent twice")
		assert.Equal(t, shop.orders[0].GetIdempotencyKey(), shop.orders[1].GetIdempotencyKey(), "the retry carries the same key")
		assert.Len(t, acked, 4)
		for id, n := range acked {
			assert.Equal(t, 1, n, id)
		}
	})

	t.Run("a retry answered with another order fails", func(t *testing.T) {
		shop := &brokenIdempotencyShop{}
		_, s := scenario(t, shop)
		var acked []string
		s.RetryEvery, s.OnOrder = 1, func(id, _ string) { acked = append(acked, id) }
		out := s.Do(t.Context(), 0)
		assert.Equal(t, loadgen.CodeIdempotency, out.Code)
		assert.Contains(t, out.Message, "answered order order-1, then order-2")
		assert.Equal(t, []string{"order-1", "order-2"}, acked, "both were acknowledged: both must exist")
	})

	t.Run("a failed user lookup fails the request before its order", func(t *testing.T) {
		shop, s := scenario(t, nil)
		s.UserLookups = true // the fake user service has no GetMe
		out := s.Do(t.Context(), 0)
		assert.Equal(t, codes.Unimplemented.String(), out.Code)
		assert.True(t, strings.HasPrefix(out.Message, "GetMe: "), out.Message)
		assert.Empty(t, shop.orders)
	})
}
