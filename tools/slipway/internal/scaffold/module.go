package scaffold

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// directRequires are the modules the generated code imports itself, beside
// the repository's api and platform modules; every other module the
// existing services require is listed as indirect.
var directRequires = []string{
	"github.com/google/uuid",
	"github.com/google/wire",
	"github.com/prometheus/client_golang",
	"github.com/stretchr/testify",
	"go.opentelemetry.io/otel/sdk",
	"go.uber.org/mock",
	"google.golang.org/grpc",
	"google.golang.org/protobuf",
}

// repoModule is the repository's module path prefix, read from api/go.mod:
// "github.com/slipway-dev/slipway".
func repoModule(root string) (string, error) {
	name := filepath.Join(root, "api", "go.mod")
	src, err := os.ReadFile(name) //nolint:gosec // G304: the workspace's own api/go.mod
	if err != nil {
		return "", fmt.Errorf("read the repository's module path: %w", err)
	}
	mod := modfile.ModulePath(src)
	repo, ok := strings.CutSuffix(mod, "/api")
	if !ok {
		return "", fmt.Errorf("%s: module %q does not end in /api", name, mod)
	}
	return repo, nil
}

// moduleFiles returns the go.mod and go.sum of services/<name>: the go
// version and requirements of the existing service modules (each module at
// the highest version any of them requires) and the union of their go.sum,
// so the module builds offline with the versions the workspace already
// uses. The result is a superset of what `go mod tidy` keeps.
func moduleFiles(root, repo, name string) (mod, sum []byte, err error) {
	mods, err := filepath.Glob(filepath.Join(root, "services", "*", "go.mod"))
	if err != nil {
		return nil, nil, err
	}
	if len(mods) == 0 {
		return nil, nil, fmt.Errorf("no services/*/go.mod under %s to take the dependencies from", root)
	}
	goVersion := ""
	versions := map[string]string{}
	for _, m := range mods {
		src, err := os.ReadFile(m) //nolint:gosec // G304: a services/*/go.mod of the workspace
		if err != nil {
			return nil, nil, err
		}
		f, err := modfile.Parse(m, src, nil)
		if err != nil {
			return nil, nil, err
		}
		if f.Go != nil && (goVersion == "" || semver.Compare("v"+f.Go.Version, "v"+goVersion) > 0) {
			goVersion = f.Go.Version
		}
		for _, r := range f.Require {
			if v, ok := versions[r.Mod.Path]; !ok || semver.Compare(r.Mod.Version, v) > 0 {
				versions[r.Mod.Path] = r.Mod.Version
			}
		}
	}
	direct := append(slices.Clone(directRequires), repo+"/api", repo+"/platform")
	for _, p := range direct {
		if _, ok := versions[p]; !ok {
			return nil, nil, fmt.Errorf("no existing service requires %s, which the new service imports", p)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "module %s/services/%s\n\ngo %s\n", repo, name, goVersion)
	writeRequires(&b, versions, func(p string) bool { return slices.Contains(direct, p) }, "")
	writeRequires(&b, versions, func(p string) bool { return !slices.Contains(direct, p) }, " // indirect")
	fmt.Fprintf(&b, `
// The workspace (go.work) resolves these in development; the replaces let
// the module build on its own too (GOWORK=off), e.g. in a container build.
replace (
	%[1]s/api => ../../api
	%[1]s/platform => ../../platform
)
`, repo)

	sum, err = mergeSums(filepath.Join(root, "services", "*", "go.sum"))
	if err != nil {
		return nil, nil, err
	}
	return b.Bytes(), sum, nil
}

// writeRequires writes a require block of the modules keep admits, sorted.
func writeRequires(b *bytes.Buffer, versions map[string]string, keep func(string) bool, comment string) {
	var paths []string
	for p := range versions {
		if keep(p) {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return
	}
	slices.Sort(paths)
	b.WriteString("\nrequire (\n")
	for _, p := range paths {
		fmt.Fprintf(b, "\t%s %s%s\n", p, versions[p], comment)
	}
	b.WriteString(")\n")
}

// mergeSums is the sorted union of the lines of the go.sum files matching
// pattern.
func mergeSums(pattern string) ([]byte, error) {
	names, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, name := range names {
		src, err := os.ReadFile(name) //nolint:gosec // G304: a services/*/go.sum of the workspace
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(src)) {
			if line = strings.TrimSpace(line); line != "" {
				seen[line] = true
			}
		}
	}
	lines := make([]string, 0, len(seen))
	for line := range seen {
		lines = append(lines, line)
	}
	slices.Sort(lines)
	if len(lines) == 0 {
		return nil, nil
	}
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}
