package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"go/version"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// doctorStatus is the verdict of one check.
type doctorStatus string

// The verdicts, in increasing order of gravity.
const (
	doctorOK   doctorStatus = "OK"
	doctorWarn doctorStatus = "WARN"
	doctorFail doctorStatus = "FAIL"
)

// doctorRow is one line of the checklist; it is also the --json element.
type doctorRow struct {
	Check    string       `json:"check"`
	Expected string       `json:"expected"`
	Found    string       `json:"found"`
	Status   doctorStatus `json:"status"`
	Fix      string       `json:"fix,omitempty"`
}

// doctorSummary counts the rows by status.
type doctorSummary struct {
	OK   int `json:"ok"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

func (s doctorSummary) String() string {
	return fmt.Sprintf("%d OK, %d WARN, %d FAIL", s.OK, s.Warn, s.Fail)
}

// doctorReport is what --json prints.
type doctorReport struct {
	CI      bool          `json:"ci"`
	Checks  []doctorRow   `json:"checks"`
	Summary doctorSummary `json:"summary"`
}

// doctorOptions are the inputs of runDoctor.
type doctorOptions struct {
	Root    string        // workspace root; "" walks up from Dir to go.work
	Dir     string        // where that walk starts; "" is the working directory
	CI      bool          // any difference from what CI uses fails
	JSON    bool          // print the report as JSON
	Only    []string      // names of the checks to run (doctorChecks); empty runs all
	Timeout time.Duration // for each network probe
	Ports   []doctorPort  // ports that must be free; nil is the default ports of every service
	Stdout  io.Writer
	Stderr  io.Writer    // progress of the steps that take longer than a second
	Environ []string     // nil is os.Environ()
	Run     doctorRunner // nil runs the programs
}

// doctorCheck is one named check; a check may report several rows.
type doctorCheck struct {
	name string
	run  func(ctx context.Context, e *doctorEnv) []doctorRow
}

// doctorChecks lists the checks in the order of the table.
func doctorChecks() []doctorCheck {
	return []doctorCheck{
		{"go", doctorGo},
		{"workspace", doctorWorkspace},
		{"verify", doctorVerify},
		{"tools", doctorTools},
		{"protoc", doctorProtoc},
		{"docker", doctorDocker},
		{"ports", doctorPorts},
		{"postgres", doctorPostgres},
		{"nats", doctorNATS},
		{"redis", doctorRedis},
		{"etcd", doctorEtcd},
		{"disk", doctorDisk},
	}
}

func doctorCheckNames() []string {
	var names []string
	for _, c := range doctorChecks() {
		names = append(names, c.name)
	}
	return names
}

func doctorMain(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "doctor", "[--ci] [--json] [--only check,...] [--timeout 2s]",
		"Checks that this machine can build, test and run Slipway, and prints one row per check:\n"+
			"what is expected, what was found, OK/WARN/FAIL and how to fix it. Exits 1 when any\n"+
			"check FAILs. The checks, by their names for --only:\n\n"+
			"  go         the go on PATH against go.work's go and toolchain lines (the toolchain CI\n"+
			"             runs), where GOTOOLCHAIN was set, the other go1.X.Y on PATH (golang.org/dl),\n"+
			"             the toolchain the go command selects for the workspace and for each module\n"+
			"             outside it, and why, and the go env settings that change builds\n"+
			"  workspace  every go.work module exists and resolves; `go work sync` would change nothing\n"+
			"  verify     `go mod verify` where CI runs it: the workspace and the modules outside it\n"+
			"             that pin no tools (deploy); the tools check builds the tool modules\n"+
			"  tools      every tool pinned in a go.mod tool directive builds through `go tool`\n"+
			"  protoc     optional (WARN when absent): buf compiles .proto files itself\n"+
			"  docker     a Docker engine and the compose plugin (WARN when absent)\n"+
			"  ports      the default ports are free: gRPC 50051-50054, HTTP 8081-8084, console 8080\n"+
			"  postgres, nats, redis, etcd  answer where DATABASE_URL, NATS_URL, REDIS_URL or\n"+
			"             DISCOVERY=etcd://... configure them; unset means the embedded default\n"+
			"  disk       free space where the workspace lives: WARN below 5 GiB, FAIL below 1 GiB\n\n"+
			"--ci turns every difference from CI into a FAIL: the go on PATH and the toolchain\n"+
			"selected for each module must be exactly go.work's toolchain line, and GOFLAGS must not\n"+
			"hold -mod=mod or -mod=vendor, GOSUMDB must not be off, GOINSECURE and GOEXPERIMENT must\n"+
			"be empty and GOWORK must not point away from the workspace's go.work. CGO_ENABLED is not\n"+
			"compared: every module is pure Go.")
	opts := doctorOptions{Stdout: env.Stdout, Stderr: env.Stderr, Environ: env.Environ}
	var only string
	fs.BoolVar(&opts.CI, "ci", false, "fail on any difference from what CI uses (see above)")
	fs.BoolVar(&opts.JSON, "json", false, "print the checks and the summary as JSON")
	fs.StringVar(&only, "only", "", "comma-separated `checks` to run (default: all)")
	fs.DurationVar(&opts.Timeout, "timeout", 2*time.Second, "give each network probe this `duration`")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	for name := range strings.SplitSeq(only, ",") {
		if name = strings.TrimSpace(name); name != "" {
			opts.Only = append(opts.Only, name)
		}
	}
	return runDoctor(ctx, opts)
}

// runDoctor runs the checks concurrently, prints the table (or JSON) and
// returns an error naming the checks that failed.
func runDoctor(ctx context.Context, opts doctorOptions) error {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	if opts.Run == nil {
		opts.Run = doctorRunCommand
	}
	if opts.Ports == nil {
		opts.Ports = defaultDoctorPorts()
	}
	checks := doctorChecks()
	if len(opts.Only) > 0 {
		known := doctorCheckNames()
		for _, name := range opts.Only {
			if !slices.Contains(known, name) {
				return cli.UsageErrorf("unknown check %q in --only (known: %s)", name, strings.Join(known, ", "))
			}
		}
		checks = slices.DeleteFunc(checks, func(c doctorCheck) bool { return !slices.Contains(opts.Only, c.name) })
	}
	root := opts.Root
	if root == "" {
		dir := opts.Dir
		if dir == "" {
			dir = "."
		}
		var err error
		if root, err = workspace.FindRoot(dir); err != nil {
			return err
		}
	}

	e := &doctorEnv{
		root:     root,
		environ:  opts.Environ,
		ci:       opts.CI,
		timeout:  opts.Timeout,
		ports:    opts.Ports,
		run:      opts.Run,
		progress: &doctorProgress{w: opts.Stderr, after: time.Second},
	}
	e.ws, e.wsErr = loadDoctorRepo(root)

	results := make([][]doctorRow, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { results[i] = c.run(ctx, e) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}

	report := doctorReport{CI: opts.CI, Checks: slices.Concat(results...)}
	var failed []string
	for _, r := range report.Checks {
		switch r.Status {
		case doctorOK:
			report.Summary.OK++
		case doctorWarn:
			report.Summary.Warn++
		default:
			report.Summary.Fail++
			failed = append(failed, r.Check)
		}
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else if err := printDoctor(opts.Stdout, report); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// doctorCellMax bounds a table cell; --json and the details below the table
// carry the whole text.
const doctorCellMax = 90

func printDoctor(w io.Writer, report doctorReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tEXPECTED\tFOUND\tSTATUS\tFIX")
	var details []doctorRow
	for _, r := range report.Checks {
		expected, found := doctorCell(r.Expected), doctorCell(r.Found)
		if (expected != r.Expected || found != r.Found) && r.Status != doctorOK {
			details = append(details, r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Check, expected, found, r.Status, r.Fix)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if report.CI {
		fmt.Fprintln(w, "\n--ci: differences from CI fail")
	}
	fmt.Fprintf(w, "\n%s\n", report.Summary)
	for _, r := range details {
		fmt.Fprintf(w, "\n%s (%s)\n  expected: %s\n  found:    %s\n", r.Check, r.Status, r.Expected, r.Found)
	}
	return nil
}

// doctorCell cuts s to doctorCellMax runes.
func doctorCell(s string) string {
	if utf8.RuneCountInString(s) <= doctorCellMax {
		return s
	}
	r := []rune(s)
	return string(r[:doctorCellMax-1]) + "…"
}

// doctorEnv is what every check reads: the workspace, the environment to
// honour and the way to run programs, all injectable by tests.
type doctorEnv struct {
	root     string
	environ  []string
	ci       bool
	timeout  time.Duration
	ports    []doctorPort
	run      doctorRunner
	progress *doctorProgress
	ws       *doctorRepo
	wsErr    error
}

func (e *doctorEnv) getenv(key string) string {
	v, _ := envvar.Lookup(e.environ, key)
	return v
}

// differs is the status of a difference from CI: WARN, or FAIL under --ci.
func (e *doctorEnv) differs() doctorStatus {
	if e.ci {
		return doctorFail
	}
	return doctorWarn
}

// workEnviron is the environment for go commands about the workspace: the
// user's, except that GOWORK cannot point away from the root's go.work (the
// "go" check reports such a GOWORK).
func (e *doctorEnv) workEnviron() []string {
	return envvar.Set(e.environ, "GOWORK", filepath.Join(e.root, "go.work"))
}

// moduleEnviron is the environment for go commands in a module outside go.work.
func (e *doctorEnv) moduleEnviron() []string {
	return envvar.Set(e.environ, "GOWORK", "off")
}

// goCommand runs go with args in dir (relative to the root), reporting the
// step as progress when it takes longer than a second.
func (e *doctorEnv) goCommand(ctx context.Context, step, dir string, environ []string, args ...string) (string, error) {
	done := e.progress.step(step)
	defer done()
	return e.run(ctx, filepath.Join(e.root, filepath.FromSlash(dir)), environ, "go", args...)
}

// doctorRunner runs a program found on environ's PATH in dir and returns its
// standard output. The error of a program that ran and failed is a
// *doctorCmdError holding its standard error.
type doctorRunner func(ctx context.Context, dir string, environ []string, name string, args ...string) (string, error)

// doctorCmdError is a program that ran and failed.
type doctorCmdError struct {
	err    error
	stderr string
}

func (e *doctorCmdError) Error() string {
	if e.stderr != "" {
		return e.stderr
	}
	return e.err.Error()
}

func (e *doctorCmdError) Unwrap() error { return e.err }

func doctorRunCommand(ctx context.Context, dir string, environ []string, name string, args ...string) (string, error) {
	path, err := doctorLookPath(environ, name)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir, cmd.Env = dir, environ
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &doctorCmdError{err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.String(), nil
}

// doctorLookPath finds name in the PATH of environ, not of this process, so
// that a test (or the user) can put another go first. Relative PATH entries
// are skipped, as exec.LookPath refuses them.
func doctorLookPath(environ []string, name string) (string, error) {
	path, _ := envvar.Lookup(environ, "PATH")
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
}

// doctorFirstLine is the first non-empty line of s, for a table cell.
func doctorFirstLine(s string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// doctorErrLine is the gist of err for a table cell: its first line that is
// not the go command's news of a download.
func doctorErrLine(err error) string {
	if errors.Is(err, exec.ErrNotFound) {
		return "not on PATH"
	}
	msg := err.Error()
	for line := range strings.SplitSeq(msg, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "go: downloading ") {
			return line
		}
	}
	return doctorFirstLine(msg)
}

// doctorProgress tells the user about steps that take longer than a second
// (a first tool build, go mod verify), so that they are not taken for a hang.
type doctorProgress struct {
	mu    sync.Mutex
	w     io.Writer
	after time.Duration
}

// step starts timing what; the returned func ends it. Only a step still
// running after p.after is announced, and then its end too.
func (p *doctorProgress) step(what string) (done func()) {
	start := time.Now()
	var announced, finished bool
	t := time.AfterFunc(p.after, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !finished {
			announced = true
			fmt.Fprintf(p.w, "doctor: %s…\n", what)
		}
	})
	return func() {
		t.Stop()
		p.mu.Lock()
		defer p.mu.Unlock()
		finished = true
		if announced {
			fmt.Fprintf(p.w, "doctor: %s done in %.1fs\n", what, time.Since(start).Seconds())
		}
	}
}

// doctorModule is one go.mod of the repository.
type doctorModule struct {
	Dir       string // slash path relative to the root: "tools/gen"
	Path      string // module path
	Go        string // go line: "1.26.7"
	Toolchain string // toolchain line: "go1.26.8", or ""
	Tools     []string
	Require   []doctorRequire
	InWork    bool  // listed in go.work
	Err       error // reading or parsing the go.mod
}

// doctorRequire is one require line of a go.mod.
type doctorRequire struct{ Path, Version string }

// doctorRepo is the root's go.work and the modules of the repository.
type doctorRepo struct {
	Go        string         // go.work's go line
	Toolchain string         // go.work's toolchain line, or ""
	Modules   []doctorModule // go.work's modules in its order, then the others the root holds
}

// ciToolchain is the toolchain CI runs: go.work's toolchain line, or the
// release its go line names.
func (w *doctorRepo) ciToolchain() string {
	if w.Toolchain != "" {
		return w.Toolchain
	}
	return "go" + w.Go
}

func (w *doctorRepo) workModules() []doctorModule {
	return slices.DeleteFunc(slices.Clone(w.Modules), func(m doctorModule) bool { return !m.InWork })
}

func (w *doctorRepo) otherModules() []doctorModule {
	return slices.DeleteFunc(slices.Clone(w.Modules), func(m doctorModule) bool { return m.InWork })
}

// loadDoctorRepo parses root's go.work and every go.mod it uses, plus the
// go.mod files one or two directories down that it does not use (tools/gen,
// tools/lint, deploy: outside the workspace on purpose).
func loadDoctorRepo(root string) (*doctorRepo, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.work")) //nolint:gosec // G304: the workspace's own go.work
	if err != nil {
		return nil, err
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		return nil, err
	}
	ws := &doctorRepo{}
	if wf.Go != nil {
		ws.Go = wf.Go.Version
	}
	if wf.Toolchain != nil && wf.Toolchain.Name != "default" {
		ws.Toolchain = wf.Toolchain.Name
	}
	seen := map[string]bool{}
	for _, u := range wf.Use {
		dir := filepath.ToSlash(filepath.Clean(u.Path))
		seen[dir] = true
		m := loadDoctorModule(root, dir)
		m.InWork = true
		ws.Modules = append(ws.Modules, m)
	}
	for _, pattern := range []string{"*/go.mod", "*/*/go.mod"} {
		matches, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, match := range matches {
			rel, err := filepath.Rel(root, filepath.Dir(match))
			if err != nil {
				continue
			}
			dir := filepath.ToSlash(rel)
			if seen[dir] || doctorSkipDir(dir) {
				continue
			}
			seen[dir] = true
			ws.Modules = append(ws.Modules, loadDoctorModule(root, dir))
		}
	}
	return ws, nil
}

// doctorSkipDir reports whether a go.mod under dir is not one of ours to
// check: hidden directories, testdata and node_modules.
func doctorSkipDir(dir string) bool {
	for elem := range strings.SplitSeq(dir, "/") {
		if strings.HasPrefix(elem, ".") || strings.HasPrefix(elem, "_") || elem == "testdata" || elem == "node_modules" {
			return true
		}
	}
	return false
}

func loadDoctorModule(root, dir string) doctorModule {
	m := doctorModule{Dir: dir}
	name := filepath.Join(root, filepath.FromSlash(dir), "go.mod")
	data, err := os.ReadFile(name) //nolint:gosec // G304: a go.mod of the workspace
	if err != nil {
		m.Err = err
		return m
	}
	mf, err := modfile.Parse(name, data, nil)
	if err != nil {
		m.Err = err
		return m
	}
	if mf.Module != nil {
		m.Path = mf.Module.Mod.Path
	}
	if mf.Go != nil {
		m.Go = mf.Go.Version
	}
	if mf.Toolchain != nil && mf.Toolchain.Name != "default" {
		m.Toolchain = mf.Toolchain.Name
	}
	for _, t := range mf.Tool {
		m.Tools = append(m.Tools, t.Path)
	}
	for _, r := range mf.Require {
		m.Require = append(m.Require, doctorRequire{r.Mod.Path, r.Mod.Version})
	}
	return m
}

// repoFailed is the row a check reports when go.work cannot be read.
func (e *doctorEnv) repoFailed(check string) []doctorRow {
	return []doctorRow{{
		Check:    check,
		Expected: "a readable go.work",
		Found:    doctorErrLine(e.wsErr),
		Status:   doctorFail,
		Fix:      "fix go.work (go work edit -fmt shows the syntax error)",
	}}
}

// doctorGoEnv is what the go on PATH says about itself.
type doctorGoEnv struct {
	Path       string // of the go binary
	Version    string // GOVERSION, without any " X:experiment" suffix
	Toolchain  doctorGOTOOLCHAIN
	Flags      string   // GOFLAGS
	Experiment string   // GOEXPERIMENT
	SumDB      string   // GOSUMDB
	Insecure   string   // GOINSECURE
	Others     []string // go1.X.Y commands on PATH (golang.org/dl), oldest first
}

// doctorGOTOOLCHAIN is the GOTOOLCHAIN setting and where it comes from.
type doctorGOTOOLCHAIN struct {
	Value string // "" reads as auto
	From  string // "set in the environment", "set by go env -w in <file>", ...
}

func (g doctorGOTOOLCHAIN) String() string {
	v := g.Value
	if v == "" {
		v = "auto"
	}
	if g.From == "" {
		return "GOTOOLCHAIN=" + v
	}
	return "GOTOOLCHAIN=" + v + ", " + g.From
}

// doctorGoEnvVars are the variables readGoEnv asks for: GOVERSION, GOTOOLCHAIN,
// GOFLAGS, GOEXPERIMENT, GOSUMDB and GOINSECURE fill doctorGoEnv in that
// order; GOENV and GOROOT say where GOTOOLCHAIN was set.
var doctorGoEnvVars = []string{"GOVERSION", "GOTOOLCHAIN", "GOFLAGS", "GOEXPERIMENT", "GOSUMDB", "GOINSECURE", "GOENV", "GOROOT"}

// readGoEnv runs `go env` outside any module (in the temporary directory,
// GOWORK=off), so that the answer is the go on PATH itself: inside the
// workspace an older go would switch toolchains, or refuse to run. go env
// also sees the settings of `go env -w`, which the environment does not.
func (e *doctorEnv) readGoEnv(ctx context.Context) (doctorGoEnv, error) {
	path, err := doctorLookPath(e.environ, "go")
	if err != nil {
		return doctorGoEnv{}, err
	}
	done := e.progress.step("go env")
	defer done()
	out, err := e.run(ctx, os.TempDir(), envvar.Set(e.environ, "GOWORK", "off"), "go", append([]string{"env"}, doctorGoEnvVars...)...)
	if err != nil {
		return doctorGoEnv{}, err
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	values := make([]string, len(doctorGoEnvVars))
	for i, name := range doctorGoEnvVars {
		// An answer of another shape (a go that ignores its arguments) still
		// gives its version; the environment stands in for the rest.
		if len(lines) == len(doctorGoEnvVars) || i == 0 {
			values[i] = strings.TrimSpace(lines[i])
		} else {
			values[i] = e.getenv(name)
		}
	}
	v := doctorGoEnv{Path: path, Flags: values[2], Experiment: values[3], SumDB: values[4], Insecure: values[5]}
	v.Toolchain = doctorGOTOOLCHAIN{Value: values[1], From: gotoolchainSource(e.environ, values[6], values[7])}
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
			if _, err := doctorLookPath(environ, name); err == nil {
				seen[name] = true
				found = append(found, name)
			}
		}
	}
	slices.SortFunc(found, version.Compare)
	return found
}

// doctorGVMNote is the FIX text every Go version row shares.
const doctorGVMNote = "GOTOOLCHAIN is the modern form of gvm's version switching: with GOTOOLCHAIN=auto the go command runs the toolchain go.work names (docs/toolchains.md)"

// doctorSideBySide is how to install toolchain beside the go on PATH and
// select it without touching that go.
func doctorSideBySide(toolchain string, others []string) string {
	if slices.Contains(others, toolchain) {
		return toolchain + " is on PATH beside go: GOTOOLCHAIN=path runs it wherever go.work asks for it, or call " + toolchain + " directly"
	}
	return "install " + toolchain + " beside it: go install golang.org/dl/" + toolchain + "@latest && " + toolchain + " download, then GOTOOLCHAIN=path"
}

// doctorGo checks the go on PATH, the toolchain each module selects, and
// the go env settings that make builds differ from CI.
func doctorGo(ctx context.Context, e *doctorEnv) []doctorRow {
	if e.wsErr != nil {
		return e.repoFailed("go version")
	}
	ci := e.ws.ciToolchain()
	versionRow := doctorRow{Check: "go version", Expected: ci + " (go.work toolchain, as CI)"}
	g, err := e.readGoEnv(ctx)
	if err != nil {
		versionRow.Found, versionRow.Status = doctorErrLine(err), doctorFail
		versionRow.Fix = "install " + ci + " from https://go.dev/dl/ and put its bin directory on PATH"
		return []doctorRow{versionRow}
	}
	versionRow.Found = g.Version + " (" + g.Path + "); " + g.Toolchain.String()
	if len(g.Others) > 0 {
		versionRow.Found += "; also on PATH: " + strings.Join(g.Others, ", ")
	}
	_, _, workErr := selectToolchain(g.Version, g.Toolchain, "go.work", e.ws.Go, e.ws.Toolchain, e.hasGo)
	switch {
	case g.Version == ci:
		versionRow.Status = doctorOK
	case workErr != nil:
		versionRow.Status = doctorFail
		versionRow.Fix = doctorSideBySide(ci, g.Others) + ", or set GOTOOLCHAIN=auto; " + doctorGVMNote
	default:
		versionRow.Status = e.differs()
		versionRow.Fix = "to match CI exactly, " + doctorSideBySide(ci, g.Others) + "; " + doctorGVMNote
	}

	rows := []doctorRow{versionRow, doctorToolchainRow(e, g, "go.work", e.ws.Go, e.ws.Toolchain)}
	for _, m := range e.ws.otherModules() {
		if m.Err == nil && m.Go != "" {
			rows = append(rows, doctorToolchainRow(e, g, m.Dir, m.Go, m.Toolchain))
		}
	}
	return append(rows, doctorGoEnvRow(e, g))
}

// hasGo reports whether a go1.X.Y binary is on PATH, which GOTOOLCHAIN=path
// needs to switch.
func (e *doctorEnv) hasGo(name string) bool {
	_, err := doctorLookPath(e.environ, name)
	return err == nil
}

// doctorToolchainRow reports the toolchain selected for go.work (and so for
// every workspace module: their own toolchain lines do not apply there) or
// for a module outside it, which runs with GOWORK=off.
func doctorToolchainRow(e *doctorEnv, g doctorGoEnv, where, goLine, toolchainLine string) doctorRow {
	ci := e.ws.ciToolchain()
	file := "go.work"
	if where != "go.work" {
		file = where + "/go.mod"
	}
	row := doctorRow{Check: "toolchain " + where, Expected: ci}
	sel, why, err := selectToolchain(g.Version, g.Toolchain, file, goLine, toolchainLine, e.hasGo)
	switch {
	case err != nil:
		row.Found, row.Status = err.Error(), doctorFail
		row.Fix = "install " + ci + ", or set GOTOOLCHAIN=auto to let the go command fetch it; " + doctorGVMNote
	case sel != ci:
		row.Found, row.Status = why, e.differs()
		row.Fix = "CI runs " + ci + ": install it, or raise the toolchain line (go work edit -toolchain / go mod edit -toolchain)"
	default:
		row.Found, row.Status = why, doctorOK
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
func selectToolchain(local string, setting doctorGOTOOLCHAIN, file, goLine, toolchainLine string, hasGo func(string) bool) (string, string, error) {
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

// doctorGoEnvRow checks the go env settings that make a build differ from CI.
func doctorGoEnvRow(e *doctorEnv, g doctorGoEnv) doctorRow {
	row := doctorRow{
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
		row.Found, row.Status = "GOFLAGS="+g.Flags, doctorOK
		if g.Flags == "" {
			row.Found = "defaults, GOFLAGS empty"
		}
		return row
	}
	row.Found, row.Status = strings.Join(problems, "; "), e.differs()
	row.Fix = "unset them (go env -u NAME for go env -w settings): CI builds with the default module mode, verified checksums and the workspace's go.work"
	return row
}

// doctorWorkspace checks that every go.work module exists and resolves, and
// that `go work sync` would change no go.mod.
func doctorWorkspace(ctx context.Context, e *doctorEnv) []doctorRow {
	if e.wsErr != nil {
		return e.repoFailed("go.work modules")
	}
	work := e.ws.workModules()
	modules := doctorRow{
		Check:    "go.work modules",
		Expected: fmt.Sprintf("%d modules exist and resolve", len(work)),
	}
	var problems []string
	for _, m := range work {
		switch {
		case m.Err != nil:
			problems = append(problems, m.Dir+": "+doctorErrLine(m.Err))
		case version.Compare("go"+m.Go, "go"+e.ws.Go) > 0:
			problems = append(problems, fmt.Sprintf("%s: go %s > go.work go %s", m.Dir, m.Go, e.ws.Go))
		}
	}
	for _, m := range e.ws.otherModules() {
		if strings.HasPrefix(m.Dir, "services/") {
			problems = append(problems, m.Dir+" is not in go.work")
		}
	}
	out, err := e.goCommand(ctx, "go list -m (workspace)", ".", e.workEnviron(), "list", "-m", "-f", "{{.Path}}")
	if err != nil {
		problems = append(problems, "go list -m: "+doctorErrLine(err))
	} else {
		listed := strings.Fields(out)
		for _, m := range work {
			if m.Err == nil && !slices.Contains(listed, m.Path) {
				problems = append(problems, "go list -m misses "+m.Path)
			}
		}
	}
	if len(problems) == 0 {
		modules.Found, modules.Status = fmt.Sprintf("%d modules resolve (go list -m)", len(work)), doctorOK
	} else {
		modules.Found, modules.Status = strings.Join(problems, "; "), doctorFail
		modules.Fix = "go work use -r . adds modules and raises go.work's go line; restore or remove missing directories"
	}

	return []doctorRow{modules, doctorWorkSyncRow(ctx, e, work)}
}

// doctorWorkSyncRow checks that `go work sync` would be a no-op: that every
// requirement of every workspace module is at the version the workspace
// selects, so that a module built alone (GOWORK=off) gets what CI tested.
func doctorWorkSyncRow(ctx context.Context, e *doctorEnv, work []doctorModule) doctorRow {
	row := doctorRow{Check: "go work sync", Expected: "no-op: go.mod versions = workspace build list"}
	out, err := e.goCommand(ctx, "go list -m all (workspace)", ".", e.workEnviron(), "list", "-m", "-f", "{{.Path}} {{.Version}}", "all")
	if err != nil {
		row.Found, row.Status = "go list -m all: "+doctorErrLine(err), doctorFail
		row.Fix = "run go list -m all in the root for the whole error (a missing module, or a go.sum line)"
		return row
	}
	selected := map[string]string{}
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			selected[f[0]] = f[1]
		}
	}
	var behind []string
	changed := map[string]bool{}
	for _, m := range work {
		for _, r := range m.Require {
			if v, ok := selected[r.Path]; ok && semver.Compare(v, r.Version) > 0 {
				behind = append(behind, fmt.Sprintf("%s: %s %s → %s", m.Dir, r.Path, r.Version, v))
				changed[m.Dir] = true
			}
		}
	}
	if len(behind) == 0 {
		row.Found, row.Status = "in sync", doctorOK
		return row
	}
	const shown = 3
	found := fmt.Sprintf("%d requirements behind in %d modules: %s", len(behind), len(changed), strings.Join(behind[:min(shown, len(behind))], "; "))
	if len(behind) > shown {
		found += "; …"
	}
	row.Found, row.Status = found, doctorWarn
	row.Fix = "go work sync, then review the go.mod diffs: the workspace already builds with the newer versions, a module built alone would not"
	return row
}

// doctorVerify runs `go mod verify` where CI does: in the workspace and in
// every module outside it that is not a tool module (tools/gen, tools/lint),
// whose dependencies the tools check builds instead. It is the slowest
// check: it hashes every module the build list holds.
func doctorVerify(ctx context.Context, e *doctorEnv) []doctorRow {
	if e.wsErr != nil {
		return e.repoFailed("go mod verify")
	}
	type target struct {
		name, dir string
		environ   []string
	}
	targets := []target{{"workspace", ".", e.workEnviron()}}
	for _, m := range e.ws.otherModules() {
		if len(m.Tools) > 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join(e.root, filepath.FromSlash(m.Dir), "go.sum")); err == nil {
			targets = append(targets, target{m.Dir, m.Dir, e.moduleEnviron()})
		}
	}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			_, errs[i] = e.goCommand(ctx, "go mod verify ("+t.name+")", t.dir, t.environ, "mod", "verify")
		})
	}
	wg.Wait()

	var names, problems []string
	for i, t := range targets {
		names = append(names, t.name)
		if errs[i] != nil {
			problems = append(problems, t.name+": "+doctorErrLine(errs[i]))
		}
	}
	row := doctorRow{Check: "go mod verify", Expected: "module cache matches go.sum"}
	if len(problems) == 0 {
		row.Found, row.Status = "all verified: "+strings.Join(names, ", "), doctorOK
		return []doctorRow{row}
	}
	row.Found, row.Status = strings.Join(problems, "; "), doctorFail
	row.Fix = "go clean -modcache, then go mod download; if a hash still differs, find out why before touching go.sum"
	return []doctorRow{row}
}

// doctorToolName is the name `go tool` knows a tool by: the last element of its
// package path that is not a major version suffix.
func doctorToolName(pkg string) string {
	elems := strings.Split(pkg, "/")
	for i := len(elems) - 1; i > 0; i-- {
		if v := elems[i]; len(v) < 2 || v[0] != 'v' || strings.Trim(v[1:], "0123456789") != "" {
			return v
		}
	}
	return elems[0]
}

// doctorTools checks that every tool a go.mod pins builds through `go tool
// -n`, which prints the tool's path without running it (building it into the
// build cache on first use). Workspace tools run in the workspace, the
// others with GOWORK=off in their module, as the Makefile runs them.
func doctorTools(ctx context.Context, e *doctorEnv) []doctorRow {
	if e.wsErr != nil {
		return e.repoFailed("go tool")
	}
	var mods []doctorModule
	for _, m := range e.ws.Modules {
		if m.Err == nil && len(m.Tools) > 0 {
			mods = append(mods, m)
		}
	}
	rows := make([]doctorRow, len(mods))
	var wg sync.WaitGroup
	for i, m := range mods {
		wg.Go(func() { rows[i] = doctorToolsRow(ctx, e, m) })
	}
	wg.Wait()
	return rows
}

func doctorToolsRow(ctx context.Context, e *doctorEnv, m doctorModule) doctorRow {
	dir, environ, prefix := ".", e.workEnviron(), "go tool"
	if !m.InWork {
		dir, environ, prefix = m.Dir, e.moduleEnviron(), "GOWORK=off go tool"
	}
	names := make([]string, len(m.Tools))
	for i, t := range m.Tools {
		names[i] = doctorToolName(t)
	}
	row := doctorRow{Check: "go tool (" + m.Dir + ")", Expected: fmt.Sprintf("its %d pinned tools build", len(names))}
	if len(names) == 1 {
		row.Expected = "its pinned tool builds"
	}
	var problems []string
	for i, t := range m.Tools {
		// One at a time per module: a first build of each is CPU-bound.
		if _, err := e.goCommand(ctx, "build tool "+names[i]+" ("+m.Dir+")", dir, environ, "tool", "-n", t); err != nil {
			problems = append(problems, names[i]+": "+doctorErrLine(err))
		}
	}
	if len(problems) == 0 {
		sorted := slices.Sorted(slices.Values(names))
		row.Found, row.Status = prefix+" builds "+strings.Join(sorted, ", "), doctorOK
		return row
	}
	row.Found, row.Status = strings.Join(problems, "; "), doctorFail
	row.Fix = fmt.Sprintf("cd %s && %s <name> shows the whole error; go mod download fetches missing modules", m.Dir, prefix)
	return row
}

// doctorProtoc reports protoc, which nothing requires: buf compiles protos itself.
func doctorProtoc(ctx context.Context, e *doctorEnv) []doctorRow {
	row := doctorRow{Check: "protoc", Expected: "optional (buf compiles .proto itself)"}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := e.run(ctx, e.root, e.environ, "protoc", "--version")
	if err != nil {
		row.Found, row.Status = doctorErrLine(err), doctorWarn
		row.Fix = "nothing to do for make gen; install protoc only for tools outside Slipway"
		return []doctorRow{row}
	}
	row.Found, row.Status = doctorFirstLine(out), doctorOK
	return []doctorRow{row}
}

// doctorDocker checks for a Docker engine and the compose plugin; neither is
// needed to build, test or run Slipway, so both only WARN.
func doctorDocker(ctx context.Context, e *doctorEnv) []doctorRow {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	engine := doctorRow{Check: "docker engine", Expected: "a running Docker engine"}
	out, err := e.run(ctx, e.root, e.environ, "docker", "version", "--format", "{{.Server.Version}}")
	if v := doctorFirstLine(out); err == nil && v != "" {
		engine.Found, engine.Status = "Docker "+v, doctorOK
	} else {
		engine.Found, engine.Status = "no Docker engine", doctorWarn
		if err != nil {
			engine.Found += ": " + doctorErrLine(err)
		}
		engine.Fix = "start a Docker engine to build images (make images); without one, make test-deploy still checks the Dockerfile and compose files"
	}
	compose := doctorRow{Check: "docker compose", Expected: "the compose v2 plugin"}
	out, err = e.run(ctx, e.root, e.environ, "docker", "compose", "version")
	if v := doctorFirstLine(out); err == nil && v != "" {
		compose.Found, compose.Status = v, doctorOK
	} else {
		compose.Found, compose.Status = "no compose plugin", doctorWarn
		if err != nil {
			compose.Found += ": " + doctorErrLine(err)
		}
		compose.Fix = "install the docker-compose-plugin package to run deploy/compose"
	}
	return []doctorRow{engine, compose}
}

// doctorPort is a port a Slipway process listens on by default.
type doctorPort struct {
	Port int
	Use  string // "order HTTP"
}

// doctorConsolePort is where the console listens (docs/architecture.md, "Console").
const doctorConsolePort = 8080

func defaultDoctorPorts() []doctorPort {
	var ports []doctorPort
	for _, s := range workspace.Known {
		ports = append(ports, doctorPort{s.GRPCPort, s.Name + " gRPC"})
	}
	for _, s := range workspace.Known {
		ports = append(ports, doctorPort{s.HTTPPort, s.Name + " HTTP"})
	}
	return append(ports, doctorPort{doctorConsolePort, "console"})
}

// doctorPortRanges renders ports as "50051-50054, 8081-8084, 8080", in list order.
func doctorPortRanges(ports []doctorPort) string {
	var parts []string
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1].Port == ports[j].Port+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ports[i].Port, ports[j].Port))
		} else {
			parts = append(parts, strconv.Itoa(ports[i].Port))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// doctorPorts binds every port on all interfaces, as compose publishes them;
// that also fails when something holds the port on loopback only. A port
// held only by closed connections in TIME_WAIT WARNs: it frees by itself.
func doctorPorts(ctx context.Context, e *doctorEnv) []doctorRow {
	row := doctorRow{Check: "ports", Expected: "free: " + doctorPortRanges(e.ports)}
	var held, waiting []string
	for _, p := range e.ports {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", ":"+strconv.Itoa(p.Port))
		if err == nil {
			_ = ln.Close()
			continue
		}
		port := fmt.Sprintf("%d (%s)", p.Port, p.Use)
		if !errors.Is(err, syscall.EADDRINUSE) {
			held = append(held, port+" cannot be bound: "+err.Error())
			continue
		}
		switch h := doctorPortHolder(p.Port); {
		case h.timeWait:
			waiting = append(waiting, port+" in use by a closed connection in TIME_WAIT, which took it as its ephemeral port")
		case h.name != "":
			held = append(held, port+" in use by "+h.name)
		default:
			held = append(held, port+" in use")
		}
	}
	row.Found = strings.Join(slices.Concat(held, waiting), "; ")
	switch {
	case len(held) > 0:
		row.Status = doctorFail
		row.Fix = "stop what holds them (make run still running?), or move the services: slipway dev --grpc-port-base N --http-port-base M"
	case len(waiting) > 0:
		row.Status = doctorWarn
		row.Fix = "wait a minute: TIME_WAIT ends by itself (the default ports lie in Linux's ephemeral range, 32768-60999)"
	default:
		row.Found, row.Status = fmt.Sprintf("all %d free", len(e.ports)), doctorOK
	}
	return []doctorRow{row}
}

// doctorHolder is what holds a TCP port, as far as /proc tells on Linux.
type doctorHolder struct {
	name     string // "pid 42 (inventory)", or "a connection of pid 42 (psql)"; "" unknown
	timeWait bool   // only connections in TIME_WAIT hold it
}

// doctorPortHolder reads /proc/net/tcp{,6} for the sockets bound to port and
// /proc/<pid>/fd for the process owning one; a listener wins over a
// connection that took the port as its ephemeral port.
func doctorPortHolder(port int) doctorHolder {
	const listen, timeWait = "0A", "06"
	listeners, conns := map[string]bool{}, map[string]bool{}
	waiting := false
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(name) //nolint:gosec // G304: one of the two /proc files above
		if err != nil {
			continue
		}
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		for line := range strings.SplitSeq(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); err != nil || int(p) != port {
				continue
			}
			switch socket := "socket:[" + f[9] + "]"; {
			case f[3] == listen:
				listeners[socket] = true
			case f[3] == timeWait:
				waiting = true
			case f[9] != "0":
				conns[socket] = true
			}
		}
	}
	if len(listeners) == 0 && len(conns) == 0 {
		return doctorHolder{timeWait: waiting}
	}
	var conn string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || (!listeners[link] && !conns[link]) {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
			proc := fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm)))
			if listeners[link] {
				return doctorHolder{name: proc}
			}
			conn = "a connection of " + proc
		}
	}
	return doctorHolder{name: conn}
}

// doctorProbe is the outcome of probing one server.
type doctorProbe struct {
	addr   string
	detail string // what answered: "nats-server 2.11.0, JetStream"
	warn   string // it answered, but something is off
	err    error  // it did not answer as it should
}

// doctorProbeAll probes every address concurrently.
func doctorProbeAll(ctx context.Context, addrs []string, probe func(ctx context.Context, addr string) doctorProbe) []doctorProbe {
	checks := make([]doctorProbe, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() { checks[i] = probe(ctx, addr) })
	}
	wg.Wait()
	return checks
}

// doctorProbesRow completes row from the probes of a configured service: FAIL
// when none answers, WARN when some do not or something is off, else OK.
func doctorProbesRow(row doctorRow, checks []doctorProbe, fix string) doctorRow {
	var failed, warned, answered []string
	for _, c := range checks {
		switch {
		case c.err != nil:
			failed = append(failed, c.addr+": "+doctorErrLine(c.err))
		case c.warn != "":
			warned = append(warned, c.addr+": "+c.warn)
		default:
			answered = append(answered, c.addr+": "+c.detail)
		}
	}
	row.Found = strings.Join(slices.Concat(failed, warned, answered), "; ")
	switch {
	case len(failed) == len(checks):
		row.Status = doctorFail
	case len(failed)+len(warned) > 0:
		row.Status = doctorWarn
	default:
		row.Status = doctorOK
		return row
	}
	row.Fix = fix
	return row
}

// doctorServerAddr is the host:port of one server URL ("nats://host:4222", or a
// bare "host" or "host:port"), with defaultPort when it names none. Its
// errors never repeat the URL, which may hold a password.
func doctorServerAddr(raw, defaultPort string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "tcp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "", errors.New("not a URL with a host")
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

func doctorDial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if op := (*net.OpError)(nil); errors.As(err, &op) {
		return nil, op.Err // the row names the address already
	}
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	return conn, nil
}

// doctorNotConfigured is the FOUND text of a service left to its embedded default.
func doctorNotConfigured(def string) string { return "not configured (embedded default: " + def + ")" }

// doctorPostgres pings PostgreSQL when DATABASE_URL names it, with the
// URL's credentials, as the services will connect.
func doctorPostgres(ctx context.Context, e *doctorEnv) []doctorRow {
	row := doctorRow{Check: "PostgreSQL", Expected: "answers at DATABASE_URL, when postgres://"}
	raw := e.getenv("DATABASE_URL")
	scheme, _, _ := strings.Cut(raw, "://")
	switch {
	case raw == "":
		row.Found, row.Status = doctorNotConfigured("SQLite"), doctorOK
	case scheme == "sqlite":
		row.Found, row.Status = doctorNotConfigured("SQLite, as DATABASE_URL says"), doctorOK
	case scheme == "postgres" || scheme == "postgresql":
		row = doctorProbesRow(row, []doctorProbe{doctorPingPostgres(ctx, raw, e.timeout)},
			"start PostgreSQL and create the database and role DATABASE_URL names, or unset DATABASE_URL to use SQLite")
	default:
		row.Found, row.Status = fmt.Sprintf("DATABASE_URL scheme %q", scheme), doctorFail
		row.Fix = "the services accept sqlite://path or postgres://user:password@host:5432/db"
	}
	return []doctorRow{row}
}

func doctorPingPostgres(ctx context.Context, raw string, timeout time.Duration) doctorProbe {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		// pgx's parse errors mask the password.
		return doctorProbe{addr: "DATABASE_URL", err: err}
	}
	cfg.ConnectTimeout = timeout
	c := doctorProbe{addr: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		c.err = err
		return c
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if err := conn.Ping(ctx); err != nil {
		c.err = err
		return c
	}
	c.detail = "PostgreSQL " + conn.PgConn().ParameterStatus("server_version")
	return c
}

// doctorNATS reads the INFO line every NATS server sends on connect, from
// each server NATS_URL lists.
func doctorNATS(ctx context.Context, e *doctorEnv) []doctorRow {
	row := doctorRow{Check: "NATS", Expected: "answers at NATS_URL, when set"}
	raw := e.getenv("NATS_URL")
	if strings.TrimSpace(raw) == "" {
		row.Found, row.Status = doctorNotConfigured("slipway dev runs NATS itself"), doctorOK
		return []doctorRow{row}
	}
	var addrs []string
	var bad []doctorProbe
	for i, s := range strings.Split(raw, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		addr, err := doctorServerAddr(s, "4222")
		if err != nil {
			bad = append(bad, doctorProbe{addr: fmt.Sprintf("NATS_URL entry %d", i+1), err: err})
			continue
		}
		addrs = append(addrs, addr)
	}
	checks := doctorProbeAll(ctx, addrs, func(ctx context.Context, addr string) doctorProbe {
		return doctorProbeNATS(ctx, addr, e.timeout)
	})
	return []doctorRow{doctorProbesRow(row, slices.Concat(bad, checks),
		"start nats-server -js (JetStream on), fix NATS_URL, or unset it to use the NATS that slipway dev embeds")}
}

func doctorProbeNATS(ctx context.Context, addr string, timeout time.Duration) doctorProbe {
	c := doctorProbe{addr: addr}
	conn, err := doctorDial(ctx, addr, timeout)
	if err != nil {
		c.err = err
		return c
	}
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		c.err = fmt.Errorf("no INFO line from the server: %w", err)
		return c
	}
	payload, ok := strings.CutPrefix(line, "INFO ")
	if !ok {
		c.err = fmt.Errorf("not a NATS server: it sent %q", doctorCell(strings.TrimSpace(line)))
		return c
	}
	var info struct {
		Version   string `json:"version"`
		JetStream bool   `json:"jetstream"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(payload)), &info); err != nil {
		c.err = fmt.Errorf("not a NATS server: its INFO is not JSON: %w", err)
		return c
	}
	switch {
	case info.Version == "":
		c.detail = "NATS INFO"
	case info.JetStream:
		c.detail = "nats-server " + info.Version + ", JetStream"
	default:
		// The server leaves "jetstream" out when it is off.
		c.warn = "nats-server " + info.Version + " without JetStream, which the outbox relay and consumers need"
	}
	return c
}

// doctorRedis sends PING (after AUTH when the URL has a password) to the
// server REDIS_URL names.
func doctorRedis(ctx context.Context, e *doctorEnv) []doctorRow {
	row := doctorRow{Check: "Redis", Expected: "answers PING at REDIS_URL, when set"}
	raw := strings.TrimSpace(e.getenv("REDIS_URL"))
	if raw == "" {
		row.Found, row.Status = doctorNotConfigured("in-memory cache"), doctorOK
		return []doctorRow{row}
	}
	return []doctorRow{doctorProbesRow(row, []doctorProbe{doctorPingRedis(ctx, raw, e.timeout)},
		"start Redis, fix REDIS_URL (redis://[:password@]host:6379), or unset it to cache in memory")}
}

func doctorPingRedis(ctx context.Context, raw string, timeout time.Duration) doctorProbe {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return doctorProbe{addr: "REDIS_URL", err: errors.New("want redis://[user:password@]host[:port][/db] or rediss://")}
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	c := doctorProbe{addr: net.JoinHostPort(u.Hostname(), port)}
	conn, err := doctorDial(ctx, c.addr, timeout)
	if err != nil {
		c.err = err
		return c
	}
	defer conn.Close()
	if u.Scheme == "rediss" {
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.err = fmt.Errorf("TLS: %w", err)
			return c
		}
		conn = tc
	}
	r := bufio.NewReader(conn)
	if password, ok := u.User.Password(); ok {
		args := []string{"AUTH", password}
		if name := u.User.Username(); name != "" {
			args = []string{"AUTH", name, password}
		}
		if reply, err := doctorRedisCall(conn, r, args...); err != nil || reply != "+OK" {
			c.err = doctorRedisError("AUTH", reply, err)
			return c
		}
	}
	reply, err := doctorRedisCall(conn, r, "PING")
	if err != nil || reply != "+PONG" {
		c.err = doctorRedisError("PING", reply, err)
		return c
	}
	c.detail = "PONG"
	return c
}

// doctorRedisCall sends one command in RESP and reads the first line of the reply.
func doctorRedisCall(w io.Writer, r *bufio.Reader, args ...string) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

func doctorRedisError(cmd, reply string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: no reply: %w", cmd, err)
	}
	return fmt.Errorf("%s: the server said %q", cmd, doctorCell(reply))
}

// doctorEtcd connects to every etcd endpoint DISCOVERY=etcd://... lists.
func doctorEtcd(ctx context.Context, e *doctorEnv) []doctorRow {
	row := doctorRow{Check: "etcd", Expected: "answers at DISCOVERY=etcd://..., when set"}
	raw := strings.TrimSpace(e.getenv("DISCOVERY"))
	list, isEtcd := strings.CutPrefix(raw, "etcd://")
	switch {
	case raw == "" || raw == "static":
		row.Found, row.Status = doctorNotConfigured("static addresses"), doctorOK
		return []doctorRow{row}
	case !isEtcd:
		row.Found, row.Status = fmt.Sprintf("DISCOVERY=%q", raw), doctorFail
		row.Fix = `want "static" or "etcd://host:port[,host:port...]"`
		return []doctorRow{row}
	}
	var addrs []string
	var bad []doctorProbe
	for ep := range strings.SplitSeq(strings.TrimSuffix(list, "/"), ",") {
		ep = strings.TrimSpace(ep)
		if _, _, err := net.SplitHostPort(ep); err != nil || ep == "" {
			bad = append(bad, doctorProbe{addr: fmt.Sprintf("%q", ep), err: errors.New("not host:port")})
			continue
		}
		addrs = append(addrs, ep)
	}
	checks := doctorProbeAll(ctx, addrs, func(ctx context.Context, addr string) doctorProbe {
		conn, err := doctorDial(ctx, addr, e.timeout)
		if err != nil {
			return doctorProbe{addr: addr, err: err}
		}
		_ = conn.Close()
		return doctorProbe{addr: addr, detail: "accepts connections"}
	})
	return []doctorRow{doctorProbesRow(row, slices.Concat(bad, checks),
		"start etcd (its client port, 2379), fix DISCOVERY, or unset it for static addresses")}
}

// Free disk space thresholds: builds, the module cache and the build cache
// need a few GiB.
const (
	doctorDiskWarn = 5 << 30
	doctorDiskFail = 1 << 30
)

// doctorDisk checks the free space of the filesystem holding the workspace.
func doctorDisk(_ context.Context, e *doctorEnv) []doctorRow {
	free, err := doctorFreeSpace(e.root)
	return []doctorRow{doctorDiskRow(e.root, free, err)}
}

func doctorDiskRow(path string, free uint64, err error) doctorRow {
	row := doctorRow{Check: "disk space", Expected: "≥ 5 GiB free where the workspace is"}
	if err != nil {
		row.Found, row.Status = "cannot tell: "+doctorErrLine(err), doctorWarn
		return row
	}
	row.Found = fmt.Sprintf("%.1f GiB free on %s", float64(free)/(1<<30), path)
	switch {
	case free < doctorDiskFail:
		row.Status = doctorFail
	case free < doctorDiskWarn:
		row.Status = doctorWarn
	default:
		row.Status = doctorOK
		return row
	}
	row.Fix = "free space: go clean -cache empties the build cache, make clean removes .slipway"
	return row
}
