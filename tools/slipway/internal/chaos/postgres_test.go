package chaos

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePostgresRestart(t *testing.T) {
	exp, err := parseExperiment([]byte(`
load: {rate: 5, duration: 30s}
faults:
  - {at: 5s, postgres_restart: {}}
  - {at: 15s, for: 3s, postgres_restart: {mode: immediate}}
`))
	require.NoError(t, err)
	assert.Equal(t, "fast", exp.Faults[0].PostgresRestart.Mode, "fast by default")
	assert.Equal(t, "postgres_restart", exp.Faults[0].Kind())
	assert.Equal(t, "PostgreSQL restarted (-m fast)", exp.Faults[0].Describe())
	assert.Equal(t, "PostgreSQL stopped (-m immediate), started 3s later", exp.Faults[1].Describe())
	assert.True(t, exp.needs(depPostgres), "a restart needs the services on PostgreSQL")
	assert.False(t, exp.needs(depRedis))

	for _, tt := range []struct{ name, yaml, want string }{
		{"smart mode", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, postgres_restart: {mode: smart}}]\n", `faults[0].postgres_restart.mode: "smart": want fast or immediate`},
		{"two kinds", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, postgres_restart: {}, consumer_reset: {}}]\n", "want exactly one of grpc, network, consumer_reset, process, postgres_restart or rolling_restart, found 2"},
		{"overlaps a PostgreSQL network fault", "load: {rate: 1, duration: 30s}\nfaults:\n  - {at: 1s, for: 10s, network: {dependency: postgres, latency: 5ms}}\n  - {at: 5s, for: 2s, postgres_restart: {}}\n", "faults[1]: overlaps faults[0] (1s to 11s): one fault on PostgreSQL at a time"},
		{"unknown key", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, postgres_restart: {how: fast}}]\n", `unknown field "how"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseExperiment([]byte(tt.yaml))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestPostgresRestartCommand(t *testing.T) {
	c := pgCluster{Version: "15", Name: "main"}
	assert.Equal(t, []string{"--skip-systemctl-redirect", "15", "main", "restart", "-m", "fast"}, pgArgs(c, "restart", "fast"))
	assert.Equal(t, []string{"--skip-systemctl-redirect", "15", "main", "stop", "-m", "immediate"}, pgArgs(c, "stop", "immediate"))
	assert.Equal(t, []string{"--skip-systemctl-redirect", "15", "main", "start"}, pgArgs(c, "start", ""))
}

// The restart's evidence is the postmaster's start time: a "restart" after
// which the server has the same start time did nothing, and the effect says
// so. pg_ctlcluster is replaced here, so nothing is restarted.
func TestPostgresRestartNeedsEvidence(t *testing.T) {
	server := testPostgres(t)
	if server == "" {
		t.Skip("needs PostgreSQL")
	}
	c, err := pgInspect(t.Context(), server)
	if err != nil && strings.Contains(err.Error(), "cluster_name") {
		t.Skipf("not a pg_ctlcluster cluster: %v", err)
	}
	require.NoError(t, err)
	assert.NotEmpty(t, c.Version)
	assert.NotEmpty(t, c.Name)
	assert.False(t, c.Started.IsZero())

	var ran [][]string
	saved := pgControl
	pgControl = func(_ context.Context, args ...string) error { ran = append(ran, args); return nil }
	t.Cleanup(func() { pgControl = saved })

	r := &run{
		fleet:    &proxiedFleet{databases: map[string]database{"order": {Dialect: "postgres", DSN: server}}},
		progress: func(string, ...any) {}, start: time.Now(),
	}
	f := fault{At: duration(time.Second), PostgresRestart: &postgresRestart{Mode: "fast"}}
	require.NoError(t, r.apply(t.Context(), f))
	require.NoError(t, r.revert(t.Context(), f))
	assert.Equal(t, [][]string{{"--skip-systemctl-redirect", c.Version, c.Name, "restart", "-m", "fast"}}, ran)
	require.Len(t, r.effects, 1)
	assert.False(t, r.effects[0].Seen, "the start time did not change: no evidence: %s", r.effects[0].Observed)
	assert.Contains(t, r.effects[0].Observed, "postmaster started at")

	ran, r.effects = nil, nil
	f.For = duration(time.Second)
	require.NoError(t, r.apply(t.Context(), f))
	require.NoError(t, r.revert(t.Context(), f))
	assert.Equal(t, [][]string{
		{"--skip-systemctl-redirect", c.Version, c.Name, "stop", "-m", "fast"},
		{"--skip-systemctl-redirect", c.Version, c.Name, "start"},
	}, ran, "a fault that lasts stops the server, then starts it")
}

// A restart experiment starts its load from a checkpoint, so the shutdown
// checkpoint holds the load's writes, not the databases the setup created.
func TestRestartExperimentsCheckpointFirst(t *testing.T) {
	restart, err := parseExperiment([]byte("load: {rate: 5, duration: 30s}\nfaults: [{at: 5s, postgres_restart: {}}]\n"))
	require.NoError(t, err)
	assert.True(t, restart.restartsPostgres())
	latency, err := parseExperiment([]byte("load: {rate: 5, duration: 30s}\nfaults: [{at: 5s, for: 5s, network: {dependency: postgres, latency: 5ms}}]\n"))
	require.NoError(t, err)
	assert.False(t, latency.restartsPostgres(), "only a restart needs the checkpoint")

	server := testPostgres(t)
	if server == "" {
		t.Skip("needs PostgreSQL")
	}
	require.NoError(t, pgCheckpoint(t.Context(), server))
	err = pgCheckpoint(t.Context(), "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CHECKPOINT before the restart")
}
