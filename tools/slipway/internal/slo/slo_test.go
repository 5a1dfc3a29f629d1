package slo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoSLO is the checked-in deploy/slo.yaml, from this package's directory.
var repoSLO = filepath.Join("..", "..", "..", "..", "deploy", "slo.yaml")

func TestLoad(t *testing.T) {
	slo, err := Load(repoSLO)
	require.NoError(t, err)
	assert.Equal(t, 1, slo.Version)
	assert.Equal(t, []Objective{
		{Metric: MetricCPU, Op: "<", Threshold: 0.75},
		{Metric: MetricP99, Op: "<=", Threshold: 0.32},
		{Metric: MetricDBIdle, Op: ">=", Threshold: 0.40},
		{Metric: MetricErrors, Op: "<", Threshold: 0.005},
		{Metric: MetricOutbox, Op: "<", Threshold: 30, Services: []string{"order"}},
	}, slo.Objectives)
	assert.Contains(t, slo.SuccessRateQuery, "slipway_rpc_requests_total")

	objective := func(body string) string {
		return "version: 1\nobjectives:\n  - " + strings.ReplaceAll(strings.TrimSpace(body), "\n", "\n    ") + "\n"
	}
	bad := []struct {
		name, doc, want string
	}{
		{"empty", "", "empty"},
		{"no version", "objectives:\n  - {metric: error_rate, op: '<', threshold: 0.01}\n", "version must be a positive integer"},
		{"no objectives", "version: 1\n", "no objectives"},
		{"unknown key", "version: 1\nthresholds: {}\n", "field thresholds not found"},
		{"unknown metric", objective("metric: p95_latency\nop: '<'\nthreshold: 1"), `unknown metric "p95_latency"`},
		{"wrong direction", objective("metric: cpu_utilisation\nop: '>'\nthreshold: 0.5"), "lower is better"},
		{"wrong direction for idle", objective("metric: db_idle_connections_ratio\nop: '<'\nthreshold: 0.5"), "higher is better"},
		{"bad op", objective("metric: error_rate\nop: '=='\nthreshold: 0.5"), "want <, <=, > or >="},
		{"no threshold", objective("metric: error_rate\nop: '<'"), "threshold is required"},
		{"duration for a ratio", objective("metric: error_rate\nop: '<'\nthreshold: 5ms"), "is a duration but the metric is a ratio"},
		{"not a number", objective("metric: p99_latency\nop: '<'\nthreshold: fast"), "neither a number nor a duration"},
		{"negative", objective("metric: p99_latency\nop: '<'\nthreshold: -1"), "want a finite number >= 0"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	t.Run("missing success-rate file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "slo.yaml")
		raw, err := os.ReadFile(repoSLO)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, raw, 0o600))
		_, err = Load(path)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "success_rate_promql")
	})
}
