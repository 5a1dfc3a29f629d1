package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
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
	// No /metrics unless a test gives --metrics: the dev ports may serve
	// another checkout's services.
	args = append([]string{"load", "--json", "--quiet", "--out", out, "--metrics", "none"}, args...)
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

func TestRunRPCErrorsByCode(t *testing.T) {
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

// TestRunNoCoordinatedOmissionOverGRPC: a real server that stalls its
// first call for 300 ms while one request may be in flight. Request k is due
// at 5k ms and cannot end before the stall does, so its latency is at least
// 300 - 5k ms: 41 of the 200 requests (20%) take 100 ms or more, 11 take 250
// ms or more. Only lower bounds are asserted; a slow machine only adds.
func TestRunNoCoordinatedOmissionOverGRPC(t *testing.T) {
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

func TestRunHTTP(t *testing.T) {
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

func TestRefusesNonLoopbackTargets(t *testing.T) {
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

func TestUsageErrors(t *testing.T) {
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

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"--scenario", "http", "--url", "http://127.0.0.1:8082/v1/orders?x=1&y=2",
		"--header", "Authorization: Bearer s3cret", "--header=Cookie: id=s3cret", "--body", `{"a":"b c"}`, "--rate", "5"})
	assert.Equal(t, `slipway load --scenario http --url 'http://127.0.0.1:8082/v1/orders?x=1&y=2'`+
		` --header 'Authorization: REDACTED' '--header=Cookie: REDACTED' --body '{"a":"b c"}' --rate 5`, got)
	assert.NotContains(t, got, "s3cret", "header values are often tokens")
}

// runCLI runs the verb as slipway's main does: args[0] names it, the rest
// are its arguments, and its error becomes the exit code.
func runCLI(ctx context.Context, args []string, env *cli.Env) int {
	return cli.ExitCode(env.Stderr, args[0], Main(ctx, args[1:], env))
}
