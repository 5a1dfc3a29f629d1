package ready

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/promscrape"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// repoSLO is the checked-in deploy/slo.yaml, from this package's directory.
var repoSLO = filepath.Join("..", "..", "..", "..", "deploy", "slo.yaml")

// testService is a stand-in for a Slipway service's /metrics: a real
// registry with the series platform/server, platform/store, platform/events
// and the process and Go collectors export, under names and labels that
// match, whose values the test drives.
type testService struct {
	name     string
	hostPort string
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	cpu      prometheus.Counter
	db       *prometheus.GaugeVec
	outbox   prometheus.Gauge // order only
}

func startTestService(t *testing.T, name string) *testService {
	t.Helper()
	reg := prometheus.NewRegistry()
	svc := prometheus.Labels{"service": name}
	s := &testService{
		name: name,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_rpc_requests_total", Help: "RPCs handled.", ConstLabels: svc,
		}, []string{"rpc_service", "rpc_method", "code", "protocol"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "slipway_rpc_duration_seconds", Help: "RPC latency.", ConstLabels: svc,
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .32, .5, 1, 2.5, 5, 10},
		}, []string{"rpc_service", "rpc_method", "protocol"}),
		cpu: prometheus.NewCounter(prometheus.CounterOpts{Name: "process_cpu_seconds_total", Help: "CPU."}),
		db: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "slipway_db_connections", Help: "Pool.", ConstLabels: svc,
		}, []string{"state"}),
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "slipway_config_info", Help: "Config."}, []string{"service", "hash"})
	info.WithLabelValues(name, "0123abcd").Set(1)
	procs := prometheus.NewGauge(prometheus.GaugeOpts{Name: "go_sched_gomaxprocs_threads", Help: "GOMAXPROCS."})
	procs.Set(2)
	reg.MustRegister(s.requests, s.duration, s.cpu, s.db, info, procs)
	for _, state := range []string{"open", "in_use", "idle"} {
		s.db.WithLabelValues(state).Set(0) // a pool that has opened nothing yet
	}
	if name == "order" {
		s.outbox = prometheus.NewGauge(prometheus.GaugeOpts{Name: "slipway_outbox_oldest_pending_age_seconds", Help: "Outbox."})
		reg.MustRegister(s.outbox)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	s.hostPort = u.Host
	s.prime()
	return s
}

// rpc names one kind of call the test makes.
type rpc struct{ service, method, code, protocol string }

var (
	createOrder   = rpc{"slipway.order.v1.OrderService", "CreateOrder", "OK", "grpc"}
	getMe         = rpc{"slipway.user.v1.UserService", "GetMe", "OK", "rest"}
	getUserAbsent = rpc{"slipway.user.v1.UserService", "GetUser", "NotFound", "connect"}
	loginFailed   = rpc{"slipway.user.v1.UserService", "Login", "Internal", "grpc"}
	healthWatch   = rpc{"grpc.health.v1.Health", "Watch", "OK", "grpc"}
)

// getOrder is GetOrder answered with code.
func getOrder(code codes.Code) rpc {
	return rpc{"slipway.order.v1.OrderService", "GetOrder", code.String(), "grpc-web"}
}

// allCodes are the 17 gRPC codes.
func allCodes() []codes.Code {
	all := make([]codes.Code, 0, 17)
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		all = append(all, c)
	}
	return all
}

// prime creates every series the traffic will touch, at zero: Prometheus
// needs a sample before the first increase to see it (client_golang exports
// a labelled series only once it is used).
func (s *testService) prime() {
	calls := []rpc{createOrder, getMe, getUserAbsent, loginFailed, healthWatch}
	for _, c := range allCodes() {
		calls = append(calls, getOrder(c))
	}
	for _, r := range calls {
		s.requests.WithLabelValues(r.service, r.method, r.code, r.protocol)
		s.duration.WithLabelValues(r.service, r.method, r.protocol)
	}
}

// serve records n calls of r that took d each.
func (s *testService) serve(r rpc, n int, d time.Duration) {
	for range n {
		s.requests.WithLabelValues(r.service, r.method, r.code, r.protocol).Inc()
		s.duration.WithLabelValues(r.service, r.method, r.protocol).Observe(d.Seconds())
	}
}

// healthyTraffic is one window's worth of calls on user and order (GOMAXPROCS
// is 2 on both):
//
//	user:  987 GetMe in 40ms, 10 GetUser NotFound in 4ms, 3 Login Internal
//	       in 200ms; +6 CPU-s; no open connection
//	order: 200 CreateOrder in 300ms, 2000 GetOrder OK and one GetOrder of
//	       each of the 17 codes in 8ms; +15 CPU-s; 6 of 10 connections idle;
//	       oldest outbox event 2.5s
//
// Both also serve 100 health Watch streams of 5s each, which count for the
// error rate (as successes) but not for p99.
func healthyTraffic(user, order *testService) {
	user.serve(getMe, 987, 40*time.Millisecond)
	user.serve(getUserAbsent, 10, 4*time.Millisecond)
	user.serve(loginFailed, 3, 200*time.Millisecond)
	user.cpu.Add(6)
	order.serve(createOrder, 200, 300*time.Millisecond)
	order.serve(getOrder(codes.OK), 2000, 8*time.Millisecond)
	for _, c := range allCodes() {
		order.serve(getOrder(c), 1, 8*time.Millisecond)
	}
	order.cpu.Add(15)
	order.db.WithLabelValues("open").Set(10)
	order.db.WithLabelValues("idle").Set(6)
	order.db.WithLabelValues("in_use").Set(4)
	order.outbox.Set(2.5)
	for _, s := range []*testService{user, order} {
		s.serve(healthWatch, 100, 5*time.Second)
	}
}

// Expected figures of healthyTraffic.
var (
	// user: 1000 RPCs besides health; rank 990 in (0.025, 0.05], 10 below and
	// 997 at its top.
	wantUserP99 = 0.025 + (0.05-0.025)*(990-10)/(997-10.0)
	// order: 2217 RPCs besides health, 2017 at or under 0.01, all at or under
	// 0.32; rank 0.99*2217 in (0.25, 0.32].
	wantOrderP99 = 0.25 + (0.32-0.25)*(0.99*2217-2017)/200
	// user: 3 Internal of 1100 (health included).
	wantUserErrors = 3.0 / 1100
	// order: 10 of the 17 codes are errors (all but OK, NotFound,
	// InvalidArgument, FailedPrecondition, AlreadyExists, Unauthenticated,
	// PermissionDenied), of 2317 RPCs.
	wantOrderErrors = 10.0 / 2317
)

// fakeClock is the Options clock of the scrape tests: wait runs the
// traffic of the window and moves the clock on, so nothing sleeps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) waitDoing(traffic func()) func(context.Context, time.Duration) error {
	return func(_ context.Context, d time.Duration) error {
		traffic()
		c.mu.Lock()
		defer c.mu.Unlock()
		c.now = c.now.Add(d)
		return nil
	}
}

// tightenedSLO copies deploy/slo.yaml and its success-rate query into a
// temporary directory, replacing old with new in the copy.
func tightenedSLO(t *testing.T, old, new string) string {
	t.Helper()
	raw, err := os.ReadFile(repoSLO)
	require.NoError(t, err)
	require.Contains(t, string(raw), old)
	dir := t.TempDir()
	path := filepath.Join(dir, "slo.yaml")
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(raw), old, new, 1)), 0o600))
	promql, err := os.ReadFile(filepath.Join(filepath.Dir(repoSLO), "promql", "success_rate.promql"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "promql"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "promql", "success_rate.promql"), promql, 0o600))
	return path
}

func decodeReport(t *testing.T, out []byte) Report {
	t.Helper()
	var r Report
	require.NoError(t, json.Unmarshal(out, &r), "%s", out)
	return r
}

// observed returns the observed value of metric for service in r.
func observed(t *testing.T, r Report, metric, service string) slo.Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Metric == metric && c.Service == service {
			return c
		}
	}
	require.Failf(t, "no check", "%s %s in %+v", metric, service, r.Checks)
	return slo.Check{}
}

func TestRunScrape(t *testing.T) {
	user := startTestService(t, "user")
	order := startTestService(t, "order")
	// Before the window: slow calls and CPU that must not count.
	user.serve(getMe, 500, 2*time.Second)
	order.cpu.Add(1000)
	order.db.WithLabelValues("open").Set(10)
	order.db.WithLabelValues("idle").Set(6)
	order.outbox.Set(0.8)

	targets, err := promscrape.ParseTargets("user=" + user.hostPort + ",order=" + order.hostPort)
	require.NoError(t, err)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	opts := func(spec string, out *bytes.Buffer) Options {
		return Options{
			SLOPath: spec, Window: 30 * time.Second, Targets: targets, JSON: true, Stdout: out,
			now: clock.Now, wait: clock.waitDoing(func() { healthyTraffic(user, order) }),
		}
	}

	t.Run("healthy passes", func(t *testing.T) {
		var out bytes.Buffer
		require.NoError(t, Run(t.Context(), opts(repoSLO, &out)))
		r := decodeReport(t, out.Bytes())
		assert.True(t, r.Pass)
		assert.Empty(t, r.Failed)
		assert.Equal(t, 1, r.SLOVersion)
		assert.Equal(t, "scrape", r.Source)
		assert.InDelta(t, 30, r.MeasuredSeconds, 1e-9)
		// 5 objectives for 2 services, outbox only for order.
		assert.Len(t, r.Checks, 9)
		for _, c := range r.Checks {
			assert.Equal(t, slo.Pass, c.Result, "%s %s: %s", c.Metric, c.Service, c.Note)
		}
		want := map[[2]string]float64{
			{slo.MetricCPU, "user"}:     6.0 / 30 / 2,
			{slo.MetricCPU, "order"}:    15.0 / 30 / 2,
			{slo.MetricP99, "user"}:     wantUserP99,
			{slo.MetricP99, "order"}:    wantOrderP99,
			{slo.MetricErrors, "user"}:  wantUserErrors,
			{slo.MetricErrors, "order"}: wantOrderErrors,
			{slo.MetricDBIdle, "order"}: 0.6,
			{slo.MetricOutbox, "order"}: 2.5,
		}
		for key, v := range want {
			c := observed(t, r, key[0], key[1])
			require.NotNil(t, c.Observed, "%v: %s", key, c.Note)
			assert.InDelta(t, v, *c.Observed, 1e-9, "%v", key)
		}
		na := observed(t, r, slo.MetricDBIdle, "user")
		assert.Nil(t, na.Observed)
		assert.Equal(t, "N/A: no open connections", na.Note)
	})

	t.Run("tightened threshold fails naming the metric", func(t *testing.T) {
		// order's p99 is 312.24ms: under the checked-in 320ms, over 300ms.
		spec := tightenedSLO(t, "threshold: 320ms", "threshold: 300ms")
		var out bytes.Buffer
		err := Run(t.Context(), opts(spec, &out))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "1 of 9 checks failed: p99_latency (order: 312.24ms, want <= 300ms)")
		assert.Equal(t, cli.ExitFailed, cli.ExitCode(&bytes.Buffer{}, "ready", err))
		r := decodeReport(t, out.Bytes())
		assert.False(t, r.Pass)
		assert.Equal(t, []string{"p99_latency/order"}, r.Failed)
	})

	t.Run("human table", func(t *testing.T) {
		spec := tightenedSLO(t, "threshold: 0.005", "threshold: 0.003")
		var out bytes.Buffer
		o := opts(spec, &out)
		o.JSON = false
		err := Run(t.Context(), o)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "error_rate (order: 0.43%, want < 0.3%)")
		text := out.String()
		assert.Contains(t, text, "(version 1), scraped 2 target(s) 30.00s apart")
		assert.Regexp(t, `METRIC\s+SERVICE\s+THRESHOLD\s+OBSERVED\s+RESULT\s+NOTE`, text)
		assert.Regexp(t, `cpu_utilisation\s+user\s+< 75%\s+10.00%\s+PASS`, text)
		assert.Regexp(t, `p99_latency\s+order\s+<= 320ms\s+312.24ms\s+PASS`, text)
		assert.Regexp(t, `db_idle_connections_ratio\s+user\s+>= 40%\s+-\s+PASS\s+N/A: no open connections`, text)
		assert.Regexp(t, `error_rate\s+user\s+< 0.3%\s+0.27%\s+PASS\n`, text)
		assert.Regexp(t, `error_rate\s+order\s+< 0.3%\s+0.43%\s+FAIL\n`, text)
		assert.Regexp(t, `outbox_oldest_pending_age\s+order\s+< 30s\s+2.5s\s+PASS`, text)
		assert.Contains(t, text, "ready: 1 of 9 checks FAIL: error_rate/order")
	})

	t.Run("a service in scope without a target fails", func(t *testing.T) {
		only := targets[:1] // user only: order's outbox is not measured
		var out bytes.Buffer
		o := opts(repoSLO, &out)
		o.Targets = only
		err := Run(t.Context(), o)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "outbox_oldest_pending_age (order: no data: no --targets entry for this service)")
	})
}

func TestRunScrapeUnreachable(t *testing.T) {
	targets, err := promscrape.ParseTargets("user=127.0.0.1:" + strconv.Itoa(clitest.FreePort(t)))
	require.NoError(t, err)
	waited := false
	err = Run(t.Context(), Options{
		SLOPath: repoSLO, Window: time.Hour, Targets: targets, Stdout: &bytes.Buffer{},
		wait: func(context.Context, time.Duration) error { waited = true; return nil },
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "scrape user at "+targets[0].URL)
	assert.Contains(t, err.Error(), "connection refused")
	assert.False(t, waited, "no point waiting the window when the first scrape fails")
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"both modes", []string{"--targets", "user=127.0.0.1:1", "--prometheus", "http://127.0.0.1:9090"}, "exclude each other"},
		{"window too short", []string{"--window", "500ms"}, "--window 500ms: want at least 1s"},
		{"bad target", []string{"--targets", "user"}, "want service=host:port"},
		{"bad prometheus URL", []string{"--prometheus", "127.0.0.1:9090"}, "want an http(s) URL"},
		{"stray argument", []string{"now"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runCLI(t.Context(), append([]string{"ready", "--slo", repoSLO}, tt.args...), &cli.Env{Stdout: &stdout, Stderr: &stderr})
			assert.Equal(t, cli.ExitUsage, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
}

// runCLI runs the verb as slipway's main does: args[0] names it, the rest
// are its arguments, and its error becomes the exit code.
func runCLI(ctx context.Context, args []string, env *cli.Env) int {
	return cli.ExitCode(env.Stderr, args[0], Main(ctx, args[1:], env))
}
