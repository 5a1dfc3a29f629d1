package scan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// baselineRun runs the verb with the fake go over the module platform of a
// fresh workspace, govulncheck printing the fixture stream
// testdata/govulncheck/<stream>, with the given baseline entries (nil: no
// --baseline) and extra options.
type baselineRun struct {
	root    string
	err     error
	stdout  string
	report  Report
	workdir string // for outputs
}

func runAgainstBaseline(t *testing.T, stream string, known []KnownEntry, edit func(*Options)) baselineRun {
	t.Helper()
	goBin := fakeGo(t)
	t.Setenv("PATH", filepath.Dir(goBin)+string(filepath.ListSeparator)+os.Getenv("PATH"))
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "platform"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "api"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "platform", "go.mod"), []byte(testGoMod), 0o644))
	streamFile, err := filepath.Abs(filepath.Join("testdata", "govulncheck", stream))
	require.NoError(t, err)
	work := t.TempDir()

	opts := Options{
		Root: root, DB: fixtureURL(t, "vulndb-empty"), Modules: []string{"platform"}, NoSBOM: true,
		Environ: []string{"PATH=" + os.Getenv("PATH"), "STREAM=" + streamFile},
	}
	if known != nil {
		opts.Baseline = filepath.Join(work, "baseline.json")
		data, err := json.Marshal(Baseline{Format: baselineFormat, Findings: known})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(opts.Baseline, data, 0o644))
	}
	if edit != nil {
		edit(&opts)
	}
	var stdout bytes.Buffer
	opts.Stdout = &stdout
	opts.JSON = true
	r := baselineRun{root: root, workdir: work}
	r.err = Run(t.Context(), opts)
	r.stdout = stdout.String()
	if r.stdout != "" {
		r.report = decodeReport(t, stdout.Bytes())
	}
	return r
}

// testGoMod is platform's go.mod in the fake workspace: the SARIF
// locations of findings without a call site point into it.
const testGoMod = `module example.com/platform

go 1.26.7

toolchain go1.26.8

require (
	github.com/jackc/pgx/v5 v5.12.0
	google.golang.org/grpc v1.85.0
)
`

func entry(module, osv, reach string) KnownEntry {
	return KnownEntry{Module: module, OSV: osv, Affected: "m", Version: "v1.0.0", Reach: reach}
}

func statuses(findings []Finding) map[string]string {
	out := map[string]string{}
	for _, f := range findings {
		out[f.OSV] = f.Status
		if f.BaselineReach != "" {
			out[f.OSV] += " (was " + f.BaselineReach + ")"
		}
	}
	return out
}

func TestBaselineDecidesWhatFails(t *testing.T) {
	tests := []struct {
		name         string
		stream       string
		known        []KnownEntry
		failOn       string
		wantExit     int
		wantStatuses map[string]string
		wantResolved []string
		wantErr      string
	}{
		{
			name:   "a new called finding fails",
			stream: "called.json",
			known: []KnownEntry{entry("platform", "GO-2099-0002", "imported"), entry("platform", "GO-2099-0003", "required"),
				entry("platform", "GO-2099-0009", "called"), entry("api", "GO-2099-0007", "called")},
			wantExit:     cli.ExitFailed,
			wantStatuses: map[string]string{"GO-2099-0001": "new", "GO-2099-0002": "known", "GO-2099-0003": "known"},
			// api was not scanned: its entry is neither resolved nor dropped.
			wantResolved: []string{"platform GO-2099-0009"},
			wantErr:      "new since the baseline: vulnerable code is called: GO-2099-0001 (called in platform)",
		},
		{
			name:   "a known called finding passes",
			stream: "called.json",
			known: []KnownEntry{entry("platform", "GO-2099-0001", "called"), entry("platform", "GO-2099-0002", "imported"),
				entry("platform", "GO-2099-0003", "required")},
			wantExit:     cli.ExitOK,
			wantStatuses: map[string]string{"GO-2099-0001": "known", "GO-2099-0002": "known", "GO-2099-0003": "known"},
			wantResolved: []string{},
		},
		{
			name:   "new findings that are not called pass",
			stream: "called.json",
			known:  []KnownEntry{entry("platform", "GO-2099-0001", "called")},
			// GO-2099-0002 (imported) and GO-2099-0003 (required) are new
			// but below --fail-on=symbol.
			wantExit:     cli.ExitOK,
			wantStatuses: map[string]string{"GO-2099-0001": "known", "GO-2099-0002": "new", "GO-2099-0003": "new"},
			wantResolved: []string{},
		},
		{
			name:   "a known import that is now called is new",
			stream: "called.json",
			known: []KnownEntry{entry("platform", "GO-2099-0001", "imported"), entry("platform", "GO-2099-0002", "imported"),
				entry("platform", "GO-2099-0003", "required")},
			wantExit:     cli.ExitFailed,
			wantStatuses: map[string]string{"GO-2099-0001": "new (was imported)", "GO-2099-0002": "known", "GO-2099-0003": "known"},
			wantResolved: []string{},
			wantErr:      "GO-2099-0001 (called in platform)",
		},
		{
			name:   "a known called finding in another module does not cover this one",
			stream: "called.json",
			known: []KnownEntry{entry("api", "GO-2099-0001", "called"), entry("platform", "GO-2099-0002", "imported"),
				entry("platform", "GO-2099-0003", "required")},
			wantExit:     cli.ExitFailed,
			wantStatuses: map[string]string{"GO-2099-0001": "new", "GO-2099-0002": "known", "GO-2099-0003": "known"},
			wantResolved: []string{},
		},
		{
			name:         "fixed findings are resolved",
			stream:       "fixed.json",
			known:        []KnownEntry{entry("platform", "GO-2099-0001", "called"), entry("platform", "GO-2099-0002", "imported"), entry("platform", "GO-2099-0003", "required")},
			wantExit:     cli.ExitOK,
			wantStatuses: map[string]string{"GO-2099-0002": "known"},
			wantResolved: []string{"platform GO-2099-0001", "platform GO-2099-0003"},
		},
		{
			name:         "--fail-on=package counts new imports",
			stream:       "called.json",
			known:        []KnownEntry{entry("platform", "GO-2099-0001", "called")},
			failOn:       "package",
			wantExit:     cli.ExitFailed,
			wantStatuses: map[string]string{"GO-2099-0001": "known", "GO-2099-0002": "new", "GO-2099-0003": "new"},
			wantResolved: []string{},
			wantErr:      "new since the baseline: vulnerable packages are imported or called: GO-2099-0002 (imported in platform)",
		},
		{
			name:         "without a baseline every called finding fails",
			stream:       "called.json",
			wantExit:     cli.ExitFailed,
			wantStatuses: map[string]string{"GO-2099-0001": "", "GO-2099-0002": "", "GO-2099-0003": ""},
			wantErr:      "vulnerable code is called: GO-2099-0001 (called in platform)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runAgainstBaseline(t, tt.stream, tt.known, func(o *Options) { o.FailOn = tt.failOn })
			assert.Equal(t, tt.wantExit, cli.ExitCode(&bytes.Buffer{}, "scan", r.err), "err: %v", r.err)
			if tt.wantErr != "" {
				require.Error(t, r.err)
				assert.Contains(t, r.err.Error(), tt.wantErr)
				assert.NotContains(t, r.err.Error(), "GO-2099-0003", "a known or uncalled finding is not named in the failure")
			}
			assert.Equal(t, tt.wantStatuses, statuses(r.report.Findings))
			var resolved []string
			for _, e := range r.report.Resolved {
				resolved = append(resolved, e.Module+" "+e.OSV)
			}
			if tt.wantResolved == nil {
				assert.Empty(t, r.report.Baseline)
				assert.Nil(t, resolved)
			} else {
				assert.NotEmpty(t, r.report.Baseline)
				assert.ElementsMatch(t, tt.wantResolved, resolved)
			}
			assert.Equal(t, tt.wantExit != cli.ExitOK, r.report.Failed)
		})
	}
}

func TestWriteBaselineAcceptsTheFindings(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sub", "baseline.json")
	old := []KnownEntry{entry("api", "GO-2099-0007", "called"), entry("platform", "GO-2099-0009", "called")}
	r := runAgainstBaseline(t, "called.json", old, func(o *Options) { o.WriteBaseline = out })
	require.NoError(t, r.err, "writing a baseline accepts every finding it writes")
	assert.False(t, r.report.Failed)
	assert.Equal(t, map[string]string{"GO-2099-0001": "new", "GO-2099-0002": "new", "GO-2099-0003": "new"}, statuses(r.report.Findings),
		"the report still compares with the old baseline")

	b, err := readBaseline(out)
	require.NoError(t, err)
	var got []string
	for _, e := range b.Findings {
		got = append(got, e.Module+" "+e.OSV+" "+e.Reach)
	}
	assert.Equal(t, []string{
		"api GO-2099-0007 called", // a module not scanned keeps its entries
		"platform GO-2099-0001 called",
		"platform GO-2099-0002 imported",
		"platform GO-2099-0003 required",
	}, got, "platform's GO-2099-0009, no longer found, is dropped")
	assert.Equal(t, []string{"CVE-2099-0001", "GHSA-test-0001"}, b.Findings[1].Aliases)
	assert.Equal(t, "v1.99.0", b.Findings[1].Fixed)

	t.Run("the written baseline makes the same scan pass", func(t *testing.T) {
		again := runAgainstBaseline(t, "called.json", b.Findings, nil)
		require.NoError(t, again.err)
		assert.Equal(t, map[string]string{"GO-2099-0001": "known", "GO-2099-0002": "known", "GO-2099-0003": "known"}, statuses(again.report.Findings))
	})

	t.Run("not written when a module could not be scanned", func(t *testing.T) {
		failed := filepath.Join(t.TempDir(), "baseline.json")
		r := runAgainstBaseline(t, "called.json", nil, func(o *Options) {
			o.WriteBaseline, o.Modules = failed, nil
			o.Environ = append(o.Environ, "FAIL_MODULE=api")
		})
		require.Error(t, r.err)
		assert.Contains(t, r.err.Error(), "--write-baseline: not written, since not every module was scanned")
		assert.NoFileExists(t, failed)
	})
}

func TestReadBaselineRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"not JSON", "{", "not a scan baseline"},
		{"unknown field", `{"format": 1, "findings": [], "extra": true}`, `unknown field "extra"`},
		{"a govulncheck stream", `{"config": {}}`, "not a scan baseline"},
		{"other format", `{"format": 2, "findings": []}`, "format 2, want 1"},
		{"no osv", `{"format": 1, "findings": [{"module": "platform", "reach": "called"}]}`, "finding 1 has no module or osv"},
		{"bad reach", `{"format": 1, "findings": [{"module": "platform", "osv": "GO-1", "reach": "reachable"}]}`, `reach "reachable"`},
		{"twice", `{"format": 1, "findings": [{"module": "p", "osv": "GO-1", "reach": "called"}, {"module": "p", "osv": "GO-1", "reach": "imported"}]}`, "GO-1 in p is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "b.json")
			require.NoError(t, os.WriteFile(file, []byte(tt.content), 0o644))
			_, err := readBaseline(file)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := readBaseline(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestBadBaselineIsAUsageError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "b.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"format": 7}`), 0o644))
	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdout: &stdout, Stderr: &stderr}
	code := cli.ExitCode(env.Stderr, "scan", Main(t.Context(), []string{"--db", fixtureURL(t, "vulndb-empty"), "--baseline", file}, env))
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, stderr.String(), "format 7, want 1")
	assert.Empty(t, stdout.String(), "nothing is scanned against an unreadable baseline")
}

func TestRenderAgainstABaseline(t *testing.T) {
	rep := Report{
		DB: "file:///db", Scanner: "govulncheck@v1.9.0", FailOn: "symbol", Failed: true, Baseline: "scan-baseline.json",
		Modules: []ModuleScan{{Dir: "platform"}},
		Findings: []Finding{
			{Module: "platform", OSV: "GO-1", Affected: "g.org/grpc", Version: "v1.0.0", Fixed: "v1.9.0", Reach: "called",
				Symbols: []string{"grpc.Serve"}, Status: statusNew, BaselineReach: "imported"},
			{Module: "platform", OSV: "GO-2", Affected: "x.org/y", Version: "v0.1.0", Reach: "required", Status: statusKnown},
		},
		Resolved: []KnownEntry{{Module: "platform", OSV: "GO-3", Affected: "z.org/z", Version: "v0.2.0", Summary: "gone", Reach: "called"}},
	}
	var out bytes.Buffer
	render(&out, rep, "/w")
	assert.Contains(t, out.String(), ""+
		"STATUS              MODULE    ADVISORY  AFFECTED           FIXED   REACH     WHERE\n"+
		"new (was imported)  platform  GO-1      g.org/grpc@v1.0.0  v1.9.0  called    grpc.Serve\n"+
		"known               platform  GO-2      x.org/y@v0.1.0     none    required  -\n")
	assert.Contains(t, out.String(), "resolved since the baseline:\n  platform  GO-3  z.org/z@v0.2.0  gone\n")
	assert.Contains(t, out.String(), "against the baseline scan-baseline.json: 1 new, 1 known, 1 resolved\n")
	assert.Contains(t, out.String(), "FAIL: new findings at or above --fail-on=symbol\n")

	rep.Failed, rep.Findings = false, rep.Findings[1:]
	out.Reset()
	render(&out, rep, "/w")
	assert.Contains(t, out.String(), "PASS: nothing new at or above --fail-on=symbol\n")
}
