// Package doctor is the doctor verb: it checks this machine against what
// Slipway and CI need (the Go toolchain, the workspace's modules and tools,
// Docker, free ports, the configured servers, disk space) and prints one
// OK/WARN/FAIL row per check with its fix.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Status is the verdict of one check.
type Status string

// The verdicts, in increasing order of gravity.
const (
	OK   Status = "OK"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Row is one line of the checklist; it is also the --json element.
type Row struct {
	Check    string `json:"check"`
	Expected string `json:"expected"`
	Found    string `json:"found"`
	Status   Status `json:"status"`
	Fix      string `json:"fix,omitempty"`
}

// Summary counts the rows by status.
type Summary struct {
	OK   int `json:"ok"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

func (s Summary) String() string {
	return fmt.Sprintf("%d OK, %d WARN, %d FAIL", s.OK, s.Warn, s.Fail)
}

// Report is what --json prints.
type Report struct {
	CI      bool    `json:"ci"`
	Checks  []Row   `json:"checks"`
	Summary Summary `json:"summary"`
}

// Options are the inputs of Run.
type Options struct {
	Root    string        // workspace root; "" walks up from Dir to go.work
	Dir     string        // where that walk starts; "" is the working directory
	CI      bool          // any difference from what CI uses fails
	JSON    bool          // print the report as JSON
	Only    []string      // names of the checks to run (allChecks); empty runs all
	Timeout time.Duration // for each network probe
	Ports   []Port        // ports that must be free; nil is the default ports of every service
	Stdout  io.Writer
	Stderr  io.Writer // progress of the steps that take longer than a second
	Environ []string  // nil is os.Environ()
	Run     Runner    // nil runs the programs
}

// check is one named check; a check may report several rows.
type check struct {
	name string
	run  func(ctx context.Context, e *checkEnv) []Row
}

// allChecks lists the checks in the order of the table.
func allChecks() []check {
	return []check{
		{"go", checkGo},
		{"workspace", checkWorkspace},
		{"verify", checkVerify},
		{"tools", checkTools},
		{"protoc", checkProtoc},
		{"docker", checkDocker},
		{"ports", checkPorts},
		{"postgres", checkPostgres},
		{"nats", checkNATS},
		{"redis", checkRedis},
		{"etcd", checkEtcd},
		{"disk", checkDisk},
	}
}

func checkNames() []string {
	var names []string
	for _, c := range allChecks() {
		names = append(names, c.name)
	}
	return names
}

// Main parses the doctor verb's flags and runs the checks.
func Main(ctx context.Context, args []string, env *cli.Env) error {
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
	opts := Options{Stdout: env.Stdout, Stderr: env.Stderr, Environ: env.Environ}
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
	return Run(ctx, opts)
}

// Run runs the checks concurrently, prints the table (or JSON) and
// returns an error naming the checks that failed.
func Run(ctx context.Context, opts Options) error {
	opts.setDefaults()
	checks, err := selectChecks(opts.Only)
	if err != nil {
		return err
	}
	root, err := findRoot(opts.Root, opts.Dir)
	if err != nil {
		return err
	}
	e := &checkEnv{
		root:     root,
		environ:  opts.Environ,
		ci:       opts.CI,
		timeout:  opts.Timeout,
		ports:    opts.Ports,
		run:      opts.Run,
		progress: &progress{w: opts.Stderr, after: time.Second},
	}
	e.ws, e.wsErr = loadRepo(root)

	results := make([][]Row, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { results[i] = c.run(ctx, e) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}

	report, failed := summarize(opts.CI, slices.Concat(results...))
	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else if err := render(opts.Stdout, report); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.Run == nil {
		o.Run = runCommand
	}
	if o.Ports == nil {
		o.Ports = defaultPorts()
	}
}

// selectChecks is the checks only names, in table order; none named is all.
func selectChecks(only []string) ([]check, error) {
	checks := allChecks()
	if len(only) == 0 {
		return checks, nil
	}
	known := checkNames()
	for _, name := range only {
		if !slices.Contains(known, name) {
			return nil, cli.UsageErrorf("unknown check %q in --only (known: %s)", name, strings.Join(known, ", "))
		}
	}
	return slices.DeleteFunc(checks, func(c check) bool { return !slices.Contains(only, c.name) }), nil
}

// findRoot is root, or the nearest parent of dir ("" is the working
// directory) that holds go.work.
func findRoot(root, dir string) (string, error) {
	if root != "" {
		return root, nil
	}
	if dir == "" {
		dir = "."
	}
	return workspace.FindRoot(dir)
}

// summarize counts the rows by status and names the checks that failed.
func summarize(ci bool, rows []Row) (Report, []string) {
	report := Report{CI: ci, Checks: rows}
	var failed []string
	for _, r := range rows {
		switch r.Status {
		case OK:
			report.Summary.OK++
		case Warn:
			report.Summary.Warn++
		default:
			report.Summary.Fail++
			failed = append(failed, r.Check)
		}
	}
	return report, failed
}
