package main

import (
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const internalPrefix = "github.com/slipway-dev/slipway/tools/slipway/internal/"

// packageOf is the package of a verb whose name is a Go keyword, named as
// cmd/go names them (<verb>cmd); every other verb's package is its name.
var packageOf = map[string]string{"new": "newcmd"}

// verbPackages maps each verb of the table to its package, internal/<verb>,
// and checks that the package is there and is where the table's entry comes
// from (help and completion return closures over the table, named after
// the function that made them, so their symbol names main).
func verbPackages(t *testing.T) map[string]string {
	t.Helper()
	pkgs := map[string]string{}
	for _, v := range verbs() {
		want := v.Name
		if p, ok := packageOf[v.Name]; ok {
			want = p
		}
		_, err := os.Stat(filepath.Join("internal", want))
		require.NoError(t, err, "verb %s has no package internal/%s", v.Name, want)
		fn := runtime.FuncForPC(reflect.ValueOf(v.Main).Pointer()).Name()
		if rest, ok := strings.CutPrefix(fn, internalPrefix); ok {
			pkg, _, _ := strings.Cut(rest, ".")
			assert.Equal(t, want, pkg, "verb %s runs %s", v.Name, fn)
		}
		pkgs[v.Name] = want
	}
	return pkgs
}

// importsOf lists the internal packages that dir's non-test files import.
func importsOf(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range parsed.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, internalPrefix); ok {
				out = append(out, rest)
			}
		}
	}
	return out
}

// The CLI is laid out as the Go command is: every verb in a package of its
// own, and no verb package reaching into another's. What two verbs share
// belongs in a shared package (docs/architecture.md, "The CLI as packages").
func TestEveryVerbIsAPackageAndNoneImportsAnother(t *testing.T) {
	pkgs := verbPackages(t)
	isVerb := map[string]string{}
	for verb, pkg := range pkgs {
		isVerb[pkg] = verb
	}
	for verb, pkg := range pkgs {
		for _, imp := range importsOf(t, filepath.Join("internal", pkg)) {
			if other, ok := isVerb[imp]; ok && imp != pkg {
				assert.Failf(t, "a verb imports another verb", "%s (internal/%s) imports %s's package internal/%s", verb, pkg, other, imp)
			}
		}
	}
}

// clitest holds test helpers, linted as tests are (.golangci.yaml): no
// code that ships may import it.
func TestOnlyTestsImportClitest(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("internal", "*"))
	require.NoError(t, err)
	for _, dir := range append(dirs, ".") {
		for _, imp := range importsOf(t, dir) {
			assert.NotEqual(t, "clitest", imp, "%s imports clitest outside its tests", dir)
		}
	}
}

// main.go holds the verb table and main; everything else is a package.
func TestPackageMainHoldsOnlyTheTable(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			assert.Equal(t, "main.go", path.Base(f), "non-test code outside main.go in package main")
		}
	}
}
