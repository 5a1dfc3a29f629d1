package doctor

import (
	"context"
	"fmt"
	"go/version"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
)

// goEnv is what the go on PATH says about itself.
type goEnv struct {
	Path       string // of the go binary
	Version    string // GOVERSION, without any " X:experiment" suffix
	Toolchain  toolchainSetting
	Flags      string   // GOFLAGS
	Experiment string   // GOEXPERIMENT
	SumDB      string   // GOSUMDB
	Insecure   string   // GOINSECURE
	Others     []string // go1.X.Y commands on PATH (golang.org/dl), oldest first
}

// toolchainSetting is the GOTOOLCHAIN setting and where it comes from.
type toolchainSetting struct {
	Value string // "" reads as auto
	From  string // "set in the environment", "set by go env -w in <file>", ...
}

func (g toolchainSetting) String() string {
	v := g.Value
	if v == "" {
		v = "auto"
	}
	if g.From == "" {
		return "GOTOOLCHAIN=" + v
	}
	return "GOTOOLCHAIN=" + v + ", " + g.From
}

// goEnvVars are the variables readGoEnv asks for: GOVERSION, GOTOOLCHAIN,
// GOFLAGS, GOEXPERIMENT, GOSUMDB and GOINSECURE fill goEnv in that
// order; GOENV and GOROOT say where GOTOOLCHAIN was set.
var goEnvVars = []string{"GOVERSION", "GOTOOLCHAIN", "GOFLAGS", "GOEXPERIMENT", "GOSUMDB", "GOINSECURE", "GOENV", "GOROOT"}

// readGoEnv runs `go env` outside any module (in the temporary directory,
// GOWORK=off), so that the answer is the go on PATH itself: inside the
// workspace an older go would switch toolchains, or refuse to run. go env
// also sees the settings of `go env -w`, which the environment does not.
func (e *checkEnv) readGoEnv(ctx context.Context) (goEnv, error) {
	path, err := lookPath(e.environ, "go")
	if err != nil {
		return goEnv{}, err
	}
	done := e.progress.step("go env")
	defer done()
	out, err := e.run(ctx, os.TempDir(), envvar.Set(e.environ, "GOWORK", "off"), "go", append([]string{"env"}, goEnvVars...)...)
	if err != nil {
		return goEnv{}, err
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	values := make([]string, len(goEnvVars))
	for i, name := range goEnvVars {
		// An answer of another shape (a go that ignores its arguments) still
		// gives its version; the environment stands in for the rest.
		if len(lines) == len(goEnvVars) || i == 0 {
			values[i] = strings.TrimSpace(lines[i])
		} else {
			values[i] = e.getenv(name)
		}
	}
	v := goEnv{Path: path, Flags: values[2], Experiment: values[3], SumDB: values[4], Insecure: values[5]}
	v.Toolchain = toolchainSetting{Value: values[1], From: gotoolchainSource(e.environ, values[6], values[7])}
	if f := strings.Fields(values[0]); len(f) > 0 {
		v.Version = f[0]
	}
	v.Others = goCommandsOnPath(e.environ, filepath.Base(path))
	return v, nil
}

// gotoolchainSource says where the go command took GOTOOLCHAIN from, in its
// order of precedence: the environment, the go env -w file (goenv, "off"
// for none), then $GOROOT/go.env, which sets the installation's default.
func gotoolchainSource(environ []string, goenv, goroot string) string {
	if v, ok := envvar.Lookup(environ, "GOTOOLCHAIN"); ok && v != "" {
		return "set in the environment"
	}
	if goenv != "" && goenv != "off" && goEnvFileSets(goenv, "GOTOOLCHAIN") {
		return "set by go env -w in " + goenv
	}
	if goroot != "" && goEnvFileSets(filepath.Join(goroot, "go.env"), "GOTOOLCHAIN") {
		return "the default of " + filepath.Join(goroot, "go.env")
	}
	return "unset, which means auto"
}

// goEnvFileSets reports whether a go env file (KEY=VALUE lines, # comments)
// sets key to a non-empty value.
func goEnvFileSets(file, key string) bool {
	data, err := os.ReadFile(file) //nolint:gosec // G304: the go command's own env files
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key && strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}

// goCommandsOnPath lists the go1.X.Y commands on PATH other than active, the
// go on PATH under its own name: other Go versions installed side by side
// with `go install golang.org/dl/go1.X.Y@latest`, which GOTOOLCHAIN=path
// also switches to.
func goCommandsOnPath(environ []string, active string) []string {
	path, _ := envvar.Lookup(environ, "PATH")
	seen := map[string]bool{active: true}
	var found []string
	for _, dir := range filepath.SplitList(path) {
		entries, err := os.ReadDir(dir)
		if !filepath.IsAbs(dir) || err != nil {
			continue
		}
		for _, entry := range entries {
			name := strings.TrimSuffix(entry.Name(), ".exe")
			if seen[name] || !strings.HasPrefix(name, "go1") || !version.IsValid(name) {
				continue
			}
			if _, err := lookPath(environ, name); err == nil {
				seen[name] = true
				found = append(found, name)
			}
		}
	}
	slices.SortFunc(found, version.Compare)
	return found
}

// gvmNote is the FIX text every Go version row shares.
const gvmNote = "GOTOOLCHAIN is the modern form of gvm's version switching: with GOTOOLCHAIN=auto the go command runs the toolchain go.work names (docs/toolchains.md)"

// sideBySide is how to install toolchain beside the go on PATH and
// select it without touching that go.
func sideBySide(toolchain string, others []string) string {
	if slices.Contains(others, toolchain) {
		return toolchain + " is on PATH beside go: GOTOOLCHAIN=path runs it wherever go.work asks for it, or call " + toolchain + " directly"
	}
	return "install " + toolchain + " beside it: go install golang.org/dl/" + toolchain + "@latest && " + toolchain + " download, then GOTOOLCHAIN=path"
}

// checkGo checks the go on PATH, the toolchain each module selects, and
// the go env settings that make builds differ from CI.
func checkGo(ctx context.Context, e *checkEnv) []Row {
	if e.wsErr != nil {
		return e.repoFailed("go version")
	}
	ci := e.ws.ciToolchain()
	versionRow := Row{Check: "go version", Expected: ci + " (go.work toolchain, as CI)"}
	g, err := e.readGoEnv(ctx)
	if err != nil {
		versionRow.Found, versionRow.Status = errLine(err), Fail
		versionRow.Fix = "install " + ci + " from https://go.dev/dl/ and put its bin directory on PATH"
		return []Row{versionRow}
	}
	versionRow.Found = g.Version + " (" + g.Path + "); " + g.Toolchain.String()
	if len(g.Others) > 0 {
		versionRow.Found += "; also on PATH: " + strings.Join(g.Others, ", ")
	}
	_, _, workErr := selectToolchain(g.Version, g.Toolchain, "go.work", e.ws.Go, e.ws.Toolchain, e.hasGo)
	switch {
	case g.Version == ci:
		versionRow.Status = OK
	case workErr != nil:
		versionRow.Status = Fail
		versionRow.Fix = sideBySide(ci, g.Others) + ", or set GOTOOLCHAIN=auto; " + gvmNote
	default:
		versionRow.Status = e.differs()
		versionRow.Fix = "to match CI exactly, " + sideBySide(ci, g.Others) + "; " + gvmNote
	}

	rows := []Row{versionRow, toolchainRow(e, g, "go.work", e.ws.Go, e.ws.Toolchain)}
	for _, m := range e.ws.otherModules() {
		if m.Err == nil && m.Go != "" {
			rows = append(rows, toolchainRow(e, g, m.Dir, m.Go, m.Toolchain))
		}
	}
	return append(rows, goEnvRow(e, g))
}

// hasGo reports whether a go1.X.Y binary is on PATH, which GOTOOLCHAIN=path
// needs to switch.
func (e *checkEnv) hasGo(name string) bool {
	_, err := lookPath(e.environ, name)
	return err == nil
}

// toolchainRow reports the toolchain selected for go.work (and so for
// every workspace module: their own toolchain lines do not apply there) or
// for a module outside it, which runs with GOWORK=off.
func toolchainRow(e *checkEnv, g goEnv, where, goLine, toolchainLine string) Row {
	ci := e.ws.ciToolchain()
	file := "go.work"
	if where != "go.work" {
		file = where + "/go.mod"
	}
	row := Row{Check: "toolchain " + where, Expected: ci}
	sel, why, err := selectToolchain(g.Version, g.Toolchain, file, goLine, toolchainLine, e.hasGo)
	switch {
	case err != nil:
		row.Found, row.Status = err.Error(), Fail
		row.Fix = "install " + ci + ", or set GOTOOLCHAIN=auto to let the go command fetch it; " + gvmNote
	case sel != ci:
		row.Found, row.Status = why, e.differs()
		row.Fix = "CI runs " + ci + ": install it, or raise the toolchain line (go work edit -toolchain / go mod edit -toolchain)"
	default:
		row.Found, row.Status = why, OK
	}
	return row
}

// selectToolchain works out, as the go command does, the toolchain that runs
// for file (go.work or a go.mod) with the given go and toolchain lines when
// the go on PATH is local and GOTOOLCHAIN is gotoolchain, and says why.
// hasGo reports whether a toolchain binary is on PATH (GOTOOLCHAIN=path).
// The error says why the go command would refuse to run.
//
// See https://go.dev/doc/toolchain: the go command runs the newer of the go
// line's release and the toolchain line when that is newer than itself and
// GOTOOLCHAIN allows switching (auto, path, <name>+auto, <name>+path); `go
// env GOVERSION` has already applied a GOTOOLCHAIN=<name> minimum.
func selectToolchain(local string, setting toolchainSetting, file, goLine, toolchainLine string, hasGo func(string) bool) (string, string, error) {
	gotoolchain := setting.Value
	if gotoolchain == "" {
		gotoolchain = "auto" // the go command's default
	}
	// Each reason ends with the setting and where it was set; each error
	// with where it was set.
	setting.Value = gotoolchain
	from := ""
	if setting.From != "" {
		from = " (" + setting.From + ")"
	}
	mode := ""
	switch name, suffix, _ := strings.Cut(gotoolchain, "+"); {
	case gotoolchain == "auto" || gotoolchain == "path":
		mode = gotoolchain
	case suffix == "auto" || suffix == "path":
		mode = suffix
	case name == "local" || version.IsValid(name):
	default:
		return "", "", fmt.Errorf("GOTOOLCHAIN=%s is not local, auto, path or a go1.X.Y name%s", gotoolchain, from)
	}
	if !version.IsValid(local) {
		return local, fmt.Sprintf("%s: a development build, which never switches (%s)", local, setting), nil
	}
	want, line := "go"+goLine, file+" go "+goLine
	if toolchainLine != "" && version.Compare(toolchainLine, want) > 0 {
		want, line = toolchainLine, file+" toolchain "+toolchainLine
	}
	if version.Compare(want, local) <= 0 {
		return local, fmt.Sprintf("%s: local %s ≥ %s (%s)", local, local, line, setting), nil
	}
	switch mode {
	case "auto":
		return want, fmt.Sprintf("%s: %s > local %s → switches to it (%s)", want, line, local, setting), nil
	case "path":
		if !hasGo(want) {
			return "", "", fmt.Errorf("%s > local %s, and GOTOOLCHAIN=%s finds no %s on PATH%s", line, local, gotoolchain, want, from)
		}
		return want, fmt.Sprintf("%s: %s > local %s → runs it from PATH (%s)", want, line, local, setting), nil
	}
	if version.Compare("go"+goLine, local) > 0 {
		return "", "", fmt.Errorf("%s go %s > local %s, and GOTOOLCHAIN=%s forbids switching%s", file, goLine, local, gotoolchain, from)
	}
	return local, fmt.Sprintf("%s: local %s ≥ %s go %s; no switching to %s (%s)", local, local, file, goLine, want, setting), nil
}

// goEnvRow checks the go env settings that make a build differ from CI.
func goEnvRow(e *checkEnv, g goEnv) Row {
	row := Row{
		Check:    "go env",
		Expected: "as CI: GOFLAGS without -mod, checksum db on",
	}
	var problems []string
	for _, f := range strings.Fields(g.Flags) {
		if mode, ok := strings.CutPrefix(strings.TrimLeft(f, "-"), "mod="); ok && mode != "readonly" {
			problems = append(problems, "GOFLAGS has "+f)
		}
	}
	if g.SumDB == "off" {
		problems = append(problems, "GOSUMDB=off")
	}
	if g.Insecure != "" {
		problems = append(problems, "GOINSECURE="+g.Insecure)
	}
	if g.Experiment != "" {
		problems = append(problems, "GOEXPERIMENT="+g.Experiment)
	}
	if w := e.getenv("GOWORK"); w != "" && filepath.Clean(w) != filepath.Join(e.root, "go.work") {
		problems = append(problems, "GOWORK="+w)
	}
	if len(problems) == 0 {
		row.Found, row.Status = "GOFLAGS="+g.Flags, OK
		if g.Flags == "" {
			row.Found = "defaults, GOFLAGS empty"
		}
		return row
	}
	row.Found, row.Status = strings.Join(problems, "; "), e.differs()
	row.Fix = "unset them (go env -u NAME for go env -w settings): CI builds with the default module mode, verified checksums and the workspace's go.work"
	return row
}
