package slo

import (
	"math"
	"slices"
	"time"
)

// Result words of a check.
const (
	Pass = "PASS"
	Fail = "FAIL"
)

// Check is one objective for one service; the rows of the report.
type Check struct {
	Metric    string   `json:"metric"`
	Service   string   `json:"service"`
	Op        string   `json:"op"`
	Threshold float64  `json:"threshold"`
	Unit      string   `json:"unit"`
	Observed  *float64 `json:"observed"` // null: nothing to measure (N/A) or no data
	Result    string   `json:"result"`   // PASS or FAIL
	Note      string   `json:"note,omitempty"`
}

// Measurement is what either mode measured: per metric and service a value,
// NaN when the ratio had nothing to divide.
type Measurement struct {
	Services []string                      // every service seen, in report order
	Values   map[string]map[string]float64 // metric -> service -> value
	Measured time.Duration                 // scrape mode: between the scrapes
	Warnings []string
	// Unmeasured explains a service in an objective's scope that was not
	// measured at all; NoData is added to the note of a metric without data.
	Unmeasured string
	NoData     string
}

// Set records v as the value of metric for service.
func (m *Measurement) Set(metric, service string, v float64) {
	if m.Values == nil {
		m.Values = map[string]map[string]float64{}
	}
	if m.Values[metric] == nil {
		m.Values[metric] = map[string]float64{}
	}
	m.Values[metric][service] = v
}

// Evaluate turns a measurement into one check per objective and service
// in its scope.
func Evaluate(slo File, m Measurement) []Check {
	var checks []Check
	for _, o := range slo.Objectives {
		def := Metrics[o.Metric]
		scope := o.Services
		if len(scope) == 0 {
			scope = m.Services
		}
		for _, svc := range scope {
			c := Check{Metric: o.Metric, Service: svc, Op: o.Op, Threshold: o.Threshold, Unit: def.Unit, Result: Fail}
			v, ok := m.Values[o.Metric][svc]
			switch {
			case !slices.Contains(m.Services, svc):
				c.Note = "no data: " + m.Unmeasured
			case !ok || (math.IsNaN(v) && def.NotApplicable == ""):
				c.Note = "no data: needs " + def.Needs
				if m.NoData != "" {
					c.Note += "; " + m.NoData
				}
			case math.IsNaN(v):
				c.Result, c.Note = Pass, def.NotApplicable
			default:
				c.Observed = &v
				if o.Holds(v) {
					c.Result = Pass
				}
			}
			checks = append(checks, c)
		}
	}
	return checks
}
