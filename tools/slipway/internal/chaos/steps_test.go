package chaos

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsWithDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	assert.Equal(t, 1.0, o.Scale)
	assert.NotNil(t, o.Stdout)
	assert.NotNil(t, o.Stderr)
	assert.NotNil(t, o.Environ, "nil environ is the process's")
	assert.Equal(t, 60*time.Second, o.ReadyTimeout)
	assert.Equal(t, 15*time.Second, o.StopTimeout)

	given := Options{Scale: 0.1, Environ: []string{}, ReadyTimeout: time.Second, StopTimeout: 2 * time.Second}.withDefaults()
	assert.Equal(t, 0.1, given.Scale)
	assert.Empty(t, given.Environ, "an empty environ stays empty")
	assert.Equal(t, time.Second, given.ReadyTimeout)
	assert.Equal(t, 2*time.Second, given.StopTimeout)
}

func TestDefaultThresholds(t *testing.T) {
	dir := t.TempDir()
	_, err := defaultThresholds(dir, "")
	require.Error(t, err, "no deploy/slo.yaml under the root")
	assert.Contains(t, err.Error(), filepath.Join(dir, "deploy", "slo.yaml"))

	path := filepath.Join(dir, "slo.yaml")
	require.NoError(t, os.WriteFile(path, []byte("version: 1\nobjectives:\n  - metric: p99_latency\n    op: \"<=\"\n    threshold: 250ms\n  - metric: error_rate\n    op: \"<\"\n    threshold: 0.01\n"), 0o600))
	th, err := defaultThresholds(dir, path)
	require.NoError(t, err)
	assert.Equal(t, 250*time.Millisecond, th.P99)
	assert.InDelta(t, 0.99, th.SuccessRate, 1e-9)
}

func TestProgressPrinter(t *testing.T) {
	var out bytes.Buffer
	progress := progressPrinter(&out)
	progress("experiment %s: %d faults", "x", 2)
	assert.Equal(t, "chaos: experiment x: 2 faults\n", out.String(), "no terminal: no escape to clear a progress line")
}

func TestNewReport(t *testing.T) {
	exp, err := parseExperiment([]byte(minimalExperiment + "env:\n  order:\n    B: 2\n    A: 1\n"))
	require.NoError(t, err)
	exp.Name, exp.File = "inventory-errors", "deploy/chaos/inventory-errors.yaml"
	fp99 := 900 * time.Millisecond
	th := thresholds{SuccessRate: 0.9, P99: 320 * time.Millisecond, FaultP99: &fp99, Source: "deploy/slo.yaml"}
	o := Options{Out: "/tmp/out", Scale: 0.5, Command: "slipway chaos", DatabaseURL: "postgres://u:secret@127.0.0.1/x",
		NATSURL: "nats://u:secret@127.0.0.1:4222"}

	rep := newReport(o, exp, th)
	assert.Equal(t, "inventory-errors", rep.Experiment)
	assert.Equal(t, 0.5, rep.Scale)
	assert.Equal(t, "PostgreSQL", rep.Database)
	assert.Equal(t, "NATS at nats://u:xxxxx@127.0.0.1:4222", rep.Broker, "the broker's password is not written down")
	assert.False(t, rep.Redis)
	assert.Equal(t, map[string][]string{"order": {"A=1", "B=2"}}, rep.Env, "sorted, for stable reports")
	require.Len(t, rep.Faults, 1)
	assert.Contains(t, rep.Faults[0], "at 5s for 10s: ")
	assert.Equal(t, "320ms", rep.Thresholds.P99)
	assert.Equal(t, "900ms", rep.Thresholds.FaultP99)
	assert.Equal(t, "deploy/slo.yaml", rep.Thresholds.Source)
	dir := filepath.Dir(rep.Files.ServicesLog)
	assert.Equal(t, "/tmp/out", filepath.Dir(dir))
	assert.Regexp(t, `^inventory-errors-\d{8}T\d{9}Z$`, filepath.Base(dir))
	assert.Equal(t, dir+".json", rep.Files.JSON)
	assert.Equal(t, dir+".md", rep.Files.Markdown)

	sqlite := newReport(Options{Out: "/tmp/out", RedisURL: "redis://127.0.0.1:6379"}, exp, thresholds{SuccessRate: 0.9})
	assert.Equal(t, "SQLite", sqlite.Database)
	assert.Equal(t, "embedded JetStream", sqlite.Broker)
	assert.True(t, sqlite.Redis)
	assert.Empty(t, sqlite.Thresholds.FaultP99, "no fault-window bound: reported only")
}

// record splits the samples at the fault window (open windows end with the
// load) and judges the figures against the thresholds.
func TestRunRecord(t *testing.T) {
	exp, err := parseExperiment([]byte(minimalExperiment))
	require.NoError(t, err)
	var samples []sample
	for i := range 30 {
		s := sample{at: time.Duration(i) * time.Second, latency: 10 * time.Millisecond, code: loadgen.CodeOK}
		if i >= 5 && i < 15 {
			s.code = "Unavailable"
		}
		samples = append(samples, s)
	}
	th := thresholds{SuccessRate: 0.9, P99: time.Second}
	figures := loadFigures{Requests: 30, OK: 20, Errors: 10, SuccessRate: 20.0 / 30, P99: 10}

	r := &run{exp: exp, samples: samples, window: [2]time.Duration{5 * time.Second, 15 * time.Second}}
	rep := &Report{}
	r.record(rep, figures, th)
	assert.Equal(t, figures, rep.Load)
	require.NotNil(t, rep.FaultWindow)
	assert.Equal(t, 5.0, rep.FaultWindow.FromSec)
	assert.Equal(t, 15.0, rep.FaultWindow.ToSec)
	assert.Equal(t, int64(10), rep.FaultWindow.Requests)
	assert.Equal(t, int64(10), rep.FaultWindow.Errors)
	require.NotEmpty(t, rep.Analysis)
	assert.False(t, rep.Analysis[0].Passed, "a 67%% success rate fails a 90%% gate: %+v", rep.Analysis[0])

	open := &run{exp: exp, samples: samples, window: [2]time.Duration{5 * time.Second, 0}}
	rep = &Report{}
	open.record(rep, figures, th)
	require.NotNil(t, rep.FaultWindow)
	assert.Equal(t, 30.0, rep.FaultWindow.ToSec, "a fault still on at the end lasts until the load's end")

	none := &run{exp: exp, samples: samples}
	rep = &Report{}
	none.record(rep, figures, th)
	assert.Nil(t, rep.FaultWindow, "no fault ran: no window")
}

func TestEnvFlag(t *testing.T) {
	env := map[string]map[string]string{}
	set := envFlag(env)
	require.NoError(t, set("order:PEER_RETRY_ATTEMPTS=1"))
	require.NoError(t, set("order:EMPTY="))
	assert.Equal(t, map[string]map[string]string{"order": {"PEER_RETRY_ATTEMPTS": "1", "EMPTY": ""}}, env)

	for bad, want := range map[string]string{
		"PEER_RETRY_ATTEMPTS=1":    "want svc:KEY=VALUE",
		"order:PEER_RETRY":         "want svc:KEY=VALUE",
		"order:lower case=1":       "want svc:KEY=VALUE",
		"payments:FAULTS=true":     "unknown service payments",
		"order:PEER_RETRY_ATTEMPT": "want svc:KEY=VALUE",
	} {
		err := set(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), want, bad)
	}
}

func TestOptionsFromEnvironment(t *testing.T) {
	environ := map[string]string{
		"DATABASE_URL": "postgres://127.0.0.1:5432/slipway", "NATS_URL": "nats://127.0.0.1:4222", "REDIS_URL": "redis://127.0.0.1:6379",
	}
	var o Options
	o.fromEnvironment(func(k string) string { return environ[k] })
	assert.Equal(t, "postgres://127.0.0.1:5432/slipway", o.DatabaseURL)
	assert.Equal(t, "nats://127.0.0.1:4222", o.NATSURL)
	assert.Equal(t, "redis://127.0.0.1:6379", o.RedisURL)

	flags := Options{DatabaseURL: "postgres://db:5432", NATSURL: "nats://flag:4222", RedisURL: "redis://flag:6379"}
	flags.fromEnvironment(func(k string) string { return environ[k] })
	assert.Equal(t, "postgres://db:5432", flags.DatabaseURL, "a flag wins over the environment")
	assert.Equal(t, "nats://flag:4222", flags.NATSURL)
	assert.Equal(t, "redis://flag:6379", flags.RedisURL)

	var sqlite Options
	sqlite.fromEnvironment(func(k string) string {
		return map[string]string{"DATABASE_URL": "sqlite://data/order.db"}[k]
	})
	assert.Empty(t, sqlite.DatabaseURL, "only a PostgreSQL server is taken: SQLite databases are made per run")
}

// TestNewReportSaysHowLongEachFaultLasts: a fault with for lasts that
// long; a rolling restart and a PostgreSQL restart last as long as they
// take, and the report says so rather than calling them instantaneous.
func TestNewReportSaysHowLongEachFaultLasts(t *testing.T) {
	exp, err := parseExperiment([]byte(`
load: {rate: 5, duration: 60s}
replicas: {order: 2}
faults:
  - {at: 5s, for: 10s, process: {service: inventory, signal: SIGKILL}}
  - {at: 10s, rolling_restart: {service: order, min_ready: 2s}}
  - {at: 20s, postgres_restart: {}}
  - {at: 40s, consumer_reset: {}}
`))
	require.NoError(t, err)
	exp.Name = "timing"
	rep := newReport(Options{Out: t.TempDir()}, exp, thresholds{SuccessRate: 0.995, P99: time.Second})
	assert.Equal(t, []string{
		"at 5s for 10s: SIGKILL inventory, restarted 10s later",
		"at 10s until each of its 2 instances has restarted: rolling restart of order, one instance at a time (SIGTERM, started again, SERVING, then min_ready 2s before the next)",
		"at 20s until the server is back: PostgreSQL restarted (-m fast)",
		"at 40s instantaneous: reset consumer notification on stream ORDERS (redeliver from the start)",
	}, rep.Faults)
}
