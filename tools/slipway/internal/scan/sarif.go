package scan

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

// sarifSrcRoot is the base of every artifact URI in the SARIF log: the
// workspace root, which is the repository's root for GitHub.
const sarifSrcRoot = "%SRCROOT%"

// sarifLevels: a called symbol is an error, an imported package a warning,
// a module that is only required a note.
var sarifLevels = map[int]string{reachCalled: sarif.LevelError, reachImported: sarif.LevelWarning, reachRequired: sarif.LevelNote}

// sarifBaselineStates maps a finding's status to SARIF's baselineState.
var sarifBaselineStates = map[string]string{statusNew: "new", statusKnown: "unchanged"}

// toSARIF turns a report into a SARIF 2.1.0 log, the part GitHub code
// scanning reads: one run, one rule per advisory and one result per
// finding. A called finding is located at its call site, any other at the
// line of its module's go.mod that requires the affected module (the go or
// toolchain line for the standard library).
func toSARIF(rep Report, root string) *sarif.Report {
	run := sarif.NewRunWithInformationURI("govulncheck", "https://go.dev/security/vuln")
	if name, version, ok := strings.Cut(rep.Scanner, "@"); ok {
		run.Tool.Driver.WithName(name).WithVersion(version)
	}
	for _, f := range rep.Findings {
		if run.GetRuleIndex(f.OSV) < 0 {
			addSARIFRule(run, f)
		}
		res := run.CreateResultForRule(f.OSV).
			WithLevel(sarifLevels[f.reach]).
			WithMessage(sarif.NewTextMessage(findingMessage(f))).
			WithLocations([]*sarif.Location{findingLocation(f, root)}).
			// Module and advisory identify a finding across scans, as in
			// the baseline; the line it is reported at may move.
			WithPartialFingerprints(map[string]string{"slipwayScanFinding/v1": f.Module + ":" + f.OSV})
		if state, ok := sarifBaselineStates[f.Status]; ok {
			res.WithBaselineState(state)
		}
	}
	return sarif.NewReport().AddRun(run)
}

// addSARIFRule adds the rule of f's advisory to run.
func addSARIFRule(run *sarif.Run, f Finding) {
	summary := f.Summary
	if summary == "" {
		summary = f.OSV
	}
	fix := "No fixed version is known."
	if f.Fixed != "" {
		fix = "Fixed in " + f.Affected + "@" + f.Fixed + ": " + remediation(f) + "."
	}
	rule := run.AddRule(f.OSV).
		WithDescription(summary).
		WithHelp(sarif.NewMultiformatMessageString().WithText(summary + ". " + fix).WithMarkdown(summary + ".\n\n" + fix)).
		WithProperties(sarif.NewPropertyBag().WithTags(append([]string{"security", "vulnerability", "go"}, f.Aliases...)))
	if f.URL != "" {
		rule.WithHelpURI(f.URL)
	}
	if len(f.Aliases) > 0 {
		rule.WithFullDescription(sarif.NewMultiformatMessageString().WithText(summary + " (" + strings.Join(f.Aliases, ", ") + ")"))
	}
}

// findingMessage is the text of a finding's result.
func findingMessage(f Finding) string {
	fixed := "no fixed version"
	if f.Fixed != "" {
		fixed = "fixed in " + f.Fixed
	}
	msg := fmt.Sprintf("%s: %s@%s in %s (%s), %s", f.OSV, f.Affected, f.Version, f.Module, fixed, reachText(f))
	if f.Summary != "" {
		msg += ": " + f.Summary
	}
	return msg
}

// reachText says how far the finding reaches.
func reachText(f Finding) string {
	switch f.reach {
	case reachCalled:
		return "vulnerable symbol called: " + firstFew(f.Symbols)
	case reachImported:
		return "vulnerable package imported: " + firstFew(f.Packages)
	}
	return "module required, no vulnerable package imported"
}

// firstFew joins up to five names and counts the rest: a standard library
// advisory can name dozens of symbols.
func firstFew(names []string) string {
	const few = 5
	if len(names) <= few {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s (+%d more)", strings.Join(names[:few], ", "), len(names)-few)
}

// findingLocation is where a finding is shown in the repository.
func findingLocation(f Finding, root string) *sarif.Location {
	uri, line := path.Join(f.Module, "go.mod"), 0
	if f.reach == reachCalled && len(f.CallSites) > 0 {
		site := f.CallSites[0]
		if i := strings.LastIndex(site, ":"); i > 0 {
			if n, err := strconv.Atoi(site[i+1:]); err == nil {
				uri, line = site[:i], n
			}
		}
	} else {
		line = goModLine(filepath.Join(root, filepath.FromSlash(uri)), f.Affected)
	}
	loc := sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(uri).WithURIBaseID(sarifSrcRoot))
	if line > 0 {
		loc.WithRegion(sarif.NewRegion().WithStartLine(line))
	}
	return sarif.NewLocationWithPhysicalLocation(loc)
}

// goModLine is the line of the go.mod at file that requires mod (for the
// standard library, its toolchain or go line); 0 when there is none.
func goModLine(file, mod string) int {
	fh, err := os.Open(file) //nolint:gosec // a go.mod of the workspace
	if err != nil {
		return 0
	}
	defer fh.Close()
	goLine, n := 0, 0
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		n++
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 0:
		case mod == "stdlib" || mod == "toolchain":
			if fields[0] == "toolchain" {
				return n
			}
			if fields[0] == "go" && goLine == 0 {
				goLine = n
			}
		case slices.Contains(fields[:min(len(fields), 2)], mod):
			return n
		}
	}
	return goLine
}

// writeSARIF writes the report's SARIF log to file, once it is valid
// against the SARIF 2.1.0 schema.
func writeSARIF(file string, rep Report, root string) error {
	data, err := encodeSARIF(toSARIF(rep, root))
	if err != nil {
		return fmt.Errorf("--sarif: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		return fmt.Errorf("--sarif: %w", err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil { //nolint:gosec // a report, not a secret
		return fmt.Errorf("--sarif: %w", err)
	}
	return nil
}

// encodeSARIF checks log against the SARIF 2.1.0 schema and returns it as
// indented JSON.
func encodeSARIF(log *sarif.Report) ([]byte, error) {
	if err := log.Validate(); err != nil {
		return nil, fmt.Errorf("the SARIF log does not match the SARIF 2.1.0 schema: %w", err)
	}
	var buf bytes.Buffer
	if err := log.PrettyWrite(&buf); err != nil {
		return nil, err
	}
	return append(buf.Bytes(), '\n'), nil
}
