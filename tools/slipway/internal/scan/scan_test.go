package scan

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtureURL is the file:// URL of a fixture database under
// testdata: vulndb holds two made-up advisories (GO-2099-0001 against
// grpc's Server.Serve, which platform calls; GO-2099-0002 against pgx's
// stdlib.OpenDBFromPool, which nothing calls), vulndb-empty holds none.
func fixtureURL(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", name))
	require.NoError(t, err)
	return "file://" + filepath.ToSlash(dir)
}

func TestUsage(t *testing.T) {
	db := fixtureURL(t, "vulndb-empty")
	notDB := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{name: "no database", args: nil, want: "--db is required (or set SLIPWAY_VULNDB)"},
		{name: "remote database", args: []string{"--db", "https://vuln.go.dev"}, want: "want a local database"},
		{name: "not a database", args: []string{"--db", "file://" + filepath.ToSlash(notDB)}, want: "is not a Go vulnerability database"},
		{name: "not a database from the environment", environ: []string{"SLIPWAY_VULNDB=" + notDB}, want: "no index/modules.json"},
		{name: "unknown fail-on", args: []string{"--db", db, "--fail-on", "high"}, want: `--fail-on "high"`},
		{name: "unknown service", args: []string{"--db", db, "--services", "billing"}, want: `unknown service "billing"`},
		{name: "unknown module", args: []string{"--db", db, "--modules", "services/billing"}, want: `"services/billing" is not a module of go.work`},
		{name: "no-sbom with sbom", args: []string{"--db", db, "--no-sbom", "--sbom", notDB}, want: "--no-sbom excludes --sbom and --services"},
		{name: "stray argument", args: []string{"--db", db, "./..."}, want: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: tt.environ}
			code := cli.ExitCode(env.Stderr, "scan", Main(t.Context(), tt.args, env))
			assert.Equal(t, cli.ExitUsage, code, "stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), tt.want)
			assert.Empty(t, stdout.String(), "a usage error scans nothing")
		})
	}
}

func TestHelpTellsHowToRefreshTheDatabase(t *testing.T) {
	var stdout bytes.Buffer
	err := Main(t.Context(), []string{"-h"}, &cli.Env{Stdout: io.Discard, Stderr: &stdout})
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, want := range []string{"make vulndb", "golang.org/x/vulndb/cmd/indexdb@latest", "https://vuln.go.dev/vulndb.zip", "SLIPWAY_VULNDB",
		"--fail-on", "--sbom", "--baseline", "--write-baseline", "--sarif", "--issues", "resolved"} {
		assert.Contains(t, stdout.String(), want)
	}
}

// testStream is govulncheck -format json output, cut down from a real
// scan of platform: a symbol-level advisory reported at all three levels,
// a package-level one, and one that only names a required module.
const testStream = `
{"config": {"protocol_version": "v1.0.0", "scanner_name": "govulncheck", "scanner_version": "v1.9.0",
  "db": "file:///db", "db_last_modified": "2099-01-02T00:00:00Z", "go_version": "go1.26.8", "scan_level": "symbol", "scan_mode": "source"}}
{"progress": {"message": "Fetching vulnerabilities from the database..."}}
{"osv": {"id": "GO-2099-0001", "summary": "TEST FIXTURE: made-up advisory", "aliases": ["CVE-2099-0001"],
  "database_specific": {"url": "https://pkg.go.dev/vuln/GO-2099-0001"}}}
{"osv": {"id": "GO-2099-0002", "summary": "second"}}
{"osv": {"id": "GO-2099-0003", "summary": "third"}}
{"progress": {"message": "Checking the code against the vulnerabilities..."}}
{"finding": {"osv": "GO-2099-0003", "trace": [{"module": "golang.org/x/text", "version": "v0.44.0"}]}}
{"finding": {"osv": "GO-2099-0001", "fixed_version": "v1.99.0", "trace": [{"module": "google.golang.org/grpc", "version": "v1.85.0"}]}}
{"finding": {"osv": "GO-2099-0002", "fixed_version": "v5.99.0", "trace": [{"module": "github.com/jackc/pgx/v5", "version": "v5.12.0"}]}}
{"finding": {"osv": "GO-2099-0001", "fixed_version": "v1.99.0", "trace": [{"module": "google.golang.org/grpc", "version": "v1.85.0", "package": "google.golang.org/grpc"}]}}
{"finding": {"osv": "GO-2099-0002", "fixed_version": "v5.99.0", "trace": [{"module": "github.com/jackc/pgx/v5", "version": "v5.12.0", "package": "github.com/jackc/pgx/v5/stdlib"}]}}
{"finding": {"osv": "GO-2099-0001", "fixed_version": "v1.99.0", "trace": [
  {"module": "google.golang.org/grpc", "version": "v1.85.0", "package": "google.golang.org/grpc", "function": "Serve", "receiver": "*Server",
   "position": {"filename": "server.go", "offset": 31937, "line": 906, "column": 18}},
  {"module": "github.com/slipway-dev/slipway/platform", "package": "github.com/slipway-dev/slipway/platform/server", "function": "Run$2",
   "position": {"filename": "server/app.go", "offset": 13267, "line": 371, "column": 53}},
  {"module": "github.com/slipway-dev/slipway/platform", "package": "github.com/slipway-dev/slipway/platform/server", "function": "Run", "receiver": "*App",
   "position": {"filename": "server/app.go", "offset": 13216, "line": 371, "column": 2}}]}}
{"finding": {"osv": "GO-2099-0001", "fixed_version": "v1.99.0", "trace": [
  {"module": "google.golang.org/grpc", "version": "v1.85.0", "package": "google.golang.org/grpc", "function": "Serve", "receiver": "*Server"},
  {"module": "github.com/slipway-dev/slipway/services/order", "package": "github.com/slipway-dev/slipway/services/order/internal/app", "function": "Run",
   "position": {"filename": "internal/app/app.go", "line": 40}}]}}
`

func TestDecodeMergesFindingsPerAdvisory(t *testing.T) {
	workspace := []module{
		{Path: "github.com/slipway-dev/slipway/platform", Dir: "platform"},
		{Path: "github.com/slipway-dev/slipway/services/order", Dir: "services/order"},
	}
	var rep Report
	var progress []string
	findings, err := decode(strings.NewReader(testStream), workspace[0], workspace, &rep,
		func(msg string) { progress = append(progress, msg) })
	require.NoError(t, err)

	assert.Equal(t, "govulncheck@v1.9.0", rep.Scanner)
	assert.Equal(t, "go1.26.8", rep.GoVersion)
	require.NotNil(t, rep.DBModified)
	assert.Equal(t, 2099, rep.DBModified.Year())
	assert.Equal(t, []string{"Fetching vulnerabilities from the database...", "Checking the code against the vulnerabilities..."}, progress)

	require.Len(t, findings, 3)
	called, imported, required := findings[0], findings[1], findings[2]
	assert.Equal(t, Finding{
		Module: "platform", ModulePath: "github.com/slipway-dev/slipway/platform",
		OSV: "GO-2099-0001", Summary: "TEST FIXTURE: made-up advisory", Aliases: []string{"CVE-2099-0001"},
		URL:      "https://pkg.go.dev/vuln/GO-2099-0001",
		Affected: "google.golang.org/grpc", Version: "v1.85.0", Fixed: "v1.99.0", Reach: "called",
		Packages:  []string{"google.golang.org/grpc"},
		Symbols:   []string{"grpc.Server.Serve"},
		CallSites: []string{"platform/server/app.go:371", "services/order/internal/app/app.go:40"},
		// The shorter of the two traces, read from the caller down.
		CallPath: []string{
			"github.com/slipway-dev/slipway/services/order/internal/app.Run at services/order/internal/app/app.go:40",
			"google.golang.org/grpc.(*Server).Serve",
		},
		reach: reachCalled,
	}, called)
	assert.Equal(t, "GO-2099-0002", imported.OSV)
	assert.Equal(t, "imported", imported.Reach)
	assert.Equal(t, []string{"github.com/jackc/pgx/v5/stdlib"}, imported.Packages)
	assert.Empty(t, imported.Symbols)
	assert.Equal(t, "GO-2099-0003", required.OSV)
	assert.Equal(t, "required", required.Reach)
	assert.Empty(t, required.Fixed, "no fix known")
	assert.Empty(t, required.Packages)

	t.Run("fail-on", func(t *testing.T) {
		tests := []struct {
			failOn   string
			findings []Finding
			fails    bool
		}{
			{"symbol", findings, true},
			{"symbol", findings[1:], false},
			{"package", findings[1:], true},
			{"package", findings[2:], false},
			{"module", findings[2:], true},
			{"module", nil, false},
		}
		for _, tt := range tests {
			assert.Equal(t, tt.fails, fails(tt.findings, failOnLevels[tt.failOn]), "--fail-on=%s over %d finding(s)", tt.failOn, len(tt.findings))
		}
		assert.Equal(t, "vulnerable code is called: GO-2099-0001 (called in platform)", failure(findings, reachCalled))
		order := findings[0]
		order.Module, order.reach, order.Reach = "services/order", reachImported, "imported"
		assert.Equal(t, "modules with known vulnerabilities are in the build: "+
			"GO-2099-0001 (called in platform; imported in services/order), GO-2099-0002 (imported in platform), GO-2099-0003 (required in platform)",
			failure(append(slices.Clone(findings), order), reachRequired))
	})

	t.Run("broken stream", func(t *testing.T) {
		_, err := decode(strings.NewReader(`{"config": {}} {"finding": `), workspace[0], workspace, &Report{}, func(string) {})
		require.Error(t, err)
	})
}

func TestSymbol(t *testing.T) {
	assert.Equal(t, "grpc.Server.Serve", symbol(frame{Package: "google.golang.org/grpc", Function: "Serve", Receiver: "*Server"}))
	assert.Equal(t, "pgx.Connect", symbol(frame{Package: "github.com/jackc/pgx/v5", Function: "Connect"}))
	assert.Equal(t, "stdlib.OpenDB", symbol(frame{Package: "github.com/jackc/pgx/v5/stdlib", Function: "OpenDB"}))
	assert.Equal(t, "http.Server.Serve", symbol(frame{Package: "net/http", Function: "Serve", Receiver: "Server"}))
}

// TestFixtureDatabaseFails runs the real govulncheck over platform
// against the fixture database: the made-up advisory against grpc's
// Server.Serve, which platform/server calls, fails the scan.
func TestFixtureDatabaseFails(t *testing.T) {
	if testing.Short() {
		t.Skip("govulncheck builds platform's call graph (a minute or more); skipped with -short")
	}
	t.Parallel()
	var stdout, progress bytes.Buffer
	err := Run(t.Context(), Options{
		DB: fixtureURL(t, "vulndb"), Modules: []string{"platform"}, NoSBOM: true,
		JSON: true, Stdout: &stdout, Progress: &progress,
	})
	t.Logf("progress:\n%s", progress.String())
	require.Error(t, err)
	assert.Equal(t, cli.ExitFailed, cli.ExitCode(io.Discard, "scan", err))
	assert.Contains(t, err.Error(), "vulnerable code is called: GO-2099-0001 (called in platform)")
	assert.NotContains(t, err.Error(), "GO-2099-0002", "an advisory whose symbol is not called does not fail the default scan")
	assert.Contains(t, progress.String(), "scan: [1/1] platform: 2 finding(s), 1 called")

	var rep Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), stdout.String())
	assert.True(t, rep.Failed)
	assert.Equal(t, "symbol", rep.FailOn)
	assert.Equal(t, "govulncheck@v1.9.0", rep.Scanner)
	require.Len(t, rep.Modules, 1)
	assert.Equal(t, "platform", rep.Modules[0].Dir)
	assert.Empty(t, rep.Modules[0].Error)
	require.Len(t, rep.Findings, 2, stdout.String())

	grpc := rep.Findings[0]
	assert.Equal(t, "GO-2099-0001", grpc.OSV)
	assert.Equal(t, "TEST FIXTURE: made-up advisory", grpc.Summary)
	assert.Equal(t, "google.golang.org/grpc", grpc.Affected)
	assert.Regexp(t, `^v1\.\d+\.\d+`, grpc.Version)
	assert.Equal(t, "v1.99.0", grpc.Fixed)
	assert.Equal(t, "called", grpc.Reach)
	assert.Equal(t, []string{"grpc.Server.Serve"}, grpc.Symbols)
	require.NotEmpty(t, grpc.CallSites)
	assert.Regexp(t, `^platform/server/\w+\.go:\d+$`, grpc.CallSites[0])

	pgx := rep.Findings[1]
	assert.Equal(t, "GO-2099-0002", pgx.OSV)
	assert.Equal(t, "github.com/jackc/pgx/v5", pgx.Affected)
	assert.Equal(t, "v5.99.0", pgx.Fixed)
	assert.Equal(t, "imported", pgx.Reach)
	assert.Equal(t, []string{"github.com/jackc/pgx/v5/stdlib"}, pgx.Packages)

	// The human table of the same report.
	var table bytes.Buffer
	render(&table, rep, "/")
	t.Logf("table:\n%s", table.String())
	assert.Regexp(t, `(?m)^platform\s+GO-2099-0001\s+google\.golang\.org/grpc@v1\.\S+\s+v1\.99\.0\s+called\s+grpc\.Server\.Serve from platform/server/`, table.String())
	assert.Regexp(t, `(?m)^platform\s+GO-2099-0002\s+github\.com/jackc/pgx/v5@v5\.\S+\s+v5\.99\.0\s+imported\s+github\.com/jackc/pgx/v5/stdlib$`, table.String())
	assert.Contains(t, table.String(), "2 finding(s) in 1 module(s): 1 called, 1 imported, 0 required only")
	assert.Contains(t, table.String(), "FAIL: findings at or above --fail-on=symbol")
}

// TestEmptyDatabasePassesAndWritesSBOM runs the verb end to end with the
// database from SLIPWAY_VULNDB: no advisories, so exit 0, and a CycloneDX
// SBOM of the user service's binary.
func TestEmptyDatabasePassesAndWritesSBOM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the user service and cyclonedx-gomod; skipped with -short")
	}
	t.Parallel()
	sbomDir := t.TempDir()
	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: append(os.Environ(), "SLIPWAY_VULNDB="+fixtureURL(t, "vulndb-empty"))}
	code := cli.ExitCode(env.Stderr, "scan", Main(t.Context(), []string{"--modules", "api", "--services", "user", "--sbom", sbomDir}, env))
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, stdout.String(), "no known vulnerabilities in 1 module(s)")
	assert.Contains(t, stdout.String(), "PASS: nothing at or above --fail-on=symbol")
	assert.Regexp(t, `(?m)^user\s+\S+user\.cdx\.json\s+1\.\d+\s+\d+$`, stdout.String())
	assert.Contains(t, stderr.String(), "scan: [1/1] api: 0 finding(s)")

	data, err := os.ReadFile(filepath.Join(sbomDir, "user.cdx.json"))
	require.NoError(t, err)
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Name string `json:"name"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			PURL    string `json:"purl"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(data, &bom))
	assert.Equal(t, "CycloneDX", bom.BOMFormat)
	assert.Equal(t, "github.com/slipway-dev/slipway/services/user", bom.Metadata.Component.Name)
	names := map[string]string{}
	for _, c := range bom.Components {
		names[c.Name] = c.Version
	}
	assert.Contains(t, names, "google.golang.org/grpc")
	assert.Contains(t, names, "github.com/slipway-dev/slipway/platform")
	assert.NotContains(t, names, "github.com/stretchr/testify", "test-only dependencies are not in the binary")
}
