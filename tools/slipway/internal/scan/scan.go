// Package scan is the scan verb: govulncheck over every module of go.work
// against a local copy of the Go vulnerability database, and a CycloneDX
// SBOM of every service binary.
package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// vulnDBEnv names the vulnerability database when --db is not given.
const vulnDBEnv = "SLIPWAY_VULNDB"

// How far govulncheck traced a finding, in increasing order: the module is
// in the build, a vulnerable package is imported, a vulnerable symbol is
// reachable from the module's code. --fail-on names the lowest that fails.
const (
	reachRequired = iota + 1
	reachImported
	reachCalled
)

var reachNames = map[int]string{reachRequired: "required", reachImported: "imported", reachCalled: "called"}

// failOnLevels maps --fail-on values (govulncheck's scan levels) to reaches.
var failOnLevels = map[string]int{"module": reachRequired, "package": reachImported, "symbol": reachCalled}

// Options are the inputs of Run.
type Options struct {
	Root     string   // workspace root; "" walks up from the working directory to go.work
	DB       string   // vulnerability database: file:// URL or directory
	Modules  []string // module dirs relative to Root or module paths; empty: every module of go.work
	Services []string // services to write SBOMs for; empty: every one that exists
	SBOMDir  string   // "" is <root>/.slipway/sbom
	NoSBOM   bool
	FailOn   string // symbol (default), package or module
	// Baseline is a file of accepted findings: only new ones at or above
	// FailOn fail; known ones are listed, vanished ones reported resolved.
	Baseline string
	// WriteBaseline accepts this scan's findings: they are written to the
	// file (keeping the entries of modules not scanned) and fail nothing.
	WriteBaseline string
	SARIF         string // write the findings as SARIF 2.1.0 to this file
	IssuesDir     string // write one Markdown issue body per new finding here
	JSON          bool
	Stdout        io.Writer
	Progress      io.Writer // module by module progress and timings; nil: nowhere
	Environ       []string  // environment of the go commands; nil is os.Environ()
}

// Finding is one advisory found in one workspace module; the rows of the
// report. govulncheck's findings for the same advisory are merged into it.
type Finding struct {
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
	// CallPath is the shortest call stack govulncheck traced, from the
	// workspace's entry function to the vulnerable symbol.
	CallPath []string `json:"call_path,omitempty"`
	// Status is new or known against --baseline; empty without one.
	Status string `json:"status,omitempty"`
	// BaselineReach is the reach the baseline knew a new finding at, when
	// the finding is new because it now reaches further.
	BaselineReach string `json:"baseline_reach,omitempty"`
	reach         int
}

// ModuleScan is the outcome of govulncheck on one module.
type ModuleScan struct {
	Dir      string  `json:"dir"`
	Path     string  `json:"path"`
	Findings int     `json:"findings"`
	Called   int     `json:"called"`
	Seconds  float64 `json:"seconds"`
	Error    string  `json:"error,omitempty"`
}

// SBOM is one CycloneDX SBOM written.
type SBOM struct {
	Service     string  `json:"service"`
	Path        string  `json:"path"`
	SpecVersion string  `json:"spec_version"`
	Components  int     `json:"components"`
	Seconds     float64 `json:"seconds"`
}

// Report is what Run reports; it is also the --json document.
type Report struct {
	DB         string       `json:"db"`
	DBModified *time.Time   `json:"db_modified,omitempty"`
	Scanner    string       `json:"scanner,omitempty"`
	GoVersion  string       `json:"go_version,omitempty"`
	FailOn     string       `json:"fail_on"`
	Failed     bool         `json:"failed"` // a finding at or above fail_on
	Modules    []ModuleScan `json:"modules"`
	Findings   []Finding    `json:"findings"`
	// Baseline is the --baseline file; Resolved its findings in the scanned
	// modules that this scan no longer finds.
	Baseline string       `json:"baseline,omitempty"`
	Resolved []KnownEntry `json:"resolved,omitempty"`
	SBOMs    []SBOM       `json:"sboms,omitempty"`
	Errors   []string     `json:"errors,omitempty"`
	Seconds  float64      `json:"seconds"`
}

// Main parses the scan verb's flags and runs it.
func Main(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "scan", "--db file:///dir [--modules list] [--fail-on symbol|package|module] [--baseline file] [--write-baseline file] [--sarif file] [--issues dir] [--sbom dir | --no-sbom] [--json]",
		"Runs govulncheck (pinned in tools/slipway/go.mod) over every module of go.work against a local\n"+
			"copy of the Go vulnerability database and prints one row per module and advisory: the\n"+
			"affected module@version, the fixed version, and whether a vulnerable symbol is called, a\n"+
			"vulnerable package only imported, or the module only required. Exits 1 when a vulnerable\n"+
			"symbol is called (--fail-on=package: also when imported; --fail-on=module: any finding).\n"+
			"Then builds every service into a temporary directory and writes a CycloneDX SBOM of each\n"+
			"binary to --sbom (cyclonedx-gomod bin, pinned in tools/gen/go.mod).\n\n"+
			"Tracking: --baseline FILE compares the findings with accepted ones (module and advisory):\n"+
			"each is new or known, accepted ones no longer found are listed as resolved, and only new\n"+
			"findings at or above --fail-on fail (a known import that is now called is new).\n"+
			"--write-baseline FILE accepts this scan's findings into FILE (entries of modules not\n"+
			"scanned are kept). --sarif FILE writes SARIF 2.1.0 for GitHub code scanning; --issues DIR\n"+
			"writes one Markdown issue body per new finding: advisory, aliases, affected and fixed\n"+
			"versions, the call path govulncheck traced, and the go get that fixes it.\n\n"+
			"The database is a directory in the format of https://go.dev/security/vuln/database\n"+
			"(index/db.json, index/modules.json, index/vulns.json, ID/<id>.json). `make vulndb` builds it\n"+
			"offline into .slipway/vulndb from the golang.org/x/vulndb module pinned in tools/gen/go.mod\n"+
			"(fetched through the Go module proxy); it prints the pin and its date. Refresh the\n"+
			"advisories by bumping that pin, then run make vulndb again:\n\n"+
			"  cd tools/gen && GOWORK=off go get -tool golang.org/x/vulndb/cmd/indexdb@latest && cd ../.. && make vulndb\n"+
			"  export SLIPWAY_VULNDB=file://$PWD/.slipway/vulndb\n"+
			"  slipway scan\n\n"+
			"Where there is internet, the bulk download of vuln.go.dev serves too:\n\n"+
			"  curl -fsSL -o /tmp/vulndb.zip https://vuln.go.dev/vulndb.zip\n"+
			"  rm -rf .slipway/vulndb && mkdir -p .slipway/vulndb && unzip -q /tmp/vulndb.zip -d .slipway/vulndb")
	opts := Options{Stdout: env.Stdout, Progress: env.Stderr, Environ: env.Environ}
	var modules, services string
	fs.StringVar(&opts.DB, "db", "", "vulnerability database, a `file:///dir` URL or a directory (default $"+vulnDBEnv+")")
	fs.StringVar(&modules, "modules", "", "comma-separated `list` of modules to scan, as directories (platform, services/order) or module paths (default: every module of go.work)")
	fs.StringVar(&opts.FailOn, "fail-on", "symbol", "`level` that fails: symbol (a vulnerable symbol is called), package (also imported) or module (any finding)")
	fs.StringVar(&opts.Baseline, "baseline", "", "JSON `file` of known findings: only new ones fail; resolved ones are listed")
	fs.StringVar(&opts.WriteBaseline, "write-baseline", "", "write this scan's findings to `file` as the new baseline (and fail on none of them)")
	fs.StringVar(&opts.SARIF, "sarif", "", "write the findings as SARIF 2.1.0, for GitHub code scanning, to `file`")
	fs.StringVar(&opts.IssuesDir, "issues", "", "write one Markdown issue body per new finding into `dir`")
	fs.StringVar(&opts.SBOMDir, "sbom", "", "write the SBOMs, <svc>.cdx.json, to this `dir` (default .slipway/sbom of the workspace)")
	fs.BoolVar(&opts.NoSBOM, "no-sbom", false, "skip the service builds and the SBOMs")
	fs.StringVar(&services, "services", "", "comma-separated `list` of services to write SBOMs for (default: every one that exists)")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")
	fs.BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if opts.DB == "" {
		opts.DB = env.Getenv(vulnDBEnv)
	}
	opts.Modules = splitList(modules)
	opts.Services = splitList(services)
	return Run(ctx, opts)
}

func splitList(s string) []string {
	var list []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	return list
}

// Run scans the selected modules for known vulnerabilities, writes the
// SBOMs and reports both. It returns an error when a finding reaches
// --fail-on, a scan could not run or an SBOM could not be written.
func Run(ctx context.Context, opts Options) error {
	start := time.Now()
	failOn, err := opts.validate()
	if err != nil {
		return err
	}
	dbURL, err := databaseURL(opts.DB)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	var base *Baseline
	if opts.Baseline != "" {
		if base, err = readBaseline(opts.Baseline); err != nil {
			return cli.UsageError{Err: err}
		}
	}
	opts.setDefaults()
	s, err := prepare(ctx, opts)
	if err != nil {
		return err
	}

	rep := Report{DB: dbURL, FailOn: opts.FailOn, Findings: []Finding{}, Baseline: opts.Baseline}
	s.scanModules(ctx, dbURL, &rep)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	if base != nil {
		rep.Resolved = compareBaseline(rep.Findings, base, rep.scanned())
	}
	rep.Failed = opts.WriteBaseline == "" && fails(failing(rep.Findings), failOn)
	if err := s.writeFindings(opts, base, &rep); err != nil {
		return err
	}
	if len(s.services) > 0 {
		if err := s.addSBOMs(ctx, &rep); err != nil {
			return err
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
		render(opts.Stdout, rep, s.root)
	}
	return verdict(rep, failOn)
}

// failing are the findings that may fail the scan: the new ones when
// there is a baseline, else all.
func failing(findings []Finding) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Status != statusKnown {
			out = append(out, f)
		}
	}
	return out
}

// scanned are the modules whose scan completed.
func (r Report) scanned() []string {
	var dirs []string
	for _, m := range r.Modules {
		if m.Error == "" {
			dirs = append(dirs, m.Dir)
		}
	}
	return dirs
}

// writeFindings writes what the options ask for besides the report: the
// new baseline, the SARIF log and the issue bodies.
func (s *scan) writeFindings(opts Options, old *Baseline, rep *Report) error {
	if opts.WriteBaseline != "" {
		// A module that could not be scanned would lose its accepted
		// findings, or keep stale ones: write nothing rather than that.
		if len(rep.Errors) > 0 {
			rep.Errors = append(rep.Errors, "--write-baseline: not written, since not every module was scanned")
		} else {
			if err := writeBaseline(opts.WriteBaseline, newBaseline(rep.Findings, old, rep.scanned())); err != nil {
				return err
			}
			fmt.Fprintf(s.progress, "scan: wrote the baseline %s: %d finding(s) accepted\n", opts.WriteBaseline, len(rep.Findings))
		}
	}
	if opts.SARIF != "" {
		if err := writeSARIF(opts.SARIF, *rep, s.root); err != nil {
			return err
		}
		fmt.Fprintf(s.progress, "scan: wrote SARIF %s: %d result(s)\n", opts.SARIF, len(rep.Findings))
	}
	if opts.IssuesDir != "" {
		files, err := writeIssues(opts.IssuesDir, rep.Findings)
		if err != nil {
			return err
		}
		fmt.Fprintf(s.progress, "scan: wrote %d issue(s) for new findings into %s\n", len(files), opts.IssuesDir)
	}
	return nil
}

// validate checks the options that need no workspace and returns the
// --fail-on level.
func (o *Options) validate() (int, error) {
	if o.FailOn == "" {
		o.FailOn = "symbol"
	}
	failOn, ok := failOnLevels[o.FailOn]
	if !ok {
		return 0, cli.UsageErrorf("--fail-on %q: want symbol, package or module", o.FailOn)
	}
	if o.NoSBOM && (o.SBOMDir != "" || len(o.Services) > 0) {
		return 0, cli.UsageErrorf("--no-sbom excludes --sbom and --services")
	}
	for _, s := range o.Services {
		if !slices.ContainsFunc(workspace.Known, func(d workspace.Service) bool { return d.Name == s }) {
			return 0, cli.UsageErrorf("unknown service %q in --services (known: %s)", s, strings.Join(workspace.Names(workspace.Known), ", "))
		}
	}
	return failOn, nil
}

func (o *Options) setDefaults() {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
}

// scan is one run: the workspace, the go command and what to scan.
type scan struct {
	root     string
	goBin    string
	environ  []string // of every go command: in the workspace, whatever GOWORK the caller has
	modules  []module // every module of go.work
	selected []module // the modules to scan
	services []string // the services to write SBOMs for
	sbomDir  string
	progress io.Writer
}

// prepare finds the workspace, the go command, the modules to scan and the
// services to write SBOMs for.
func prepare(ctx context.Context, opts Options) (*scan, error) {
	root, err := findRoot(opts.Root)
	if err != nil {
		return nil, err
	}
	s := &scan{root: root, progress: opts.Progress, sbomDir: opts.SBOMDir}
	if s.goBin, err = exec.LookPath("go"); err != nil {
		return nil, fmt.Errorf("find the go command: %w", err)
	}
	s.environ = envvar.Set(opts.Environ, "GOWORK", filepath.Join(root, "go.work"))
	if s.modules, err = workspaceModules(ctx, s.goBin, root, s.environ); err != nil {
		return nil, err
	}
	if s.selected, err = selectModules(s.modules, opts.Modules); err != nil {
		return nil, cli.UsageError{Err: err}
	}
	if !opts.NoSBOM {
		defs, err := workspace.Select(root, opts.Services)
		if err != nil {
			return nil, err
		}
		s.services = workspace.Names(defs)
	}
	if s.sbomDir == "" {
		s.sbomDir = filepath.Join(root, ".slipway", "sbom")
	}
	return s, nil
}

// scanModules runs govulncheck on each selected module in turn, adding the
// outcomes to rep; it stops early when ctx ends.
func (s *scan) scanModules(ctx context.Context, dbURL string, rep *Report) {
	fmt.Fprintf(s.progress, "scan: %d module(s) of %s against %s\n", len(s.selected), filepath.Join(s.root, "go.work"), dbURL)
	for i, m := range s.selected {
		if ctx.Err() != nil {
			return
		}
		tag := fmt.Sprintf("[%d/%d] %s", i+1, len(s.selected), m.Dir)
		fmt.Fprintf(s.progress, "scan: %s: govulncheck ./... (%s)\n", tag, m.Path)
		res, findings, err := moduleVulns(ctx, s.goBin, s.environ, dbURL, m, s.modules, rep, func(msg string, took time.Duration) {
			fmt.Fprintf(s.progress, "scan: %s: %s (%s)\n", tag, msg, report.Seconds(took))
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			res.Error = err.Error()
			rep.Errors = append(rep.Errors, fmt.Sprintf("govulncheck in %s: %v", m.Dir, err))
			fmt.Fprintf(s.progress, "scan: %s: failed after %.2fs: %v\n", tag, res.Seconds, err)
		} else {
			fmt.Fprintf(s.progress, "scan: %s: %d finding(s), %d called, in %.2fs\n", tag, res.Findings, res.Called, res.Seconds)
		}
		rep.Modules = append(rep.Modules, res)
		rep.Findings = append(rep.Findings, findings...)
	}
}

// addSBOMs writes the SBOMs into rep; a failure to write one is an error
// of the report, an interruption the error returned.
func (s *scan) addSBOMs(ctx context.Context, rep *Report) error {
	sboms, err := writeSBOMs(ctx, s.goBin, s.root, s.environ, s.services, s.sbomDir, s.progress)
	rep.SBOMs = sboms
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
		rep.Errors = append(rep.Errors, err.Error())
	}
	return nil
}

// verdict is the error of a report: the findings that fail it and the
// scans or SBOMs that could not be made.
func verdict(rep Report, failOn int) error {
	var problems []string
	if rep.Failed {
		msg := failure(failing(rep.Findings), failOn)
		if rep.Baseline != "" {
			msg = "new since the baseline: " + msg
		}
		problems = append(problems, msg)
	}
	problems = append(problems, rep.Errors...)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// findRoot is the workspace root: dir, or the nearest parent of the working
// directory that holds go.work.
func findRoot(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return workspace.FindRoot(wd)
}

// databaseURL checks that db names a local vulnerability database and
// returns it as the file:// URL govulncheck takes.
func databaseURL(db string) (string, error) {
	if db == "" {
		return "", fmt.Errorf("--db is required (or set %s): a local copy of the Go vulnerability database as file:///dir; 'slipway help scan' shows how to fetch one", vulnDBEnv)
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
