package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakePrometheus answers /api/v1/query from series (expression -> number of
// series, each of value 1; a missing expression is a parse error) and
// /api/v1/rules from rules.
func fakePrometheus(t *testing.T, series map[string]int, rules string) *Prom {
	t.Helper()
	values := make(map[string][]string, len(series))
	for expr, n := range series {
		values[expr] = slices.Repeat([]string{"1"}, n)
	}
	return fakePrometheusValues(t, values, rules)
}

// fakePrometheusValues answers each expression with one series per value
// ("1", "NaN").
func fakePrometheusValues(t *testing.T, series map[string][]string, rules string) *Prom {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		vals, ok := series[r.Form.Get("query")]
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			require.NoError(t, json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "bad_data", "error": "parse error in " + r.Form.Get("query")}))
			return
		}
		var result []map[string]any
		for i, v := range vals {
			result = append(result, map[string]any{"metric": map[string]string{"i": fmt.Sprint(i)}, "value": []any{1, v}})
		}
		if result == nil {
			result = []map[string]any{}
		}
		require.NoError(t, json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}}))
	})
	mux.HandleFunc("/api/v1/rules", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"groups":%s}}`, rules)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p, err := NewProm(srv.URL)
	require.NoError(t, err)
	p.at = time.Now()
	return p
}

func TestCheckRules(t *testing.T) {
	rules := []Rule{
		{Group: "g", Record: "slipway:ok", Expr: "sum(rate(a[5m]))"},
		{Group: "g", Record: "slipway:empty", Expr: "sum(rate(b[5m]))"},
		{Group: "g", Record: "slipway:long", Expr: "sum(rate(c[5m] offset 3d))"},
		{Group: "g", Record: "slipway:unhealthy", Expr: "d / on (x) e"},
		{Group: "g", Alert: "Quiet", Expr: "slipway:ok > 1"},
		{Group: "g", Alert: "Broken", Expr: "slipway:ok >"},
	}
	p := fakePrometheus(t, map[string]int{
		"sum(rate(a[5m]))": 2, "slipway:ok": 2,
		"sum(rate(b[5m]))": 0, "slipway:empty": 0,
		"sum(rate(c[5m] offset 3d))": 0, "slipway:long": 0,
		"d / on (x) e": 0, "slipway:unhealthy": 0,
		"slipway:ok > 1": 0,
	}, `[{"name":"g","file":"r.yml","rules":[
		{"type":"recording","name":"slipway:ok","query":"","health":"ok"},
		{"type":"recording","name":"slipway:empty","query":"","health":"ok"},
		{"type":"recording","name":"slipway:long","query":"","health":"ok"},
		{"type":"recording","name":"slipway:unhealthy","query":"","health":"err","lastError":"many-to-many matching not allowed"},
		{"type":"alerting","name":"Quiet","query":"","health":"ok","state":"inactive","alerts":[]},
		{"type":"alerting","name":"Broken","query":"","health":"ok","state":"inactive","alerts":[]}]}]`)

	checks, err := checkRules(context.Background(), p, rules, time.Minute, "/")
	require.NoError(t, err)
	got := map[string]Status{}
	notes := map[string]string{}
	for _, c := range checks {
		got[c.Name], notes[c.Name] = c.Verdict()
	}
	assert.Equal(t, map[string]Status{
		"record slipway:ok":        OK,
		"record slipway:empty":     Fail, // a 5m range has data from the second scrape on
		"record slipway:long":      EmptyOK,
		"record slipway:unhealthy": Fail,
		"alert Quiet":              OK,
		"alert Broken":             Fail,
	}, got)
	assert.Contains(t, notes["record slipway:unhealthy"], "many-to-many matching not allowed")
	assert.Contains(t, notes["alert Broken"], "parse error")

	t.Run("a rule Prometheus did not load", func(t *testing.T) {
		_, err := checkRules(context.Background(), p, append(rules, Rule{Group: "g", Record: "slipway:extra", Expr: "up"}), time.Minute, "/")
		require.ErrorContains(t, err, "prometheus loaded 6 rules, the files hold 7")
	})
}

func TestCheckDashboardAgainstPrometheus(t *testing.T) {
	f := writeDashboard(t, sampleDashboard)
	p := fakePrometheus(t, map[string]int{
		"up":                                    3,
		`sum(rate(a_total{service=~".*"}[1m]))`: 2,
		"b":                                     0, // renamed: the panel would be empty
		`c{service=~"order"}`:                   1,
		`c{service=~"payment"}`:                 1,
	}, `[]`)
	values := map[string][]string{"service": {"order", "payment"}}
	checks := DashboardChecks(mustRead(t, f), "d.json", values, Builtins{RateInterval: "1m", Interval: "15s", RangeSeconds: 40})
	failed := map[string]bool{}
	for i := range checks {
		checks[i].Series, checks[i].NaN, checks[i].Err = p.Series(context.Background(), checks[i].Expr)
		status, _ := checks[i].Verdict()
		failed[checks[i].Name] = status == Fail
	}
	assert.Equal(t, map[string]bool{
		"Top (A)": false, "Open row / In open row (A)": false, "Collapsed / Inside (A)": true,
		"Per $service / Repeated (A) [service=order]": false, "Per $service / Repeated (A) [service=payment]": false,
	}, failed)
}

func mustRead(t *testing.T, f string) Dashboard {
	t.Helper()
	d, err := ReadDashboard(f)
	require.NoError(t, err)
	return d
}

func TestCheckDashboardFailsOnNaNOnly(t *testing.T) {
	d := Dashboard{Panels: []Panel{
		{Type: "timeseries", Title: "Idle ratio", Targets: []Target{{RefID: "A", Expr: "idle / open"}}},
		{Type: "timeseries", Title: "Some idle", Targets: []Target{{RefID: "A", Expr: "idle / busy"}}},
	}}
	p := fakePrometheusValues(t, map[string][]string{
		"idle / open": {"NaN", "NaN"}, // 0/0 on every instance: the panel draws nothing
		"idle / busy": {"NaN", "0.5"},
	}, `[]`)
	verdicts := map[string]Status{}
	notes := map[string]string{}
	for _, c := range DashboardChecks(d, "d.json", nil, Builtins{RateInterval: "1m", Interval: "15s", RangeSeconds: 40}) {
		c.Series, c.NaN, c.Err = p.Series(context.Background(), c.Expr)
		verdicts[c.Name], notes[c.Name] = c.Verdict()
	}
	assert.Equal(t, map[string]Status{"Idle ratio (A)": Fail, "Some idle (A)": OK}, verdicts)
	assert.Contains(t, notes["Idle ratio (A)"], "all 2 series only NaN")
	assert.Contains(t, notes["Some idle (A)"], "1 of 2 series only NaN")
}

func TestCountSeries(t *testing.T) {
	nan := model.SampleValue(math.NaN())
	tests := []struct {
		name        string
		v           model.Value
		series, nan int
		wantErr     bool
	}{
		{"vector", model.Vector{{Value: 1}, {Value: nan}, {Value: 0}}, 3, 1, false},
		{"empty vector", model.Vector{}, 0, 0, false},
		{"matrix: a series with one number is drawn", model.Matrix{{Values: []model.SamplePair{{Value: nan}, {Value: 2}}}}, 1, 0, false},
		{"matrix: a series of NaN is not", model.Matrix{{Values: []model.SamplePair{{Value: nan}, {Value: nan}}}, {Values: []model.SamplePair{{Value: 1}}}}, 2, 1, false},
		{"NaN scalar", &model.Scalar{Value: nan}, 1, 1, false},
		{"scalar", &model.Scalar{Value: 0}, 1, 0, false},
		{"string", &model.String{Value: "x"}, 1, 0, false},
		{"nil", nil, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			series, n, err := countSeries(tt.v)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.series, series)
			assert.Equal(t, tt.nan, n)
		})
	}
}
