package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Prom asks a Prometheus server, evaluating every query at one instant.
type Prom struct {
	api v1.API
	at  time.Time
}

// NewProm is a client of the Prometheus at addr ("http://127.0.0.1:9090").
func NewProm(addr string) (*Prom, error) {
	c, err := api.NewClient(api.Config{Address: addr})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", addr, err)
	}
	return &Prom{api: v1.NewAPI(c)}, nil
}

// Series evaluates expr and counts the series (a scalar or string is one),
// and among them those whose every value is NaN (0/0, a quantile of no
// observations): Grafana draws nothing for them.
func (p *Prom) Series(ctx context.Context, expr string) (series, nan int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, _, _, err := p.api.Query(ctx, expr, p.at)
	if err != nil {
		return 0, 0, err
	}
	return countSeries(v)
}

// countSeries counts the series of a query result and those that hold
// nothing but NaN.
func countSeries(v model.Value) (series, nan int, err error) {
	isNaN := func(f model.SampleValue) bool { return math.IsNaN(float64(f)) }
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			if isNaN(s.Value) {
				nan++
			}
		}
		return len(v), nan, nil
	case model.Matrix:
		for _, s := range v {
			if len(s.Values) > 0 && !slices.ContainsFunc(s.Values, func(p model.SamplePair) bool { return !isNaN(p.Value) }) {
				nan++
			}
		}
		return len(v), nan, nil
	case *model.Scalar:
		if isNaN(v.Value) {
			nan = 1
		}
		return 1, nan, nil
	case *model.String:
		return 1, 0, nil
	case nil:
		return 0, 0, errors.New("no result")
	default:
		return 0, 0, fmt.Errorf("unexpected result type %s", v.Type())
	}
}

// LabelValues are the values of label on the series selector matches ("" for any).
func (p *Prom) LabelValues(ctx context.Context, selector, label string) ([]string, error) {
	var matches []string
	if selector != "" {
		matches = []string{selector}
	}
	vals, _, _, err := p.api.LabelValues(ctx, label, matches, p.at.Add(-time.Hour), p.at)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out, nil
}

// TargetsUp reports how many scrape targets there are and how many are up.
func (p *Prom) TargetsUp(ctx context.Context) (up, total int, lastErr string, err error) {
	t, err := p.api.Targets(ctx)
	if err != nil {
		return 0, 0, "", err
	}
	for _, a := range t.Active {
		total++
		if a.Health == v1.HealthGood {
			up++
		} else if a.LastError != "" {
			lastErr = a.ScrapeURL + ": " + a.LastError
		}
	}
	return up, total, lastErr, nil
}

// RuleErrors maps "group/name" of every rule whose last evaluation failed
// to its error, and counts the rules Prometheus loaded.
func (p *Prom) RuleErrors(ctx context.Context) (errs map[string]string, loaded int, err error) {
	res, err := p.api.Rules(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	errs = make(map[string]string)
	for _, g := range res.Groups {
		for _, r := range g.Rules {
			switch r := r.(type) {
			case v1.RecordingRule:
				loaded++
				if r.Health != v1.RuleHealthGood {
					errs[g.Name+"/"+r.Name] = fmt.Sprintf("rule health %s: %s", r.Health, r.LastError)
				}
			case v1.AlertingRule:
				loaded++
				if r.Health != v1.RuleHealthGood {
					errs[g.Name+"/"+r.Name] = fmt.Sprintf("rule health %s: %s", r.Health, r.LastError)
				}
			}
		}
	}
	return errs, loaded, nil
}

// DashboardChecks expands every panel expression of d into checks: each
// variable takes its "All" value, except the one a panel is repeated over,
// which takes each of its values in turn, as Grafana repeats the panel.
// The variables themselves are checks too: one with no value leaves the
// dashboard empty.
func DashboardChecks(d Dashboard, source string, values map[string][]string, b Builtins) []Check {
	var checks []Check
	all := make(map[string]string)
	for _, v := range d.Templating.List {
		all[v.Name] = allValue(v, values[v.Name])
	}
	for _, q := range d.Queries() {
		name := q.Panel
		if q.RefID != "" {
			name += " (" + q.RefID + ")"
		}
		if q.Repeat == "" {
			expr, err := Substitute(q.Expr, all, b)
			checks = append(checks, Check{Source: source, Name: name, Expr: orRaw(expr, q.Expr), Kind: MustHaveData, Err: err})
			continue
		}
		repeated, ok := values[q.Repeat]
		if !ok || len(repeated) == 0 {
			checks = append(checks, Check{Source: source, Name: name, Expr: q.Expr, Kind: MustHaveData,
				Err: fmt.Errorf("repeated over $%s, which has no values", q.Repeat)})
			continue
		}
		for _, val := range repeated {
			vars := make(map[string]string, len(all))
			for k, v := range all {
				vars[k] = v
			}
			vars[q.Repeat] = promRegex(val)
			expr, err := Substitute(q.Expr, vars, b)
			checks = append(checks, Check{Source: source, Name: fmt.Sprintf("%s [%s=%s]", name, q.Repeat, val),
				Expr: orRaw(expr, q.Expr), Kind: MustHaveData, Err: err})
		}
	}
	return checks
}

// allValue is what Grafana sends for "All": the variable's allValue, or
// every value as a regex alternation.
func allValue(v Variable, values []string) string {
	if v.AllValue != "" {
		return v.AllValue
	}
	quoted := make([]string, len(values))
	for i, s := range values {
		quoted[i] = promRegex(s)
	}
	return "(" + strings.Join(quoted, "|") + ")"
}

// promRegex is value as a regex matching only itself, escaped for a
// double-quoted PromQL string (whose backslashes are escapes too), as
// Grafana formats a variable used with =~.
func promRegex(value string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(value), `\`, `\\`)
}

func orRaw(expr, raw string) string {
	if expr == "" {
		return raw
	}
	return expr
}
