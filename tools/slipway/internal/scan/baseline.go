package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// baselineFormat is the version of the baseline file's layout.
const baselineFormat = 1

// Statuses of a finding against a baseline.
const (
	statusNew   = "new"   // not in the baseline, or reachable further than the baseline knew
	statusKnown = "known" // in the baseline at the same or a deeper reach
)

// Baseline is the file of accepted findings that --baseline compares with
// and --write-baseline writes: one entry per scanned module and advisory.
type Baseline struct {
	Format   int          `json:"format"`
	Findings []KnownEntry `json:"findings"`
}

// KnownEntry is one accepted finding. Module and OSV identify it; the rest
// is there for the reviewer of the file and for the resolved list.
type KnownEntry struct {
	Module   string   `json:"module"`
	OSV      string   `json:"osv"`
	Aliases  []string `json:"aliases,omitempty"`
	Summary  string   `json:"summary,omitempty"`
	Affected string   `json:"affected_module"`
	Version  string   `json:"version"`
	Fixed    string   `json:"fixed_version,omitempty"`
	Reach    string   `json:"reach"`
}

// readBaseline reads and checks a baseline file.
func readBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the operator names the file
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	var b Baseline
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("--baseline %s: not a scan baseline (write one with --write-baseline): %w", path, err)
	}
	if b.Format != baselineFormat {
		return nil, fmt.Errorf("--baseline %s: format %d, want %d", path, b.Format, baselineFormat)
	}
	seen := map[string]bool{}
	for i, e := range b.Findings {
		if e.Module == "" || e.OSV == "" {
			return nil, fmt.Errorf("--baseline %s: finding %d has no module or osv", path, i+1)
		}
		if reachLevel(e.Reach) == 0 {
			return nil, fmt.Errorf("--baseline %s: %s in %s: reach %q, want called, imported or required", path, e.OSV, e.Module, e.Reach)
		}
		if seen[e.Module+" "+e.OSV] {
			return nil, fmt.Errorf("--baseline %s: %s in %s is listed twice", path, e.OSV, e.Module)
		}
		seen[e.Module+" "+e.OSV] = true
	}
	return &b, nil
}

func reachLevel(name string) int {
	for level, n := range reachNames {
		if n == name {
			return level
		}
	}
	return 0
}

// compareBaseline sets the status of every finding against base and
// returns the baseline entries of the scanned modules that no finding
// matches any more: resolved since the baseline. A finding is new when the
// baseline does not have it, or had it at a shallower reach (a vulnerable
// package that was only imported is now called).
func compareBaseline(findings []Finding, base *Baseline, scanned []string) []KnownEntry {
	known := map[string]KnownEntry{}
	for _, e := range base.Findings {
		known[e.Module+" "+e.OSV] = e
	}
	found := map[string]bool{}
	for i := range findings {
		f := &findings[i]
		key := f.Module + " " + f.OSV
		found[key] = true
		e, ok := known[key]
		switch {
		case !ok:
			f.Status = statusNew
		case reachLevel(e.Reach) < f.reach:
			f.Status, f.BaselineReach = statusNew, e.Reach
		default:
			f.Status = statusKnown
		}
	}
	resolved := []KnownEntry{}
	for _, e := range base.Findings {
		if slices.Contains(scanned, e.Module) && !found[e.Module+" "+e.OSV] {
			resolved = append(resolved, e)
		}
	}
	return resolved
}

// newBaseline is the baseline that accepts findings, keeping the entries
// of old (if any) for modules this run did not scan.
func newBaseline(findings []Finding, old *Baseline, scanned []string) Baseline {
	b := Baseline{Format: baselineFormat, Findings: []KnownEntry{}}
	if old != nil {
		for _, e := range old.Findings {
			if !slices.Contains(scanned, e.Module) {
				b.Findings = append(b.Findings, e)
			}
		}
	}
	for _, f := range findings {
		b.Findings = append(b.Findings, KnownEntry{
			Module: f.Module, OSV: f.OSV, Aliases: f.Aliases, Summary: f.Summary,
			Affected: f.Affected, Version: f.Version, Fixed: f.Fixed, Reach: f.Reach,
		})
	}
	slices.SortFunc(b.Findings, func(x, y KnownEntry) int {
		if c := strings.Compare(x.Module, y.Module); c != 0 {
			return c
		}
		return strings.Compare(x.OSV, y.OSV)
	})
	return b
}

// writeBaseline writes b to path, through a temporary file so a failed
// write leaves the old baseline whole.
func writeBaseline(path string, b Baseline) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("--write-baseline: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".baseline-*.json")
	if err != nil {
		return fmt.Errorf("--write-baseline: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("--write-baseline: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("--write-baseline: %w", err)
	}
	return nil
}
