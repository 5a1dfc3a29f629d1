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

// record keeps the load second by second and the PostgreSQL outages of
// the timeline, for the HTML report's charts.
func TestRunRecordKeepsTheSecondsAndTheOutages(t *testing.T) {
	exp, err := parseExperiment([]byte(minimalExperiment))
	require.NoError(t, err)
	r := &run{exp: exp, progress: func(string, ...any) {}, start: time.Now()}
	for i := range 25 { // 10/s for 2.5 s; second 1 has 2 errors
		s := sample{at: time.Duration(i) * 100 * time.Millisecond, latency: time.Duration(i+1) * time.Millisecond, code: loadgen.CodeOK}
		if i == 12 || i == 17 {
			s.code = "Unavailable"
		}
		r.samples = append(r.samples, s)
	}
	done := make(chan struct{})
	close(done)
	probe := &outageProbe{cancel: func() {}, done: done, from: r.start.Add(15020 * time.Millisecond), to: r.start.Add(15210 * time.Millisecond)}
	r.recordOutage(&pgRestart{probe: probe})

	rep := &Report{}
	r.record(rep, loadFigures{}, thresholds{SuccessRate: 0.9, P99: time.Second})
	require.Len(t, rep.PerSecond, 30, "the load's 30 s, though the samples stop at 2.5 s")
	for i, want := range []loadgen.TimelineSecond{
		{Second: 0, Count: 10, P50: 5, P99: 10, Max: 10},
		{Second: 1, Count: 10, Errors: 2, P50: 15, P99: 20, Max: 20},
	} {
		got := rep.PerSecond[i]
		assert.Equal(t, [3]int64{int64(want.Second), want.Count, want.Errors}, [3]int64{int64(got.Second), got.Count, got.Errors}, "second %d", i)
		assert.InDelta(t, want.P50, got.P50, 0.05, "second %d: p50 (to the histogram's precision)", i)
		assert.InDelta(t, want.P99, got.P99, 0.05, "second %d: p99", i)
		assert.InDelta(t, want.Max, got.Max, 0.05, "second %d: max", i)
	}
	assert.Equal(t, int64(5), rep.PerSecond[2].Count)
	assert.Equal(t, loadgen.TimelineSecond{Second: 29}, rep.PerSecond[29], "nothing due: an empty second")
	assert.Equal(t, []span{{FromSec: 15.02, ToSec: 15.21}}, rep.Outages, "read back from the timeline's line")
}

func TestOutagesReadOnlyTheOutageLines(t *testing.T) {
	events := []event{
		{AtSec: 15, What: "fault on: PostgreSQL 17/main restarted (-m fast) in 2.40s"},
		{AtSec: 15.3, What: "PostgreSQL refused connections for 0.19s, from t+15.02s to t+15.21s (probed every 20ms)"},
		{AtSec: 20, What: "PostgreSQL never refused a probe (every 20ms): no outage seen"},
		{AtSec: 30.1, What: "PostgreSQL refused connections for 1.58s, from t+28.50s to t+30.08s (probed every 20ms)"},
	}
	assert.Equal(t, []span{{15.02, 15.21}, {28.5, 30.08}}, outages(events))
	assert.Empty(t, outages(events[:1]))
	assert.Empty(t, outages(nil))
}
