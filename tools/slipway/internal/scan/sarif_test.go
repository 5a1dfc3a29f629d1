package scan

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sarifProblems checks a SARIF document against what SARIF 2.1.0 requires
// (version, runs, runs[].tool.driver.name, results[].message) and what
// GitHub code scanning needs besides (the $schema, a ruleId and at least
// one location with a relative artifact URI per result, rule indexes that
// point at their rule). It returns every problem found.
func sarifProblems(data []byte) []string {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	str := func(m map[string]any, key string) string { s, _ := m[key].(string); return s }
	obj := func(m map[string]any, key string) map[string]any { o, _ := m[key].(map[string]any); return o }
	arr := func(m map[string]any, key string) []any { a, _ := m[key].([]any); return a }

	if str(doc, "version") != "2.1.0" {
		bad("version %v, want 2.1.0", doc["version"])
	}
	if !strings.Contains(str(doc, "$schema"), "sarif-schema-2.1.0") && !strings.Contains(str(doc, "$schema"), "sarif-2.1.0") {
		bad("$schema %v is not SARIF 2.1.0's", doc["$schema"])
	}
	runs := arr(doc, "runs")
	if runs == nil {
		bad("no runs array")
	}
	for i, r := range runs {
		run, _ := r.(map[string]any)
		driver := obj(obj(run, "tool"), "driver")
		if str(driver, "name") == "" {
			bad("runs[%d].tool.driver.name is missing", i)
		}
		rules := arr(driver, "rules")
		results, ok := run["results"].([]any)
		if !ok {
			bad("runs[%d].results is not an array", i)
		}
		for j, x := range results {
			res, _ := x.(map[string]any)
			at := fmt.Sprintf("runs[%d].results[%d]", i, j)
			if str(obj(res, "message"), "text") == "" {
				bad("%s.message.text is missing", at)
			}
			id := str(res, "ruleId")
			if id == "" {
				bad("%s.ruleId is missing", at)
			}
			if idx, ok := res["ruleIndex"].(float64); ok {
				if int(idx) >= len(rules) || str(rules[int(idx)].(map[string]any), "id") != id {
					bad("%s.ruleIndex %v does not point at rule %s", at, idx, id)
				}
			}
			switch lvl := str(res, "level"); lvl {
			case "", "none", "note", "warning", "error":
			default:
				bad("%s.level %q", at, lvl)
			}
			switch st := str(res, "baselineState"); st {
			case "", "new", "unchanged", "updated", "absent":
			default:
				bad("%s.baselineState %q", at, st)
			}
			locs := arr(res, "locations")
			if len(locs) == 0 {
				bad("%s has no locations", at)
			}
			for k, l := range locs {
				phys := obj(l.(map[string]any), "physicalLocation")
				uri := str(obj(phys, "artifactLocation"), "uri")
				if uri == "" || strings.HasPrefix(uri, "/") || strings.Contains(uri, "://") {
					bad("%s.locations[%d] uri %q: want a path relative to the repository", at, k, uri)
				}
				if region := obj(phys, "region"); region != nil {
					if line, _ := region["startLine"].(float64); line < 1 {
						bad("%s.locations[%d].region.startLine %v", at, k, region["startLine"])
					}
				}
			}
		}
	}
	return problems
}

func TestSARIFCheckerFindsBrokenDocuments(t *testing.T) {
	sarifSchema := sarif.NewReport().Schema
	good := `{"$schema": "` + sarifSchema + `", "version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x", "rules": [{"id": "GO-1"}]}},
	  "results": [{"ruleId": "GO-1", "ruleIndex": 0, "level": "error", "message": {"text": "m"},
	    "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a/b.go"}, "region": {"startLine": 3}}}]}]}]}`
	require.Empty(t, sarifProblems([]byte(good)))
	broken := map[string]string{
		"version":      `"version": "2.1.0"=>"version": "2.0.0"`,
		"schema":       `"$schema": "` + sarifSchema + `"=>"$schema": "x"`,
		"driver name":  `"name": "x"=>"name": ""`,
		"rule id":      `"ruleId": "GO-1"=>"ruleId": ""`,
		"rule index":   `"ruleIndex": 0=>"ruleIndex": 4`,
		"message":      `"text": "m"=>"text": ""`,
		"level":        `"level": "error"=>"level": "critical"`,
		"no locations": `"locations": [{"physicalLocation": {"artifactLocation": {"uri": "a/b.go"}, "region": {"startLine": 3}}}]=>"locations": []`,
		"absolute uri": `"uri": "a/b.go"=>"uri": "/abs/b.go"`,
		"line 0":       `"startLine": 3=>"startLine": 0`,
	}
	for name, edit := range broken {
		t.Run(name, func(t *testing.T) {
			from, to, _ := strings.Cut(edit, "=>")
			doc := strings.Replace(good, from, to, 1)
			require.NotEqual(t, good, doc)
			assert.NotEmpty(t, sarifProblems([]byte(doc)), doc)
		})
	}
	noResults := `{"$schema": "` + sarifSchema + `", "version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": {}}]}`
	assert.Equal(t, []string{"runs[0].results is not an array"}, sarifProblems([]byte(noResults)))
}

func TestSARIFOutput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "out", "scan.sarif")
	r := runAgainstBaseline(t, "called.json", []KnownEntry{entry("platform", "GO-2099-0002", "imported")},
		func(o *Options) { o.SARIF = file })
	require.Error(t, r.err, "GO-2099-0001 is new and called")

	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Empty(t, sarifProblems(data), string(data))

	log, err := sarif.FromBytes(data, sarif.WithStrictValidation())
	require.NoError(t, err)
	require.NoError(t, log.Validate(), "the SARIF 2.1.0 schema")
	require.Len(t, log.Runs, 1)
	driver := log.Runs[0].Tool.Driver
	assert.Equal(t, "govulncheck", *driver.Name)
	assert.Equal(t, "v1.9.0", *driver.Version)
	var ruleIDs []string
	for _, rule := range driver.Rules {
		ruleIDs = append(ruleIDs, *rule.ID)
	}
	assert.Equal(t, []string{"GO-2099-0001", "GO-2099-0002", "GO-2099-0003"}, ruleIDs)
	assert.Equal(t, "https://pkg.go.dev/vuln/GO-2099-0001", *driver.Rules[0].HelpURI)
	assert.Contains(t, driver.Rules[0].Properties.Tags, "CVE-2099-0001")
	assert.Contains(t, *driver.Rules[0].Help.Text, "cd platform && go get google.golang.org/grpc@v1.99.0")

	type got struct {
		rule, level, uri, state string
		line                    int
	}
	var results []got
	for _, res := range log.Runs[0].Results {
		require.Len(t, res.Locations, 1)
		loc := res.Locations[0].PhysicalLocation
		line := 0
		if loc.Region != nil {
			line = *loc.Region.StartLine
		}
		results = append(results, got{*res.RuleID, res.Level, *loc.ArtifactLocation.URI, *res.BaselineState, line})
		assert.Equal(t, "%SRCROOT%", *loc.ArtifactLocation.URIBaseID)
		assert.Equal(t, "platform:"+*res.RuleID, res.PartialFingerprints["slipwayScanFinding/v1"])
	}
	assert.Equal(t, []got{
		// Called: at the first call site in workspace code.
		{"GO-2099-0001", "error", "platform/server/app.go", "new", 371},
		// Imported: at the require line of platform/go.mod.
		{"GO-2099-0002", "warning", "platform/go.mod", "unchanged", 8},
		// The standard library: at the toolchain line.
		{"GO-2099-0003", "note", "platform/go.mod", "new", 5},
	}, results)
	assert.Contains(t, *log.Runs[0].Results[0].Message.Text, "GO-2099-0001: google.golang.org/grpc@v1.85.0 in platform (fixed in v1.99.0), vulnerable symbol called: grpc.Server.Serve")

	t.Run("no findings is an empty results array", func(t *testing.T) {
		data, err := json.Marshal(toSARIF(Report{}, t.TempDir()))
		require.NoError(t, err)
		assert.Empty(t, sarifProblems(data))
		assert.Contains(t, string(data), `"results":[]`)
	})
}

func TestSARIFWriteErrors(t *testing.T) {
	rep := Report{Scanner: "govulncheck@v1.9.0", Findings: []Finding{{
		Module: "platform", OSV: "GO-2099-0001", Affected: "google.golang.org/grpc", Version: "v1.85.0",
		reach: reachCalled, CallSites: []string{"platform/server/app.go:371"},
	}}}
	good := toSARIF(rep, t.TempDir())
	_, err := encodeSARIF(good)
	require.NoError(t, err)

	broken := map[string]func(log *sarif.Report){
		"a level SARIF does not have": func(log *sarif.Report) { log.Runs[0].Results[0].WithLevel("critical") },
		"a line before the first": func(log *sarif.Report) {
			log.Runs[0].Results[0].Locations[0].PhysicalLocation.Region.WithStartLine(0)
		},
		"a baseline state SARIF does not have": func(log *sarif.Report) { log.Runs[0].Results[0].WithBaselineState("known") },
		"another version":                      func(log *sarif.Report) { log.Version = "2.0.0" },
	}
	for name, breakIt := range broken {
		t.Run(name, func(t *testing.T) {
			log := toSARIF(rep, t.TempDir())
			breakIt(log)
			_, err := encodeSARIF(log)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "does not match the SARIF 2.1.0 schema")
		})
	}

	t.Run("a file where its directory should be", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "reports")
		require.NoError(t, os.WriteFile(dir, nil, 0o644))
		err := writeSARIF(filepath.Join(dir, "scan.sarif"), rep, t.TempDir())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--sarif: ")
	})
}

func TestGoModLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "go.mod")
	require.NoError(t, os.WriteFile(file, []byte(testGoMod), 0o644))
	assert.Equal(t, 9, goModLine(file, "google.golang.org/grpc"))
	assert.Equal(t, 8, goModLine(file, "github.com/jackc/pgx/v5"))
	assert.Equal(t, 5, goModLine(file, "stdlib"), "the toolchain line")
	assert.Equal(t, 0, goModLine(file, "google.golang.org"), "a prefix of a module path is not the module")
	assert.Equal(t, 0, goModLine(filepath.Join(t.TempDir(), "none"), "x"))

	noToolchain := filepath.Join(t.TempDir(), "go.mod")
	require.NoError(t, os.WriteFile(noToolchain, []byte("module m\n\ngo 1.26.7\n"), 0o644))
	assert.Equal(t, 3, goModLine(noToolchain, "toolchain"), "the go line when there is no toolchain line")
}
