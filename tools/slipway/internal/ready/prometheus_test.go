package ready

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/promscrape"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// prometheusBinary is Debian's prometheus package's server.
const prometheusBinary = "/usr/bin/prometheus"

// requirePrometheus skips the test when Prometheus is not installed, except
// in CI (CI=true), where a missing Prometheus is a failure.
func requirePrometheus(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(prometheusBinary); err == nil {
		return
	}
	msg := prometheusBinary + " is missing: install Debian's Prometheus with `apt-get install -y prometheus`"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// startPrometheus runs a real Prometheus on a free loopback port that scrapes
// targets every second, and stops it when the test ends.
func startPrometheus(t *testing.T, targets ...string) string {
	t.Helper()
	dir := t.TempDir()
	config := "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n" +
		"scrape_configs:\n  - job_name: slipway\n    static_configs:\n      - targets:\n"
	for _, target := range targets {
		config += "          - " + strconv.Quote(target) + "\n"
	}
	configPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(configPath, []byte(config), 0o600))

	addr := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
	var logs bytes.Buffer
	cmd := exec.Command(prometheusBinary,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			err = <-exited
		}
		if t.Failed() {
			t.Logf("prometheus (exit: %v) output:\n%s", err, logs.String())
		}
	})

	url := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited before it was ready: %v\n%s", err, logs.String())
		default:
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/-/ready", nil)
		require.NoError(t, err)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus at %s not ready after 15s\n%s", url, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitForQuery polls an instant query until its single value satisfies ok.
func waitForQuery(t *testing.T, prom promv1.API, query string, ok func(float64) bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		value, _, _, err := prom.Query(t.Context(), query, time.Now())
		if err != nil {
			last = err.Error()
		} else if vec, isVec := value.(model.Vector); isVec && len(vec) == 1 {
			if ok(float64(vec[0].Value)) {
				return
			}
			last = vec[0].Value.String()
		} else {
			last = fmt.Sprint(value)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not there after %s (last: %s)", query, within, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRunPrometheus runs ready against a real Prometheus that scrapes
// two in-test services: PASS on healthy traffic, FAIL naming the metric with
// a tightened threshold, and the same figures as the scrape mode computes
// from the same traffic.
func TestRunPrometheus(t *testing.T) {
	requirePrometheus(t)
	user := startTestService(t, "user")
	order := startTestService(t, "order")
	order.db.WithLabelValues("open").Set(10)
	order.db.WithLabelValues("idle").Set(6)
	order.outbox.Set(2.5)
	url := startPrometheus(t, user.hostPort, order.hostPort)

	client, err := api.NewClient(api.Config{Address: url})
	require.NoError(t, err)
	prom := promv1.NewAPI(client)
	// Both targets scraped, so every series has a sample from before the
	// traffic: the increase of a series is seen from its second sample on.
	waitForQuery(t, prom, `count(up{job="slipway"} == 1)`, func(v float64) bool { return v == 2 }, 15*time.Second)

	targets, err := promscrape.ParseTargets("user=" + user.hostPort + ",order=" + order.hostPort)
	require.NoError(t, err)
	client2 := &http.Client{Timeout: 5 * time.Second}
	before, err := promscrape.ScrapeAll(t.Context(), client2, targets, time.Now)
	require.NoError(t, err)
	healthyTraffic(user, order)
	after, err := promscrape.ScrapeAll(t.Context(), client2, targets, time.Now)
	require.NoError(t, err)
	// 1100 calls on user and 2317 on order, scraped at least once more so
	// rate() spans them, and CPU with at least three samples.
	waitForQuery(t, prom, `sum(slipway_rpc_requests_total)`, func(v float64) bool { return v == 1100+2317 }, 10*time.Second)
	waitForQuery(t, prom, `min(count_over_time(process_cpu_seconds_total[15s]))`, func(v float64) bool { return v >= 3 }, 10*time.Second)

	t.Run("healthy passes", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := runCLI(t.Context(), []string{"ready", "--prometheus", url, "--window", "15s", "--slo", repoSLO},
			&cli.Env{Stdout: &stdout, Stderr: &stderr})
		require.Equal(t, cli.ExitOK, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		t.Logf("slipway ready --prometheus %s --window 15s:\n%s", url, stdout.String())
		assert.Contains(t, stdout.String(), "ready: all 9 checks PASS")
		assert.Regexp(t, `error_rate\s+order\s+< 0.5%\s+0.43%\s+PASS`, stdout.String())
		assert.Regexp(t, `db_idle_connections_ratio\s+user\s+>= 40%\s+-\s+PASS\s+N/A: no open connections`, stdout.String())
	})

	t.Run("tightened threshold fails naming the metric", func(t *testing.T) {
		spec := tightenedSLO(t, "threshold: 320ms", "threshold: 300ms")
		var stdout, stderr bytes.Buffer
		code := runCLI(t.Context(), []string{"ready", "--prometheus", url, "--window", "15s", "--slo", spec},
			&cli.Env{Stdout: &stdout, Stderr: &stderr})
		assert.Equal(t, cli.ExitFailed, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		assert.Contains(t, stderr.String(), "slipway ready: 1 of 9 checks failed: p99_latency (order: ")
		assert.Regexp(t, `p99_latency\s+order\s+<= 300ms\s+\S+\s+FAIL`, stdout.String())
	})

	t.Run("same figures as scraping", func(t *testing.T) {
		// A window reaching back before Prometheus started, so every series'
		// first sample is the zero it was primed with and rate() extrapolates
		// all of them alike: the ratios are then exact.
		var out bytes.Buffer
		err := Run(t.Context(), Options{SLOPath: repoSLO, Prometheus: url, Window: 5 * time.Minute, JSON: true, Stdout: &out})
		require.NoError(t, err, out.String())
		r := decodeReport(t, out.Bytes())

		var scraped slo.Measurement
		for i, target := range targets {
			promscrape.AggregateService(&scraped, target.Service, []promscrape.InstanceFigures{promscrape.ComputeInstance(before[i], after[i])})
		}
		for _, key := range [][2]string{
			{slo.MetricP99, "user"}, {slo.MetricP99, "order"},
			{slo.MetricErrors, "user"}, {slo.MetricErrors, "order"},
			{slo.MetricDBIdle, "order"}, {slo.MetricOutbox, "order"},
		} {
			c := observed(t, r, key[0], key[1])
			require.NotNil(t, c.Observed, "%v: %s", key, c.Note)
			assert.InDelta(t, scraped.Values[key[0]][key[1]], *c.Observed, 1e-9, "%v", key)
		}
		assert.InDelta(t, wantOrderP99, *observed(t, r, slo.MetricP99, "order").Observed, 1e-9)
		assert.InDelta(t, wantOrderErrors, *observed(t, r, slo.MetricErrors, "order").Observed, 1e-9)
		assert.Greater(t, *observed(t, r, slo.MetricCPU, "order").Observed, 0.0)
	})
}

func TestRunPrometheusUnreachable(t *testing.T) {
	err := Run(t.Context(), Options{
		SLOPath: repoSLO, Prometheus: "http://127.0.0.1:" + strconv.Itoa(clitest.FreePort(t)), Window: 15 * time.Second, Stdout: &bytes.Buffer{},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "query Prometheus at http://127.0.0.1:")
	var uerr cli.UsageError
	assert.False(t, errors.As(err, &uerr), "a check failure (exit 1), not a usage error")
}
