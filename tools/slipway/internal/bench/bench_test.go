package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/scratchdb"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSummarize(t *testing.T) {
	ms := func(vs ...float64) []time.Duration {
		var ds []time.Duration
		for _, v := range vs {
			ds = append(ds, time.Duration(v*float64(time.Millisecond)))
		}
		return ds
	}
	tests := []struct {
		name string
		in   []time.Duration
		want []time.Duration // min, median, p90, max
	}{
		{"one", ms(7), ms(7, 7, 7, 7)},
		{"odd, unsorted", ms(50, 10, 40, 20, 30), ms(10, 30, 50, 50)},
		{"even: the median is the mean of the middle two", ms(4, 1, 3, 2), ms(1, 2.5, 4, 4)},
		{"ten: p90 is the ninth", ms(10, 20, 30, 40, 50, 60, 70, 80, 90, 1000), ms(10, 55, 90, 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := summarize(tt.in)
			assert.Equal(t, tt.want, []time.Duration{st.min, st.median, st.p90, st.max})
		})
	}
	assert.Equal(t, durationStats{}, summarize(nil))
}

// TestReloadEditsApplyToTheRealHandlers keeps bench reload's edits in step
// with the handlers: each field is there exactly once, and the edited file
// still parses.
func TestReloadEditsApplyToTheRealHandlers(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	for svc, e := range reloadEdits {
		t.Run(svc, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(e.File)))
			require.NoError(t, err)
			assert.Equal(t, 1, strings.Count(string(src), e.Field))
			edited := e.apply(string(src), "[bench dev 1/5 42]")
			assert.NotEqual(t, string(src), edited)
			assert.Contains(t, edited, `+ " [bench dev 1/5 42]",`)
			_, err = parser.ParseFile(token.NewFileSet(), e.File, edited, parser.SkipObjectResolution)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(e.Path, "/v1/"))
		})
	}
}

func TestAirConfigAndEvents(t *testing.T) {
	assert.Contains(t, airConfig("/ws", "inventory", 0, time.Second, nil),
		`cmd = "go build -o ./.slipway/bin/inventory-air ./services/inventory/cmd/inventory"`, "air's own build: no flags")
	cfg := airConfig("/ws/.slipway/bench/work", "inventory", 150*time.Millisecond, 15*time.Second, fleet.BuildFlags)
	for _, want := range []string{
		`root = "/ws/.slipway/bench/work"`,
		`cmd = "go build '-ldflags=-s -w' -buildvcs=false -o ./.slipway/bin/inventory-air ./services/inventory/cmd/inventory"`,
		`entrypoint = ["./.slipway/bin/inventory-air"]`,
		`include_ext = ["go"]`,
		`delay = 150`,
		`send_interrupt = true`,
		`kill_delay = "15s"`,
		`stop_on_error = false`,
	} {
		assert.Contains(t, cfg, want)
	}

	var ev airEvents
	t0 := time.Now()
	time.Sleep(time.Millisecond)
	ev.line([]byte("\x1b[33mbuilding...\x1b[0m"))
	time.Sleep(time.Millisecond)
	ev.line([]byte(`{"msg":"serving"}`))
	ev.line([]byte("\x1b[32mrunning...\x1b[0m"))
	build, run, ok := ev.after(t0)
	require.True(t, ok)
	assert.True(t, run.After(build))
	_, _, ok = ev.after(time.Now())
	assert.False(t, ok, "nothing after now")
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, cli.ExitUsage, "name a benchmark: startup or reload"},
		{[]string{"nonsense"}, cli.ExitUsage, `unknown benchmark "nonsense"`},
		{[]string{"--help"}, cli.ExitOK, "startup   process start to gRPC health SERVING"},
		{[]string{"startup", "-h"}, cli.ExitOK, "-no-postgres"},
		{[]string{"startup", "--runs", "0"}, cli.ExitUsage, "--runs and --timeout must be positive"},
		{[]string{"startup", "--services", "billing"}, cli.ExitUsage, `unknown service "billing"`},
		{[]string{"startup", "--postgres", "postgres://x", "--no-postgres"}, cli.ExitUsage, "exclude each other"},
		{[]string{"startup", "-h"}, cli.ExitOK, "-transport list"},
		{[]string{"startup", "--transport", "quic"}, cli.ExitUsage, `unknown transport "quic" in --transport (known: plaintext, tls)`},
		{[]string{"startup", "--transport", "tls,plaintext,tls"}, cli.ExitUsage, `transport "tls" twice`},
		{[]string{"startup", "--transport", " , "}, cli.ExitUsage, "--transport names no transport"},
		{[]string{"startup", "--tls", "--transport", "tls"}, cli.ExitUsage, "--tls is short for --transport plaintext,tls: give one of them"},
		{[]string{"reload", "-h"}, cli.ExitOK, "-no-air"},
		{[]string{"reload", "--service", "notification"}, cli.ExitUsage, "bench reload knows how to edit inventory and user"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"PATH=" + os.Getenv("PATH")}}
			code := cli.ExitCode(&stderr, "bench", Main(t.Context(), tt.args, env))
			assert.Equal(t, tt.code, code, "stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), tt.stderr)
		})
	}
}

func TestFindFreePortBlock(t *testing.T) {
	a, err := workspace.FreePortBlock(4, nil)
	require.NoError(t, err)
	b, err := workspace.FreePortBlock(4, []int{a})
	require.NoError(t, err)
	assert.True(t, b+4 <= a || a+4 <= b, "blocks %d and %d overlap", a, b)
	var eps []workspace.Endpoint
	for i := range 4 {
		eps = append(eps, workspace.Endpoint{Service: "t", Kind: "TCP", Addr: "127.0.0.1:" + strconv.Itoa(a+i)}, workspace.Endpoint{Service: "t", Kind: "TCP", Addr: "127.0.0.1:" + strconv.Itoa(b+i)})
	}
	require.NoError(t, workspace.CheckPortsFree(eps))
}

func TestCopyWorkspaceWithoutGit(t *testing.T) {
	root := clitest.GoWorkspace(t, map[string]string{"user": "package main\n\nfunc main() {}\n"})
	for _, f := range []string{".slipway/data/user.db", "services/user/node_modules/x/y.js", "services/user/.cache/z"} {
		p := filepath.Join(root, filepath.FromSlash(f))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "notes.txt"), []byte("not a module"), 0o644))
	dst := filepath.Join(root, ".slipway", "bench", "work")
	require.NoError(t, os.MkdirAll(dst, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dst, "stale.go"), []byte("package stale"), 0o644))

	n, err := copyWorkspace(t.Context(), goCommand(t), root, dst, clitest.Environ())
	require.NoError(t, err)
	assert.Equal(t, 3, n, "go.work, go.mod and main.go")
	assert.FileExists(t, filepath.Join(dst, "go.work"))
	assert.FileExists(t, filepath.Join(dst, "services", "user", "cmd", "user", "main.go"))
	assert.NoFileExists(t, filepath.Join(dst, "stale.go"), "the copy replaces what was there")
	assert.NoFileExists(t, filepath.Join(dst, "notes.txt"), "only go.work and its modules")
	assert.NoDirExists(t, filepath.Join(dst, "services", "user", "node_modules"))
	assert.NoDirExists(t, filepath.Join(dst, "services", "user", ".cache"))
}

func goCommand(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	return goBin
}

// shopServiceSource is the main of a tiny inventory: gRPC health on
// GRPC_ADDR, the "serving" log line the real services write, and GET
// /v1/products/espresso-blend-1kg on HTTP_ADDR answering what the rpc
// package (the file bench reload edits) returns.
const shopServiceSource = `package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"example.com/inventory/internal/rpc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	grpcLis, err := net.Listen("tcp", os.Getenv("GRPC_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	httpLis, err := net.Listen("tcp", os.Getenv("HTTP_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(grpcLis)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/products/espresso-blend-1kg", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"product": rpc.Proto(rpc.Product{ID: "espresso-blend-1kg", Description: "Dark roast"})})
	})
	web := &http.Server{Handler: mux}
	go web.Serve(httpLis)
	fmt.Printf("{\"msg\":\"serving\",\"grpc_addr\":%q,\"startup_ms\":1}\n", grpcLis.Addr().String())
	<-ctx.Done()
	web.Close()
	srv.GracefulStop()
}
`

const shopHandlerSource = `package rpc

// Product is what the handler returns.
type Product struct {
	ID          string ` + "`json:\"id\"`" + `
	Description string ` + "`json:\"description\"`" + `
}

// Proto translates, like the real handlers.
func Proto(p Product) Product {
	return Product{
		ID:          p.ID,
		Description: p.Description,
	}
}
`

// shopWorkspace is a workspace holding the tiny inventory.
func shopWorkspace(t *testing.T) string {
	t.Helper()
	root := clitest.GRPCWorkspace(t, "inventory", shopServiceSource)
	rpc := filepath.Join(root, "services", "inventory", "internal", "rpc")
	require.NoError(t, os.MkdirAll(rpc, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(rpc, "handler.go"), []byte(shopHandlerSource), 0o644))
	return root
}

func TestRunBenchStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a gRPC service")
	}
	root := shopWorkspace(t)
	var stdout, stderr clitest.SyncBuffer
	opts := startupOptions{
		Options: Options{Root: root, Runs: 3, Stdout: &stdout, Stderr: &stderr,
			Environ: clitest.Environ("GOWORK=" + filepath.Join(root, "go.work")), Command: "slipway bench startup --runs 3"},
		NoPostgres: true,
		Timeout:    30 * time.Second,
	}
	require.NoError(t, runStartup(t.Context(), opts), stderr.String())

	assert.Contains(t, stderr.String(), "bench: building inventory into .slipway/bench/bin")
	assert.Regexp(t, `inventory\s+on sqlite\s+over plaintext\s+median \d+\.\dms`, stderr.String())
	assert.Regexp(t, `(?m)^inventory\s+sqlite\s+plaintext\s+3\s+\d+\.\dms\s.*\s-$`, stdout.String())
	assert.Contains(t, stdout.String(), "skipped: postgres: --no-postgres")
	assert.Contains(t, stdout.String(), "goal: median <= 0.30s")

	rep := readBenchJSON[startupReport](t, root, "startup")
	assert.Equal(t, "slipway bench startup --runs 3", rep.Command)
	assert.Equal(t, 3, rep.Runs)
	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	assert.Equal(t, "inventory", r.Service)
	assert.Equal(t, "sqlite", r.Database)
	assert.Equal(t, "plaintext", r.Transport)
	assert.Equal(t, []string{"plaintext"}, rep.Transports)
	assert.Zero(t, r.VsPlaintext)
	require.Len(t, r.Samples, 3)
	assert.Positive(t, r.MinMS)
	assert.LessOrEqual(t, r.MinMS, r.MedianMS)
	assert.LessOrEqual(t, r.MedianMS, r.MaxMS)
	assert.InDelta(t, 1, r.SelfMedianMS, 0.01, "the service's own startup_ms")
	assert.Positive(t, rep.Machine.CPUs)
	assert.NotEmpty(t, rep.Machine.Go)
}

func TestRunBenchStartupOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a gRPC service")
	}
	server := os.Getenv("POSTGRES_TEST_URL")
	if server == "" {
		server = scratchdb.DefaultServerURL
	}
	conn, err := pgx.Connect(t.Context(), server)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s: %v", report.RedactURL(server), err)
		}
		t.Skipf("PostgreSQL at %s is unreachable: %v", report.RedactURL(server), err)
	}
	defer conn.Close(context.Background())

	root := shopWorkspace(t)
	var stdout, stderr clitest.SyncBuffer
	opts := startupOptions{
		Options: Options{Root: root, Runs: 1, Stdout: &stdout, Stderr: &stderr,
			Environ: clitest.Environ("GOWORK=" + filepath.Join(root, "go.work"))},
		Postgres: server,
		Timeout:  30 * time.Second,
	}
	require.NoError(t, runStartup(t.Context(), opts), stderr.String())
	assert.Regexp(t, `(?m)^inventory\s+postgres\s+plaintext\s+1\s+`, stdout.String())
	var left int
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname LIKE 'slipway_bench_inventory_%'").Scan(&left))
	assert.Zero(t, left, "the temporary database was dropped")

	opts.Postgres = "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"
	err = runStartup(t.Context(), opts)
	require.Error(t, err, "a --postgres that does not answer fails")
	assert.Contains(t, err.Error(), "does not answer")
}

// readBenchJSON reads the one JSON document a benchmark wrote.
func readBenchJSON[T any](t *testing.T, root, name string) T {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, ".slipway", "bench", name+"-*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var v T
	require.NoError(t, json.Unmarshal(b, &v))
	return v
}

// TestRunBenchReload runs bench reload on the tiny inventory: slipway dev,
// and air when the pinned air builds from this machine's module cache.
func TestRunBenchReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a gRPC service several times")
	}
	root := shopWorkspace(t)
	air := filepath.Join(t.TempDir(), "air")
	build := exec.CommandContext(t.Context(), goCommand(t), "build", "-o", air, "github.com/air-verse/air")
	wsRoot, err := workspace.FindRoot(".")
	require.NoError(t, err)
	build.Dir = filepath.Join(wsRoot, "tools", "gen")
	build.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off")
	noAir := false
	if out, err := build.CombinedOutput(); err != nil {
		t.Logf("air does not build offline here, measuring slipway dev only: %v\n%s", err, out)
		noAir = true
	}

	var stdout, stderr clitest.SyncBuffer
	opts := reloadOptions{
		Options:  Options{Root: root, Runs: 2, Stdout: &stdout, Stderr: &stderr, Environ: clitest.Environ()},
		Service:  "inventory",
		NoAir:    noAir,
		Air:      air,
		Debounce: 50 * time.Millisecond,
		Settle:   200 * time.Millisecond,
		Timeout:  2 * time.Minute,
	}
	require.NoError(t, runReload(t.Context(), opts), "stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())

	assert.Contains(t, stderr.String(), "slipway dev: copying the workspace into .slipway/bench/work-slipway")
	assert.Regexp(t, `slipway dev\s+edit 2/2: \d+\.\d\ds \(build \d+\.\d\ds, stop \d+\.\d\ds, ready \d+\.\d\ds\)`, stderr.String())
	assert.Regexp(t, `(?m)^slipway dev\s+2\s+\d+\.\d\ds`, stdout.String())
	rep := readBenchJSON[reloadReport](t, root, "reload")
	assert.Equal(t, "inventory", rep.Service)
	assert.Equal(t, "GET /v1/products/espresso-blend-1kg", rep.Call)
	wantTools := 2
	if noAir {
		wantTools = 1
	}
	require.Len(t, rep.Tools, wantTools)
	for _, tool := range rep.Tools {
		assert.Empty(t, tool.Error)
		require.Len(t, tool.Samples, 2, tool.Tool)
		for _, s := range tool.Samples {
			assert.Positive(t, s.BuildMS, tool.Tool)
			assert.Positive(t, s.ReadyMS, tool.Tool)
			assert.GreaterOrEqual(t, s.TotalMS, s.BuildMS+s.StopMS+s.ReadyMS, tool.Tool)
		}
		assert.Positive(t, tool.MedianMS)
	}
	if !noAir {
		assert.Regexp(t, `^air v\d+\.\d+\.\d+`, rep.Tools[1].Tool)
		assert.Regexp(t, `(?m)^air v\S+\s+2\s+\d+\.\d\ds`, stdout.String())
		assert.Regexp(t, `(?m)^air v\S+: delay 50ms; include_ext go; go build -o <bin> ./services/inventory/cmd/inventory;`, stdout.String(), "air builds the way its own config does")
		assert.Regexp(t, `(?m)^air v\S+ takes \d+\.\d\dx the time of slipway dev \(medians\)$`, stdout.String())
	}

	// The real tree is untouched: only the copy was edited, and it is back
	// to the original.
	handler := filepath.FromSlash(reloadEdits["inventory"].File)
	orig, err := os.ReadFile(filepath.Join(root, handler))
	require.NoError(t, err)
	assert.Equal(t, shopHandlerSource, string(orig))
	copies := []string{"work-slipway"}
	if !noAir {
		copies = append(copies, "work-air")
		assert.Contains(t, stderr.String(), "air v")
	}
	for _, c := range copies {
		copied, err := os.ReadFile(filepath.Join(root, ".slipway", "bench", c, handler))
		require.NoError(t, err)
		assert.Equal(t, shopHandlerSource, string(copied), c)
	}
	assert.NotEmpty(t, rep.LoadAvgBefore)
}
