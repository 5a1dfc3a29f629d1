package scan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelectModules(t *testing.T) {
	all := []module{{Path: "example.com/platform", Dir: "platform"}, {Path: "example.com/services/order", Dir: "services/order"}}
	got, err := selectModules(all, nil)
	require.NoError(t, err)
	assert.Equal(t, all, got, "none named is all")

	got, err = selectModules(all, []string{"./services/order/", "example.com/platform", "services/order"})
	require.NoError(t, err)
	assert.Equal(t, []module{all[1], all[0]}, got, "by dir or path, in the order named, once each")

	_, err = selectModules(all, []string{"services/billing"})
	assert.EqualError(t, err, `--modules: "services/billing" is not a module of go.work (modules: platform, services/order)`)
}

func TestDatabaseURL(t *testing.T) {
	db := fixtureURL(t, "vulndb")
	dir := strings.TrimPrefix(db, "file://")
	for _, in := range []string{db, dir, "file://localhost" + dir} {
		got, err := databaseURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, db, got, "%s is the same database", in)
	}
	rel, err := filepath.Rel(mustGetwd(t), dir)
	require.NoError(t, err)
	got, err := databaseURL(rel)
	require.NoError(t, err)
	assert.Equal(t, db, got, "a relative directory is made absolute")

	for in, want := range map[string]string{
		"":                      "--db is required (or set SLIPWAY_VULNDB)",
		"file://server" + dir:   "want a local database",
		"https://vuln.go.dev":   "want a local database",
		"file://" + t.TempDir(): "is not a Go vulnerability database: no index/modules.json",
		"file://%zz":            "invalid URL escape",
	} {
		_, err := databaseURL(in)
		assert.ErrorContains(t, err, want, "%q", in)
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	return wd
}

func TestCheckSBOM(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	good := write("good.json", `{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{}, {}]}`)
	sbom, err := checkSBOM(good)
	require.NoError(t, err)
	assert.Equal(t, SBOM{Path: good, SpecVersion: "1.6", Components: 2}, sbom)

	_, err = checkSBOM(write("spdx.json", `{"spdxVersion": "SPDX-2.3"}`))
	assert.ErrorContains(t, err, `bomFormat is "", not CycloneDX`)
	_, err = checkSBOM(write("broken.json", `{`))
	assert.ErrorContains(t, err, "broken.json")
	_, err = checkSBOM(filepath.Join(dir, "missing.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestTailAndSplitList(t *testing.T) {
	assert.Equal(t, "c | d", tail("a\nb\n\nc\nd\n", 2))
	assert.Equal(t, "a | b", tail("a\nb", 5))
	assert.Equal(t, "no output", tail(" \n ", 3))
	assert.Equal(t, []string{"platform", "services/order"}, splitList(" platform, ,services/order,"))
	assert.Nil(t, splitList(""))
}

func TestOptionsValidate(t *testing.T) {
	o := Options{}
	failOn, err := o.validate()
	require.NoError(t, err)
	assert.Equal(t, reachCalled, failOn)
	assert.Equal(t, "symbol", o.FailOn, "symbol is the default")

	o = Options{FailOn: "module"}
	failOn, err = o.validate()
	require.NoError(t, err)
	assert.Equal(t, reachRequired, failOn)

	for _, o := range []Options{{FailOn: "high"}, {NoSBOM: true, SBOMDir: "x"}, {NoSBOM: true, Services: []string{"user"}}, {Services: []string{"billing"}}} {
		_, err := o.validate()
		var uerr cli.UsageError
		assert.ErrorAs(t, err, &uerr, "%+v", o)
	}
}
