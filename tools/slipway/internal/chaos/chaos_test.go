package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/faultproxy"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// minimalExperiment is a valid experiment that the table below breaks one
// field at a time.
const minimalExperiment = `
load:
  rate: 10
  duration: 30s
faults:
  - at: 5s
    for: 10s
    grpc:
      service: inventory
      code: UNAVAILABLE
      rate: 0.4
`

func TestParseChaosExperimentDefaults(t *testing.T) {
	exp, err := parseExperiment([]byte(minimalExperiment))
	require.NoError(t, err)
	assert.InDelta(t, 10, exp.Load.Rate, 0)
	assert.Equal(t, 30*time.Second, exp.Load.Duration.D())
	assert.Equal(t, 10, exp.Load.Users, "default users")
	assert.Equal(t, 5*time.Second, exp.Load.Timeout.D(), "default request timeout")
	assert.Equal(t, 60*time.Second, exp.Settle.D(), "default settle bound")
	require.Len(t, exp.Faults, 1)
	assert.Equal(t, "/slipway.inventory.v1.InventoryService/", exp.Faults[0].GRPC.Method, "the whole service by default")
	assert.Equal(t, "grpc", exp.Faults[0].Kind())
	assert.Nil(t, exp.Analysis.SuccessRate, "thresholds come from the SLO unless set")
	assert.False(t, exp.Load.UserLookups, "CreateOrder alone unless asked")
	require.NotNil(t, exp.Load.RetryEvery)
	assert.Equal(t, defaultRetryEvery, *exp.Load.RetryEvery, "one order in ten is retried with its key by default")
}

func TestParseChaosExperimentKinds(t *testing.T) {
	exp, err := parseExperiment([]byte(`
load: {rate: 5, duration: 60s}
faults:
  - {at: 1s, for: 5s, network: {dependency: redis, partition: reset}}
  - {at: 1s, for: 5s, network: {dependency: postgres, latency: 50ms, bandwidth: 64KiB}}
  - {at: 10s, consumer_reset: {}}
  - {at: 20s, for: 3s, process: {service: notification, signal: SIGTERM}}
  - {at: 30s, for: 3s, grpc: {service: order, method: /slipway.order.v1.OrderService/CreateOrder, delay: 150ms}}
analysis:
  success_rate: 0.9
  p99: 2s
  fault_window_p99: 3s
  reason: because
env:
  order: {PEER_RETRY_ATTEMPTS: "1"}
`))
	require.NoError(t, err)
	require.Len(t, exp.Faults, 5)
	assert.Equal(t, "reset", exp.Faults[0].Network.Partition)
	assert.Equal(t, byteSize(64<<10), exp.Faults[1].Network.Bandwidth)
	assert.Equal(t, "postgres network: +50ms latency, 64KiB/s bandwidth", exp.Faults[1].Describe())
	assert.Equal(t, "ORDERS", exp.Faults[2].ConsumerReset.Stream, "default stream")
	assert.Equal(t, "notification", exp.Faults[2].ConsumerReset.Consumer, "default consumer")
	assert.Equal(t, "SIGTERM notification, restarted 3s later", exp.Faults[3].Describe())
	assert.Equal(t, "order gRPC +150ms delay on /slipway.order.v1.OrderService/CreateOrder", exp.Faults[4].Describe())
	assert.True(t, exp.needs(depRedis))
	assert.True(t, exp.needs(depPostgres))
	assert.False(t, exp.needs(depNATS))
	assert.Equal(t, "1", exp.Env["order"]["PEER_RETRY_ATTEMPTS"])
}

func TestParseChaosExperimentErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"empty file", ``, "empty file"},
		{"unknown top-level key", minimalExperiment + "colour: blue\n", `unknown field "colour"`},
		{"unknown fault key", strings.Replace(minimalExperiment, "rate: 0.4", "rate: 0.4\n      ratio: 1", 1), `unknown field "ratio"`},
		{"two documents", minimalExperiment + "---\nload: {}\n", "one experiment per file"},
		{"not a duration", strings.Replace(minimalExperiment, "duration: 30s", "duration: soon", 1), `"soon" is not a duration`},
		{"missing duration", strings.Replace(minimalExperiment, "duration: 30s", "users: 3", 1), "load.duration: missing"},
		{"rate too high", strings.Replace(minimalExperiment, "rate: 10", "rate: 100000", 1), "load.rate: 100000"},
		{"fault outlasts the load", strings.Replace(minimalExperiment, "for: 10s", "for: 30s", 1), "faults[0].for: the fault ends at 35s, after the load"},
		{"no faults", "load: {rate: 1, duration: 10s}\n", "faults: missing"},
		{"two kinds in one fault", minimalExperiment + "    process: {service: order, signal: SIGKILL}\n", "faults[0]: want exactly one of grpc, network, consumer_reset, process or postgres_restart, found 2"},
		{"unknown service", strings.Replace(minimalExperiment, "service: inventory", "service: billing", 1), `faults[0].grpc.service: "billing"`},
		{"method of another service", strings.Replace(minimalExperiment, "code: UNAVAILABLE", "method: /slipway.order.v1.OrderService/\n      code: UNAVAILABLE", 1), "faults[0].grpc.method"},
		{"unknown code", strings.Replace(minimalExperiment, "UNAVAILABLE", "SOMETIMES", 1), `faults[0].grpc.code: "SOMETIMES"`},
		{"code OK", strings.Replace(minimalExperiment, "UNAVAILABLE", "OK", 1), `faults[0].grpc.code: "OK"`},
		{"rate above one", strings.Replace(minimalExperiment, "rate: 0.4", "rate: 1.5", 1), "faults[0].grpc.rate: 1.5"},
		{"grpc fault that does nothing", strings.Replace(strings.Replace(minimalExperiment, "code: UNAVAILABLE", "", 1), "rate: 0.4", "", 1), "faults[0].grpc: neither code nor delay"},
		{"grpc fault without for", strings.Replace(minimalExperiment, "for: 10s", "", 1), "faults[0].for: missing"},
		{"unknown dependency", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: etcd, latency: 1ms}}]\n", `faults[0].network.dependency: "etcd"`},
		{"unknown partition mode", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: redis, partition: half}}]\n", `faults[0].network.partition: "half"`},
		{"partition with latency", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: redis, partition: blackhole, latency: 5ms}}]\n", "cannot be combined"},
		{"network fault that does nothing", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: redis}}]\n", "want partition, latency or bandwidth"},
		{"bad bandwidth", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: redis, bandwidth: fast}}]\n", `"fast" is not a size`},
		{"tiny bandwidth", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: redis, bandwidth: 10}}]\n", "want at least 128"},
		{"consumer reset with for", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, consumer_reset: {}}]\n", "instantaneous: leave out for"},
		{"unknown signal", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, process: {service: order, signal: SIGHUP}}]\n", `faults[0].process.signal: "SIGHUP"`},
		{"process without for", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, process: {service: order, signal: SIGKILL}}]\n", "how long the service stays down"},
		{"success rate above one", minimalExperiment + "analysis: {success_rate: 99.5}\n", "analysis.success_rate: 99.5"},
		{"env of an unknown service", minimalExperiment + "env: {billing: {A: b}}\n", "env.billing: unknown service"},
		{"env name", minimalExperiment + "env: {order: {lower: b}}\n", "env.order.lower: not an environment variable name"},
		{"negative retry_every", strings.Replace(minimalExperiment, "rate: 10", "rate: 10\n  retry_every: -1", 1), "load.retry_every: -1"},
		{"fault window success rate above one", minimalExperiment + "analysis: {fault_window_success_rate: 2}\n", "analysis.fault_window_success_rate: 2"},
		{"overlapping network faults on one dependency", `load: {rate: 1, duration: 30s}
faults:
  - {at: 1s, for: 10s, network: {dependency: redis, latency: 5ms}}
  - {at: 5s, for: 10s, network: {dependency: redis, partition: blackhole}}
`, "faults[1]: overlaps faults[0] (1s to 11s): one network fault on redis at a time"},
		{"overlapping process faults on one service", `load: {rate: 1, duration: 30s}
faults:
  - {at: 1s, for: 10s, process: {service: order, signal: SIGKILL}}
  - {at: 10s, for: 1s, process: {service: order, signal: SIGTERM}}
`, "faults[1]: overlaps faults[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseExperiment([]byte(tt.yaml))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLoadChaosExperimentNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.yaml")
	require.NoError(t, os.WriteFile(path, []byte(minimalExperiment+"surprise: 1\n"), 0o600))
	_, err := loadExperiment(path)
	require.Error(t, err)
	assert.Regexp(t, `^`+regexpQuote(path)+`: line \d+: unknown field "surprise"`, err.Error())

	require.NoError(t, os.WriteFile(path, []byte(minimalExperiment), 0o600))
	exp, err := loadExperiment(path)
	require.NoError(t, err)
	assert.Equal(t, "broken", exp.Name, "named after its file")
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestChaosScaleMultipliesTheTimelineOnly(t *testing.T) {
	exp, err := parseExperiment([]byte(minimalExperiment + "      delay: 40ms\n"))
	require.NoError(t, err)
	s := exp.scaled(0.1)
	assert.Equal(t, 3*time.Second, s.Load.Duration.D())
	assert.Equal(t, 500*time.Millisecond, s.Faults[0].At.D())
	assert.Equal(t, time.Second, s.Faults[0].For.D())
	assert.Equal(t, 40*time.Millisecond, s.Faults[0].GRPC.Delay.D(), "a magnitude is not scaled")
	assert.Equal(t, 5*time.Second, s.Load.Timeout.D(), "nor is the request timeout")
	assert.Equal(t, 30*time.Second, exp.Load.Duration.D(), "the original is untouched")
}

func TestShippedExperimentsParse(t *testing.T) {
	files := shippedExperiments(t)
	names := make([]string, len(files))
	for i, f := range files {
		exp, err := loadExperiment(f)
		require.NoError(t, err)
		names[i] = exp.Name
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(raw), "# "+exp.Name+":"), "%s starts with a comment header naming it", f)
		assert.NotEmpty(t, exp.Description, f)
		if exp.Analysis.SuccessRate != nil || exp.Analysis.P99 != nil || exp.Analysis.FaultSuccessRate != nil {
			assert.NotEmpty(t, exp.Analysis.Reason, "%s loosens the SLO's gate, so it says why", f)
		}
	}
	for _, want := range []string{"inventory-errors", "redis-partition", "consumer-reset", "postgres-latency", "notification-kill", "nats-partition", "order-kill", "inventory-term", "postgres-restart"} {
		assert.Contains(t, names, want)
	}
	seed, err := loadExperiment(filepath.Join(filepath.Dir(files[0]), "inventory-errors.yaml"))
	require.NoError(t, err)
	g := seed.Faults[0].GRPC
	require.NotNil(t, g)
	assert.Equal(t, "inventory", g.Service)
	assert.Equal(t, "UNAVAILABLE", g.Code)
	assert.InDelta(t, 0.4, g.Rate, 0, "the seed's 40%")
	redis, err := loadExperiment(filepath.Join(filepath.Dir(files[0]), "redis-partition.yaml"))
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, redis.Faults[0].For.D(), "the seed's 90 s partition")
	assert.Greater(t, redis.Load.Duration.D(), redis.Faults[0].At.D()+redis.Faults[0].For.D(), "load spans the partition and the recovery")
}

func shippedExperiments(t *testing.T) []string {
	t.Helper()
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, "deploy", "chaos", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	slices.Sort(files)
	return files
}

func TestChaosSLODefaultsComeFromTheSLOFile(t *testing.T) {
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

func TestChaosThresholdOverrides(t *testing.T) {
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

func TestChaosReportVerdictAndRendering(t *testing.T) {
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

func TestChaosUsageErrors(t *testing.T) {
	dir := t.TempDir()
	redisExp := filepath.Join(dir, "redis.yaml")
	require.NoError(t, os.WriteFile(redisExp, []byte("load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: redis, partition: blackhole}}]\n"), 0o600))
	pgExp := filepath.Join(dir, "pg.yaml")
	require.NoError(t, os.WriteFile(pgExp, []byte("load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: postgres, latency: 1ms}}]\n"), 0o600))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no experiment", nil, cli.ExitUsage, "name at least one experiment file"},
		{"bad --env", []string{"--env", "order=X", redisExp}, cli.ExitUsage, `"order=X": want svc:KEY=VALUE`},
		{"--env of an unknown service", []string{"--env", "billing:X=1", redisExp}, cli.ExitUsage, "unknown service billing"},
		{"bad --scale", []string{"--scale", "0", redisExp}, cli.ExitUsage, "--scale 0"},
		{"sqlite --database-url", []string{"--database-url", "sqlite:///tmp/x.db", redisExp}, cli.ExitUsage, "want a postgres:// server URL"},
		{"missing file", []string{filepath.Join(dir, "nope.yaml")}, cli.ExitFailed, "no such file"},
		{"redis fault without Redis", []string{redisExp}, cli.ExitFailed, "needs Redis: set REDIS_URL"},
		{"postgres fault without PostgreSQL", []string{pgExp}, cli.ExitFailed, "needs PostgreSQL: set DATABASE_URL"},
		{"--duration shorter than the faults", []string{"--duration", "1s", "--redis-url", "redis://127.0.0.1:6379", redisExp}, cli.ExitFailed, "with the command-line overrides: faults[0].for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"PATH=" + os.Getenv("PATH")}}
			code := runCLI(t.Context(), append([]string{"chaos"}, tt.args...), env)
			assert.Equal(t, tt.code, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
}

// Experiments whose dependency is not configured are skipped, not fatal:
// the others still run (`make chaos` with no arguments).
func TestChaosSkipsExperimentsWithoutTheirDependency(t *testing.T) {
	dir := t.TempDir()
	redisExp := filepath.Join(dir, "redis.yaml")
	require.NoError(t, os.WriteFile(redisExp, []byte("load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: redis, partition: blackhole}}]\n"), 0o600))
	grpcExp := filepath.Join(dir, "grpc.yaml")
	require.NoError(t, os.WriteFile(grpcExp, []byte(minimalExperiment), 0o600))
	exps, err := loadExperiments(Options{Files: []string{redisExp, grpcExp}, Scale: 1})
	require.NoError(t, err)
	require.Len(t, exps, 2)
	assert.Contains(t, exps[0].skip, "needs Redis")
	assert.Empty(t, exps[1].skip, "the gRPC experiment needs nothing more")
	exps, err = loadExperiments(Options{Files: []string{redisExp}, Scale: 1, RedisURL: "redis://127.0.0.1:6379"})
	require.NoError(t, err)
	assert.Empty(t, exps[0].skip, "Redis is configured")
}

// A broker whose ORDERS stream holds messages would redeliver an earlier
// run's events: chaos refuses it, and accepts a fresh one.
func TestChaosRefusesABrokerWithOldEvents(t *testing.T) {
	b, err := fleet.StartBroker(t.TempDir(), "127.0.0.1", 0)
	require.NoError(t, err)
	defer b.Stop()
	require.NoError(t, freshBroker(t.Context(), b.URL()), "no stream yet")

	nc, err := nats.Connect(b.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	require.NoError(t, err)
	require.NoError(t, freshBroker(t.Context(), b.URL()), "an empty stream")
	_, err = js.Publish(t.Context(), "orders.placed", []byte("{}"))
	require.NoError(t, err)
	err = freshBroker(t.Context(), b.URL())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chaos needs a fresh broker: stream ORDERS on "+b.URL()+" holds 1 message(s)")
	assert.Contains(t, err.Error(), "omit --nats-url")
}

// ---- end to end: the real services, built from this workspace ----

var (
	buildOnce sync.Once
	buildErr  error
)

// built builds the four services once for every end-to-end test.
func built(t *testing.T, root string) {
	t.Helper()
	buildOnce.Do(func() {
		var log bytes.Buffer
		_, buildErr = fleet.BuildServices(context.Background(), root, workspace.Names(workspace.Known), os.Environ(), fleet.NewConsole(&log, false))
		if buildErr != nil {
			buildErr = fmt.Errorf("%w\n%s", buildErr, log.String())
		}
	})
	require.NoError(t, buildErr)
}

// testRedis returns the Redis URL tests may use, or "".
func testRedis(t *testing.T) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379"
	}
	host := strings.TrimPrefix(u, "redis://")
	host, _, _ = strings.Cut(host, "/")
	c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(t.Context(), "tcp", host)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s: %v", host, err)
		}
		return ""
	}
	_ = c.Close()
	return u
}

// testScale runs each shipped experiment in a tenth of its time.
const testScale = 0.1

// testScales are the exceptions: a restart of a service takes as long at
// any scale, so at a tenth it would be a quarter of the run.
var testScales = map[string]float64{"order-kill": 0.5, "inventory-term": 0.5, "postgres-restart": 0.5}

// restartsPostgres are the experiments that restart the PostgreSQL
// server itself. Every other test using that server (go test runs packages
// in parallel) would fail meanwhile, so they run only when asked:
// SLIPWAY_CHAOS_RESTART_POSTGRES=1 (make verify runs them at full length,
// alone).
var restartsPostgres = map[string]bool{"postgres-restart": true}

// runForTest runs one experiment file against the real services and
// returns its report and Run's error.
func runForTest(t *testing.T, file string, env map[string]map[string]string) (*Report, error) {
	t.Helper()
	scale := testScale
	if s, ok := testScales[strings.TrimSuffix(filepath.Base(file), ".yaml")]; ok {
		scale = s
	}
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	built(t, root)
	exp, err := loadExperiment(file)
	require.NoError(t, err)
	o := Options{
		Files: []string{file}, Env: env, Scale: scale, Out: t.TempDir(), JSON: true, NoBuild: true,
		Root: root, Environ: clitest.Environ(), ReadyTimeout: 60 * time.Second, StopTimeout: 15 * time.Second,
	}
	if exp.needs(depPostgres) {
		if o.DatabaseURL = testPostgres(t); o.DatabaseURL == "" {
			t.Skip("needs PostgreSQL")
		}
	}
	if exp.needs(depRedis) {
		if o.RedisURL = testRedis(t); o.RedisURL == "" {
			t.Skip("needs Redis")
		}
	}
	var stdout, stderr clitest.SyncBuffer
	o.Stdout, o.Stderr = &stdout, &stderr
	runErr := Run(t.Context(), o)
	var reports []*Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &reports), "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
	require.Len(t, reports, 1)
	rep := reports[0]
	for _, f := range []string{rep.Files.JSON, rep.Files.Markdown, rep.Files.ServicesLog} {
		assert.FileExists(t, f)
	}
	if t.Failed() || (runErr != nil && rep.Passed) {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return rep, runErr
}

// TestShippedExperimentsHoldTheirInvariants runs every experiment in
// deploy/chaos end to end, at a tenth of its time: each must hold its
// success rate and every invariant.
func TestShippedExperimentsHoldTheirInvariants(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the four services for every experiment")
	}
	for _, file := range shippedExperiments(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			if restartsPostgres[name] && os.Getenv("SLIPWAY_CHAOS_RESTART_POSTGRES") != "1" {
				t.Skip("restarts the PostgreSQL server under every other test: set SLIPWAY_CHAOS_RESTART_POSTGRES=1")
			}
			rep, err := runForTest(t, file, nil)
			// At a tenth of the schedule the analysis sees a hundred-odd
			// requests. Latency there is the machine's (2 shared cores), not
			// the experiment's, and a 99.5 % gate over 120 requests allows no
			// error at all, while at 40 % injected errors each order keeps a
			// 0.1 % chance to fail all 8 attempts: one error in 120 happens
			// about one run in seven. So the test asserts the invariants and
			// the fault effects exactly, and the success rates statistically:
			// the errors seen must be consistent with the gate's rate
			// (errorsConsistentWith). The full-length runs (make verify, the
			// README's figures) apply the gate as written.
			for _, f := range rep.Failures {
				if !strings.HasPrefix(f, "analysis: p99") && !strings.HasPrefix(f, "analysis: success rate") {
					require.NoError(t, err, "failures: %v", rep.Failures)
				}
			}
			require.NotEmpty(t, rep.Analysis)
			for _, c := range rep.Analysis {
				t.Logf("%s %s: observed %s (%s)", c.Metric, c.Condition, c.Observed, passFail(c.Passed))
			}
			rate := rep.Thresholds.SuccessRate
			assert.True(t, errorsConsistentWith(rep.Load.Errors, rep.Load.Requests, rate),
				"%d errors in %d requests: more than a success rate of %.4g explains", rep.Load.Errors, rep.Load.Requests, rate)
			if w := rep.FaultWindow; w != nil {
				windowRate := rate
				if r := rep.Thresholds.FaultRate; r != nil {
					windowRate = *r
				}
				assert.True(t, errorsConsistentWith(w.Errors, w.Requests, windowRate),
					"fault window: %d errors in %d requests: more than a success rate of %.4g explains", w.Errors, w.Requests, windowRate)
			}
			assert.Positive(t, rep.Load.Requests)
			assert.NotEmpty(t, rep.Timeline, "the faults were switched on")
			// Each fault left evidence that it did something.
			require.Len(t, rep.Effects, len(rep.Faults), "one fault effect per fault")
			for _, e := range rep.Effects {
				t.Logf("fault effect: %s: %s", e.Evidence, e.Observed)
				assert.True(t, e.Seen, "%s: wanted %s, observed %s", e.Fault, e.Evidence, e.Observed)
			}
			if name == "redis-partition" {
				assert.Contains(t, rep.Effects[0].Observed, "slipway_redis_up went to 0: true", "user's cache lost Redis")
				assert.NotContains(t, rep.Effects[0].Observed, " 0 cache hit(s) before", "user's cache used Redis before the fault")
			}
			require.GreaterOrEqual(t, len(rep.Invariants), 6)
			names := make([]string, len(rep.Invariants))
			for i, inv := range rep.Invariants {
				names[i] = inv.Name
			}
			assert.Subset(t, names, []string{invAcknowledged, invConservation})
			for _, inv := range rep.Invariants {
				assert.True(t, inv.Passed, "%s: %v", inv.Name, inv.Examples)
				assert.Positive(t, inv.Checked, "%s checked something", inv.Name)
			}
		})
	}
}

// TestWeakenedInventoryErrorsFailsTheGate: without order's retries, 40%
// UNAVAILABLE on each of two inventory calls per order leaves about 36% of
// the orders in the fault window, far below 99.5%: the gate must fail,
// while the invariants still hold (a failed order leaves nothing behind).
func TestWeakenedInventoryErrorsFailsTheGate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the four services")
	}
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	file := filepath.Join(root, "deploy", "chaos", "inventory-errors.yaml")
	rep, runErr := runForTest(t, file, map[string]map[string]string{"order": {"PEER_RETRY_ATTEMPTS": "1"}})
	require.Error(t, runErr)
	assert.Contains(t, runErr.Error(), "1 of 1 experiment(s) failed: inventory-errors")
	assert.False(t, rep.Passed)
	assert.Equal(t, []string{"PEER_RETRY_ATTEMPTS=1"}, rep.Env["order"])
	require.NotEmpty(t, rep.Analysis)
	assert.Equal(t, "success rate", rep.Analysis[0].Metric)
	assert.False(t, rep.Analysis[0].Passed, rep.Analysis[0].Observed)
	assert.Less(t, rep.Load.SuccessRate, 0.9)
	require.NotNil(t, rep.FaultWindow)
	assert.Less(t, rep.FaultWindow.SuccessRate, 0.7, "most orders in the window fail")
	assert.Equal(t, "Unavailable", rep.Load.Codes[0].Code)
	for _, inv := range rep.Invariants {
		assert.True(t, inv.Passed, "%s: %v", inv.Name, inv.Examples)
	}
	assert.Contains(t, rep.Failures[0], "analysis: success rate >= 99.50%")
}

func TestPutAdminFaults(t *testing.T) {
	type call struct {
		method, auth, body string
	}
	var calls []call
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls = append(calls, call{r.Method, r.Header.Get("Authorization"), string(b)})
		assert.Equal(t, "/admin/faults", r.URL.Path)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"detail":"nope"}`))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	active := []grpcFault{
		{Service: "inventory", Method: "/slipway.inventory.v1.InventoryService/", Code: "UNAVAILABLE", Rate: 0.4},
		{Service: "inventory", Method: "/slipway.inventory.v1.InventoryService/Reserve", Delay: duration(150 * time.Millisecond)},
	}

	require.NoError(t, putAdminFaults(t.Context(), addr, "tok", active))
	require.NoError(t, putAdminFaults(t.Context(), addr, "tok", nil))
	require.Len(t, calls, 2)
	assert.Equal(t, http.MethodPut, calls[0].method)
	assert.Equal(t, "Bearer tok", calls[0].auth)
	assert.JSONEq(t, `{"rules":[
		{"method":"/slipway.inventory.v1.InventoryService/","code":"UNAVAILABLE","rate":0.4},
		{"method":"/slipway.inventory.v1.InventoryService/Reserve","delay":"150ms"}]}`, calls[0].body)
	assert.Equal(t, http.MethodDelete, calls[1].method, "no rule left: the rules are cleared")
	assert.Empty(t, calls[1].body)

	for code, want := range map[int]string{
		http.StatusConflict:   "FAULTS_ENABLED=true is needed",
		http.StatusNotFound:   "has no fault admin endpoint",
		http.StatusForbidden:  "403 Forbidden",
		http.StatusBadRequest: `400 Bad Request: {"detail":"nope"}`,
	} {
		status = code
		err := putAdminFaults(t.Context(), addr, "tok", active)
		require.Error(t, err, code)
		assert.Contains(t, err.Error(), want)
	}
}

func TestChaosFleetProxiesOnlyLocalDependencies(t *testing.T) {
	f := &proxiedFleet{proxies: map[string]*faultproxy.Proxy{}}
	_, err := f.proxy(depRedis, "redis://10.1.2.3:6379")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chaos only disturbs dependencies on this machine")

	via, err := f.proxy(depPostgres, "postgres://postgres@127.0.0.1/x?sslmode=disable")
	require.NoError(t, err)
	defer f.proxies[depPostgres].Close()
	assert.Equal(t, "127.0.0.1:5432", f.proxies[depPostgres].Upstream(), "the scheme's default port")
	assert.Equal(t, "postgres://postgres@"+f.proxies[depPostgres].Addr()+"/x?sslmode=disable", via)
}

// A fault that left no trace fails the experiment: latency that did not
// slow anything down is no evidence.
func TestChaosFaultEffects(t *testing.T) {
	f := fault{At: duration(10 * time.Second), For: duration(10 * time.Second),
		Network: &networkFault{Dependency: depPostgres, Latency: duration(5 * time.Millisecond)}}
	samples := func(during time.Duration) []sample {
		var s []sample
		for i := range 30 {
			at := time.Duration(i) * time.Second
			lat := 10 * time.Millisecond
			if at >= 10*time.Second && at < 20*time.Second {
				lat = during
			}
			s = append(s, sample{at: at, latency: lat, code: loadgen.CodeOK})
		}
		return s
	}
	mark := latencyMark{Fault: f, Proxied: "the proxy had accepted 3 connection(s)"}
	eff := latencyEffect(mark, samples(80*time.Millisecond))
	assert.True(t, eff.Seen, eff.Observed)
	assert.Contains(t, eff.Observed, "p50 10.0ms before, 80.1ms during (10 and 10 requests)")
	eff = latencyEffect(mark, samples(10*time.Millisecond))
	assert.False(t, eff.Seen, "no slower during the fault: %s", eff.Observed)

	r := &Report{Experiment: "x", Effects: []effect{eff}}
	r.verdict()
	assert.False(t, r.Passed)
	require.Len(t, r.Failures, 1)
	assert.Contains(t, r.Failures[0], "fault effect: postgres network: +5ms latency: no evidence that it did anything")
	assert.Contains(t, markdown(r), "| postgres network: +5ms latency | CreateOrder's p50 in the fault window above the p50 before it |")
}

// An experiment that cannot run (here: no PostgreSQL where --database-url
// points) fails on its own; the next one still runs, and --json prints a
// report for each.
func TestChaosRunsEveryExperimentWhenOneCannotRun(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	dir := t.TempDir()
	var files []string
	for _, name := range []string{"first", "second"} {
		f := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(f, []byte(minimalExperiment), 0o600))
		files = append(files, f)
	}
	var stdout, stderr clitest.SyncBuffer
	err = Run(t.Context(), Options{
		Files: files, Scale: 0.1, Out: dir, JSON: true, NoBuild: true, Root: root, Environ: clitest.Environ(),
		DatabaseURL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
		Stdout:      &stdout, Stderr: &stderr,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 of 2 experiment(s) failed: first (could not run: ")
	var reports []*Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &reports), stdout.String())
	require.Len(t, reports, 2)
	for i, name := range []string{"first", "second"} {
		assert.Equal(t, name, reports[i].Experiment)
		assert.False(t, reports[i].Passed)
		require.Len(t, reports[i].Failures, 1)
		assert.Contains(t, reports[i].Failures[0], "could not run: ")
	}
	assert.Contains(t, stderr.String(), "experiment first could not run")
}

// errorsConsistentWith reports whether errs errors in n requests are
// consistent with a true success rate of rate: whether, were each request to
// fail with probability 1-rate, at least errs errors would happen at least
// once in a hundred runs (Poisson approximation of the binomial).
func errorsConsistentWith(errs, n int64, rate float64) bool {
	lambda := float64(n) * (1 - rate)
	below, term := 0.0, math.Exp(-lambda) // P(X < errs), P(X = k)
	for k := range errs {
		below += term
		term *= lambda / float64(k+1)
	}
	return 1-below >= 0.01
}

func TestErrorsConsistentWith(t *testing.T) {
	tests := []struct {
		errs, n int64
		rate    float64
		want    bool
	}{
		{0, 120, 0.995, true},
		{1, 120, 0.995, true},  // expected 0.6: one error is common
		{3, 120, 0.995, true},  // 2.3 % of runs see 3 or more
		{4, 120, 0.995, false}, // 0.3 %: the rate is worse than the gate's
		{49, 120, 0.995, false},
		{5, 1200, 0.995, true},
		{16, 1200, 0.995, false},
		{60, 450, 0.85, true},
		{100, 450, 0.85, false},
		{0, 0, 0.995, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, errorsConsistentWith(tt.errs, tt.n, tt.rate), "%d errors in %d at %v", tt.errs, tt.n, tt.rate)
	}
}

// runCLI runs the verb as slipway's main does: args[0] names it, the rest
// are its arguments, and its error becomes the exit code.
func runCLI(ctx context.Context, args []string, env *cli.Env) int {
	return cli.ExitCode(env.Stderr, args[0], Main(ctx, args[1:], env))
}
