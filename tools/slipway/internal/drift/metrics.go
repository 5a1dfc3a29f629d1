package drift

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

// The metrics a run exports (--pushgateway, --metrics-file); the alerts on
// drift are written against these names.
const (
	metricDifferingKeys = "slipway_drift_differing_keys"
	metricLastSuccess   = "slipway_drift_last_success_timestamp_seconds"
	// pushJob is the Pushgateway job the metrics are grouped under, with
	// the environment.
	pushJob = "slipway_drift"
)

// driftMetrics are a run's metrics in a registry of their own.
type driftMetrics struct {
	reg *prometheus.Registry
	// complete: every source was read, so the run counts as a success.
	complete bool
}

// newDriftMetrics turns a report into metrics: per service whose sources
// were all read, how many keys drifted (0 included, so an alert resolves);
// and, when every source was read, the time of this successful run. A
// service that could not be read gets no count: 0 would be a claim.
//
// The metrics carry the environment label, except when pushed: the
// Pushgateway adds it from the grouping key and refuses a metric that has
// it already.
func newDriftMetrics(rep Report, now time.Time, forPush bool) driftMetrics {
	envLabel := []string{"environment"}
	if forPush {
		envLabel = nil
	}
	differing := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: metricDifferingKeys,
		Help: "Config keys whose running, ConfigMap or Secret value differs from the declaration in git, per service, at the last slipway drift run.",
	}, append(envLabel, "service"))
	lastSuccess := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: metricLastSuccess,
		Help: "Unix time of the last slipway drift run that read every source (drift found or not).",
	}, envLabel)
	envValue := []string{rep.Env}
	if forPush {
		envValue = nil
	}
	counts := map[string]int{}
	unread := map[string]bool{}
	for _, r := range rep.Rows {
		switch {
		case r.Status == statusFailed:
			unread[r.Service] = true
		case r.Drift:
			counts[r.Service]++
		}
	}
	m := driftMetrics{reg: prometheus.NewRegistry(), complete: len(unread) == 0}
	m.reg.MustRegister(differing)
	for _, s := range rep.Services {
		if !unread[s.Service] {
			differing.WithLabelValues(append(envValue, s.Service)...).Set(float64(counts[s.Service]))
		}
	}
	if m.complete {
		m.reg.MustRegister(lastSuccess)
		lastSuccess.WithLabelValues(envValue...).Set(float64(now.Unix()))
	}
	return m
}

// writeFile writes the metrics in the text format, for node_exporter's
// textfile collector; atomically, so the collector never reads half.
func (m driftMetrics) writeFile(path string) error {
	if err := prometheus.WriteToTextfile(path, m.reg); err != nil {
		return fmt.Errorf("--metrics-file: %w", err)
	}
	return nil
}

// push sends the metrics to a Pushgateway, grouped by job and environment.
// A complete run replaces the group; an incomplete one replaces only the
// counts it has, keeping the last success's time from before.
func (m driftMetrics) push(ctx context.Context, url, env string, timeout time.Duration) error {
	p := push.New(url, pushJob).Grouping("environment", env).Gatherer(m.reg).
		Client(&http.Client{Timeout: timeout})
	var err error
	if m.complete {
		err = p.PushContext(ctx)
	} else {
		err = p.AddContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("--pushgateway: %w", err)
	}
	return nil
}

// exportMetrics writes and pushes what opts ask for and reports each.
func exportMetrics(ctx context.Context, rep Report, opts Options) error {
	if opts.PushGateway == "" && opts.MetricsFile == "" {
		return nil
	}
	now := opts.now()
	if opts.MetricsFile != "" {
		if err := newDriftMetrics(rep, now, false).writeFile(opts.MetricsFile); err != nil {
			return err
		}
		fmt.Fprintf(opts.Progress, "drift: wrote the metrics to %s\n", opts.MetricsFile)
	}
	if opts.PushGateway != "" {
		if err := newDriftMetrics(rep, now, true).push(ctx, opts.PushGateway, rep.Env, opts.Timeout); err != nil {
			return err
		}
		fmt.Fprintf(opts.Progress, "drift: pushed the metrics to %s (job %s, environment %s)\n", opts.PushGateway, pushJob, rep.Env)
	}
	return nil
}
