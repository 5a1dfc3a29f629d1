package sweeper_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/inventory/internal/sweeper"
)

// expirer is a scripted Expirer: each call returns the next result.
type expirer struct {
	mu      sync.Mutex
	results []result
	calls   int
}

type result struct {
	n   int
	err error
}

func (e *expirer) ExpireReservations(context.Context) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	if len(e.results) == 0 {
		return 0, nil
	}
	r := e.results[0]
	e.results = e.results[1:]
	return r.n, r.err
}

func (e *expirer) callCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

const metrics = `
# HELP slipway_inventory_reservation_sweep_failures_total Sweeps that could not release every expired reservation; they are retried on the next sweep.
# TYPE slipway_inventory_reservation_sweep_failures_total counter
slipway_inventory_reservation_sweep_failures_total 1
# HELP slipway_inventory_reservations_expired_total Reservations released by the sweeper because their TTL passed before their order committed them.
# TYPE slipway_inventory_reservations_expired_total counter
slipway_inventory_reservations_expired_total 5
`

func TestRunSweepsAtOnceThenOnItsInterval(t *testing.T) {
	ex := &expirer{results: []result{{n: 2}, {n: 1, err: errors.New("product gone")}, {n: 2}}}
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	reg := prometheus.NewRegistry()
	s, err := sweeper.New(ex, 10*time.Millisecond, logger, reg)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.Eventually(t, func() bool { return ex.callCount() >= 4 }, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "a stopped sweeper is no failure")
	case <-time.After(5 * time.Second):
		t.Fatal("the sweeper did not stop")
	}

	assert.NoError(t, testutil.GatherAndCompare(reg, bytes.NewBufferString(metrics)),
		"every released reservation counted, failed sweep included; one failure")
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, logs.String(), `"msg":"reservation sweep failed"`)
	assert.Contains(t, logs.String(), "product gone")
}

func TestSweepWhileStoppingIsNoFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	reg := prometheus.NewRegistry()
	s, err := sweeper.New(&expirer{results: []result{{err: context.Canceled}}}, time.Second, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	assert.Zero(t, s.Sweep(ctx))
	n, err := testutil.GatherAndCount(reg, "slipway_inventory_reservation_sweep_failures_total")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		assert.Zero(t, mf.GetMetric()[0].GetCounter().GetValue(), mf.GetName())
	}
}

func TestNewRefusesAnIntervalThatIsNotPositive(t *testing.T) {
	_, err := sweeper.New(&expirer{}, 0, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	assert.ErrorContains(t, err, "interval")
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
