package chaos

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSLODefaultsComeFromTheSLOFile(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	spec, err := slo.Load(filepath.Join(root, "deploy", "slo.yaml"))
	require.NoError(t, err)
	th, err := sloDefaults(spec)
	require.NoError(t, err)
	assert.InDelta(t, 0.995, th.SuccessRate, 0, "1 - error_rate 0.005, exactly")
	assert.Equal(t, 320*time.Millisecond, th.P99)
	assert.Nil(t, th.FaultP99)

	spec.Objectives = slices.DeleteFunc(spec.Objectives, func(o slo.Objective) bool { return o.Metric == slo.MetricP99 })
	_, err = sloDefaults(spec)
	assert.ErrorContains(t, err, "one is missing")
}

func TestThresholdOverrides(t *testing.T) {
	def := thresholds{SuccessRate: 0.995, P99: 320 * time.Millisecond, Source: "deploy/slo.yaml"}
	exp, err := parseExperiment([]byte(minimalExperiment + "analysis: {p99: 1s, fault_window_p99: 2s, reason: slow}\n"))
	require.NoError(t, err)
	exp.File = "x.yaml"
	th := exp.thresholds(def)
	assert.InDelta(t, 0.995, th.SuccessRate, 0, "not overridden")
	assert.Equal(t, time.Second, th.P99)
	require.NotNil(t, th.FaultP99)
	assert.Equal(t, 2*time.Second, *th.FaultP99)
	assert.Equal(t, "x.yaml (analysis), else deploy/slo.yaml", th.Source)
}

func TestAnalyse(t *testing.T) {
	th := thresholds{SuccessRate: 0.995, P99: 320 * time.Millisecond}
	figures := func(ok, total int64, p99 float64) loadFigures {
		return loadFigures{Requests: total, OK: ok, Errors: total - ok, SuccessRate: float64(ok) / float64(total), P99: p99}
	}
	tests := []struct {
		name        string
		load        loadFigures
		wantSuccess bool
		wantP99     bool
	}{
		{"all good", figures(1000, 1000, 50), true, true},
		{"exactly at the success threshold", figures(995, 1000, 50), true, true},
		{"just under the success threshold", figures(994, 1000, 50), false, true},
		{"p99 exactly at the SLO", figures(1000, 1000, 320), true, true},
		{"p99 over the SLO", figures(1000, 1000, 320.5), true, false},
		{"nothing completed", loadFigures{}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := analyse(th, tt.load, nil)
			require.Len(t, checks, 2, "no fault-window check unless asked for")
			assert.Equal(t, tt.wantSuccess, checks[0].Passed, checks[0].Observed)
			assert.Equal(t, tt.wantP99, checks[1].Passed, checks[1].Observed)
		})
	}
	t.Run("fault window p99", func(t *testing.T) {
		limit := 200 * time.Millisecond
		th := th
		th.FaultP99 = &limit
		checks := analyse(th, figures(1000, 1000, 50), &windowFigures{Requests: 10, SuccessRate: 1, P99: 250})
		require.Len(t, checks, 4)
		assert.Equal(t, "p99 latency in the fault window", checks[3].Metric)
		assert.False(t, checks[3].Passed)
		assert.Equal(t, "250ms", checks[3].Observed)
		checks = analyse(th, figures(1000, 1000, 50), &windowFigures{})
		assert.False(t, checks[3].Passed, "an empty window cannot show the gate holds")
	})
	t.Run("fault window success rate", func(t *testing.T) {
		// 10 errors in 2000 requests pass overall (99.5%), but all 10 in a
		// window of 100 is 90% there.
		window := &windowFigures{Requests: 100, Errors: 10, SuccessRate: 0.9}
		checks := analyse(th, figures(1990, 2000, 50), window)
		require.Len(t, checks, 3)
		assert.True(t, checks[0].Passed, checks[0].Observed)
		assert.Equal(t, "success rate in the fault window", checks[1].Metric)
		assert.False(t, checks[1].Passed, checks[1].Observed)
		assert.Equal(t, "90.00% (90 of 100)", checks[1].Observed)
		least := 0.85
		th := th
		th.FaultSuccessRate = &least
		checks = analyse(th, figures(1990, 2000, 50), window)
		assert.True(t, checks[1].Passed, "an experiment may set the window's own threshold")
		assert.Equal(t, ">= 85.00%", checks[1].Condition)
		checks = analyse(th, figures(1990, 2000, 50), &windowFigures{})
		assert.False(t, checks[1].Passed, "an empty window cannot show the gate holds")
	})
}

func TestWindowStatsSplitsAtTheFaultWindow(t *testing.T) {
	var samples []sample
	for i := range 100 {
		s := sample{at: time.Duration(i) * 100 * time.Millisecond, latency: 10 * time.Millisecond, code: loadgen.CodeOK}
		if i >= 30 && i < 50 { // the window is 3s..5s
			s.latency = 200 * time.Millisecond
			if i%4 == 0 {
				s.code = "Unavailable"
			}
		}
		samples = append(samples, s)
	}
	w := windowStats(samples, 3*time.Second, 5*time.Second)
	assert.Equal(t, int64(20), w.Requests)
	assert.Equal(t, int64(5), w.Errors)
	assert.InDelta(t, 0.75, w.SuccessRate, 1e-9)
	assert.InDelta(t, 200, w.P99, 0.5)
	assert.Equal(t, []loadgen.ErrorCount{{Code: "Unavailable", Count: 5}}, w.Codes)
	assert.InDelta(t, 3.0, w.FromSec, 0)

	outside := windowStats(samples, 0, 3*time.Second)
	assert.Zero(t, outside.Errors)
	assert.InDelta(t, 10, outside.P99, 0.1)
}

func TestReportVerdictAndRendering(t *testing.T) {
	r := &Report{Experiment: "x", File: "deploy/chaos/x.yaml", Scale: 1, Database: "SQLite", Broker: "embedded JetStream",
		Load: loadFigures{Rate: 10, DurationSec: 5, Requests: 50, OK: 40, Errors: 10, SuccessRate: 0.8, P99: 30,
			Codes: []loadgen.ErrorCount{{Code: "Unavailable", Count: 10, Example: "injected fault"}}},
		Analysis: []check{{Metric: "success rate", Condition: ">= 99.50%", Observed: "80.00% (40 of 50)"}, {Metric: "p99 latency", Condition: "<= 320ms", Observed: "30.0ms", Passed: true}},
		Invariants: []invariant{
			{Name: invStock, Passed: true, Checked: 3},
			{Name: invNotifications, Checked: 40, Violations: 1, Examples: []string{"order o1 (PLACED) has 0 ORDER_PLACED notification(s), want 1"}},
		},
	}
	r.verdict()
	assert.False(t, r.Passed)
	assert.Equal(t, []string{
		"analysis: success rate >= 99.50%, observed 80.00% (40 of 50)",
		`invariant "one notification per order event": 1 violation(s), e.g. order o1 (PLACED) has 0 ORDER_PLACED notification(s), want 1`,
	}, r.Failures)

	var out bytes.Buffer
	printReport(&out, r)
	assert.Regexp(t, `success rate\s+>= 99.50%\s+80.00% \(40 of 50\)\s+FAIL`, out.String())
	assert.Regexp(t, `no stock below zero\s+invariant\s+3 checked, 0 violation\(s\)\s+PASS`, out.String())
	assert.Contains(t, out.String(), "error codes: Unavailable 10")
	assert.Contains(t, out.String(), "x: FAIL")
	md := markdown(r)
	assert.Contains(t, md, "# Chaos experiment `x`: FAIL")
	assert.Contains(t, md, "| success rate | >= 99.50% | 80.00% (40 of 50) | FAIL |")
	assert.Contains(t, md, "| Unavailable | 10 | injected fault |")
}
