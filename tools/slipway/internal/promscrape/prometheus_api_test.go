package promscrape

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
)

// fakePrometheus answers /api/v1/query as Prometheus' HTTP API does, with
// answer(query) as the result; it records every query asked. Prometheus is
// not ours to run in every test; TestRunPrometheus in package ready
// runs the real one where it is installed.
type fakePrometheus struct {
	mu      sync.Mutex
	queries []string
	answer  func(q string) (resultType string, result any)
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	q := r.Form.Get("query")
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	typ, result := f.answer(q)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status": "success", "data": map[string]any{"resultType": typ, "result": result},
	})
}

// vector is an instant vector with one sample per service.
func vector(values map[string]string) []map[string]any {
	var out []map[string]any
	for svc, v := range values {
		out = append(out, map[string]any{"metric": map[string]string{"service": svc}, "value": []any{1.7e9, v}})
	}
	return out
}

func measureWith(t *testing.T, f *fakePrometheus, spec slo.File) (slo.Measurement, error) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return MeasurePrometheus(t.Context(), Options{
		Prometheus: srv.URL, Window: 30 * time.Second, Timeout: 2 * time.Second,
		Now: func() time.Time { return time.Unix(1.7e9, 0) },
	}, spec)
}

func TestMeasurePrometheus(t *testing.T) {
	spec := slo.File{Objectives: []slo.Objective{
		{Metric: slo.MetricErrors, Op: "<", Threshold: 0.01},
		{Metric: slo.MetricP99, Op: "<", Threshold: 0.3},
		{Metric: slo.MetricErrors, Op: "<", Threshold: 0.05, Services: []string{"order"}}, // asked once
	}}
	f := &fakePrometheus{answer: func(q string) (string, any) {
		switch {
		case q == promServicesQuery:
			return "vector", vector(map[string]string{"user": "1", "order": "1"})
		case strings.Contains(q, `service="user"`):
			return "vector", vector(map[string]string{"user": "0.99"})
		case strings.Contains(q, `service="order"`):
			return "vector", []any{} // no requests yet
		case strings.HasPrefix(q, "histogram_quantile"):
			return "vector", vector(map[string]string{"user": "0.12"})
		}
		return "vector", []any{}
	}}
	m, err := measureWith(t, f, spec)
	require.NoError(t, err)
	assert.Equal(t, []string{"order", "user"}, m.Services, "sorted")
	assert.InDelta(t, 0.01, m.Values[slo.MetricErrors]["user"], 1e-9, "1 - success rate")
	assert.True(t, math.IsNaN(m.Values[slo.MetricErrors]["order"]), "no requests: N/A")
	assert.InDelta(t, 0.12, m.Values[slo.MetricP99]["user"], 1e-9)
	assert.True(t, math.IsNaN(m.Values[slo.MetricP99]["order"]))
	assert.Len(t, f.queries, 4, "services, the success rate per service, p99: %q", f.queries)
	assert.Contains(t, f.queries[1], "[30s]", "the window is the range of every rate")
}

func TestMeasurePrometheusErrors(t *testing.T) {
	services := func(q string) (string, any) {
		return "vector", vector(map[string]string{"user": "1"})
	}
	tests := []struct {
		name   string
		answer func(q string) (string, any)
		want   string
	}{
		{"no services", func(string) (string, any) { return "vector", []any{} }, "no slipway_config_info series"},
		{"not a vector", func(q string) (string, any) {
			if q == promServicesQuery {
				return services(q)
			}
			return "scalar", []any{1.7e9, "1"}
		}, "want an instant vector, got scalar"},
		{"two results for one service", func(q string) (string, any) {
			if q == promServicesQuery {
				return services(q)
			}
			twice := append(vector(map[string]string{"user": "1"}), vector(map[string]string{"user": "2"})...)
			return "vector", twice
		}, "more than one result for service user"},
	}
	spec := slo.File{Objectives: []slo.Objective{{Metric: slo.MetricCPU, Op: "<", Threshold: 0.8}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := measureWith(t, &fakePrometheus{answer: tt.answer}, spec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		_, err := MeasurePrometheus(t.Context(), Options{Prometheus: srv.URL, Window: time.Minute, Timeout: time.Second, Now: time.Now}, spec)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "query Prometheus at "+srv.URL)
	})
}
