package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

const childEnv = "SLIPWAY_SERVER_SIGTERM_CHILD"

// TestMain lets the test binary double as a service process, so the SIGTERM
// test can signal a real process whose main is shaped like a service's.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// childMain is a service main: signal.NotifyContext, build, Run, exit code.
func childMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var base config.Base
	base.SetDefaults("catalog", 0, 0)
	base.GRPCAddr, base.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	base.DrainDelay = 100 * time.Millisecond
	logger := telemetry.NewLogger(os.Stdout, "catalog", slog.LevelInfo)
	release := make(chan struct{})
	go func() { // "slow" calls finish only well after SIGTERM arrived
		<-ctx.Done()
		time.Sleep(300 * time.Millisecond)
		close(release)
	}()
	app, err := server.New(base, &base, logger, telemetry.NewRegistry(), sdktrace.NewTracerProvider(),
		server.WithService(server.Service{
			Desc: &inventoryv1.InventoryService_ServiceDesc, Impl: &catalog{logger: logger, release: release},
			Gateway: inventoryv1.RegisterInventoryServiceHandler,
		}))
	if err != nil {
		logger.Error("build", "error", err)
		return 1
	}
	if err := app.Run(ctx); err != nil {
		logger.Error("run", "error", err)
		return 1
	}
	return 0
}

func TestSIGTERMLetsInFlightRequestsFinish(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	waitFor := func(msg string) map[string]any {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				require.True(t, ok, "child exited before logging %q", msg)
				if l["msg"] == msg {
					return l
				}
			case <-deadline:
				t.Fatalf("child never logged %q", msg)
			}
		}
	}
	serving := waitFor("serving")
	grpcAddr, httpAddr := serving["grpc_addr"].(string), serving["http_addr"].(string)

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()

	type result struct {
		protocol string
		err      error
		status   int
	}
	results := make(chan result, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := inventoryv1.NewInventoryServiceClient(conn).GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: "slow"})
		results <- result{protocol: "grpc", err: err}
	})
	wg.Go(func() {
		resp, err := http.Get("http://" + httpAddr + "/v1/products/slow")
		r := result{protocol: "rest", err: err}
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.status = resp.StatusCode
		}
		results <- r
	})
	waitFor("looking up product")
	waitFor("looking up product")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	waitFor("shutting down")
	wg.Wait()
	close(results)
	for r := range results {
		assert.NoError(t, r.err, r.protocol)
		if r.protocol == "rest" {
			assert.Equal(t, http.StatusOK, r.status)
		}
	}
	require.NoError(t, cmd.Wait(), "a clean stop exits 0")
	assert.Equal(t, 0, cmd.ProcessState.ExitCode())

	_, err = http.Get("http://" + httpAddr + "/healthz")
	assert.Error(t, err, "nothing listens after the stop")
	assert.False(t, strings.Contains(serving["grpc_addr"].(string), ":0"), "the child reports its bound port")
}
