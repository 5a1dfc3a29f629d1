package clitest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// A test binary doubles as the child process of the supervisor and dev
// tests: run with ChildModeEnv set, Main acts out that mode instead of
// testing.
const (
	ChildModeEnv       = "SLIPWAY_TEST_CHILD"
	ChildReadyAfterEnv = "SLIPWAY_TEST_READY_AFTER" // serve: "never" or a duration
	ChildExitAfterEnv  = "SLIPWAY_TEST_EXIT_AFTER"  // serve: exit 4 this long after SERVING
)

// ChildMode is a part the test binary plays; it returns the exit code.
type ChildMode func(ctx context.Context) int

// Main is a package's TestMain: with ChildModeEnv set it plays that mode
// (one of extra, or wait, exit, stubborn, serve) and exits; else it runs
// the tests.
func Main(m *testing.M, extra map[string]ChildMode) {
	mode := os.Getenv(ChildModeEnv)
	if mode == "" {
		os.Exit(m.Run())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if play, ok := extra[mode]; ok {
		os.Exit(play(ctx))
	}
	os.Exit(runChild(ctx, mode))
}

func runChild(ctx context.Context, mode string) int {
	switch mode {
	case "wait": // a line, then wait for SIGTERM and end with a partial line
		fmt.Println("hello")
		<-ctx.Done()
		fmt.Println("got SIGTERM")
		fmt.Print("partial")
		return 0
	case "exit": // a line, then exit 3 at once
		fmt.Println("bye")
		return 3
	case "stubborn": // ignore SIGTERM
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		time.Sleep(time.Hour)
		return 0
	case "serve": // a gRPC health server on GRPC_ADDR, like a service
		return serveHealth(ctx)
	}
	fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
	return 2
}

func serveHealth(ctx context.Context) int {
	ln, err := net.Listen("tcp", os.Getenv("GRPC_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf(`{"msg":"listening","grpc_addr":%q,"database_url":%q,"drain_delay":%q}`+"\n",
		os.Getenv("GRPC_ADDR"), os.Getenv("DATABASE_URL"), os.Getenv("DRAIN_DELAY"))

	exit := make(<-chan time.Time)
	if after := os.Getenv(ChildReadyAfterEnv); after != "never" {
		d, _ := time.ParseDuration(after)
		time.Sleep(d)
		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		if d, err := time.ParseDuration(os.Getenv(ChildExitAfterEnv)); err == nil {
			exit = time.After(d)
		}
	}
	select {
	case <-ctx.Done():
		fmt.Println(`{"msg":"shutting down"}`)
		srv.GracefulStop()
		return 0
	case <-exit:
		fmt.Println(`{"msg":"crashing"}`)
		return 4
	}
}

// Executable returns the path of the running test binary.
func Executable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return exe
}

// UseTestBinaryFor makes the test binary the prebuilt binary of each service
// (for --no-build), so that the child modes of Main play the services.
func UseTestBinaryFor(t *testing.T, root string, services ...string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".slipway", "bin"), 0o755))
	for _, svc := range services {
		require.NoError(t, os.Symlink(Executable(t), workspace.BinaryPath(root, svc)))
	}
}

// FreePortBase returns a port p such that p .. p+n-1 are all free now.
func FreePortBase(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := FreePort(t)
		if base+n > 65535 {
			continue
		}
		var eps []workspace.Endpoint
		for i := range n {
			eps = append(eps, workspace.Endpoint{Service: "probe", Kind: "TCP", Addr: "127.0.0.1:" + strconv.Itoa(base+i)})
		}
		if workspace.CheckPortsFree(eps) == nil {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports found", n)
	return 0
}

// WaitForOutput waits until out contains want, failing early when the
// command behind done ends.
func WaitForOutput(t *testing.T, out *SyncBuffer, done <-chan error, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("ended (%v) before writing %q; output:\n%s", err, want, out.String())
		case <-deadline:
			t.Fatalf("no %q in the output:\n%s", want, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// FreeBases returns a gRPC and an HTTP port base, four free ports each that
// do not overlap, for dev's --grpc-port-base and --http-port-base.
func FreeBases(t *testing.T) (grpcBase, httpBase int) {
	t.Helper()
	grpcBase, httpBase = FreePortBase(t, 4), FreePortBase(t, 4)
	for httpBase > grpcBase-4 && httpBase < grpcBase+4 {
		httpBase = FreePortBase(t, 4)
	}
	return grpcBase, httpBase
}
