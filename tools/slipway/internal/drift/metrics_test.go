package drift

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
)

var metricsTime = time.Unix(1_900_000_000, 0)

// metricsReport has drift in user (one key) and order (two), none in
// payment, and an inventory that could not be read.
func metricsReport() Report {
	return Report{
		Env:      "prod",
		Services: []Service{{Service: "user"}, {Service: "order"}, {Service: "inventory"}, {Service: "payment"}},
		Rows: []Row{
			{Service: "user", Key: "log_level", Status: statusDiffers, Drift: true},
			{Service: "user", Key: "drain_delay", Status: statusSame},
			{Service: "user", Key: "issuer", Status: statusUndeclared},
			{Service: "order", Key: "nats_url", Status: statusDiffers, Drift: true},
			{Service: "order", Key: "x", Status: statusExtra, Drift: true, Source: sourceConfigMap},
			{Service: "inventory", Key: "-", Status: statusFailed, Drift: true},
			{Service: "payment", Key: "log_level", Status: statusSame},
		},
	}
}

func writeMetrics(t *testing.T, rep Report) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "drift.prom")
	require.NoError(t, newDriftMetrics(rep, metricsTime, false).writeFile(file))
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	return string(data)
}

func TestMetricsFile(t *testing.T) {
	text := writeMetrics(t, metricsReport())
	assert.Contains(t, text, "# TYPE slipway_drift_differing_keys gauge\n")
	assert.Contains(t, text, `slipway_drift_differing_keys{environment="prod",service="user"} 1`+"\n")
	assert.Contains(t, text, `slipway_drift_differing_keys{environment="prod",service="order"} 2`+"\n")
	assert.Contains(t, text, `slipway_drift_differing_keys{environment="prod",service="payment"} 0`+"\n", "0 is exported, so an alert resolves")
	assert.NotContains(t, text, `service="inventory"`, "a service that could not be read gets no count")
	assert.NotContains(t, text, "slipway_drift_last_success_timestamp_seconds", "a run that could not read every source is no success")

	complete := metricsReport()
	complete.Rows = withoutRow(complete.Rows, 5)
	text = writeMetrics(t, complete)
	assert.Contains(t, text, "# TYPE slipway_drift_last_success_timestamp_seconds gauge\n")
	assert.Contains(t, text, `slipway_drift_last_success_timestamp_seconds{environment="prod"} 1.9e+09`+"\n")
	assert.Contains(t, text, `slipway_drift_differing_keys{environment="prod",service="inventory"} 0`+"\n")
	assert.Contains(t, text, `slipway_drift_differing_keys{environment="prod",service="order"} 2`+"\n", "drift found is still a successful run")

	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "promtool check metrics:\n%s", out)
	}

	err := newDriftMetrics(complete, metricsTime, false).writeFile(filepath.Join(t.TempDir(), "no", "such", "dir", "f.prom"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--metrics-file")
}

// withoutRow is rows without its i-th.
func withoutRow(rows []Row, i int) []Row {
	return append(append([]Row{}, rows[:i]...), rows[i+1:]...)
}

// pushRecorder is a Pushgateway's HTTP side: it records each request.
type pushRecorder struct {
	mu       sync.Mutex
	requests []string // "METHOD path"
	bodies   []string
	status   int
}

func (p *pushRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.requests = append(p.requests, r.Method+" "+r.URL.Path)
	p.bodies = append(p.bodies, string(body))
	status := p.status
	p.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
}

func TestPushReplacesTheGroupOnlyWhenComplete(t *testing.T) {
	rec := &pushRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()

	complete := metricsReport()
	complete.Rows = withoutRow(complete.Rows, 5)
	require.NoError(t, newDriftMetrics(complete, metricsTime, true).push(t.Context(), srv.URL, "prod", time.Second))
	require.NoError(t, newDriftMetrics(metricsReport(), metricsTime, true).push(t.Context(), srv.URL, "prod", time.Second))
	assert.Equal(t, []string{
		"PUT /metrics/job/slipway_drift/environment/prod",  // replaces the group
		"POST /metrics/job/slipway_drift/environment/prod", // keeps the last success
	}, rec.requests)

	rec.status = http.StatusBadRequest
	err := newDriftMetrics(complete, metricsTime, true).push(t.Context(), srv.URL, "prod", time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--pushgateway")
}

// pushgatewayBinaries are the Pushgateway's names: Debian's package
// installs prometheus-pushgateway, the upstream release pushgateway.
var pushgatewayBinaries = []string{"prometheus-pushgateway", "pushgateway"}

// findPushgateway returns the first of names on PATH, or an error that
// says what to install.
func findPushgateway(names ...string) (string, error) {
	for _, name := range names {
		if bin, err := exec.LookPath(name); err == nil {
			return bin, nil
		}
	}
	return "", fmt.Errorf("no Pushgateway installed (none of %v on PATH): apt-get install prometheus-pushgateway", names)
}

// requirePushgateway finds the Pushgateway, or skips the test when it is
// not installed, except in CI (CI=true), where a missing Pushgateway fails
// it: CI must run the push against the real thing.
func requirePushgateway(t testing.TB, getenv func(string) string, names ...string) string {
	t.Helper()
	bin, err := findPushgateway(names...)
	if err == nil {
		return bin
	}
	if getenv("CI") == "true" {
		t.Fatalf("%v; CI=true must run this test", err)
	}
	t.Skipf("%v; CI=true makes this a failure", err)
	return ""
}

func TestRequirePushgatewayFailsInCI(t *testing.T) {
	missing := []string{"slipway-no-such-pushgateway"}
	for _, tt := range []struct {
		ci                   string
		wantFailed, wantSkip bool
	}{
		{ci: "true", wantFailed: true},
		{ci: "", wantSkip: true},
		{ci: "false", wantSkip: true},
	} {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			rec := &tbRecorder{TB: t}
			done := make(chan struct{})
			go func() { // Fatalf and Skipf end the goroutine, as in a test
				defer close(done)
				requirePushgateway(rec, func(string) string { return tt.ci }, missing...)
			}()
			<-done
			assert.Equal(t, tt.wantFailed, rec.failed, "failed")
			assert.Equal(t, tt.wantSkip, rec.skipped, "skipped")
			assert.Contains(t, rec.msg, "apt-get install prometheus-pushgateway")
		})
	}
}

// tbRecorder records a Fatalf or Skipf instead of ending the real test.
type tbRecorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *tbRecorder) Helper() {}

func (r *tbRecorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *tbRecorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestRealPushgateway pushes to the Pushgateway itself (Debian:
// prometheus-pushgateway) and reads what it keeps. It skips when none is
// installed, and fails then under CI=true.
func TestRealPushgateway(t *testing.T) {
	bin := requirePushgateway(t, os.Getenv, pushgatewayBinaries...)
	addr := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--persistence.interval=0") //nolint:gosec // the test's own binary
	var logs clitest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "pushgateway did not listen:\n%s", logs.String())
	url := "http://" + addr
	scrape := func() string {
		resp, err := http.Get(url + "/metrics") //nolint:noctx // a test's one request
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}

	complete := metricsReport()
	complete.Rows = withoutRow(complete.Rows, 5)
	require.NoError(t, newDriftMetrics(complete, metricsTime, true).push(t.Context(), url, "prod", 5*time.Second))
	got := scrape()
	assert.Regexp(t, `slipway_drift_differing_keys\{environment="prod",instance="",job="slipway_drift",service="order"\} 2\n`, got)
	assert.Regexp(t, `slipway_drift_last_success_timestamp_seconds\{environment="prod",instance="",job="slipway_drift"\} 1\.9e\+09\n`, got)

	// A later run that could not read inventory: the counts it has are
	// replaced, the last success stays.
	partial := metricsReport()
	partial.Rows[3].Status, partial.Rows[3].Drift = statusSame, false // order's nats_url fixed
	require.NoError(t, newDriftMetrics(partial, metricsTime.Add(time.Hour), true).push(t.Context(), url, "prod", 5*time.Second))
	got = scrape()
	assert.Regexp(t, `slipway_drift_differing_keys\{environment="prod",instance="",job="slipway_drift",service="order"\} 1\n`, got)
	assert.Regexp(t, `slipway_drift_last_success_timestamp_seconds\{environment="prod",instance="",job="slipway_drift"\} 1\.9e\+09\n`, got)
}

func TestRunExportsMetrics(t *testing.T) {
	root := workspaceRoot(t)
	rec := &pushRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "drift.prom")
	var progress bytes.Buffer
	err := Run(t.Context(), Options{
		Root: root, Env: "dev", ConfigDir: testdataDir, Services: []string{"user"}, NoRunning: true,
		K8s: "testdata/k8s.json", Stdout: io.Discard, Progress: &progress,
		MetricsFile: file, PushGateway: srv.URL, Now: func() time.Time { return metricsTime },
	})
	require.ErrorIs(t, err, errFound, "the ConfigMap in testdata/k8s.json drifts")
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Regexp(t, `slipway_drift_differing_keys\{environment="dev",service="user"\} [1-9]`, string(data))
	assert.Contains(t, string(data), `slipway_drift_last_success_timestamp_seconds{environment="dev"} 1.9e+09`)
	assert.Equal(t, []string{"PUT /metrics/job/slipway_drift/environment/dev"}, rec.requests)
	assert.Contains(t, rec.bodies[0], "slipway_drift_differing_keys")
	assert.Contains(t, progress.String(), "drift: wrote the metrics to "+file)
	assert.Contains(t, progress.String(), "drift: pushed the metrics to "+srv.URL)

	t.Run("a Pushgateway that fails fails the run", func(t *testing.T) {
		rec.status = http.StatusInternalServerError
		err := Run(t.Context(), Options{
			Root: root, Env: "dev", ConfigDir: testdataDir, Services: []string{"user"}, NoRunning: true, Stdout: io.Discard,
			PushGateway: srv.URL,
		})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--pushgateway")
	})
}

func TestPushgatewayFlagNeedsAnHTTPURL(t *testing.T) {
	for _, bad := range []string{"pushgateway:9091", "ftp://x", "http://"} {
		var stdout, stderr bytes.Buffer
		env := &cli.Env{Stdout: &stdout, Stderr: &stderr}
		code := cli.ExitCode(env.Stderr, "drift", Main(t.Context(), []string{"--no-running", "--pushgateway", bad}, env))
		assert.Equal(t, cli.ExitUsage, code, bad)
		assert.Contains(t, stderr.String(), "want an http(s) URL", bad)
	}
}
