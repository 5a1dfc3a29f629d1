package promscrape

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readExposition parses a testdata/ready file as a scrape taken at at.
func readExposition(t *testing.T, name string, at time.Time, edit func(string) string) Snapshot {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "ready", name))
	require.NoError(t, err)
	text := string(raw)
	if edit != nil {
		text = edit(text)
	}
	s, err := parseExposition(strings.NewReader(text), expfmt.NewFormat(expfmt.TypeTextPlain), at)
	require.NoError(t, err)
	return s
}

// TestScrapeFigures works the figures of testdata/ready/{start,end}.prom
// out by hand: one order instance, 30 s apart.
func TestScrapeFigures(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	start := readExposition(t, "start.prom", t0, nil)
	end := readExposition(t, "end.prom", t0.Add(30*time.Second), nil)

	f := ComputeInstance(start, end)
	assert.False(t, f.Restarted)
	assert.Equal(t, 30*time.Second, f.Elapsed)

	// Requests: CreateOrder OK 800 -> 1700 (+900), GetOrder NotFound 40 -> 90
	// (+50, a client error), GetOrder OK 300 -> 120 (a reset: +120),
	// Unavailable 2 -> 2 (+0), Internal absent -> 3 (a new series counts from
	// zero: +3), health Check OK 0 -> 500 (+500: every RPC counts here).
	assert.InDelta(t, 900+50+120+0+3+500, f.Requests, 1e-9)
	assert.InDelta(t, 3, f.Errors, 1e-9)

	// Buckets: CreateOrder grows 400/600/760/800/800, the new GetOrder series
	// counts whole 150/190/200/200/200; the health Watch (3000 in +Inf) is out.
	assert.Equal(t, map[float64]float64{0.05: 550, 0.1: 790, 0.25: 960, 0.32: 1000, math.Inf(+1): 1000}, f.Buckets)

	var m slo.Measurement
	m.Services = []string{"order"}
	AggregateService(&m, "order", []InstanceFigures{f})
	// 30 CPU-seconds in 30 s on GOMAXPROCS 4.
	assert.InDelta(t, 0.25, m.Values[slo.MetricCPU]["order"], 1e-12)
	// rank 0.99*1000 = 990 lies in (0.25, 0.32]: 960 below, 1000 at the top.
	assert.InDelta(t, 0.25+(0.32-0.25)*(990-960)/(1000-960.0), m.Values[slo.MetricP99]["order"], 1e-12)
	assert.InDelta(t, 3.0/1573, m.Values[slo.MetricErrors]["order"], 1e-12)
	// idle (6+2)/2 = 4 over open (10+10)/2 = 10.
	assert.InDelta(t, 0.4, m.Values[slo.MetricDBIdle]["order"], 1e-12)
	// The oldest age seen: 1.5 s at the start, 0.25 s at the end.
	assert.InDelta(t, 1.5, m.Values[slo.MetricOutbox]["order"], 1e-12)

	// At exactly 0.40 the idle objective (>= 0.40) holds; the p99 one
	// (<= 320ms) holds at 302.5ms.
	spec, err := slo.Load(filepath.Join("..", "..", "..", "..", "deploy", "slo.yaml"))
	require.NoError(t, err)
	for _, c := range slo.Evaluate(spec, m) {
		assert.Equal(t, slo.Pass, c.Result, "%s %s: %s", c.Metric, c.Service, c.Note)
	}
}

func TestScrapeRestart(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	start := readExposition(t, "start.prom", t0, nil)
	// The process started again during the window: every counter counts from
	// zero, so each increase is the whole end value (errors: 2 Unavailable, 3
	// Internal).
	end := readExposition(t, "end.prom", t0.Add(30*time.Second), func(s string) string {
		return strings.Replace(s, "process_start_time_seconds 1.7e+09", "process_start_time_seconds 1.70000001e+09", 1)
	})
	f := ComputeInstance(start, end)
	assert.True(t, f.Restarted)
	assert.InDelta(t, 42.5, f.CPUSeconds, 1e-9)
	assert.InDelta(t, 1700+90+120+2+3+500, f.Requests, 1e-9)
	assert.InDelta(t, 2+3, f.Errors, 1e-9)
	assert.InDelta(t, 1200, f.Buckets[math.Inf(+1)], 1e-9)
}

func TestScrapeMissingSeries(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	strip := func(prefixes ...string) func(string) string {
		return func(s string) string {
			var keep []string
			for line := range strings.SplitSeq(s, "\n") {
				drop := false
				for _, p := range prefixes {
					drop = drop || strings.HasPrefix(line, p)
				}
				if !drop {
					keep = append(keep, line)
				}
			}
			return strings.Join(keep, "\n")
		}
	}
	// A target without GOMAXPROCS, pool or outbox metrics and no RPCs at all.
	edit := strip("go_sched_gomaxprocs_threads", "slipway_db_connections", "slipway_outbox", "slipway_rpc")
	start := readExposition(t, "start.prom", t0, edit)
	end := readExposition(t, "end.prom", t0.Add(30*time.Second), edit)

	m := slo.Measurement{Services: []string{"order"}}
	AggregateService(&m, "order", []InstanceFigures{ComputeInstance(start, end)})
	_, hasCPU := m.Values[slo.MetricCPU]["order"]
	_, hasDB := m.Values[slo.MetricDBIdle]["order"]
	_, hasOutbox := m.Values[slo.MetricOutbox]["order"]
	assert.False(t, hasCPU || hasDB || hasOutbox, "no value without the series it is computed from")
	assert.True(t, math.IsNaN(m.Values[slo.MetricP99]["order"]), "no requests: p99 is NaN (N/A)")
	assert.True(t, math.IsNaN(m.Values[slo.MetricErrors]["order"]), "no requests: error rate is NaN (N/A)")

	spec, err := slo.Load(filepath.Join("..", "..", "..", "..", "deploy", "slo.yaml"))
	require.NoError(t, err)
	results := map[string]slo.Check{}
	for _, c := range slo.Evaluate(spec, m) {
		results[c.Metric] = c
	}
	assert.Equal(t, slo.Fail, results[slo.MetricCPU].Result)
	assert.Contains(t, results[slo.MetricCPU].Note, "no data: needs process_cpu_seconds_total and go_sched_gomaxprocs_threads")
	assert.Equal(t, slo.Fail, results[slo.MetricOutbox].Result)
	assert.Equal(t, slo.Fail, results[slo.MetricDBIdle].Result)
	assert.Equal(t, slo.Pass, results[slo.MetricP99].Result)
	assert.Equal(t, "N/A: no requests in the window", results[slo.MetricP99].Note)
	assert.Nil(t, results[slo.MetricP99].Observed)
}

func TestAggregateInstances(t *testing.T) {
	// Two order instances: the busiest CPU, one histogram over both, summed
	// requests, the lowest idle share (an instance with no open connection,
	// 0/0, is skipped as PromQL's min skips NaN) and the oldest outbox event.
	a := InstanceFigures{
		Elapsed: 10 * time.Second, HasCPU: true, CPUSeconds: 2, Cores: 2,
		Buckets:  map[float64]float64{0.1: 90, math.Inf(+1): 100},
		Requests: 100, Errors: 1,
		HasDB: true, Idle: 0, Open: 0,
		HasOutbox: true, OutboxOldest: 3,
	}
	b := InstanceFigures{
		Elapsed: 10 * time.Second, HasCPU: true, CPUSeconds: 4, Cores: 1,
		Buckets:  map[float64]float64{0.1: 100, math.Inf(+1): 100},
		Requests: 300, Errors: 1,
		HasDB: true, Idle: 5, Open: 10,
		HasOutbox: true, OutboxOldest: 7,
	}
	var m slo.Measurement
	AggregateService(&m, "order", []InstanceFigures{a, b})
	assert.InDelta(t, 0.4, m.Values[slo.MetricCPU]["order"], 1e-12) // max(2/10/2, 4/10/1)
	// 190 of 200 at or under 0.1, 10 in +Inf: rank 198 is in +Inf, so the
	// highest finite bound.
	assert.InDelta(t, 0.1, m.Values[slo.MetricP99]["order"], 1e-12)
	assert.InDelta(t, 2.0/400, m.Values[slo.MetricErrors]["order"], 1e-12)
	assert.InDelta(t, 0.5, m.Values[slo.MetricDBIdle]["order"], 1e-12)
	assert.InDelta(t, 7, m.Values[slo.MetricOutbox]["order"], 1e-12)
}

// TestBucketQuantile checks histogram_quantile against the expectations of
// Prometheus' own promql/promqltest/testdata/histograms.test.
func TestBucketQuantile(t *testing.T) {
	inf := math.Inf(+1)
	// testhistogram3 at 50m (ten increments).
	positive := map[float64]float64{0: 0, 0.1: 50, 0.2: 70, 1: 110, inf: 110}
	negative := map[float64]float64{-0.25: 0, -0.2: 10, -0.1: 20, 0.3: 20, inf: 20}
	// sum by (le) (rate(request_duration_seconds_bucket[10m])), as increases.
	requestDuration := map[float64]float64{0.1: 20, 0.2: 38, inf: 50}
	tests := []struct {
		name    string
		q       float64
		buckets map[float64]float64
		want    float64
	}{
		{"positive q0", 0, positive, 0},
		{"positive q0.25", 0.25, positive, 0.055},
		{"positive q0.5", 0.5, positive, 0.125},
		{"positive q0.75", 0.75, positive, 0.45},
		{"positive q1", 1, positive, 1},
		{"negative q0", 0, negative, -0.25},
		{"negative q0.25", 0.25, negative, -0.225},
		{"negative q0.5", 0.5, negative, -0.2},
		{"negative q0.75", 0.75, negative, -0.15},
		{"negative q1", 1, negative, -0.1},
		{"aggregated q0.3", 0.3, requestDuration, 0.075},
		{"aggregated q0.5", 0.5, requestDuration, 0.1277777777777778},
		{"quantile too low", -0.1, positive, math.Inf(-1)},
		{"quantile too high", 1.01, positive, math.Inf(+1)},
		{"rank in +Inf: highest finite bound", 0.99, map[float64]float64{0.1: 1, 0.32: 2, inf: 10}, 0.32},
		// The 8 below the 10 before it is lifted to 10: rank 15 lies in
		// (0.2, 0.4] with 10 below (not 8, which would give 0.3167).
		{"not monotonic", 0.75, map[float64]float64{0.1: 10, 0.2: 8, 0.4: 20, inf: 20}, 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bucketQuantile(tt.q, tt.buckets)
			if math.IsInf(tt.want, 0) {
				assert.Equal(t, tt.want, got)
				return
			}
			assert.InDelta(t, tt.want, got, 1e-9)
		})
	}

	for name, buckets := range map[string]map[float64]float64{
		"no observations": {0.1: 0, inf: 0},
		"no +Inf bucket":  {0.1: 5, 0.2: 10},
		"one bucket":      {inf: 10},
		"no buckets":      {},
	} {
		assert.True(t, math.IsNaN(bucketQuantile(0.99, buckets)), name)
	}
	assert.True(t, math.IsNaN(bucketQuantile(math.NaN(), positive)))
}

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets(DefaultTargets())
	require.NoError(t, err)
	require.Len(t, got, len(workspace.Known), "one target per registered service")
	assert.Equal(t, []Target{
		{"user", "http://127.0.0.1:8081/metrics"},
		{"order", "http://127.0.0.1:8082/metrics"},
		{"inventory", "http://127.0.0.1:8083/metrics"},
		{"notification", "http://127.0.0.1:8084/metrics"},
	}, got[:4])
	for i, s := range workspace.Known {
		assert.Equal(t, Target{s.Name, fmt.Sprintf("http://127.0.0.1:%d/metrics", s.HTTPPort)}, got[i])
	}

	got, err = ParseTargets(" order=:9000 , user=https://user.internal:8443 ,inventory=http://10.0.0.3:8083/prom/metrics,")
	require.NoError(t, err)
	assert.Equal(t, []Target{
		{"order", "http://127.0.0.1:9000/metrics"},
		{"user", "https://user.internal:8443/metrics"},
		{"inventory", "http://10.0.0.3:8083/prom/metrics"},
	}, got)

	for _, bad := range []string{"", "order", "=127.0.0.1:1", "order=", "order=127.0.0.1", "order=ftp://x:1"} {
		_, err := ParseTargets(bad)
		assert.Error(t, err, "%q", bad)
	}
}
