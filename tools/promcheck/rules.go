package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Rule is one recording or alerting rule of a rule file.
type Rule struct {
	File   string
	Group  string
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
}

// Name is the recorded series or the alert.
func (r Rule) Name() string {
	if r.Record != "" {
		return r.Record
	}
	return r.Alert
}

// ReadRules decodes the rules of a Prometheus rule file. A rule must be
// either a recording or an alerting rule and have an expression.
func ReadRules(file string) ([]Rule, error) {
	data, err := os.ReadFile(file) //nolint:gosec // G304: a rule file of the workspace
	if err != nil {
		return nil, err
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []Rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var rules []Rule
	var errs []error
	for _, g := range f.Groups {
		for i, r := range g.Rules {
			r.File, r.Group = file, g.Name
			switch {
			case (r.Record == "") == (r.Alert == ""):
				errs = append(errs, fmt.Errorf("%s: group %s, rule %d: want exactly one of record and alert", file, g.Name, i+1))
			case strings.TrimSpace(r.Expr) == "":
				errs = append(errs, fmt.Errorf("%s: group %s, rule %s: no expr", file, g.Name, r.Name()))
			default:
				rules = append(rules, r)
			}
		}
	}
	return rules, errors.Join(errs...)
}

// offsetPattern matches an offset modifier.
var offsetPattern = regexp.MustCompile(`\boffset\s+(-?[0-9][0-9a-z]*)`)

// HistoryNeeded is how old the newest data expr reads is: its longest
// offset. Only that can leave a series empty in a short run; a range, even
// [3d], has data from its second sample on.
func HistoryNeeded(expr string) (time.Duration, error) {
	var longest time.Duration
	for _, m := range offsetPattern.FindAllStringSubmatch(expr, -1) {
		d, err := model.ParseDuration(m[1])
		if err != nil {
			return 0, fmt.Errorf("offset %q in %q: %w", m[1], expr, err)
		}
		longest = max(longest, time.Duration(d))
	}
	return longest, nil
}

// durationMillis is a Prometheus duration such as "1m" in milliseconds,
// or "" if it is not one.
func durationMillis(s string) string {
	d, err := model.ParseDuration(s)
	if err != nil {
		return ""
	}
	return fmt.Sprint(time.Duration(d).Milliseconds())
}
