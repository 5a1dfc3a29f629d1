// Package slo reads deploy/slo.yaml (the objectives every service must
// meet) and evaluates a measurement against it, one check per objective and
// service.
package slo

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
	MetricCPU    = "cpu_utilisation"
	MetricP99    = "p99_latency"
	MetricDBIdle = "db_idle_connections_ratio"
	MetricErrors = "error_rate"
	MetricOutbox = "outbox_oldest_pending_age"
)

// Units of a figure: how thresholds are written and values printed.
const (
	UnitRatio   = "ratio"
	unitSeconds = "seconds"
)

// MetricDef describes one figure ready can measure.
type MetricDef struct {
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

// Metrics describes every figure ready can measure, by name.
var Metrics = map[string]MetricDef{
	MetricCPU: {Unit: UnitRatio,
		Needs: "process_cpu_seconds_total and go_sched_gomaxprocs_threads"},
	MetricP99: {Unit: unitSeconds, NotApplicable: "N/A: no requests in the window",
		Needs: "slipway_rpc_duration_seconds_bucket"},
	MetricDBIdle: {Unit: UnitRatio, HigherIsBetter: true, NotApplicable: "N/A: no open connections",
		Needs: `slipway_db_connections{state="open|idle"}`},
	MetricErrors: {Unit: UnitRatio, NotApplicable: "N/A: no requests in the window",
		Needs: "slipway_rpc_requests_total"},
	MetricOutbox: {Unit: unitSeconds,
		Needs: "slipway_outbox_oldest_pending_age_seconds"},
}

// metricNames lists the known figures, sorted, for error messages.
func metricNames() []string {
	names := make([]string, 0, len(Metrics))
	for n := range Metrics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// File is a parsed and validated deploy/slo.yaml.
type File struct {
	Path    string
	Version int
	// SuccessRateQuery is the text of the success-rate PromQL the file points
	// at ("" when it names none: ready then uses its built-in query), and
	// SuccessRatePath where it was read from.
	SuccessRateQuery string
	SuccessRatePath  string
	Objectives       []Objective
}

// Objective is one threshold: metric op threshold, for some services.
type Objective struct {
	Metric    string
	Op        string // <, <=, >, >=
	Threshold float64
	Services  []string // nil: every service measured
}

// Holds reports whether value meets the objective.
func (o Objective) Holds(value float64) bool {
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

// document is the YAML shape of deploy/slo.yaml.
type document struct {
	Version           int    `yaml:"version"`
	SuccessRatePromQL string `yaml:"success_rate_promql"`
	Objectives        []struct {
		Metric    string    `yaml:"metric"`
		Op        string    `yaml:"op"`
		Threshold threshold `yaml:"threshold"`
		Services  []string  `yaml:"services"`
	} `yaml:"objectives"`
}

// threshold is a number, or a Go duration ("320ms") read as seconds.
type threshold struct {
	Value    float64
	Duration bool
	Set      bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (t *threshold) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: threshold must be a number or a duration", node.Line)
	}
	if v, err := strconv.ParseFloat(node.Value, 64); err == nil && node.Tag != "!!str" {
		*t = threshold{Value: v, Set: true}
		return nil
	}
	d, err := time.ParseDuration(node.Value)
	if err != nil {
		return fmt.Errorf("line %d: threshold %q is neither a number nor a duration such as 320ms", node.Line, node.Value)
	}
	*t = threshold{Value: d.Seconds(), Duration: true, Set: true}
	return nil
}

// Load reads and validates the SLO file at path, and the success-rate
// query it points at (a path relative to the file).
func Load(path string) (File, error) {
	raw, err := os.ReadFile(path) //nolint:gosec // reading the file the user names is the point
	if err != nil {
		return File{}, fmt.Errorf("read SLO file: %w", err)
	}
	slo, err := Parse(raw)
	if err != nil {
		return File{}, fmt.Errorf("SLO file %s: %w", path, err)
	}
	slo.Path = path
	if slo.SuccessRatePath != "" {
		if !filepath.IsAbs(slo.SuccessRatePath) {
			slo.SuccessRatePath = filepath.Join(filepath.Dir(path), slo.SuccessRatePath)
		}
		q, err := os.ReadFile(slo.SuccessRatePath)
		if err != nil {
			return File{}, fmt.Errorf("SLO file %s: success_rate_promql: %w", path, err)
		}
		slo.SuccessRateQuery = strings.TrimSpace(string(q))
		if slo.SuccessRateQuery == "" {
			return File{}, fmt.Errorf("SLO file %s: success_rate_promql %s is empty", path, slo.SuccessRatePath)
		}
	}
	return slo, nil
}

// Parse decodes an SLO document strictly (unknown keys are errors) and
// checks every objective.
func Parse(raw []byte) (File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var doc document
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return File{}, errors.New("the file is empty")
		}
		return File{}, err
	}
	if doc.Version < 1 {
		return File{}, fmt.Errorf("version must be a positive integer, got %d", doc.Version)
	}
	if len(doc.Objectives) == 0 {
		return File{}, errors.New("no objectives")
	}
	slo := File{Version: doc.Version, SuccessRatePath: doc.SuccessRatePromQL}
	for i, o := range doc.Objectives {
		where := fmt.Sprintf("objectives[%d] (%s)", i, o.Metric)
		m, ok := Metrics[o.Metric]
		if !ok {
			return File{}, fmt.Errorf("objectives[%d]: unknown metric %q (known: %s)", i, o.Metric, strings.Join(metricNames(), ", "))
		}
		switch o.Op {
		case "<", "<=":
			if m.HigherIsBetter {
				return File{}, fmt.Errorf("%s: op %q: higher is better for this metric, use > or >=", where, o.Op)
			}
		case ">", ">=":
			if !m.HigherIsBetter {
				return File{}, fmt.Errorf("%s: op %q: lower is better for this metric, use < or <=", where, o.Op)
			}
		default:
			return File{}, fmt.Errorf("%s: op %q: want <, <=, > or >=", where, o.Op)
		}
		switch {
		case !o.Threshold.Set:
			return File{}, fmt.Errorf("%s: threshold is required", where)
		case o.Threshold.Duration && m.Unit != unitSeconds:
			return File{}, fmt.Errorf("%s: threshold is a duration but the metric is a ratio", where)
		case math.IsNaN(o.Threshold.Value) || math.IsInf(o.Threshold.Value, 0) || o.Threshold.Value < 0:
			return File{}, fmt.Errorf("%s: threshold %v: want a finite number >= 0", where, o.Threshold.Value)
		}
		for _, s := range o.Services {
			if strings.TrimSpace(s) == "" {
				return File{}, fmt.Errorf("%s: empty service name", where)
			}
		}
		slo.Objectives = append(slo.Objectives, Objective{
			Metric: o.Metric, Op: o.Op, Threshold: o.Threshold.Value, Services: o.Services,
		})
	}
	return slo, nil
}
