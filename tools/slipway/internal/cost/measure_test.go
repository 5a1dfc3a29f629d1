package cost

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadLoadReport(t *testing.T) {
	m, err := ReadLoadReport(filepath.Join("testdata", "load-report.json"))
	require.NoError(t, err)
	want := fixtureMeasurement()
	assert.Equal(t, want.Seconds, m.Seconds)
	assert.Equal(t, want.Orders, m.Orders)
	require.Len(t, m.Services, len(want.Services))
	for i, u := range want.Services {
		assert.Equal(t, u.Service, m.Services[i].Service)
		assert.InDelta(t, u.CPUSeconds, m.Services[i].CPUSeconds, 1e-9)
		assert.InDelta(t, u.MemGiB, m.Services[i].MemGiB, 1e-9, "rss_bytes_avg in GiB")
	}
}

func TestReadLoadReportErrors(t *testing.T) {
	usage := `"usage": {"elapsed_s": 60, "orders": 10, "services": [{"service": "order", "cpu_seconds": 1, "rss_bytes_avg": 1}]}`
	tests := []struct {
		name, body, want string
	}{
		{"not JSON", `scenario: create-order`, "not slipway load's JSON result"},
		{"a capacity result", `{"steps": []}`, "no scenario"},
		{"another scenario", `{"scenario": "rpc", ` + usage + `}`, "scenario rpc places no orders"},
		{"no usage", `{"scenario": "create-order"}`, "no services' CPU and memory"},
		{"the metrics were unreadable", `{"scenario": "create-order", "metrics_error": "order at http://x has no process_cpu_seconds_total"}`, "could not read the services' /metrics: order at http://x"},
		{"no orders count", `{"scenario": "create-order", ` + strings.Replace(usage, `"orders": 10, `, "", 1) + `}`, "usage has no orders count"},
		{"no order placed", `{"scenario": "create-order", ` + strings.Replace(usage, `"orders": 10`, `"orders": 0`, 1) + `}`, "no order was placed"},
		{"no span", `{"scenario": "create-order", ` + strings.Replace(usage, `"elapsed_s": 60`, `"elapsed_s": 0`, 1) + `}`, "usage.elapsed_s 0"},
		{"negative usage", `{"scenario": "create-order", ` + strings.Replace(usage, `"cpu_seconds": 1`, `"cpu_seconds": -1`, 1) + `}`, "service order: negative usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.json")
			require.NoError(t, os.WriteFile(path, []byte(tt.body), 0o600))
			_, err := ReadLoadReport(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := ReadLoadReport(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorContains(t, err, "load report: open")
}

// fakePrometheus answers /api/v1/query with the vector answer gives for
// the query, and keeps the queries it was sent.
func fakePrometheus(t *testing.T, answer func(query string) []map[string]any) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		q := r.FormValue("query")
		mu.Lock()
		queries = append(queries, q)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": answer(q)}})
	}))
	t.Cleanup(srv.Close)
	return srv, &queries
}

func sample(labels map[string]string, v float64) map[string]any {
	return map[string]any{"metric": labels, "value": []any{1.7e9, fmt.Sprint(v)}}
}

func TestQueryPrometheus(t *testing.T) {
	orders := 1200.0
	srv, queries := fakePrometheus(t, func(q string) []map[string]any {
		switch {
		case strings.Contains(q, "process_cpu_seconds_total"):
			return []map[string]any{sample(map[string]string{"service": "user"}, 30), sample(map[string]string{"service": "order"}, 90)}
		case strings.Contains(q, "process_resident_memory_bytes"):
			return []map[string]any{sample(map[string]string{"service": "order"}, 1<<29), sample(map[string]string{"service": "user"}, 1<<28)}
		case strings.Contains(q, "CreateOrder"):
			if orders == 0 {
				return nil
			}
			return []map[string]any{sample(nil, orders)}
		}
		return nil
	})
	at := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	m, err := QueryPrometheus(t.Context(), srv.URL, 10*time.Minute, at, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, 600.0, m.Seconds)
	assert.Equal(t, 1200.0, m.Orders)
	assert.Equal(t, []Usage{{Service: "order", CPUSeconds: 90, MemGiB: 0.5}, {Service: "user", CPUSeconds: 30, MemGiB: 0.25}}, m.Services)
	assert.Contains(t, m.Source, "10m to 2026-12-07T23:00:00Z")
	require.Len(t, *queries, 3)
	for _, q := range *queries {
		assert.Contains(t, q, "[10m]", "every query covers the window")
	}
	assert.Contains(t, (*queries)[0], "group_left (service) group by (instance, job, service) (slipway_config_info)", "the process series get their service")
	assert.Contains(t, (*queries)[2], `slipway_rpc_requests_total{service="order",rpc_method="CreateOrder",code="OK"}`)

	t.Run("no orders in the window", func(t *testing.T) {
		orders = 0
		_, err := QueryPrometheus(t.Context(), srv.URL, time.Minute, at, 5*time.Second)
		require.ErrorContains(t, err, "no CreateOrder succeeded in the window")
	})
	t.Run("no services scraped", func(t *testing.T) {
		empty, _ := fakePrometheus(t, func(string) []map[string]any { return nil })
		_, err := QueryPrometheus(t.Context(), empty.URL, time.Minute, at, 5*time.Second)
		require.ErrorContains(t, err, "does it scrape the services?")
	})
	t.Run("Prometheus is not there", func(t *testing.T) {
		_, err := QueryPrometheus(t.Context(), "http://127.0.0.1:1", time.Minute, at, time.Second)
		require.ErrorContains(t, err, "query Prometheus at http://127.0.0.1:1")
	})
}
