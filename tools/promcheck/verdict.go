package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Kind says what a check asks of its expression.
type Kind int

const (
	// MustHaveData: a dashboard panel's expression or a recorded series,
	// which must return at least one series.
	MustHaveData Kind = iota
	// MayBeEmpty: an alert's expression, which must parse and evaluate;
	// no series means the alert is not firing.
	MayBeEmpty
)

// Check is one expression evaluated against the running Prometheus.
type Check struct {
	Source string // dashboard file or rule file
	Name   string // panel (refId) or rule
	Expr   string // as sent to Prometheus
	Kind   Kind
	// History is how old the newest data the expression reads is (its
	// offset); with Kind MustHaveData, empty is accepted when it exceeds
	// the run (Ran).
	History time.Duration
	Ran     time.Duration

	Series int   // series returned
	NaN    int   // of those, the ones holding only NaN
	Err    error // a parse, evaluation or rule-health error
}

// Status is the check's verdict.
type Status string

// The verdicts. EmptyOK is only ever given to an expression whose newest
// data is older than the run (an offset longer than it), and the table
// says so.
const (
	OK      Status = "OK"
	Fail    Status = "FAIL"
	EmptyOK Status = "EMPTY-OK"
)

// Verdict decides the check: an error fails it; no series, or only series
// of NaN (which a panel draws as nothing), fails an expression that must
// have data, unless it reads only data older than the run.
func (c Check) Verdict() (Status, string) {
	switch {
	case c.Err != nil:
		return Fail, c.Err.Error()
	case c.Series > 0 && (c.NaN < c.Series || c.Kind == MayBeEmpty):
		if c.NaN > 0 {
			return OK, fmt.Sprintf("%d of %d series only NaN", c.NaN, c.Series)
		}
		return OK, ""
	case c.Kind == MayBeEmpty:
		return OK, "not firing"
	case c.History > c.Ran:
		return EmptyOK, fmt.Sprintf("reads data at least %s old, the run lasted %s", c.History, c.Ran.Round(time.Second))
	case c.Series > 0:
		return Fail, fmt.Sprintf("all %d series only NaN: the panel would show no data", c.Series)
	default:
		return Fail, "no series: the panel would show no data"
	}
}

// Report prints one line per check and a summary, and returns the number
// of failed checks.
func Report(w io.Writer, checks []Check) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tNAME\tSERIES\tRESULT\tEXPR / NOTE")
	var failed, emptyOK int
	for _, c := range checks {
		status, note := c.Verdict()
		switch status {
		case Fail:
			failed++
		case EmptyOK:
			emptyOK++
		}
		line := oneLine(c.Expr)
		if note != "" {
			line += "  <- " + note
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", c.Source, c.Name, c.Series, status, line)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d checks: %d OK, %d FAIL, %d EMPTY-OK (offset longer than the run)\n", len(checks), len(checks)-failed-emptyOK, failed, emptyOK)
	return failed
}

// oneLine squeezes an expression's whitespace so it fits a table row.
func oneLine(expr string) string {
	const limit = 160
	s := strings.Join(strings.Fields(expr), " ")
	if len(s) > limit {
		s = s[:limit-3] + "..."
	}
	return s
}
