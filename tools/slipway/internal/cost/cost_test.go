package cost

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
)

var fixtureDir = filepath.Join("testdata", "overlays", "fixture")

// run runs slipway cost through its flags and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Main(t.Context(), args, &cli.Env{Stdout: &stdout, Stderr: &stderr})
	return stdout.String(), stderr.String(), err
}

func TestRunPricesTheRealOverlays(t *testing.T) {
	out, _, err := run(t)
	require.NoError(t, err)
	for _, want := range []string{
		"prices: deploy/cost/prices.yaml, as of ",
		"ESTIMATES",
		"model: OpenCost allocation: max(request, usage)",
		"overlay dev (deploy/k8s/overlays/dev)",
		"overlay prod (deploy/k8s/overlays/prod)",
		"order         Deployment (0 replicas), Rollout  3-10 (HPA)  250m / 2000m  256Mi / 512Mi",
		"AWS ON-DEMAND", "AZURE SPOT", "GCP ON-DEMAND",
		"TOTAL", "SPOT SAVES",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "COST PER 1,000 ORDERS", "no measurement, no headline")
	assert.Less(t, strings.Index(out, "overlay dev"), strings.Index(out, "overlay prod"), "every overlay, sorted")
}

func TestOverlayNames(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"prod", "dev", "notes"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, overlaysDir, d), 0o750))
	}
	for _, d := range []string{"prod", "dev"} {
		require.NoError(t, os.WriteFile(filepath.Join(root, overlaysDir, d, "kustomization.yaml"), nil, 0o600))
	}
	names, err := overlayNames(root)
	require.NoError(t, err)
	assert.Equal(t, []string{"dev", "prod"}, names, "directories with a kustomization.yaml")
	_, err = overlayNames(t.TempDir())
	require.ErrorContains(t, err, "overlays: open")
}

func TestRunJSONWithTheTestPrices(t *testing.T) {
	out, _, err := run(t, "--overlay", "prod", "--prices", filepath.Join("testdata", "prices.yaml"), "--stale-days", "0", "--json")
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Len(t, rep.Overlays, 1)
	prod := rep.Overlays[0]
	assert.Equal(t, "prod", prod.Overlay)
	// Slipway's own five: 3-10 pods x (0.25 x 0.04 + 0.25 x 0.005) = 0.01125 a
	// pod-hour, x 730. A service a team added (slipway new) has its own size.
	own := map[string]bool{"user": true, "order": true, "inventory": true, "notification": true, "payment": true}
	var sum CloudCost
	for _, sc := range prod.Services {
		require.Len(t, sc.Monthly, 1)
		sum.OnDemandMin += sc.Monthly[0].OnDemandMin
		sum.OnDemandMax += sc.Monthly[0].OnDemandMax
		sum.SpotMax += sc.Monthly[0].SpotMax
		if !own[sc.Service] {
			continue
		}
		delete(own, sc.Service)
		assert.InDelta(t, 3*0.01125*730, sc.Monthly[0].OnDemandMin, 1e-9, sc.Service)
		assert.InDelta(t, 10*0.01125*730, sc.Monthly[0].OnDemandMax, 1e-9, sc.Service)
		assert.InDelta(t, 10*(0.25*0.01+0.25*0.001)*730, sc.Monthly[0].SpotMax, 1e-9, sc.Service)
	}
	assert.Empty(t, own, "every Slipway service is priced")
	require.Len(t, prod.Total, 1)
	assert.InDelta(t, sum.OnDemandMin, prod.Total[0].OnDemandMin, 1e-9, "the total is the services' sum")
	assert.InDelta(t, sum.OnDemandMax, prod.Total[0].OnDemandMax, 1e-9)
	assert.InDelta(t, sum.SpotMax, prod.Total[0].SpotMax, 1e-9)
	assert.Nil(t, rep.PerOrders)
}

func TestRunCostPerThousandOrdersFromALoadReport(t *testing.T) {
	args := []string{"--overlay", fixtureDir, "--capacity-overlay", fixtureDir, "--prices", filepath.Join("testdata", "prices.yaml"),
		"--stale-days", "0", "--load", filepath.Join("testdata", "load-report.json")}
	out, _, err := run(t, args...)
	require.NoError(t, err)
	headline := strings.Index(out, "COST PER 1,000 ORDERS: 2000 orders in 3600.0 s")
	overlay := strings.Index(out, "overlay fixture")
	require.GreaterOrEqual(t, headline, 0, out)
	assert.Less(t, headline, overlay, "the cost of 1,000 orders leads")
	// The figures TestAllocationsByHand works out.
	assert.Regexp(t, `test\s+\$0\.0561\s+\$0\.0137\s+\$0\.0713\s+\$0\.0175\s`, out)
	assert.Contains(t, out, "measured: 2.5100 CPU-hours and 2.3500 GiB-hours")

	out, _, err = run(t, append(args, "--json")...)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.NotNil(t, rep.PerOrders)
	require.Len(t, rep.PerOrders.Clouds, 1)
	assert.InDelta(t, 0.071325, rep.PerOrders.Clouds[0].RequestsOnDemand, 1e-12)
}

func TestRunCostPerThousandOrdersFromPrometheus(t *testing.T) {
	srv, _ := fakePrometheus(t, func(q string) []map[string]any {
		switch {
		case strings.Contains(q, "process_cpu_seconds_total"):
			return []map[string]any{sample(map[string]string{"service": "api"}, 60)}
		case strings.Contains(q, "process_resident_memory_bytes"):
			return []map[string]any{sample(map[string]string{"service": "api"}, 1<<30)}
		}
		return []map[string]any{sample(nil, 100)}
	})
	out, _, err := run(t, "--overlay", fixtureDir, "--capacity-overlay", fixtureDir, "--prices", filepath.Join("testdata", "prices.yaml"),
		"--stale-days", "0", "--prometheus", srv.URL, "--window", "10m", "--json")
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.NotNil(t, rep.PerOrders)
	// 60 CPU-seconds and 1 GiB for 10 minutes: (60/3600 x 0.04 + 1/6 x 0.005) / 100 x 1000.
	assert.InDelta(t, (60.0/3600*0.04+1.0/6*0.005)*10, rep.PerOrders.Clouds[0].MeasuredOnDemand, 1e-12)
}

func TestRunWarnsOfAStaleTable(t *testing.T) {
	// testdata/prices.yaml is as of 2026-01-01.
	var stdout, stderr bytes.Buffer
	err := Run(t.Context(), Options{
		Overlays: []string{fixtureDir}, Prices: filepath.Join("testdata", "prices.yaml"), StaleDays: 30,
		Now:    func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) },
		Stdout: &stdout, Stderr: &stderr,
	})
	require.NoError(t, err)
	assert.Contains(t, stderr.String(), "warning: the price table is 59 days old (as_of 2026-01-01, more than 30)")
	assert.Contains(t, stdout.String(), "warning: the price table is 59 days old")
}

func TestRunErrors(t *testing.T) {
	testPrices := filepath.Join("testdata", "prices.yaml")
	tests := []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"unknown cloud", []string{"--cloud", "oracle"}, "--cloud oracle: the price table has aws, azure, gcp", true},
		{"two measurements", []string{"--load", "r.json", "--prometheus", "http://127.0.0.1:9090"}, "give one measurement", true},
		{"no window", []string{"--prometheus", "http://127.0.0.1:9090", "--window", "0s"}, "--window 0s", true},
		{"a stray argument", []string{"prod"}, "unexpected arguments", true},
		{"missing price table", []string{"--prices", "nope.yaml"}, "price table: open nope.yaml", false},
		{"invalid price table", []string{"--prices", filepath.Join("testdata", "load-report.json")}, "price table testdata/load-report.json", false},
		{"unknown overlay", []string{"--overlay", "staging", "--prices", testPrices}, "deploy/k8s/overlays/staging", false},
		{"missing load report", []string{"--overlay", fixtureDir, "--prices", testPrices, "--load", "nope.json"}, "load report: open nope.json", false},
		{"unknown capacity overlay", []string{"--overlay", fixtureDir, "--prices", testPrices, "--load", filepath.Join("testdata", "load-report.json"), "--capacity-overlay", "staging"}, "--capacity-overlay: kustomize", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, tt.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			var uerr cli.UsageError
			assert.Equal(t, tt.usage, errors.As(err, &uerr), "usage error (exit 2)")
		})
	}
}

func TestFigureKeepsThreeSignificantDigits(t *testing.T) {
	for v, want := range map[float64]string{
		0.0000586: "$0.0000586", 0.00194: "$0.00194", 0.0713: "$0.0713", 0.5: "$0.500", 12.345: "$12.35", 0: "$0.00",
	} {
		assert.Equal(t, want, figure(v), "%v", v)
	}
}

func TestRunRulesPrintsTheRecordingRules(t *testing.T) {
	out, _, err := run(t, "--rules", "--prices", filepath.Join("testdata", "prices.yaml"))
	require.NoError(t, err)
	assert.Contains(t, out, "# from deploy/cost/prices.yaml (as_of 2026-01-01, USD)")
	assert.Contains(t, out, "      - record: cloud_pricing:slipway_price_usd:per_vcpu_hour\n        expr: vector(0.04)\n        labels: {cloud: test, pricing: on_demand}\n")
	assert.Contains(t, out, "expr: slipway_service_cloud_pricing:slipway_cost_usd:per_hour * 730\n")
}
