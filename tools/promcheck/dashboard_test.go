package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleDashboard = `{
  "uid": "x",
  "templating": {"list": [
    {"name": "service", "type": "query", "query": {"query": "label_values(slipway_rpc_requests_total, service)", "refId": "s"},
     "includeAll": true, "allValue": ".*"}
  ]},
  "panels": [
    {"type": "timeseries", "title": "Top", "targets": [{"refId": "A", "expr": "up"}]},
    {"type": "row", "title": "Open row"},
    {"type": "stat", "title": "In open row", "targets": [
      {"refId": "A", "expr": "sum(rate(a_total{service=~\"$service\"}[$__rate_interval]))"},
      {"refId": "B", "expr": "hidden", "hide": true},
      {"refId": "C", "expr": "  "}
    ]},
    {"type": "row", "title": "Collapsed", "collapsed": true, "panels": [
      {"type": "timeseries", "title": "Inside", "targets": [{"refId": "A", "expr": "b"}]}
    ]},
    {"type": "row", "title": "Per $service", "repeat": "service"},
    {"type": "timeseries", "title": "Repeated", "targets": [{"refId": "A", "expr": "c{service=~\"$service\"}"}]}
  ]
}`

func writeDashboard(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "d.json")
	require.NoError(t, os.WriteFile(f, []byte(body), 0o600))
	return f
}

func TestQueriesWalksRowsAndSkipsHiddenTargets(t *testing.T) {
	d, err := ReadDashboard(writeDashboard(t, sampleDashboard))
	require.NoError(t, err)
	assert.Equal(t, []PanelQuery{
		{Panel: "Top", RefID: "A", Expr: "up"},
		{Panel: "Open row / In open row", RefID: "A", Expr: `sum(rate(a_total{service=~"$service"}[$__rate_interval]))`},
		{Panel: "Collapsed / Inside", RefID: "A", Expr: "b"},
		{Panel: "Per $service / Repeated", RefID: "A", Expr: `c{service=~"$service"}`, Repeat: "service"},
	}, d.Queries())
}

func TestReadDashboardRejectsBadJSON(t *testing.T) {
	_, err := ReadDashboard(writeDashboard(t, `{"panels": [`))
	require.Error(t, err)
	_, err = ReadDashboard(filepath.Join(t.TempDir(), "missing.json"))
	require.Error(t, err)
}

func TestLabelValuesQuery(t *testing.T) {
	tests := []struct {
		name            string
		v               Variable
		selector, label string
		wantErr         string
	}{
		{"object query", Variable{Name: "s", Query: []byte(`{"query": "label_values(up{job=\"x\"}, instance)"}`)}, `up{job="x"}`, "instance", ""},
		{"string query", Variable{Name: "s", Query: []byte(`"label_values(service)"`)}, "", "service", ""},
		{"definition only", Variable{Name: "s", Definition: "label_values(m, service)"}, "m", "service", ""},
		{"other query", Variable{Name: "s", Query: []byte(`"query_result(up)"`)}, "", "", "only label_values"},
		{"bad query field", Variable{Name: "s", Query: []byte(`42`)}, "", "", "neither a string nor an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			selector, label, err := tt.v.LabelValuesQuery()
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.selector, selector)
			assert.Equal(t, tt.label, label)
		})
	}
}

func TestSubstitute(t *testing.T) {
	b := Builtins{RateInterval: "1m", Interval: "15s", RangeSeconds: 40}
	vars := map[string]string{"service": ".*", "peer": "order"}
	tests := []struct {
		expr, want, wantErr string
	}{
		{`rate(x{service=~"$service"}[$__rate_interval])`, `rate(x{service=~".*"}[1m])`, ""},
		{`rate(x{service=~"${service}"}[$__interval])`, `rate(x{service=~".*"}[15s])`, ""},
		{`x{peer="[[peer]]"} / $__range_s`, `x{peer="order"} / 40`, ""},
		{`increase(x[$__range]) * $__interval_ms + $__range_ms`, `increase(x[40s]) * 15000 + 40000`, ""},
		{`${service:regex}`, `.*`, ""},
		// $__rate_interval is not $__rate followed by _interval.
		{`x[$__rate_interval]`, `x[1m]`, ""},
		{`x{service=~"$servce"}`, "", "no value for variable $servce"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := Substitute(tt.expr, vars, b)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDashboardChecksExpandsRepeatsAndVariables(t *testing.T) {
	d, err := ReadDashboard(writeDashboard(t, sampleDashboard))
	require.NoError(t, err)
	b := Builtins{RateInterval: "1m", Interval: "15s", RangeSeconds: 40}

	checks := DashboardChecks(d, "d.json", map[string][]string{"service": {"order", "a.b"}}, b)
	var names, exprs []string
	for _, c := range checks {
		require.NoError(t, c.Err)
		assert.Equal(t, MustHaveData, c.Kind, c.Name)
		names = append(names, c.Name)
		exprs = append(exprs, c.Expr)
	}
	assert.Equal(t, []string{"Top (A)", "Open row / In open row (A)", "Collapsed / Inside (A)",
		"Per $service / Repeated (A) [service=order]", "Per $service / Repeated (A) [service=a.b]"}, names)
	assert.Equal(t, `sum(rate(a_total{service=~".*"}[1m]))`, exprs[1], "the All value everywhere else")
	assert.Equal(t, `c{service=~"order"}`, exprs[3])
	assert.Equal(t, `c{service=~"a\\.b"}`, exprs[4], "a repeated value is a regex-quoted literal")

	t.Run("no values for the repeat variable", func(t *testing.T) {
		checks := DashboardChecks(d, "d.json", map[string][]string{}, b)
		last := checks[len(checks)-1]
		require.ErrorContains(t, last.Err, "repeated over $service, which has no values")
		status, _ := last.Verdict()
		assert.Equal(t, Fail, status)
	})
	t.Run("all value without allValue is every value", func(t *testing.T) {
		assert.Equal(t, `(order|a\\.b)`, allValue(Variable{Name: "s"}, []string{"order", "a.b"}))
	})
}
