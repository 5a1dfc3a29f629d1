package chaos

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/faultproxy"
)

// The probe measures how long the server was away: PostgreSQL behind the
// fault proxy, every connection reset for 300 ms, is an outage of at least
// that long (less one probe interval), and it ends once the server answers.
func TestOutageProbeMeasuresTheServerAway(t *testing.T) {
	server := testPostgres(t)
	if server == "" {
		t.Skip("needs PostgreSQL")
	}
	u, err := url.Parse(server)
	require.NoError(t, err)
	p, err := faultproxy.Start("postgres", "127.0.0.1:0", u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	u.Host = p.Addr()

	probe := startOutageProbe(t.Context(), u.String())
	time.Sleep(5 * outageProbeEvery) // it holds a live session now
	require.NoError(t, p.Partition(faultproxy.Reset))
	away := 300 * time.Millisecond
	time.Sleep(away)
	p.Heal()
	require.Eventually(t, func() bool {
		probe.mu.Lock()
		defer probe.mu.Unlock()
		return !probe.to.IsZero()
	}, 10*time.Second, outageProbeEvery, "the probe saw the server back")
	from, to := probe.stop()
	require.False(t, from.IsZero(), "the probe saw the outage begin")
	assert.GreaterOrEqual(t, to.Sub(from), away-outageProbeEvery, "the outage is at least the time the server was away")

	// A server that never went away is no outage.
	calm := startOutageProbe(t.Context(), server)
	time.Sleep(5 * outageProbeEvery)
	from, to = calm.stop()
	assert.True(t, from.IsZero() && to.IsZero(), "no outage: %s to %s", from, to)
}

// p99_over_outage gates p99 at the measured outage plus the slack: the same
// p99 passes after a long outage and fails after a short one.
func TestP99OverOutageGatesOnTheMeasuredOutage(t *testing.T) {
	exp, err := parseExperiment([]byte(`
load: {rate: 5, duration: 30s}
faults: [{at: 5s, postgres_restart: {}}]
analysis: {p99_over_outage: 500ms, reason: requests wait while the database is away}
`))
	require.NoError(t, err)
	th := exp.thresholds(thresholds{SuccessRate: 0.995, P99: 320 * time.Millisecond, Source: "slo"})
	require.NotNil(t, th.OverOutage)
	figures := loadFigures{Requests: 100, OK: 100, SuccessRate: 1, P99: 1150}

	for _, tt := range []struct {
		name   string
		outage time.Duration
		pass   bool
		cond   string
	}{
		{"after a 1.2 s outage", 1200 * time.Millisecond, true, "<= 1.7s (outage 1.20s + 500ms)"},
		{"after a 0.3 s outage", 300 * time.Millisecond, false, "<= 800ms (outage 0.30s + 500ms)"},
		{"with no outage seen", 0, false, "<= 500ms (outage 0.00s + 500ms)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &run{exp: exp, outage: tt.outage}
			rep := &Report{}
			r.record(rep, figures, th)
			var p99 *check
			for i := range rep.Analysis {
				if rep.Analysis[i].Metric == "p99 latency" {
					p99 = &rep.Analysis[i]
				}
			}
			require.NotNil(t, p99)
			assert.Equal(t, tt.cond, p99.Condition)
			assert.Equal(t, tt.pass, p99.Passed, "observed %s", p99.Observed)
		})
	}

	for _, tt := range []struct{ name, yaml, want string }{
		{"without a restart", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: postgres, latency: 5ms}}]\nanalysis: {p99_over_outage: 1s, reason: r}\n",
			"analysis.p99_over_outage: needs a postgres_restart fault"},
		{"with p99", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, postgres_restart: {}}]\nanalysis: {p99: 1s, p99_over_outage: 1s, reason: r}\n",
			"analysis.p99_over_outage: set p99 or p99_over_outage, not both"},
		{"zero", "load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, postgres_restart: {}}]\nanalysis: {p99_over_outage: 0s, reason: r}\n",
			"analysis.p99_over_outage: 0s: want more than 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseExperiment([]byte(tt.yaml))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
