package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
)

func TestCapacityRates(t *testing.T) {
	tests := []struct {
		name string
		c    CapacityOptions
		want []float64
	}{
		{"the defaults: up by half, whole rates", CapacityOptions{StartRate: 25, StepFactor: 1.5, MaxRate: 1000},
			[]float64{25, 38, 57, 86, 129, 194, 291, 437, 656, 984}},
		{"by increment, max included", CapacityOptions{StartRate: 50, StepFactor: 1.5, StepIncrement: 50, MaxRate: 200},
			[]float64{50, 100, 150, 200}},
		{"fractional low rates are kept", CapacityOptions{StartRate: 2.5, StepFactor: 2, MaxRate: 12},
			[]float64{2.5, 5, 10}},
		{"one step when start is max", CapacityOptions{StartRate: 40, StepFactor: 2, MaxRate: 40}, []float64{40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.c.rates())
		})
	}
}

// fakeSteps is a system whose p99 grows with the rate (rate × msPerRate)
// and which errs above failAbove.
func fakeSteps(msPerRate, failAbove float64, ran *[]float64) stepRunner {
	return func(_ context.Context, rate float64) (capacityStep, error) {
		*ran = append(*ran, rate)
		s := capacityStep{Latency: loadgen.Latency{P50: rate * msPerRate / 4, P99: rate * msPerRate}, OK: int64(rate)}
		if rate > failAbove {
			s.Errors, s.ErrorRate = 1, 0.01
		}
		return s, nil
	}
}

func TestFindCapacityStopsAtTheFirstStepThatDoesNotHold(t *testing.T) {
	c := CapacityOptions{StartRate: 10, StepFactor: 2, MaxRate: 1000, SLO: 100 * time.Millisecond, MaxErrorRate: 0.005}
	tests := []struct {
		name        string
		msPerRate   float64
		failAbove   float64
		wantRan     []float64
		wantKnee    float64
		wantLimited bool
		wantWhy     string
	}{
		{"p99 passes the SLO at 80/s", 2, 1e9, []float64{10, 20, 40, 80}, 40, true, "p99 160ms > 100ms"},
		{"p99 at the SLO exactly holds", 2.5, 1e9, []float64{10, 20, 40, 80}, 40, true, "p99 200ms > 100ms"},
		{"errors above 0.5% from 160/s", 0.1, 100, []float64{10, 20, 40, 80, 160}, 80, true, "errors 1.00% > 0.50%"},
		{"both at once", 1, 30, []float64{10, 20, 40}, 20, true, "errors 1.00% > 0.50%"},
		{"the first step fails: no knee", 20, 1e9, []float64{10}, 0, true, "p99 200ms > 100ms"},
		{"every step holds: the capacity is above --max-rate", 0.01, 1e9, []float64{10, 20, 40, 80, 160, 320, 640}, 640, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran []float64
			var seen []string
			steps, knee, limited, err := findCapacity(t.Context(), c, fakeSteps(tt.msPerRate, tt.failAbove, &ran),
				func(i, n int, s capacityStep) { seen = append(seen, fmt.Sprintf("%d/%d %v", i+1, n, s.Rate)) })
			require.NoError(t, err)
			assert.Equal(t, tt.wantRan, ran, "no step runs after one fails")
			assert.Equal(t, tt.wantKnee, knee)
			assert.Equal(t, tt.wantLimited, limited)
			require.Len(t, steps, len(tt.wantRan))
			assert.Len(t, seen, len(tt.wantRan), "each step is reported as it ends")
			for _, s := range steps[:len(steps)-1] {
				assert.True(t, s.Held, "%v/s", s.Rate)
			}
			last := steps[len(steps)-1]
			assert.Equal(t, !tt.wantLimited, last.Held)
			assert.Equal(t, tt.wantWhy, last.Why)
		})
	}
	t.Run("p99 exactly at the SLO holds", func(t *testing.T) {
		held, why := c.judge(capacityStep{Latency: loadgen.Latency{P99: 100}, ErrorRate: 0.005})
		assert.True(t, held, why)
	})
	t.Run("a step that cannot run ends the search with its error", func(t *testing.T) {
		boom := errors.New("boom")
		calls := 0
		steps, knee, _, err := findCapacity(t.Context(), c, func(context.Context, float64) (capacityStep, error) {
			calls++
			if calls == 2 {
				return capacityStep{}, boom
			}
			return capacityStep{}, nil
		}, nil)
		require.ErrorIs(t, err, boom)
		assert.Len(t, steps, 1)
		assert.Equal(t, 10.0, knee)
	})
}

// rateLimitedInventory answers GetProduct until more than limit calls
// arrived within the last second, and Unavailable beyond: a system whose
// capacity is limit requests a second.
type rateLimitedInventory struct {
	inventoryv1.UnimplementedInventoryServiceServer
	limit int
	calls atomic.Int64
	mu    sync.Mutex
	times []time.Time
}

func (f *rateLimitedInventory) GetProduct(_ context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	f.calls.Add(1)
	now := time.Now()
	f.mu.Lock()
	keep := f.times[:0]
	for _, at := range f.times {
		if now.Sub(at) < time.Second {
			keep = append(keep, at)
		}
	}
	f.times = append(keep, now)
	over := len(f.times) > f.limit
	f.mu.Unlock()
	if over {
		return nil, status.Error(codes.Unavailable, "over capacity")
	}
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: req.GetId()}}, nil
}

func TestRunFindCapacityAgainstARateLimit(t *testing.T) {
	// Capacity 45/s. Steps of 1s at 10, 30 and 90/s: the second holds
	// (a second holds at most its 30 calls and 10 of the step before), the
	// third cannot.
	inv := &rateLimitedInventory{limit: 45}
	addr := serveGRPC(t, func(s *grpc.Server) { inventoryv1.RegisterInventoryServiceServer(s, inv) })
	// Each service's /metrics: 2 ms of CPU per call it answered, 50 MiB.
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", float64(inv.calls.Load())*0.002)
		fmt.Fprintf(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", 50<<20)
	}))
	t.Cleanup(metrics.Close)

	out := filepath.Join(t.TempDir(), "capacity.json")
	var stdout, stderr bytes.Buffer
	code := runCLI(t.Context(), []string{"load", "--find-capacity", "--json", "--out", out,
		"--scenario", "rpc", "--addr", addr, "--method", "slipway.inventory.v1.InventoryService/GetProduct", "--data", `{"id":"x"}`,
		"--start-rate", "10", "--step-factor", "3", "--max-rate", "100", "--step-duration", "1s",
		"--metrics", "inventory=" + strings.TrimPrefix(metrics.URL, "http://"),
	}, &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{}})
	require.Equal(t, cli.ExitOK, code, stderr.String())

	var res capacityResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), stdout.String())
	onDisk, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.JSONEq(t, stdout.String(), string(onDisk), "--json prints the result written to --out")

	require.Len(t, res.Steps, 3, "the search stops at the step that failed")
	assert.Equal(t, 30.0, res.Knee)
	assert.True(t, res.Limited)
	for i, want := range []float64{10, 30, 90} {
		s := res.Steps[i]
		assert.Equal(t, want, s.Rate)
		assert.Equal(t, int(want), s.Planned)
		assert.Equal(t, i < 2, s.Held, "%v/s", want)
		if i < 2 {
			assert.Equal(t, int64(want), s.OK)
			assert.Zero(t, s.Errors)
			// The CPU the fake spent per call, read from its /metrics.
			require.Len(t, s.Services, 1)
			assert.Equal(t, serviceUsage{Service: "inventory", CPUMSPerRequest: 2, CPUCores: s.Services[0].CPUCores, RSSMB: 50}, s.Services[0])
		}
	}
	failed := res.Steps[2]
	assert.Positive(t, failed.Errors)
	assert.Contains(t, failed.Why, "errors")
	require.NotEmpty(t, failed.TopErrors)
	assert.Equal(t, "Unavailable", failed.TopErrors[0].Code)
	assert.Contains(t, stderr.String(), "step 3/3  90/s", "progress: a line per step")
	assert.Equal(t, int64(10+30+90), inv.calls.Load(), "every planned request was sent, none after the failed step")

	t.Run("the table", func(t *testing.T) {
		var b bytes.Buffer
		printCapacity(&b, res)
		assert.Contains(t, b.String(), "knee: 30/s, the last step that held; 90/s did not (errors")
		assert.Contains(t, b.String(), "inventory cpu-ms")
	})
}

func TestFindCapacityUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--find-capacity", "--rate", "10"}, "--rate is for a run at one rate"},
		{[]string{"--find-capacity", "--duration", "10s"}, "--duration is for a run at one rate"},
		{[]string{"--start-rate", "5"}, "--start-rate is for --find-capacity"},
		{[]string{"--metrics", "user=10.1.2.3:8081"}, "only sends traffic to loopback"},
		{[]string{"--find-capacity", "--start-rate", "0"}, "--start-rate 0"},
		{[]string{"--find-capacity", "--start-rate", "20", "--max-rate", "10"}, "--max-rate 10"},
		{[]string{"--find-capacity", "--max-rate", "6000"}, "--max-rate 6000"},
		{[]string{"--find-capacity", "--step-factor", "1"}, "--step-factor 1"},
		{[]string{"--find-capacity", "--step-factor", "2", "--step-increment", "5"}, "give one, not both"},
		{[]string{"--find-capacity", "--step-increment", "-5"}, "--step-increment -5"},
		{[]string{"--find-capacity", "--step-duration", "500ms"}, "--step-duration 500ms"},
		{[]string{"--find-capacity", "--step-duration", "2m"}, "at most 10m0s in all"},
		{[]string{"--find-capacity", "--start-rate", "1", "--step-increment", "1", "--max-rate", "100"}, "more than 50 steps"},
		{[]string{"--find-capacity", "--slo", "0s"}, "--slo 0s"},
		{[]string{"--find-capacity", "--max-error-rate", "1"}, "--max-error-rate 1"},
		{[]string{"--find-capacity", "--metrics", "junk"}, `--metrics "junk"`},
		{[]string{"--find-capacity", "--metrics", "user=10.1.2.3:8081"}, "only sends traffic to loopback"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
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
