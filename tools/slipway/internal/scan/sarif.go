package scan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/), the part
// GitHub code scanning reads. No SARIF library is in the module graph, so
// these are the few types the report needs.
const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	// sarifSrcRoot is the base of every artifact URI: the workspace root,
	// which is the repository's root for GitHub.
	sarifSrcRoot = "%SRCROOT%"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

// sarifRule is one advisory.
type sarifRule struct {
	ID               string         `json:"id"`
	ShortDescription sarifMessage   `json:"shortDescription"`
	FullDescription  *sarifMessage  `json:"fullDescription,omitempty"`
	HelpURI          string         `json:"helpUri,omitempty"`
	Help             *sarifMessage  `json:"help,omitempty"`
	Properties       map[string]any `json:"properties,omitempty"`
}

type sarifMessage struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

// sarifResult is one finding: an advisory in one workspace module.
type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifMessage      `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	BaselineState       string            `json:"baselineState,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

// sarifLevels: a called symbol is an error, an imported package a warning,
// a module that is only required a note.
var sarifLevels = map[int]string{reachCalled: "error", reachImported: "warning", reachRequired: "note"}

// sarifBaselineStates maps a finding's status to SARIF's baselineState.
var sarifBaselineStates = map[string]string{statusNew: "new", statusKnown: "unchanged"}

// toSARIF turns a report into a SARIF log with one rule per advisory and
// one result per finding. A called finding is located at its call site,
// any other at the line of its module's go.mod that requires the affected
// module (the go or toolchain line for the standard library).
func toSARIF(rep Report, root string) sarifLog {
	driver := sarifDriver{Name: "govulncheck", InformationURI: "https://go.dev/security/vuln", Rules: []sarifRule{}}
	if name, version, ok := strings.Cut(rep.Scanner, "@"); ok {
		driver.Name, driver.Version = name, version
	}
	results := []sarifResult{}
	ruleIndex := map[string]int{}
	for _, f := range rep.Findings {
		i, ok := ruleIndex[f.OSV]
		if !ok {
			i = len(driver.Rules)
			ruleIndex[f.OSV] = i
			driver.Rules = append(driver.Rules, sarifRuleOf(f))
		}
		results = append(results, sarifResult{
			RuleID:    f.OSV,
			RuleIndex: i,
			Level:     sarifLevels[f.reach],
			Message:   sarifMessage{Text: findingMessage(f)},
			Locations: []sarifLocation{findingLocation(f, root)},
			// Module and advisory identify a finding across scans, as in
			// the baseline; the line it is reported at may move.
			PartialFingerprints: map[string]string{"slipwayScanFinding/v1": f.Module + ":" + f.OSV},
			BaselineState:       sarifBaselineStates[f.Status],
		})
	}
	return sarifLog{
		Schema:  sarifSchema,
		Version: sarifVersion,
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}},
	}
}

func sarifRuleOf(f Finding) sarifRule {
	summary := f.Summary
	if summary == "" {
		summary = f.OSV
	}
	r := sarifRule{
		ID:               f.OSV,
		ShortDescription: sarifMessage{Text: summary},
		HelpURI:          f.URL,
		Properties:       map[string]any{"tags": append([]string{"security", "vulnerability", "go"}, f.Aliases...)},
	}
	if len(f.Aliases) > 0 {
		r.FullDescription = &sarifMessage{Text: summary + " (" + strings.Join(f.Aliases, ", ") + ")"}
	}
	fix := "No fixed version is known."
	if f.Fixed != "" {
		fix = "Fixed in " + f.Affected + "@" + f.Fixed + ": " + remediation(f) + "."
	}
	r.Help = &sarifMessage{Text: summary + ". " + fix, Markdown: summary + ".\n\n" + fix}
	return r
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
func findingLocation(f Finding, root string) sarifLocation {
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
	loc := sarifLocation{PhysicalLocation: sarifPhysicalLocation{
		ArtifactLocation: sarifArtifactLocation{URI: uri, URIBaseID: sarifSrcRoot},
	}}
	if line > 0 {
		loc.PhysicalLocation.Region = &sarifRegion{StartLine: line}
	}
	return loc
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

// writeSARIF writes the report's SARIF log to file.
func writeSARIF(file string, rep Report, root string) error {
	data, err := json.MarshalIndent(toSARIF(rep, root), "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("--sarif: %w", err)
	}
	if err := os.WriteFile(file, append(data, '\n'), 0o644); err != nil { //nolint:gosec // a report, not a secret
		return fmt.Errorf("--sarif: %w", err)
	}
	return nil
}
