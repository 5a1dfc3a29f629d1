package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func readyz(t *testing.T, h *Health) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.Readiness().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	return rec.Code, body
}

func healthz(t *testing.T, h *Health) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.Live().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	return rec.Code
}

func grpcStatus(t *testing.T, h *Health, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := h.Server().Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	require.NoError(t, err)
	return resp.GetStatus()
}

func TestReadinessFollowsRequiredChecksAndReportsOptionalOnes(t *testing.T) {
	h := New()
	dbErr, natsErr := error(nil), error(nil)
	h.AddCheck("database", func(context.Context) error { return dbErr })
	h.AddOptionalCheck("nats", func(context.Context) error { return natsErr })
	refresh := func() { h.RunChecks(context.Background(), time.Second) }

	refresh()
	code, _ := readyz(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before Ready")

	h.Ready()
	code, body := readyz(t, h)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready", body["status"])

	natsErr = errors.New("connection closed")
	refresh()
	code, body = readyz(t, h)
	assert.Equal(t, http.StatusOK, code, "a lost broker degrades, it does not take the instance out")
	assert.Equal(t, "degraded", body["status"])

	dbErr = errors.New("connection refused")
	refresh()
	code, body = readyz(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "dependency_failed", body["status"])

	h.NotServing()
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, grpcStatus(t, h, ""))
}

// A flood of /readyz must not reach the database: each probe serves the
// result the background Watch last stored.
func TestReadyzServesTheCachedResultAndRunsNoCheck(t *testing.T) {
	h := New()
	var calls atomic.Int64
	h.AddCheck("database", func(context.Context) error { calls.Add(1); return nil })
	code, body := readyz(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code, "no result yet: not serving")
	assert.Equal(t, "not_serving", body["status"])
	assert.Zero(t, calls.Load(), "a probe runs no check, even the first")

	_, ok := h.RunChecks(context.Background(), time.Second)
	require.True(t, ok)
	h.Ready()
	before := calls.Load()
	for range 200 {
		code, _ := readyz(t, h)
		require.Equal(t, http.StatusOK, code)
	}
	assert.Equal(t, before, calls.Load(), "200 probes ran the check %d more times", calls.Load()-before)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Watch(ctx, 10*time.Millisecond, time.Second)
	assert.Eventually(t, func() bool { return calls.Load() > before+2 }, 2*time.Second, 5*time.Millisecond,
		"the background Watch refreshes the result")
}

// A database outage flips readiness on both protocols, and liveness on
// neither: restarting every pod would not bring the database back.
func TestDatabaseOutageFlipsReadinessNotLiveness(t *testing.T) {
	h := New()
	var down atomic.Bool
	h.AddCheck("database", func(context.Context) error {
		if down.Load() {
			return errors.New("dial tcp 127.0.0.1:5432: connection refused")
		}
		return nil
	})
	h.Register("slipway.order.v1.OrderService")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Heartbeat(ctx, 10*time.Millisecond, time.Second)
	_, ok := h.RunChecks(ctx, time.Second)
	require.True(t, ok)
	h.Ready()
	go h.Watch(ctx, 10*time.Millisecond, time.Second)

	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, grpcStatus(t, h, ""))
	down.Store(true)
	require.Eventually(t, func() bool {
		return grpcStatus(t, h, "slipway.order.v1.OrderService") == healthpb.HealthCheckResponse_NOT_SERVING
	}, 2*time.Second, 5*time.Millisecond, "readiness follows the database")
	code, body := readyz(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "dependency_failed", body["status"])

	assert.Equal(t, http.StatusOK, healthz(t, h), "liveness does not follow the database")
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, grpcStatus(t, h, LivenessService))
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, grpcStatus(t, h, ""))

	down.Store(false)
	require.Eventually(t, func() bool { return grpcStatus(t, h, "") == healthpb.HealthCheckResponse_SERVING },
		2*time.Second, 5*time.Millisecond, "and comes back with it")
}

// A heartbeat that stops ticking (here: its goroutine ends, as it would if
// the runtime stopped scheduling it) fails liveness on both protocols.
func TestLivenessFailsWhenTheHeartbeatStalls(t *testing.T) {
	h := New()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Heartbeat(ctx, 5*time.Millisecond, 100*time.Millisecond); close(done) }()
	require.Eventually(t, func() bool { ok, _ := h.Alive(); return ok && h.beat.Load() != 0 }, time.Second, time.Millisecond)
	assert.Equal(t, http.StatusOK, healthz(t, h))
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, grpcStatus(t, h, LivenessService))

	stop()
	<-done
	require.Eventually(t, func() bool { return healthz(t, h) == http.StatusServiceUnavailable }, 2*time.Second, 10*time.Millisecond)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, grpcStatus(t, h, LivenessService))

	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	go h.Heartbeat(ctx2, 5*time.Millisecond, 100*time.Millisecond)
	require.Eventually(t, func() bool { return healthz(t, h) == http.StatusOK }, time.Second, 5*time.Millisecond, "a heartbeat that resumes is alive again")
}
