package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The figures ready knows how to measure, by the name deploy/slo.yaml uses.
const (
	metricCPU    = "cpu_utilisation"
	metricP99    = "p99_latency"
	metricDBIdle = "db_idle_connections_ratio"
	metricErrors = "error_rate"
	metricOutbox = "outbox_oldest_pending_age"
)

// Units of a figure: how thresholds are written and values printed.
const (
	unitRatio   = "ratio"
	unitSeconds = "seconds"
)

// sloMetric describes one figure ready can measure.
type sloMetric struct {
	Unit string
	// HigherIsBetter says which way a threshold may point: a latency bound is
	// an upper bound (< or <=), an idle-connection share a lower one (> or >=).
	HigherIsBetter bool
	// NotApplicable explains a NaN value (a ratio with nothing to divide),
	// which passes; "" means a NaN fails as missing data.
	NotApplicable string
	// Needs names the series a value is computed from, for "no data" notes.
	Needs string
}

var sloMetrics = map[string]sloMetric{
	metricCPU: {Unit: unitRatio,
		Needs: "process_cpu_seconds_total and go_sched_gomaxprocs_threads"},
	metricP99: {Unit: unitSeconds, NotApplicable: "N/A: no requests in the window",
		Needs: "slipway_rpc_duration_seconds_bucket"},
	metricDBIdle: {Unit: unitRatio, HigherIsBetter: true, NotApplicable: "N/A: no open connections",
		Needs: `slipway_db_connections{state="open|idle"}`},
	metricErrors: {Unit: unitRatio, NotApplicable: "N/A: no requests in the window",
		Needs: "slipway_rpc_requests_total"},
	metricOutbox: {Unit: unitSeconds,
		Needs: "slipway_outbox_oldest_pending_age_seconds"},
}

// sloMetricNames lists the known figures, sorted, for error messages.
func sloMetricNames() []string {
	names := make([]string, 0, len(sloMetrics))
	for n := range sloMetrics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// sloFile is a parsed and validated deploy/slo.yaml.
type sloFile struct {
	Path    string
	Version int
	// SuccessRateQuery is the text of the success-rate PromQL the file points
	// at ("" when it names none: ready then uses its built-in query), and
	// SuccessRatePath where it was read from.
	SuccessRateQuery string
	SuccessRatePath  string
	Objectives       []sloObjective
}

// sloObjective is one threshold: metric op threshold, for some services.
type sloObjective struct {
	Metric    string
	Op        string // <, <=, >, >=
	Threshold float64
	Services  []string // nil: every service measured
}

// Holds reports whether value meets the objective.
func (o sloObjective) Holds(value float64) bool {
	switch o.Op {
	case "<":
		return value < o.Threshold
	case "<=":
		return value <= o.Threshold
	case ">":
		return value > o.Threshold
	case ">=":
		return value >= o.Threshold
	}
	return false
}

// sloDocument is the YAML shape of deploy/slo.yaml.
type sloDocument struct {
	Version           int    `yaml:"version"`
	SuccessRatePromQL string `yaml:"success_rate_promql"`
	Objectives        []struct {
		Metric    string       `yaml:"metric"`
		Op        string       `yaml:"op"`
		Threshold sloThreshold `yaml:"threshold"`
		Services  []string     `yaml:"services"`
	} `yaml:"objectives"`
}

// sloThreshold is a number, or a Go duration ("320ms") read as seconds.
type sloThreshold struct {
	Value    float64
	Duration bool
	Set      bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (t *sloThreshold) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: threshold must be a number or a duration", node.Line)
	}
	if v, err := strconv.ParseFloat(node.Value, 64); err == nil && node.Tag != "!!str" {
		*t = sloThreshold{Value: v, Set: true}
		return nil
	}
	d, err := time.ParseDuration(node.Value)
	if err != nil {
		return fmt.Errorf("line %d: threshold %q is neither a number nor a duration such as 320ms", node.Line, node.Value)
	}
	*t = sloThreshold{Value: d.Seconds(), Duration: true, Set: true}
	return nil
}

// loadSLO reads and validates the SLO file at path, and the success-rate
// query it points at (a path relative to the file).
func loadSLO(path string) (sloFile, error) {
	raw, err := os.ReadFile(path) //nolint:gosec // reading the file the user names is the point
	if err != nil {
		return sloFile{}, fmt.Errorf("read SLO file: %w", err)
	}
	slo, err := parseSLO(raw)
	if err != nil {
		return sloFile{}, fmt.Errorf("SLO file %s: %w", path, err)
	}
	slo.Path = path
	if slo.SuccessRatePath != "" {
		if !filepath.IsAbs(slo.SuccessRatePath) {
			slo.SuccessRatePath = filepath.Join(filepath.Dir(path), slo.SuccessRatePath)
		}
		q, err := os.ReadFile(slo.SuccessRatePath)
		if err != nil {
			return sloFile{}, fmt.Errorf("SLO file %s: success_rate_promql: %w", path, err)
		}
		slo.SuccessRateQuery = strings.TrimSpace(string(q))
		if slo.SuccessRateQuery == "" {
			return sloFile{}, fmt.Errorf("SLO file %s: success_rate_promql %s is empty", path, slo.SuccessRatePath)
		}
	}
	return slo, nil
}

// parseSLO decodes an SLO document strictly (unknown keys are errors) and
// checks every objective.
func parseSLO(raw []byte) (sloFile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var doc sloDocument
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return sloFile{}, errors.New("the file is empty")
		}
		return sloFile{}, err
	}
	if doc.Version < 1 {
		return sloFile{}, fmt.Errorf("version must be a positive integer, got %d", doc.Version)
	}
	if len(doc.Objectives) == 0 {
		return sloFile{}, errors.New("no objectives")
	}
	slo := sloFile{Version: doc.Version, SuccessRatePath: doc.SuccessRatePromQL}
	for i, o := range doc.Objectives {
		where := fmt.Sprintf("objectives[%d] (%s)", i, o.Metric)
		m, ok := sloMetrics[o.Metric]
		if !ok {
			return sloFile{}, fmt.Errorf("objectives[%d]: unknown metric %q (known: %s)", i, o.Metric, strings.Join(sloMetricNames(), ", "))
		}
		switch o.Op {
		case "<", "<=":
			if m.HigherIsBetter {
				return sloFile{}, fmt.Errorf("%s: op %q: higher is better for this metric, use > or >=", where, o.Op)
			}
		case ">", ">=":
			if !m.HigherIsBetter {
				return sloFile{}, fmt.Errorf("%s: op %q: lower is better for this metric, use < or <=", where, o.Op)
			}
		default:
			return sloFile{}, fmt.Errorf("%s: op %q: want <, <=, > or >=", where, o.Op)
		}
		switch {
		case !o.Threshold.Set:
			return sloFile{}, fmt.Errorf("%s: threshold is required", where)
		case o.Threshold.Duration && m.Unit != unitSeconds:
			return sloFile{}, fmt.Errorf("%s: threshold is a duration but the metric is a ratio", where)
		case math.IsNaN(o.Threshold.Value) || math.IsInf(o.Threshold.Value, 0) || o.Threshold.Value < 0:
			return sloFile{}, fmt.Errorf("%s: threshold %v: want a finite number >= 0", where, o.Threshold.Value)
		}
		for _, s := range o.Services {
			if strings.TrimSpace(s) == "" {
				return sloFile{}, fmt.Errorf("%s: empty service name", where)
			}
		}
		slo.Objectives = append(slo.Objectives, sloObjective{
			Metric: o.Metric, Op: o.Op, Threshold: o.Threshold.Value, Services: o.Services,
		})
	}
	return slo, nil
}
