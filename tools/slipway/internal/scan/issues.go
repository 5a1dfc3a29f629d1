package scan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// issueFileName is the file of a finding's issue body: advisory and module,
// so one advisory in two modules is two issues, each with its own fix.
func issueFileName(f Finding) string {
	return f.OSV + "_" + strings.ReplaceAll(f.Module, "/", "-") + ".md"
}

// writeIssues writes one Markdown issue body per new finding into dir
// and returns the files written. Without a baseline every finding is new.
func writeIssues(dir string, findings []Finding) ([]string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("--issues: %w", err)
	}
	var files []string
	for _, f := range findings {
		if f.Status == statusKnown {
			continue
		}
		file := filepath.Join(dir, issueFileName(f))
		if err := os.WriteFile(file, []byte(issueBody(f)), 0o644); err != nil { //nolint:gosec // an issue body, not a secret
			return files, fmt.Errorf("--issues: %w", err)
		}
		files = append(files, file)
	}
	return files, nil
}

// issueBody is the Markdown body of the issue that tracks a finding: the
// advisory, what is affected, the call path govulncheck traced and the fix.
func issueBody(f Finding) string {
	var b strings.Builder
	title := f.Summary
	if title == "" {
		title = "known vulnerability in " + f.Affected
	}
	fmt.Fprintf(&b, "# %s: %s (%s)\n\n", f.OSV, title, f.Module)
	// The marker lets whoever files the issue find an open one for the
	// same finding first.
	fmt.Fprintf(&b, "<!-- slipway-scan-finding: %s %s -->\n\n", f.Module, f.OSV)

	advisory := f.OSV
	if f.URL != "" {
		advisory = fmt.Sprintf("[%s](%s)", f.OSV, f.URL)
	}
	aliases := strings.Join(f.Aliases, ", ")
	if aliases == "" {
		aliases = "none"
	}
	fixed := f.Fixed
	if fixed == "" {
		fixed = "none yet"
	}
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Advisory | %s |\n", advisory)
	fmt.Fprintf(&b, "| Aliases | %s |\n", aliases)
	fmt.Fprintf(&b, "| Summary | %s |\n", cell(f.Summary))
	fmt.Fprintf(&b, "| Found in | `%s` (%s) |\n", f.Module, f.ModulePath)
	fmt.Fprintf(&b, "| Affected module | `%s@%s` |\n", f.Affected, f.Version)
	fmt.Fprintf(&b, "| Fixed version | %s |\n", fixed)
	fmt.Fprintf(&b, "| Reach | %s |\n", reachText(f))
	if f.BaselineReach != "" {
		fmt.Fprintf(&b, "| Baseline | known as %s only; now %s |\n", f.BaselineReach, f.Reach)
	}

	b.WriteString("\n## Call path\n\n")
	switch {
	case len(f.CallPath) > 0:
		b.WriteString("The shortest call stack govulncheck traced, from the workspace's code to the vulnerable symbol:\n\n")
		for i, frame := range f.CallPath {
			fmt.Fprintf(&b, "%d. `%s`\n", i+1, frame)
		}
		if n := len(f.CallSites); n > 1 {
			fmt.Fprintf(&b, "\nCalled from %d places: %s.\n", n, "`"+strings.Join(f.CallSites, "`, `")+"`")
		}
	case f.reach == reachImported:
		fmt.Fprintf(&b, "No vulnerable symbol is called; the vulnerable package is imported: `%s`.\n", strings.Join(f.Packages, "`, `"))
	default:
		b.WriteString("No vulnerable package is imported; the module is only required.\n")
	}

	b.WriteString("\n## Remediation\n\n")
	if f.Fixed == "" {
		b.WriteString("No fixed version is published yet. Avoid the vulnerable code, or accept the finding " +
			"into the baseline (`slipway scan --baseline FILE --write-baseline FILE`) with a reason in the review.\n")
	} else {
		fmt.Fprintf(&b, "```sh\n%s\n```\n\n", remediation(f))
		b.WriteString("then run `slipway scan --baseline FILE` again: the finding moves to resolved.\n")
	}
	return b.String()
}

// remediation is the command that upgrades the affected module to its
// fixed version in the module it was found in; for Go itself, the
// toolchain line of go.work (the go command that builds and scans must
// then be that version or newer, which GOTOOLCHAIN=auto sees to).
func remediation(f Finding) string {
	switch f.Affected {
	case "stdlib", "toolchain":
		return "go work edit -toolchain=go" + strings.TrimPrefix(f.Fixed, "v") + "  # if go.work names an older one; then build and scan with it: go version"
	}
	return fmt.Sprintf("cd %s && go get %s@%s && go mod tidy", f.Module, f.Affected, f.Fixed)
}

// cell escapes a value for a Markdown table cell.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
