package scan

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// render renders the report: findings, the advisories behind them, the
// SBOMs and a verdict.
func render(w io.Writer, rep Report, root string) {
	scanned := 0
	for _, m := range rep.Modules {
		if m.Error == "" {
			scanned++
		}
	}
	if len(rep.Findings) == 0 {
		fmt.Fprintf(w, "no known vulnerabilities in %d module(s)\n", scanned)
	} else {
		renderFindings(w, rep.Findings, scanned, rep.Baseline != "")
	}
	if rep.Baseline != "" {
		renderBaseline(w, rep)
	}
	db := rep.DB
	if rep.DBModified != nil {
		db += ", modified " + rep.DBModified.UTC().Format(time.DateOnly)
	}
	fmt.Fprintf(w, "database: %s; %s\n", db, rep.Scanner)

	if len(rep.SBOMs) > 0 {
		fmt.Fprintln(w)
		renderSBOMs(w, rep.SBOMs, root)
	}

	switch {
	case rep.Failed && rep.Baseline != "":
		fmt.Fprintf(w, "FAIL: new findings at or above --fail-on=%s\n", rep.FailOn)
	case rep.Failed:
		fmt.Fprintf(w, "FAIL: findings at or above --fail-on=%s\n", rep.FailOn)
	case len(rep.Errors) > 0:
		fmt.Fprintf(w, "FAIL: %s\n", strings.Join(rep.Errors, "; "))
	case rep.Baseline != "":
		fmt.Fprintf(w, "PASS: nothing new at or above --fail-on=%s\n", rep.FailOn)
	default:
		fmt.Fprintf(w, "PASS: nothing at or above --fail-on=%s\n", rep.FailOn)
	}
}

// renderFindings prints one row per finding, the advisories behind them and
// the counts per reach.
func renderFindings(w io.Writer, findings []Finding, scanned int, baseline bool) {
	counts := map[string]int{}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	status := func(f Finding) string {
		if !baseline {
			return ""
		}
		if f.BaselineReach != "" {
			return f.Status + " (was " + f.BaselineReach + ")\t"
		}
		return f.Status + "\t"
	}
	if baseline {
		fmt.Fprint(tw, "STATUS\t")
	}
	fmt.Fprintln(tw, "MODULE\tADVISORY\tAFFECTED\tFIXED\tREACH\tWHERE")
	for _, f := range findings {
		counts[f.Reach]++
		fixed := f.Fixed
		if fixed == "" {
			fixed = "none"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s@%s\t%s\t%s\t%s\n", status(f), f.Module, f.OSV, f.Affected, f.Version, fixed, f.Reach, where(f))
	}
	_ = tw.Flush()

	fmt.Fprintln(w, "\nadvisories:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var seen []string
	for _, f := range findings {
		if slices.Contains(seen, f.OSV) {
			continue
		}
		seen = append(seen, f.OSV)
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.OSV, f.Summary, f.URL)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d finding(s) in %d module(s): %d called, %d imported, %d required only\n",
		len(findings), scanned, counts["called"], counts["imported"], counts["required"])
}

// renderBaseline prints the findings resolved since the baseline and the
// counts against it.
func renderBaseline(w io.Writer, rep Report) {
	var fresh, known int
	for _, f := range rep.Findings {
		if f.Status == statusKnown {
			known++
		} else {
			fresh++
		}
	}
	if len(rep.Resolved) > 0 {
		fmt.Fprintln(w, "\nresolved since the baseline:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range rep.Resolved {
			fmt.Fprintf(tw, "  %s\t%s\t%s@%s\t%s\n", e.Module, e.OSV, e.Affected, e.Version, e.Summary)
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(w, "\nagainst the baseline %s: %d new, %d known, %d resolved\n", rep.Baseline, fresh, known, len(rep.Resolved))
}

// where is the WHERE cell of a finding: the symbols called and the first
// call site, else the packages imported, else "-".
func where(f Finding) string {
	s := strings.Join(f.Packages, ", ")
	if f.Reach == reachNames[reachCalled] {
		s = strings.Join(f.Symbols, ", ")
		if len(f.CallSites) > 0 {
			s += " from " + f.CallSites[0]
			if n := len(f.CallSites) - 1; n > 0 {
				s += fmt.Sprintf(" (+%d more)", n)
			}
		}
	}
	if s == "" {
		return "-"
	}
	return s
}

// renderSBOMs prints one row per SBOM, its path relative to root when
// it lies inside.
func renderSBOMs(w io.Writer, sboms []SBOM, root string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSBOM\tCYCLONEDX\tCOMPONENTS")
	for _, s := range sboms {
		path := s.Path
		if r, err := filepath.Rel(root, s.Path); err == nil && !strings.HasPrefix(r, "..") {
			path = r
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", s.Service, path, s.SpecVersion, s.Components)
	}
	_ = tw.Flush()
}
