package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// scanVulnDBEnv names the vulnerability database when --db is not given.
const scanVulnDBEnv = "SLIPWAY_VULNDB"

// How far govulncheck traced a finding, in increasing order: the module is
// in the build, a vulnerable package is imported, a vulnerable symbol is
// reachable from the module's code. --fail-on names the lowest that fails.
const (
	scanRequired = iota + 1
	scanImported
	scanCalled
)

var scanReachNames = map[int]string{scanRequired: "required", scanImported: "imported", scanCalled: "called"}

// scanFailOn maps --fail-on values (govulncheck's scan levels) to reaches.
var scanFailOn = map[string]int{"module": scanRequired, "package": scanImported, "symbol": scanCalled}

// scanOptions are the inputs of runScan.
type scanOptions struct {
	Root     string   // workspace root; "" walks up from the working directory to go.work
	DB       string   // vulnerability database: file:// URL or directory
	Modules  []string // module dirs relative to Root or module paths; empty: every module of go.work
	Services []string // services to write SBOMs for; empty: every one that exists
	SBOMDir  string   // "" is <root>/.slipway/sbom
	NoSBOM   bool
	FailOn   string // symbol (default), package or module
	JSON     bool
	Stdout   io.Writer
	Progress io.Writer // module by module progress and timings; nil: nowhere
	Environ  []string  // environment of the go commands; nil is os.Environ()
}

// scanFinding is one advisory found in one workspace module; the rows of the
// report. govulncheck's findings for the same advisory are merged into it.
type scanFinding struct {
	Module     string   `json:"module"`      // the scanned module, as its directory relative to the root
	ModulePath string   `json:"module_path"` // and as its module path
	OSV        string   `json:"osv"`
	Summary    string   `json:"summary,omitempty"`
	Aliases    []string `json:"aliases,omitempty"`
	URL        string   `json:"url,omitempty"`
	Affected   string   `json:"affected_module"` // the vulnerable module; "stdlib" or "toolchain" for Go itself
	Version    string   `json:"version"`         // its version in the build
	Fixed      string   `json:"fixed_version,omitempty"`
	Reach      string   `json:"reach"`              // called, imported or required
	Packages   []string `json:"packages,omitempty"` // vulnerable packages imported
	Symbols    []string `json:"symbols,omitempty"`  // vulnerable symbols called
	// CallSites are where workspace code calls into the vulnerable code,
	// as file:line relative to the workspace root.
	CallSites []string `json:"call_sites,omitempty"`
	reach     int
}

// scanModule is the outcome of govulncheck on one module.
type scanModule struct {
	Dir      string  `json:"dir"`
	Path     string  `json:"path"`
	Findings int     `json:"findings"`
	Called   int     `json:"called"`
	Seconds  float64 `json:"seconds"`
	Error    string  `json:"error,omitempty"`
}

// scanSBOM is one CycloneDX SBOM written.
type scanSBOM struct {
	Service     string  `json:"service"`
	Path        string  `json:"path"`
	SpecVersion string  `json:"spec_version"`
	Components  int     `json:"components"`
	Seconds     float64 `json:"seconds"`
}

// scanReport is what runScan reports; it is also the --json document.
type scanReport struct {
	DB         string        `json:"db"`
	DBModified *time.Time    `json:"db_modified,omitempty"`
	Scanner    string        `json:"scanner,omitempty"`
	GoVersion  string        `json:"go_version,omitempty"`
	FailOn     string        `json:"fail_on"`
	Failed     bool          `json:"failed"` // a finding at or above fail_on
	Modules    []scanModule  `json:"modules"`
	Findings   []scanFinding `json:"findings"`
	SBOMs      []scanSBOM    `json:"sboms,omitempty"`
	Errors     []string      `json:"errors,omitempty"`
	Seconds    float64       `json:"seconds"`
}

func scanMain(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "scan", "--db file:///dir [--modules list] [--fail-on symbol|package|module] [--sbom dir | --no-sbom] [--json]",
		"Runs govulncheck (pinned in tools/slipway/go.mod) over every module of go.work against a local\n"+
			"copy of the Go vulnerability database and prints one row per module and advisory: the\n"+
			"affected module@version, the fixed version, and whether a vulnerable symbol is called, a\n"+
			"vulnerable package only imported, or the module only required. Exits 1 when a vulnerable\n"+
			"symbol is called (--fail-on=package: also when imported; --fail-on=module: any finding).\n"+
			"Then builds every service into a temporary directory and writes a CycloneDX SBOM of each\n"+
			"binary to --sbom (cyclonedx-gomod bin, pinned in tools/gen/go.mod).\n\n"+
			"The database is a directory in the format of https://go.dev/security/vuln/database\n"+
			"(index/db.json, index/modules.json, index/vulns.json, ID/<id>.json). Refresh it where there\n"+
			"is internet with the bulk download of vuln.go.dev, then scan offline:\n\n"+
			"  curl -fsSL -o /tmp/vulndb.zip https://vuln.go.dev/vulndb.zip\n"+
			"  rm -rf .slipway/vulndb && mkdir -p .slipway/vulndb && unzip -q /tmp/vulndb.zip -d .slipway/vulndb\n"+
			"  export SLIPWAY_VULNDB=file://$PWD/.slipway/vulndb\n"+
			"  slipway scan")
	opts := scanOptions{Stdout: env.Stdout, Progress: env.Stderr, Environ: env.Environ}
	var modules, services string
	fs.StringVar(&opts.DB, "db", "", "vulnerability database, a `file:///dir` URL or a directory (default $"+scanVulnDBEnv+")")
	fs.StringVar(&modules, "modules", "", "comma-separated `list` of modules to scan, as directories (platform, services/order) or module paths (default: every module of go.work)")
	fs.StringVar(&opts.FailOn, "fail-on", "symbol", "`level` that fails: symbol (a vulnerable symbol is called), package (also imported) or module (any finding)")
	fs.StringVar(&opts.SBOMDir, "sbom", "", "write the SBOMs, <svc>.cdx.json, to this `dir` (default .slipway/sbom of the workspace)")
	fs.BoolVar(&opts.NoSBOM, "no-sbom", false, "skip the service builds and the SBOMs")
	fs.StringVar(&services, "services", "", "comma-separated `list` of services to write SBOMs for (default: every one that exists)")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")
	fs.BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if opts.DB == "" {
		opts.DB = env.Getenv(scanVulnDBEnv)
	}
	opts.Modules = scanSplitList(modules)
	opts.Services = scanSplitList(services)
	return runScan(ctx, opts)
}

func scanSplitList(s string) []string {
	var list []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	return list
}

// runScan scans the selected modules for known vulnerabilities, writes the
// SBOMs and reports both. It returns an error when a finding reaches
// --fail-on, a scan could not run or an SBOM could not be written.
func runScan(ctx context.Context, opts scanOptions) error {
	start := time.Now()
	if opts.FailOn == "" {
		opts.FailOn = "symbol"
	}
	failOn, ok := scanFailOn[opts.FailOn]
	if !ok {
		return cli.UsageErrorf("--fail-on %q: want symbol, package or module", opts.FailOn)
	}
	if opts.NoSBOM && (opts.SBOMDir != "" || len(opts.Services) > 0) {
		return cli.UsageErrorf("--no-sbom excludes --sbom and --services")
	}
	for _, s := range opts.Services {
		if !slices.ContainsFunc(workspace.Known, func(d workspace.Service) bool { return d.Name == s }) {
			return cli.UsageErrorf("unknown service %q in --services (known: %s)", s, strings.Join(workspace.Names(workspace.Known), ", "))
		}
	}
	dbURL, err := scanDatabaseURL(opts.DB)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	root, err := scanRoot(opts.Root)
	if err != nil {
		return err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go command: %w", err)
	}
	// Every go command runs in the workspace, whatever GOWORK the caller has.
	environ := envvar.Set(opts.Environ, "GOWORK", filepath.Join(root, "go.work"))

	modules, err := scanWorkspaceModules(ctx, goBin, root, environ)
	if err != nil {
		return err
	}
	selected, err := scanSelectModules(modules, opts.Modules)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	var defs []workspace.Service
	if !opts.NoSBOM {
		if defs, err = workspace.Select(root, opts.Services); err != nil {
			return err
		}
	}

	rep := scanReport{DB: dbURL, FailOn: opts.FailOn, Findings: []scanFinding{}}
	fmt.Fprintf(opts.Progress, "scan: %d module(s) of %s against %s\n", len(selected), filepath.Join(root, "go.work"), dbURL)
	for i, m := range selected {
		if ctx.Err() != nil {
			break
		}
		tag := fmt.Sprintf("[%d/%d] %s", i+1, len(selected), m.Dir)
		fmt.Fprintf(opts.Progress, "scan: %s: govulncheck ./... (%s)\n", tag, m.Path)
		res, findings, err := scanModuleVulns(ctx, goBin, environ, dbURL, m, modules, &rep, func(msg string, took time.Duration) {
			fmt.Fprintf(opts.Progress, "scan: %s: %s (%s)\n", tag, msg, report.Seconds(took))
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			res.Error = err.Error()
			rep.Errors = append(rep.Errors, fmt.Sprintf("govulncheck in %s: %v", m.Dir, err))
			fmt.Fprintf(opts.Progress, "scan: %s: failed after %.2fs: %v\n", tag, res.Seconds, err)
		} else {
			fmt.Fprintf(opts.Progress, "scan: %s: %d finding(s), %d called, in %.2fs\n", tag, res.Findings, res.Called, res.Seconds)
		}
		rep.Modules = append(rep.Modules, res)
		rep.Findings = append(rep.Findings, findings...)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	rep.Failed = scanFails(rep.Findings, failOn)

	if len(defs) > 0 {
		sbomDir := opts.SBOMDir
		if sbomDir == "" {
			sbomDir = filepath.Join(root, ".slipway", "sbom")
		}
		sboms, err := scanWriteSBOMs(ctx, goBin, root, environ, workspace.Names(defs), sbomDir, opts.Progress)
		rep.SBOMs = sboms
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			rep.Errors = append(rep.Errors, err.Error())
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(opts.Progress, "scan: done in %.2fs\n", rep.Seconds)

	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printScan(opts.Stdout, rep, root)
	}

	var problems []string
	if rep.Failed {
		problems = append(problems, scanFailure(rep.Findings, failOn))
	}
	problems = append(problems, rep.Errors...)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// scanRoot is the workspace root: dir, or the nearest parent of the working
// directory that holds go.work.
func scanRoot(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return workspace.FindRoot(wd)
}

// scanDatabaseURL checks that db names a local vulnerability database and
// returns it as the file:// URL govulncheck takes.
func scanDatabaseURL(db string) (string, error) {
	if db == "" {
		return "", fmt.Errorf("--db is required (or set %s): a local copy of the Go vulnerability database as file:///dir; 'slipway help scan' shows how to fetch one", scanVulnDBEnv)
	}
	dir := db
	if strings.Contains(db, "://") {
		u, err := url.Parse(db)
		if err != nil {
			return "", fmt.Errorf("--db %q: %w", db, err)
		}
		if u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") {
			return "", fmt.Errorf("--db %q: want a local database, file:///absolute/dir (the scan runs offline)", db)
		}
		dir = filepath.FromSlash(u.Path)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	// govulncheck recognises the v1 format by index/modules.json; without
	// it the error would be a vague "unrecognized vulndb format".
	if _, err := os.Stat(filepath.Join(dir, "index", "modules.json")); err != nil {
		return "", fmt.Errorf("--db %s is not a Go vulnerability database: no index/modules.json there ('slipway help scan' shows how to fetch one)", dir)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String(), nil
}

// scanWorkspaceModule is one module of go.work.
type scanWorkspaceModule struct {
	Path string // module path
	Dir  string // relative to the workspace root, with slashes
	Abs  string
}

// scanWorkspaceModules lists the modules of go.work, in its order.
func scanWorkspaceModules(ctx context.Context, goBin, root string, environ []string) ([]scanWorkspaceModule, error) {
	cmd := exec.CommandContext(ctx, goBin, "list", "-m", "-json")
	cmd.Dir, cmd.Env = root, environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var mods []scanWorkspaceModule
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var m struct{ Path, Dir string }
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list -m: %w", err)
		}
		rel, err := filepath.Rel(root, m.Dir)
		if err != nil {
			return nil, err
		}
		mods = append(mods, scanWorkspaceModule{Path: m.Path, Dir: filepath.ToSlash(rel), Abs: m.Dir})
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("no modules in %s", filepath.Join(root, "go.work"))
	}
	return mods, nil
}

// scanSelectModules picks the modules named by dir or path; none named is all.
func scanSelectModules(all []scanWorkspaceModule, names []string) ([]scanWorkspaceModule, error) {
	if len(names) == 0 {
		return all, nil
	}
	var picked []scanWorkspaceModule
	for _, n := range names {
		n = strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(n), "./"), "/")
		i := slices.IndexFunc(all, func(m scanWorkspaceModule) bool { return m.Dir == n || m.Path == n })
		if i < 0 {
			dirs := make([]string, len(all))
			for j, m := range all {
				dirs[j] = m.Dir
			}
			return nil, fmt.Errorf("--modules: %q is not a module of go.work (modules: %s)", n, strings.Join(dirs, ", "))
		}
		if !slices.Contains(picked, all[i]) {
			picked = append(picked, all[i])
		}
	}
	return picked, nil
}

// govulncheck's streaming JSON (golang.org/x/vuln/internal/govulncheck):
// one message per object, each with exactly one field set.
type scanMessage struct {
	Config *struct {
		ScannerName    string     `json:"scanner_name"`
		ScannerVersion string     `json:"scanner_version"`
		DBLastModified *time.Time `json:"db_last_modified"`
		GoVersion      string     `json:"go_version"`
	} `json:"config"`
	Progress *struct {
		Message string `json:"message"`
	} `json:"progress"`
	OSV *struct {
		ID               string   `json:"id"`
		Summary          string   `json:"summary"`
		Aliases          []string `json:"aliases"`
		DatabaseSpecific struct {
			URL string `json:"url"`
		} `json:"database_specific"`
	} `json:"osv"`
	Finding *struct {
		OSV          string      `json:"osv"`
		FixedVersion string      `json:"fixed_version"`
		Trace        []scanFrame `json:"trace"`
	} `json:"finding"`
}

// scanFrame is one frame of a finding's trace, the vulnerable code first.
type scanFrame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"` // relative to the frame's module directory
		Line     int    `json:"line"`
	} `json:"position"`
}

// scanModuleVulns runs govulncheck on one module, reporting its progress
// messages, and returns the module's findings merged per advisory. It fills
// in the scanner and database fields of rep from the stream's config.
func scanModuleVulns(ctx context.Context, goBin string, environ []string, dbURL string, m scanWorkspaceModule,
	workspace []scanWorkspaceModule, rep *scanReport, progress func(msg string, took time.Duration),
) (scanModule, []scanFinding, error) {
	res := scanModule{Dir: m.Dir, Path: m.Path}
	start := time.Now()

	cmd := exec.CommandContext(ctx, goBin, "tool", "govulncheck", "-db", dbURL, "-format", "json", "./...")
	cmd.Dir, cmd.Env = m.Abs, environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, nil, err
	}
	if err := cmd.Start(); err != nil {
		return res, nil, err
	}
	findings, decodeErr := scanDecode(stdout, m, workspace, rep, func(msg string) { progress(msg, time.Since(start)) })
	_, _ = io.Copy(io.Discard, stdout) // let govulncheck finish writing even if decoding failed
	waitErr := cmd.Wait()
	res.Seconds = time.Since(start).Seconds()
	switch {
	case waitErr != nil:
		return res, nil, fmt.Errorf("%w: %s", waitErr, scanTail(stderr.String(), 10))
	case decodeErr != nil:
		return res, nil, fmt.Errorf("read govulncheck's JSON: %w", decodeErr)
	}
	res.Findings = len(findings)
	for _, f := range findings {
		if f.reach == scanCalled {
			res.Called++
		}
	}
	return res, findings, nil
}

// scanDecode reads a govulncheck JSON stream and merges its findings per
// advisory, keeping the deepest reach.
func scanDecode(r io.Reader, m scanWorkspaceModule, workspace []scanWorkspaceModule, rep *scanReport, progress func(string)) ([]scanFinding, error) {
	byID := map[string]*scanFinding{}
	var order []string
	type advisory struct {
		summary, url string
		aliases      []string
	}
	advisories := map[string]advisory{}
	dec := json.NewDecoder(r)
	for {
		var msg scanMessage
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		switch {
		case msg.Config != nil:
			rep.Scanner = msg.Config.ScannerName + "@" + msg.Config.ScannerVersion
			rep.GoVersion = msg.Config.GoVersion
			rep.DBModified = msg.Config.DBLastModified
		case msg.Progress != nil:
			progress(msg.Progress.Message)
		case msg.OSV != nil:
			advisories[msg.OSV.ID] = advisory{msg.OSV.Summary, msg.OSV.DatabaseSpecific.URL, msg.OSV.Aliases}
		case msg.Finding != nil && len(msg.Finding.Trace) > 0:
			f, seen := byID[msg.Finding.OSV]
			if !seen {
				vuln := msg.Finding.Trace[0]
				f = &scanFinding{Module: m.Dir, ModulePath: m.Path, OSV: msg.Finding.OSV, Affected: vuln.Module, Version: vuln.Version}
				byID[f.OSV] = f
				order = append(order, f.OSV)
			}
			scanMerge(f, msg.Finding.FixedVersion, msg.Finding.Trace, workspace)
		}
	}
	findings := make([]scanFinding, 0, len(order))
	for _, id := range order {
		f := byID[id]
		a := advisories[id]
		f.Summary, f.URL, f.Aliases = a.summary, a.url, a.aliases
		f.Reach = scanReachNames[f.reach]
		findings = append(findings, *f)
	}
	slices.SortStableFunc(findings, func(a, b scanFinding) int {
		if a.reach != b.reach {
			return b.reach - a.reach
		}
		return strings.Compare(a.OSV, b.OSV)
	})
	return findings, nil
}

// scanMerge adds one govulncheck finding to f. The trace of a module-level
// finding has no package, of a package-level one no function.
func scanMerge(f *scanFinding, fixed string, trace []scanFrame, workspace []scanWorkspaceModule) {
	vuln := trace[0]
	if fixed != "" {
		f.Fixed = fixed
	}
	reach := scanRequired
	switch {
	case vuln.Function != "":
		reach = scanCalled
		f.Symbols = scanAppendNew(f.Symbols, scanSymbol(vuln))
		if site := scanCallSite(trace[1:], workspace); site != "" {
			f.CallSites = scanAppendNew(f.CallSites, site)
		}
	case vuln.Package != "":
		reach = scanImported
	}
	if vuln.Package != "" {
		f.Packages = scanAppendNew(f.Packages, vuln.Package)
	}
	f.reach = max(f.reach, reach)
}

func scanAppendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

var scanMajorVersion = regexp.MustCompile(`^v[0-9]+$`)

// scanSymbol names a vulnerable function as pkg.Func or pkg.Type.Method,
// with the package's last path element (not a /vN suffix).
func scanSymbol(f scanFrame) string {
	elems := strings.Split(f.Package, "/")
	pkg := elems[len(elems)-1]
	if len(elems) > 1 && scanMajorVersion.MatchString(pkg) {
		pkg = elems[len(elems)-2]
	}
	name := f.Function
	if f.Receiver != "" {
		name = strings.TrimPrefix(f.Receiver, "*") + "." + name
	}
	return pkg + "." + name
}

// scanCallSite is the first frame of the trace in workspace code, as
// file:line relative to the workspace root: where our code calls in.
func scanCallSite(frames []scanFrame, workspace []scanWorkspaceModule) string {
	for _, fr := range frames {
		i := slices.IndexFunc(workspace, func(m scanWorkspaceModule) bool { return m.Path == fr.Module })
		if i < 0 || fr.Position == nil || fr.Position.Filename == "" {
			continue
		}
		return fmt.Sprintf("%s:%d", filepath.ToSlash(filepath.Join(workspace[i].Dir, fr.Position.Filename)), fr.Position.Line)
	}
	return ""
}

// scanFails reports whether any finding reaches failOn.
func scanFails(findings []scanFinding, failOn int) bool {
	return slices.ContainsFunc(findings, func(f scanFinding) bool { return f.reach >= failOn })
}

// scanFailure names the advisories that fail the scan and, per reach, the
// modules they were found in.
func scanFailure(findings []scanFinding, failOn int) string {
	var ids []string
	where := map[string]map[int][]string{}
	for _, f := range findings {
		if f.reach < failOn {
			continue
		}
		if where[f.OSV] == nil {
			ids = append(ids, f.OSV)
			where[f.OSV] = map[int][]string{}
		}
		where[f.OSV][f.reach] = append(where[f.OSV][f.reach], f.Module)
	}
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		var in []string
		for _, reach := range []int{scanCalled, scanImported, scanRequired} {
			if mods := where[id][reach]; len(mods) > 0 {
				in = append(in, scanReachNames[reach]+" in "+strings.Join(mods, ", "))
			}
		}
		parts = append(parts, id+" ("+strings.Join(in, "; ")+")")
	}
	what := map[int]string{
		scanCalled:   "vulnerable code is called",
		scanImported: "vulnerable packages are imported or called",
		scanRequired: "modules with known vulnerabilities are in the build",
	}[failOn]
	return fmt.Sprintf("%s: %s", what, strings.Join(parts, ", "))
}

// scanTail returns the last n non-empty lines of s, joined by " | ".
func scanTail(s string, n int) string {
	lines := strings.FieldsFunc(strings.TrimSpace(s), func(r rune) bool { return r == '\n' })
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return "no output"
	}
	return strings.Join(lines, " | ")
}

// scanWriteSBOMs builds the services into a temporary directory and writes
// dir/<svc>.cdx.json with cyclonedx-gomod bin, which reads the module list
// each binary carries (debug.BuildInfo; -buildvcs=false only leaves out the
// VCS stamp), so the SBOM lists exactly what is linked in. The release flags
// (-trimpath, -ldflags) do not change that list, so a plain build, which
// shares the build cache with slipway dev and the tests, is enough.
func scanWriteSBOMs(ctx context.Context, goBin, root string, environ, services []string, dir string, progress io.Writer) ([]scanSBOM, error) {
	bins, err := os.MkdirTemp("", "slipway-scan-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(bins)
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}

	// One go build for every service: the shared packages compile once.
	args := []string{"build", "-o", bins + string(filepath.Separator)}
	for _, s := range services {
		args = append(args, "./"+filepath.ToSlash(workspace.MainDir(s)))
	}
	fmt.Fprintf(progress, "scan: building %s for the SBOMs\n", strings.Join(services, ", "))
	start := time.Now()
	build := exec.CommandContext(ctx, goBin, args...)
	build.Dir, build.Env = root, environ
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the services for the SBOMs: %w\n%s", err, out)
	}
	fmt.Fprintf(progress, "scan: built %d service(s) in %s\n", len(services), report.Seconds(time.Since(start)))

	// cyclonedx-gomod is pinned outside the workspace, in tools/gen.
	genEnv := envvar.Set(environ, "GOWORK", "off")
	var sboms []scanSBOM
	var failed []string
	for _, s := range services {
		start := time.Now()
		out := filepath.Join(dir, s+".cdx.json")
		bin := filepath.Join(bins, filepath.Base(workspace.BinaryPath(root, s))) // go build -o dir/ names it like dev does
		cmd := exec.CommandContext(ctx, goBin, "tool", "cyclonedx-gomod", "bin", "-json", "-std", "-output", out, bin)
		cmd.Dir, cmd.Env = filepath.Join(root, "tools", "gen"), genEnv
		if output, err := cmd.CombinedOutput(); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v: %s", s, err, scanTail(string(output), 5)))
			continue
		}
		sbom, err := scanCheckSBOM(out)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", s, err))
			continue
		}
		sbom.Service, sbom.Seconds = s, time.Since(start).Seconds()
		sboms = append(sboms, sbom)
		fmt.Fprintf(progress, "scan: SBOM of %s: %s, %d components, in %s\n", s, out, sbom.Components, report.Seconds(time.Since(start)))
	}
	if len(failed) > 0 {
		return sboms, fmt.Errorf("SBOM: %s", strings.Join(failed, "; "))
	}
	return sboms, nil
}

// scanCheckSBOM reads back an SBOM and checks that it is a CycloneDX document.
func scanCheckSBOM(path string) (scanSBOM, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the SBOM this scan just wrote
	if err != nil {
		return scanSBOM{}, err
	}
	var doc struct {
		BOMFormat   string            `json:"bomFormat"`
		SpecVersion string            `json:"specVersion"`
		Components  []json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return scanSBOM{}, fmt.Errorf("%s: %w", path, err)
	}
	if doc.BOMFormat != "CycloneDX" {
		return scanSBOM{}, fmt.Errorf("%s: bomFormat is %q, not CycloneDX", path, doc.BOMFormat)
	}
	return scanSBOM{Path: path, SpecVersion: doc.SpecVersion, Components: len(doc.Components)}, nil
}

// printScan renders the report: findings, the advisories behind them, the
// SBOMs and a verdict.
func printScan(w io.Writer, rep scanReport, root string) {
	rel := func(p string) string {
		if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	counts := map[string]int{}
	for _, f := range rep.Findings {
		counts[f.Reach]++
	}
	scanned := 0
	for _, m := range rep.Modules {
		if m.Error == "" {
			scanned++
		}
	}
	if len(rep.Findings) == 0 {
		fmt.Fprintf(w, "no known vulnerabilities in %d module(s)\n", scanned)
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MODULE\tADVISORY\tAFFECTED\tFIXED\tREACH\tWHERE")
		for _, f := range rep.Findings {
			fixed := f.Fixed
			if fixed == "" {
				fixed = "none"
			}
			where := strings.Join(f.Packages, ", ")
			if f.Reach == scanReachNames[scanCalled] {
				where = strings.Join(f.Symbols, ", ")
				if len(f.CallSites) > 0 {
					where += " from " + f.CallSites[0]
					if n := len(f.CallSites) - 1; n > 0 {
						where += fmt.Sprintf(" (+%d more)", n)
					}
				}
			}
			if where == "" {
				where = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s@%s\t%s\t%s\t%s\n", f.Module, f.OSV, f.Affected, f.Version, fixed, f.Reach, where)
		}
		_ = tw.Flush()

		fmt.Fprintln(w, "\nadvisories:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		var seen []string
		for _, f := range rep.Findings {
			if slices.Contains(seen, f.OSV) {
				continue
			}
			seen = append(seen, f.OSV)
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.OSV, f.Summary, f.URL)
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "\n%d finding(s) in %d module(s): %d called, %d imported, %d required only\n",
			len(rep.Findings), scanned, counts["called"], counts["imported"], counts["required"])
	}
	db := rep.DB
	if rep.DBModified != nil {
		db += ", modified " + rep.DBModified.UTC().Format(time.DateOnly)
	}
	fmt.Fprintf(w, "database: %s; %s\n", db, rep.Scanner)

	if len(rep.SBOMs) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVICE\tSBOM\tCYCLONEDX\tCOMPONENTS")
		for _, s := range rep.SBOMs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", s.Service, rel(s.Path), s.SpecVersion, s.Components)
		}
		_ = tw.Flush()
	}

	switch {
	case rep.Failed:
		fmt.Fprintf(w, "FAIL: findings at or above --fail-on=%s\n", rep.FailOn)
	case len(rep.Errors) > 0:
		fmt.Fprintf(w, "FAIL: %s\n", strings.Join(rep.Errors, "; "))
	default:
		fmt.Fprintf(w, "PASS: nothing at or above --fail-on=%s\n", rep.FailOn)
	}
}
