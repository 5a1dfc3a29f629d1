package chaos

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func TestParseExperimentDefaults(t *testing.T) {
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

func TestParseExperimentKinds(t *testing.T) {
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

func TestParseExperimentReplicasAndRollingRestart(t *testing.T) {
	exp, err := parseExperiment([]byte(`
load: {rate: 5, duration: 60s}
replicas: {order: 2, inventory: 3}
faults:
  - {at: 10s, rolling_restart: {service: order, min_ready: 2s}}
  - {at: 30s, for: 2s, process: {service: inventory, signal: SIGKILL}}
`))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"order": 2, "inventory": 3}, exp.Replicas)
	assert.Equal(t, "rolling_restart", exp.Faults[0].Kind())
	assert.Equal(t, "rolling restart of order, one instance at a time (SIGTERM, started again, SERVING, then min_ready 2s before the next)", exp.Faults[0].Describe())
	assert.Equal(t, "process", exp.Faults[1].Kind())
}

func TestParseExperimentErrors(t *testing.T) {
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
		{"two kinds in one fault", minimalExperiment + "    process: {service: order, signal: SIGKILL}\n", "faults[0]: want exactly one of grpc, network, consumer_reset, process, postgres_restart or rolling_restart, found 2"},
		{"replicas of an unknown service", minimalExperiment + "replicas: {billing: 2}\n", "replicas.billing: unknown service"},
		{"no replicas", minimalExperiment + "replicas: {order: 0}\n", "replicas.order: 0: want 1 to 9 instances"},
		{"too many replicas", minimalExperiment + "replicas: {order: 10}\n", "replicas.order: 10: want 1 to 9 instances"},
		{"replicas not a number", minimalExperiment + "replicas: {order: two}\n", "cannot unmarshal"},
		{"rolling restart of one instance", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, rolling_restart: {service: order}}]\n",
			"faults[0].rolling_restart.service: order runs as 1 instance(s): a rolling restart needs replicas: {order: 2} or more"},
		{"rolling restart of an unknown service", "load: {rate: 1, duration: 10s}\nreplicas: {order: 2}\nfaults: [{at: 1s, rolling_restart: {service: billing}}]\n",
			`faults[0].rolling_restart.service: "billing"`},
		{"rolling restart with for", "load: {rate: 1, duration: 10s}\nreplicas: {order: 2}\nfaults: [{at: 1s, for: 2s, rolling_restart: {service: order}}]\n",
			"faults[0].for: a rolling restart lasts as long as its restarts take: leave out for"},
		{"rolling restart with an unknown key", "load: {rate: 1, duration: 10s}\nreplicas: {order: 2}\nfaults: [{at: 1s, rolling_restart: {service: order, pause: 1s}}]\n",
			`unknown field "pause"`},
		{"rolling restart waiting too long", "load: {rate: 1, duration: 10s}\nreplicas: {order: 2}\nfaults: [{at: 1s, rolling_restart: {service: order, min_ready: 2m}}]\n",
			"faults[0].rolling_restart.min_ready: 2m0s: at most 1m0s"},
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

func TestLoadExperimentNamesTheFile(t *testing.T) {
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

func TestScaleMultipliesTheTimelineOnly(t *testing.T) {
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
