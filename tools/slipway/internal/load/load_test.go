package load

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// serveGRPC serves register's services on a free loopback port.
func serveGRPC(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// runJSON runs the load verb through the CLI's entry point with --json
// and --quiet, and returns the exit code and the decoded result.
func runJSON(t *testing.T, args ...string) (int, result, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	out := filepath.Join(t.TempDir(), "result.json")
	args = append([]string{"load", "--json", "--quiet", "--out", out}, args...)
	code := runCLI(t.Context(), args, &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{}})
	var res result
	if stdout.Len() > 0 {
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), stdout.String())
		onDisk, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.JSONEq(t, stdout.String(), string(onDisk), "--json prints the result written to --out")
		assert.FileExists(t, strings.TrimSuffix(out, ".json")+".html")
	}
	return code, res, stderr.String()
}

// flakyInventory answers GetProduct, failing every third call with
// Unavailable, and keeps what it was sent.
type flakyInventory struct {
	inventoryv1.UnimplementedInventoryServiceServer
	calls   atomic.Int64
	mu      sync.Mutex
	ids     map[string]int
	headers map[string]int
}

func (f *flakyInventory) GetProduct(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	n := f.calls.Add(1)
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.ids[req.GetId()]++
	for _, v := range md.Get("x-load-test") {
		f.headers[v]++
	}
	f.mu.Unlock()
	if n%3 == 0 {
		return nil, status.Error(codes.Unavailable, "down for a moment")
	}
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: req.GetId(), Stock: 7}}, nil
}

func TestRunLoadRPCErrorsByCode(t *testing.T) {
	inv := &flakyInventory{ids: map[string]int{}, headers: map[string]int{}}
	addr := serveGRPC(t, func(s *grpc.Server) { inventoryv1.RegisterInventoryServiceServer(s, inv) })

	code, res, stderr := runJSON(t, "--scenario", "rpc", "--addr", addr,
		"--method", "slipway.inventory.v1.InventoryService/GetProduct", "--data", `{"id":"espresso-blend-1kg"}`,
		"--header", "x-load-test: yes", "--rate", "100", "--duration", "300ms")
	require.Equal(t, cli.ExitOK, code, "errors do not fail the run: %s", stderr)

	assert.Equal(t, 30, res.Totals.Planned)
	assert.Equal(t, int64(30), res.Totals.Completed)
	assert.Equal(t, int64(20), res.Totals.OK)
	assert.Equal(t, int64(10), res.Totals.Errors)
	assert.InDelta(t, 1.0/3, res.Totals.ErrorRate, 1e-9)
	assert.Equal(t, []loadgen.ErrorCount{{Code: "Unavailable", Count: 10, Example: "down for a moment"}}, res.Errors)
	assert.Equal(t, map[string]int{"espresso-blend-1kg": 30}, inv.ids, "--data is the request")
	assert.Equal(t, map[string]int{"yes": 30}, inv.headers, "--header is sent as metadata")
	assert.Equal(t, "grpc", res.Config.Protocol)
	assert.Len(t, res.Timeline, 1)
	assert.Equal(t, int64(10), res.Timeline[0].Errors)

	t.Run("the error-rate gate fails the run", func(t *testing.T) {
		code, res, stderr := runJSON(t, "--scenario", "rpc", "--addr", addr,
			"--method", "/slipway.inventory.v1.InventoryService/GetProduct", "--data", `{"id":"x"}`,
			"--rate", "100", "--duration", "100ms", "--max-error-rate", "0.01")
		assert.Equal(t, cli.ExitFailed, code)
		assert.Contains(t, stderr, "is above --max-error-rate 1.00%")
		require.NotNil(t, res.Gate)
		assert.False(t, res.Gate.Passed)
	})
	t.Run("a gate the run meets passes", func(t *testing.T) {
		code, res, _ := runJSON(t, "--scenario", "rpc", "--addr", addr,
			"--method", "slipway.inventory.v1.InventoryService.GetProduct", "--data", `{"id":"x"}`,
			"--rate", "100", "--duration", "100ms", "--max-error-rate", "0.5")
		assert.Equal(t, cli.ExitOK, code)
		require.NotNil(t, res.Gate)
		assert.True(t, res.Gate.Passed)
	})
}

// stallingInventory stalls its first GetProduct call.
type stallingInventory struct {
	inventoryv1.UnimplementedInventoryServiceServer
	stall time.Duration
	calls atomic.Int64
}

func (s *stallingInventory) GetProduct(context.Context, *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	if s.calls.Add(1) == 1 {
		time.Sleep(s.stall)
	}
	return &inventoryv1.GetProductResponse{}, nil
}

// TestRunLoadNoCoordinatedOmissionOverGRPC: a real server that stalls its
// first call for 300 ms while one request may be in flight. Request k is due
// at 5k ms and cannot end before the stall does, so its latency is at least
// 300 - 5k ms: 41 of the 200 requests (20%) take 100 ms or more, 11 take 250
// ms or more. Only lower bounds are asserted; a slow machine only adds.
func TestRunLoadNoCoordinatedOmissionOverGRPC(t *testing.T) {
	const stall = 300 * time.Millisecond
	inv := &stallingInventory{stall: stall}
	addr := serveGRPC(t, func(s *grpc.Server) { inventoryv1.RegisterInventoryServiceServer(s, inv) })

	code, res, stderr := runJSON(t, "--scenario", "rpc", "--addr", addr,
		"--method", "slipway.inventory.v1.InventoryService/GetProduct", "--data", `{"id":"x"}`,
		"--rate", "200", "--duration", "1s", "--max-inflight", "1")
	require.Equal(t, cli.ExitOK, code, stderr)
	assert.Equal(t, int64(200), res.Totals.Completed)
	assert.Equal(t, int64(0), res.Totals.Errors)
	assert.GreaterOrEqual(t, res.Latency.Max, 300.0, "the stalled call")
	assert.GreaterOrEqual(t, res.Latency.P99, 250.0, "queued requests are timed from their intended send time")
	assert.GreaterOrEqual(t, res.Latency.P90, 100.0)
	assert.GreaterOrEqual(t, res.Totals.LateStarts, int64(40), "requests queued behind the stall started late")
	assert.GreaterOrEqual(t, res.Totals.CapHits, int64(40))
}

func TestRunLoadHTTP(t *testing.T) {
	var n atomic.Int64
	var bad atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/things" || r.Header.Get("Authorization") != "Bearer t0k" ||
			string(body) != `{"name":"x"}` || r.Header.Get("Content-Type") != "application/json" {
			bad.Store(fmt.Sprintf("%s %s %q %q", r.Method, r.URL, r.Header, body))
		}
		switch {
		case i%4 == 0: // a Slipway problem document names its gRPC code
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"title":"Service Unavailable","status":503,"code":"UNAVAILABLE","detail":"inventory is down"}`)
		case i%5 == 0: // anything else is mapped from the status
			http.Error(w, "no such thing", http.StatusNotFound)
		default:
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	}))
	t.Cleanup(srv.Close)

	code, res, stderr := runJSON(t, "--scenario", "http", "--url", srv.URL+"/v1/things", "--method", "POST",
		"--body", `{"name":"x"}`, "--header", "Authorization: Bearer t0k", "--rate", "100", "--duration", "200ms")
	require.Equal(t, cli.ExitOK, code, stderr)
	assert.Nil(t, bad.Load(), "every request as asked")
	assert.Equal(t, int64(20), res.Totals.Completed)
	assert.Equal(t, int64(12), res.Totals.OK)
	assert.Equal(t, []loadgen.ErrorCount{
		{Code: "Unavailable", Count: 5, Example: "HTTP 503: inventory is down"},
		{Code: "NotFound", Count: 3, Example: "HTTP 404: no such thing"},
	}, res.Errors)
	assert.Equal(t, map[string]int64{"200": 12, "503": 5, "404": 3}, res.HTTPStatus)
	assert.Equal(t, "http", res.Config.Protocol)
}

func TestLoadRefusesNonLoopbackTargets(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:50051", "127.0.0.1:50051"},
		{"127.8.9.10:1", "127.8.9.10:1"},
		{"[::1]:50051", "[::1]:50051"},
		{"[::ffff:127.0.0.1]:50051", "127.0.0.1:50051"},
		{"localhost:50051", "127.0.0.1:50051"},
		{":50051", "127.0.0.1:50051"},
		{"0.0.0.0:50051", "127.0.0.1:50051"},
	} {
		got, err := loadgen.LoopbackAddr("--addr", tt.addr)
		require.NoError(t, err, tt.addr)
		assert.Equal(t, tt.want, got)
	}
	for _, addr := range []string{"10.0.0.1:50051", "192.168.1.2:80", "[2001:db8::1]:443", "example.com:50051", "localhost.example.com:1", "[::ffff:10.0.0.1]:5"} {
		_, err := loadgen.LoopbackAddr("--addr", addr)
		require.ErrorIs(t, err, loadgen.ErrNotLoopback, addr)
	}
	for _, raw := range []string{"http://example.com/v1/products", "http://10.1.1.1:8083/", "http://[2001:db8::1]/"} {
		_, err := loadgen.LoopbackURL(raw, false)
		require.ErrorIs(t, err, loadgen.ErrNotLoopback, raw)
	}
	u, err := loadgen.LoopbackURL("http://localhost:8083/v1/products?page_size=3", false)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8083/v1/products?page_size=3", u.String())
	_, err = loadgen.LoopbackURL("https://127.0.0.1/", false)
	require.Error(t, err)

	// The dialer is the backstop: it refuses before any packet leaves.
	_, err = loadgen.Dialer.DialContext(t.Context(), "tcp", "192.0.2.1:80")
	require.ErrorIs(t, err, loadgen.ErrNotLoopback)

	for _, args := range [][]string{
		{"--user-addr", "10.0.0.1:50051"},
		{"--order-addr", "example.com:50052"},
		{"--scenario", "rpc", "--method", "slipway.user.v1.UserService/GetMe", "--addr", "192.0.2.7:50051"},
		{"--scenario", "rpc", "--method", "slipway.user.v1.UserService/GetMe", "--user-addr", "192.0.2.7:50051"},
		{"--scenario", "http", "--url", "http://192.0.2.7:8083/v1/products"},
	} {
		var stderr bytes.Buffer
		code := runCLI(t.Context(), append([]string{"load", "--quiet"}, args...), &cli.Env{Stdout: io.Discard, Stderr: &stderr})
		assert.Equal(t, cli.ExitUsage, code, "%v", args)
		assert.Contains(t, stderr.String(), "only sends traffic to loopback", "%v", args)
	}
}

func TestLoadUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "soak"}, `--scenario "soak"`},
		{[]string{"--rate", "0"}, "--rate 0"},
		{[]string{"--rate", "5001"}, "at most 5000"},
		{[]string{"--duration", "11m"}, "at most 10m0s"},
		{[]string{"--max-inflight", "0"}, "--max-inflight 0"},
		{[]string{"--timeout", "2m"}, "--timeout 2m0s"},
		{[]string{"--users", "0"}, "--users 0"},
		{[]string{"--protocol", "smtp"}, `--protocol "smtp"`},
		{[]string{"--max-error-rate", "2"}, "--max-error-rate 2"},
		{[]string{"--out", "x.html"}, "want a .json path"},
		{[]string{"--url", "http://127.0.0.1/"}, "--url is for --scenario http"},
		{[]string{"--scenario", "rpc", "--users", "3", "--method", "x"}, "--users is for --scenario create-order"},
		{[]string{"--scenario", "rpc", "--user-lookups", "--method", "x"}, "--user-lookups is for --scenario create-order"},
		{[]string{"--scenario", "rpc"}, "needs --method"},
		{[]string{"--scenario", "rpc", "--method", "slipway.user.v1.UserService/Nope"}, `unknown method`},
		{[]string{"--scenario", "rpc", "--method", "slipway.user.v1.UserService/GetUser", "--data", `{"nope":1}`}, "--data is not a slipway.user.v1.GetUserRequest"},
		{[]string{"--scenario", "http"}, "needs --url"},
		{[]string{"--scenario", "http", "--url", "http://127.0.0.1:1/", "--header", "no colon"}, `--header "no colon"`},
		{[]string{"--scenario", "http", "--url", "http://127.0.0.1:1/", "--method", "get"}, `--method "get"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			// Should validation ever let one through, it meets a closed port,
			// not a system running on the default ones.
			closed := "127.0.0.1:" + fmt.Sprint(clitest.FreePort(t))
			args := []string{"load", "--quiet", "--user-addr", closed, "--order-addr", closed,
				"--inventory-addr", closed, "--notification-addr", closed}
			var stderr bytes.Buffer
			code := runCLI(t.Context(), append(args, tt.args...), &cli.Env{Stdout: io.Discard, Stderr: &stderr})
			assert.Equal(t, cli.ExitUsage, code)
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
}

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

func TestRunLoadCreateOrder(t *testing.T) {
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

	t.Run("nothing listening", func(t *testing.T) {
		addr := "127.0.0.1:" + fmt.Sprint(clitest.FreePort(t))
		code, _, stderr := runJSON(t, append(addrs(addr), "--rate", "1", "--duration", "1s")...)
		assert.Equal(t, cli.ExitFailed, code)
		assert.Contains(t, stderr, "is the system running?")
	})
}

func TestLoadCommandLine(t *testing.T) {
	got := commandLine([]string{"--scenario", "http", "--url", "http://127.0.0.1:8082/v1/orders?x=1&y=2",
		"--header", "Authorization: Bearer s3cret", "--header=Cookie: id=s3cret", "--body", `{"a":"b c"}`, "--rate", "5"})
	assert.Equal(t, `slipway load --scenario http --url 'http://127.0.0.1:8082/v1/orders?x=1&y=2'`+
		` --header 'Authorization: REDACTED' '--header=Cookie: REDACTED' --body '{"a":"b c"}' --rate 5`, got)
	assert.NotContains(t, got, "s3cret", "header values are often tokens")
}

// TestLoadHTMLReport renders a report and checks that it is a well-formed
// document (strict XML, which HTML's parser would not catch) holding both
// charts, standalone: no script and nothing fetched.
func TestLoadHTMLReport(t *testing.T) {
	rec := loadgen.NewRecorder()
	start := time.Now()
	sched := loadgen.Schedule{Rate: 20, Duration: 3 * time.Second}
	rec.Begin(start, sched)
	for i := range sched.Len() {
		rec.Sent(start, 0, false)
		out := loadgen.Outcome{Code: loadgen.CodeOK}
		if i%7 == 0 {
			out = loadgen.Outcome{Code: "Unavailable", Message: `<b>"down" & out</b>`}
		}
		rec.Record(i, time.Duration(i+1)*time.Millisecond, out)
	}
	info := loadgen.RunInfo{Start: start, End: start.Add(3 * time.Second)}
	rec.Finish()
	sum := rec.Summary(info)
	res := result{
		Scenario: `rpc <script>alert(1)</script>`, StartedAt: start,
		Config: config{Rate: 20, Duration: "3s", Target: `x & "y" <z>`, Command: "slipway load --rate 20"},
		Totals: sum.Totals, Latency: sum.Latency, Errors: sum.Errors, Timeline: sum.Timeline, Histogram: sum.Histogram,
		Gate: &gate{MaxErrorRate: 0.01}, Report: files{JSON: "r.json", HTML: "r.html"},
	}
	var page bytes.Buffer
	require.NoError(t, renderHTML(&page, res))
	doc := page.String()

	dec := xml.NewDecoder(strings.NewReader(doc))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the report is well-formed")
	}

	root, err := html.Parse(strings.NewReader(doc))
	require.NoError(t, err)
	svgs := map[string]*html.Node{}
	var scripts, fetches int
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "svg" {
				svgs[attr(n, "id")] = n
			}
			if n.Data == "script" || n.Data == "link" || n.Data == "img" {
				scripts++
			}
			for _, a := range n.Attr {
				if a.Key == "src" || a.Key == "href" {
					fetches++
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	assert.Zero(t, scripts, "no script, stylesheet or image element: the escaped scenario name stays text")
	assert.Zero(t, fetches, "nothing to fetch")

	require.Contains(t, svgs, "latency-over-time")
	lines := find(svgs["latency-over-time"], "path", "series")
	require.Len(t, lines, 2, "p50 and p99")
	d := attr(lines[1], "d")
	assert.Equal(t, 3, strings.Count(d, "M")+strings.Count(d, "L"), "one point a second: %s", d)
	require.Contains(t, svgs, "latency-histogram")
	bars := find(svgs["latency-histogram"], "rect", "bin")
	assert.NotEmpty(t, bars)
	require.Contains(t, svgs, "requests-per-second")
	assert.Contains(t, doc, "&lt;b&gt;&#34;down&#34; &amp; out&lt;/b&gt;", "messages are escaped")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func find(n *html.Node, tag, class string) []*html.Node {
	var found []*html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == tag && attr(c, "class") == class {
			found = append(found, c)
		}
		found = append(found, find(c, tag, class)...)
	}
	return found
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
func TestLoadOrderScenarioLookupsRetriesAndAcknowledgements(t *testing.T) {
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

// runCLI runs the verb as slipway's main does: args[0] names it, the rest
// are its arguments, and its error becomes the exit code.
func runCLI(ctx context.Context, args []string, env *cli.Env) int {
	return cli.ExitCode(env.Stderr, args[0], Main(ctx, args[1:], env))
}
