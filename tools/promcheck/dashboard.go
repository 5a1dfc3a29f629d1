package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Dashboard is the part of a Grafana dashboard JSON the check reads.
type Dashboard struct {
	UID        string     `json:"uid"`
	Title      string     `json:"title"`
	Panels     []Panel    `json:"panels"`
	Templating Templating `json:"templating"`
}

// Templating holds the dashboard's variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a dashboard variable. Query is a string in old dashboards and
// an object with a "query" field in new ones.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// Panel is one panel, or a row: a collapsed row carries its panels inside.
type Panel struct {
	Title     string   `json:"title"`
	Type      string   `json:"type"`
	Repeat    string   `json:"repeat"`
	Collapsed bool     `json:"collapsed"`
	Targets   []Target `json:"targets"`
	Panels    []Panel  `json:"panels"`
}

// Target is one query of a panel.
type Target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
	Hide  bool   `json:"hide"`
}

// PanelQuery is one expression a dashboard sends, with where it comes from.
type PanelQuery struct {
	Panel  string // "Row / Panel"
	RefID  string
	Expr   string
	Repeat string // the variable the panel (or its row) is repeated over, or ""
}

// ReadDashboard decodes the dashboard JSON in file.
func ReadDashboard(file string) (Dashboard, error) {
	data, err := os.ReadFile(file) //nolint:gosec // G304: a dashboard of the workspace
	if err != nil {
		return Dashboard{}, err
	}
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return Dashboard{}, fmt.Errorf("%s: %w", file, err)
	}
	return d, nil
}

// Queries lists every expression of every panel. An expanded row's panels
// follow it at the top level up to the next row; a collapsed row holds them.
// Panels under a repeated row are repeated over the row's variable.
func (d Dashboard) Queries() []PanelQuery {
	var out []PanelQuery
	add := func(row Panel, p Panel) {
		repeat := p.Repeat
		if repeat == "" {
			repeat = row.Repeat
		}
		name := p.Title
		if row.Title != "" {
			name = row.Title + " / " + p.Title
		}
		for _, t := range p.Targets {
			if t.Hide || strings.TrimSpace(t.Expr) == "" {
				continue
			}
			out = append(out, PanelQuery{Panel: name, RefID: t.RefID, Expr: t.Expr, Repeat: repeat})
		}
	}
	var row Panel
	for _, p := range d.Panels {
		if p.Type == "row" {
			row = p
			for _, inner := range p.Panels {
				add(p, inner)
			}
			continue
		}
		add(row, p)
	}
	return out
}

// labelValuesQuery matches Grafana's label_values(metric, label) and
// label_values(label) variable queries.
var labelValuesQuery = regexp.MustCompile(`^\s*label_values\(\s*(?:(.+?)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// LabelValuesQuery returns the series selector and label of a
// label_values() variable. The selector is "" for label_values(label).
func (v Variable) LabelValuesQuery() (selector, label string, err error) {
	q := v.Definition
	if len(v.Query) > 0 {
		var s string
		if json.Unmarshal(v.Query, &s) == nil {
			q = s
		} else {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return "", "", fmt.Errorf("variable %s: query is neither a string nor an object with a query: %w", v.Name, err)
			}
			q = obj.Query
		}
	}
	m := labelValuesQuery.FindStringSubmatch(q)
	if m == nil {
		return "", "", fmt.Errorf("variable %s: query %q: only label_values(metric, label) and label_values(label) are checked", v.Name, q)
	}
	return m[1], m[2], nil
}

// grafanaVariable matches $name, ${name}, ${name:format} and [[name]].
var grafanaVariable = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-zA-Z]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]`)

// Substitute replaces the Grafana variables in expr with values: the
// dashboard's own (vars) and Grafana's built-in ones ($__rate_interval,
// $__interval, $__range and their _s/_ms forms). A variable with no value
// is an error, so a misspelt one fails instead of reaching Prometheus as "$x".
func Substitute(expr string, vars map[string]string, builtins Builtins) (string, error) {
	values := builtins.values()
	var unknown []string
	out := grafanaVariable.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVariable.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := values[name]; ok {
			return v
		}
		if v, ok := vars[name]; ok {
			return v
		}
		unknown = append(unknown, name)
		return m
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("no value for variable $%s", strings.Join(unknown, ", $"))
	}
	return out, nil
}

// Builtins are the values of Grafana's own variables for a check.
type Builtins struct {
	RateInterval string // $__rate_interval, e.g. "1m"
	Interval     string // $__interval
	RangeSeconds int    // $__range is this many seconds
}

func (b Builtins) values() map[string]string {
	return map[string]string{
		"__rate_interval": b.RateInterval,
		"__interval":      b.Interval,
		"__interval_ms":   durationMillis(b.Interval),
		"__range":         fmt.Sprintf("%ds", b.RangeSeconds),
		"__range_s":       fmt.Sprint(b.RangeSeconds),
		"__range_ms":      fmt.Sprint(b.RangeSeconds * 1000),
	}
}
