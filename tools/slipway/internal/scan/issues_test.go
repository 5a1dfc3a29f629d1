package scan

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssuesForNewFindings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "issues")
	r := runAgainstBaseline(t, "called.json", []KnownEntry{entry("platform", "GO-2099-0002", "imported")},
		func(o *Options) { o.IssuesDir = dir })
	require.Error(t, r.err)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"GO-2099-0001_platform.md", "GO-2099-0003_platform.md"}, names,
		"one body per new finding; the known GO-2099-0002 gets none")

	body, err := os.ReadFile(filepath.Join(dir, "GO-2099-0001_platform.md"))
	require.NoError(t, err)
	assert.Equal(t, "# GO-2099-0001: TEST FIXTURE: made-up advisory (platform)\n"+
		"\n"+
		"<!-- slipway-scan-finding: platform GO-2099-0001 -->\n"+
		"\n"+
		"| | |\n|---|---|\n"+
		"| Advisory | [GO-2099-0001](https://pkg.go.dev/vuln/GO-2099-0001) |\n"+
		"| Aliases | CVE-2099-0001, GHSA-test-0001 |\n"+
		"| Summary | TEST FIXTURE: made-up advisory |\n"+
		"| Found in | `platform` (example.com/platform) |\n"+
		"| Affected module | `google.golang.org/grpc@v1.85.0` |\n"+
		"| Fixed version | v1.99.0 |\n"+
		"| Reach | vulnerable symbol called: grpc.Server.Serve |\n"+
		"\n## Call path\n\n"+
		"The shortest call stack govulncheck traced, from the workspace's code to the vulnerable symbol:\n\n"+
		"1. `example.com/platform/server.Serve at platform/server/serve.go:20`\n"+
		"2. `google.golang.org/grpc.(*Server).Serve at google.golang.org/grpc@v1.85.0/server.go:906`\n"+
		"\nCalled from 2 places: `platform/server/app.go:371`, `platform/server/serve.go:20`.\n"+
		"\n## Remediation\n\n"+
		"```sh\ncd platform && go get google.golang.org/grpc@v1.99.0 && go mod tidy\n```\n\n"+
		"then run `slipway scan --baseline FILE` again: the finding moves to resolved.\n", string(body))

	stdlib, err := os.ReadFile(filepath.Join(dir, "GO-2099-0003_platform.md"))
	require.NoError(t, err)
	assert.Contains(t, string(stdlib), "| Aliases | none |\n")
	assert.Contains(t, string(stdlib), "| Affected module | `stdlib@v1.26.8` |\n")
	assert.Contains(t, string(stdlib), "No vulnerable package is imported; the module is only required.\n")
	assert.Contains(t, string(stdlib), "```sh\ngo work edit -toolchain=go1.26.99  # if go.work names an older one; then build and scan with it: go version\n```", "Go itself is upgraded through the toolchain line")
}

func TestIssueBody(t *testing.T) {
	imported := Finding{Module: "services/order", ModulePath: "example.com/order", OSV: "GO-9", Summary: "a | pipe",
		Affected: "x.org/y", Version: "v0.1.0", Reach: "imported", Packages: []string{"x.org/y/z"}, reach: reachImported,
		Status: statusNew}
	body := issueBody(imported)
	assert.Contains(t, body, "# GO-9: a | pipe (services/order)\n")
	assert.Contains(t, body, "| Summary | a \\| pipe |\n", "a table cell escapes its pipes")
	assert.Contains(t, body, "| Advisory | GO-9 |\n", "no link without a URL")
	assert.Contains(t, body, "| Fixed version | none yet |\n")
	assert.Contains(t, body, "No vulnerable symbol is called; the vulnerable package is imported: `x.org/y/z`.\n")
	assert.Contains(t, body, "No fixed version is published yet.")
	assert.NotContains(t, body, "go get", "there is nothing to upgrade to")
	assert.Equal(t, "GO-9_services-order.md", issueFileName(imported))

	many := Finding{Module: "api", OSV: "GO-8", Affected: "stdlib", Version: "v1.26.8", Fixed: "v1.26.9", Reach: "called", reach: reachCalled,
		Symbols: []string{"a.A", "a.B", "a.C", "a.D", "a.E", "a.F", "a.G"}}
	assert.Contains(t, issueBody(many), "| Reach | vulnerable symbol called: a.A, a.B, a.C, a.D, a.E (+2 more) |\n")

	escalated := imported
	escalated.BaselineReach, escalated.Reach, escalated.reach = "imported", "called", reachCalled
	assert.Contains(t, issueBody(escalated), "| Baseline | known as imported only; now called |\n")
}
