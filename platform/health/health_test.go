package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

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

func TestReadinessFollowsRequiredChecksAndReportsOptionalOnes(t *testing.T) {
	h := New()
	dbErr, natsErr := error(nil), error(nil)
	h.AddCheck("database", func(context.Context) error { return dbErr })
	h.AddOptionalCheck("nats", func(context.Context) error { return natsErr })

	code, _ := readyz(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before Ready")

	h.Ready()
	code, body := readyz(t, h)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready", body["status"])

	natsErr = errors.New("connection closed")
	code, body = readyz(t, h)
	assert.Equal(t, http.StatusOK, code, "a lost broker degrades, it does not take the instance out")
	assert.Equal(t, "degraded", body["status"])

	dbErr = errors.New("connection refused")
	code, body = readyz(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "dependency_failed", body["status"])

	h.NotServing()
	resp, err := h.Server().Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, resp.GetStatus())
}
