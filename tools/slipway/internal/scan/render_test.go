package scan

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRender(t *testing.T) {
	modified := time.Date(2099, 1, 2, 15, 0, 0, 0, time.FixedZone("CET", 3600))
	rep := Report{
		DB: "file:///db", DBModified: &modified, Scanner: "govulncheck@v1.9.0", FailOn: "symbol", Failed: true,
		Modules: []ModuleScan{{Dir: "platform"}, {Dir: "api"}, {Dir: "broken", Error: "exit status 1"}},
		Findings: []Finding{
			{Module: "platform", OSV: "GO-1", Summary: "first", URL: "https://u/1", Affected: "g.org/grpc", Version: "v1.0.0", Fixed: "v1.9.0",
				Reach: "called", Symbols: []string{"grpc.Serve"}, CallSites: []string{"platform/a.go:1", "platform/b.go:2", "platform/c.go:3"}},
			{Module: "api", OSV: "GO-1", Summary: "first", URL: "https://u/1", Affected: "g.org/grpc", Version: "v1.0.0", Fixed: "v1.9.0",
				Reach: "imported", Packages: []string{"g.org/grpc"}},
			{Module: "api", OSV: "GO-2", Summary: "second", Affected: "x.org/y", Version: "v0.1.0", Reach: "required"},
		},
		SBOMs: []SBOM{{Service: "user", Path: "/w/.slipway/sbom/user.cdx.json", SpecVersion: "1.6", Components: 42},
			{Service: "order", Path: "/elsewhere/order.cdx.json", SpecVersion: "1.6", Components: 7}},
	}
	var out bytes.Buffer
	render(&out, rep, "/w")
	assert.Equal(t, ""+
		"MODULE    ADVISORY  AFFECTED           FIXED   REACH     WHERE\n"+
		"platform  GO-1      g.org/grpc@v1.0.0  v1.9.0  called    grpc.Serve from platform/a.go:1 (+2 more)\n"+
		"api       GO-1      g.org/grpc@v1.0.0  v1.9.0  imported  g.org/grpc\n"+
		"api       GO-2      x.org/y@v0.1.0     none    required  -\n"+
		"\nadvisories:\n"+
		"  GO-1  first   https://u/1\n"+
		"  GO-2  second  \n"+
		"\n3 finding(s) in 2 module(s): 1 called, 1 imported, 1 required only\n"+
		"database: file:///db, modified 2099-01-02; govulncheck@v1.9.0\n"+
		"\n"+
		"SERVICE  SBOM                         CYCLONEDX  COMPONENTS\n"+
		"user     .slipway/sbom/user.cdx.json  1.6        42\n"+
		"order    /elsewhere/order.cdx.json    1.6        7\n"+
		"FAIL: findings at or above --fail-on=symbol\n", out.String())

	out.Reset()
	render(&out, Report{DB: "file:///db", FailOn: "package", Modules: rep.Modules, Errors: []string{"SBOM: user: boom"}}, "/w")
	assert.Equal(t, "no known vulnerabilities in 2 module(s)\n"+
		"database: file:///db; \n"+
		"FAIL: SBOM: user: boom\n", out.String(), "a scan error fails even without findings")

	out.Reset()
	render(&out, Report{DB: "file:///db", FailOn: "module"}, "/w")
	assert.Contains(t, out.String(), "PASS: nothing at or above --fail-on=module\n")
}

func TestVerdict(t *testing.T) {
	assert.NoError(t, verdict(Report{}, reachCalled))
	findings := []Finding{{OSV: "GO-1", Module: "api", reach: reachCalled}}
	err := verdict(Report{Failed: true, Findings: findings, Errors: []string{"govulncheck in x: boom"}}, reachCalled)
	assert.EqualError(t, err, "vulnerable code is called: GO-1 (called in api); govulncheck in x: boom")
	err = verdict(Report{Findings: findings, Errors: []string{"SBOM: no"}}, reachCalled)
	assert.EqualError(t, err, "SBOM: no", "findings below --fail-on do not fail")
}
