package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// reloadEdit is the handler edit bench reload makes, and the REST call
// that shows it.
type reloadEdit struct {
	File  string // relative to the root
	Field string // the line's "Field: expression," the marker is appended to; exactly once in File
	Path  string // REST path whose response shows the field
	Login bool   // the call needs a signed-in user (registered on the fly)
}

// reloadEdits are the services bench reload knows how to change.
var reloadEdits = map[string]reloadEdit{
	"inventory": {File: "services/inventory/internal/rpc/handler.go", Field: "Description: p.Description,", Path: "/v1/products/espresso-blend-1kg"},
	"user":      {File: "services/user/internal/rpc/handler.go", Field: "DisplayName: u.DisplayName,", Path: "/v1/me", Login: true},
}

// apply returns src with the marker appended to the field's value.
func (e reloadEdit) apply(src, marker string) string {
	return strings.Replace(src, e.Field, strings.TrimSuffix(e.Field, ",")+` + " `+marker+`",`, 1)
}

// reloadOptions are the inputs of runReload.
type reloadOptions struct {
	Options
	Service  string
	NoAir    bool
	AirBuild string        // air's build flags: "default" (none, as air's own config) or "dev" (dev's)
	Air      string        // air binary; "" builds the one tools/gen/go.mod pins
	Debounce time.Duration // slipway dev's debounce and air's delay
	Settle   time.Duration // pause between runs
	Timeout  time.Duration // for one change to become visible
}

func reloadMain(ctx context.Context, args []string, env *cli.Env) error {
	var names []string
	for n := range reloadEdits {
		names = append(names, n)
	}
	slices.Sort(names)
	fs := cli.NewFlagSet(env.Stderr, "bench reload", "[flags]",
		"Runs one service under slipway dev's hot reload and, as the peer, under air\n"+
			"(github.com/air-verse/air, pinned in tools/gen/go.mod, built into .slipway/bin), each on\n"+
			"its own copy of the workspace under .slipway/bench/work-<tool> (the real tree is never\n"+
			"edited), with the same environment and air's delay set to dev's debounce. Air builds the\n"+
			"way its own config does (go build, no flags); --air-build=dev gives it dev's build flags\n"+
			"("+strings.Join(fleet.BuildFlags, " ")+"), to compare the tools with the build alike.\n"+
			"Then --runs times per tool, alternating between the tools (ABBA), it appends a new marker\n"+
			"to a field a handler returns (inventory: GetProduct's description; user: GetMe's display\n"+
			"name) and times from the write of the file until GET on the REST API returns the marker.\n"+
			"Services: "+strings.Join(names, ", ")+".")
	opts := reloadOptions{Options: Options{Stdout: env.Stdout, Stderr: env.Stderr, Environ: env.Environ,
		Command: commandLine(append([]string{"bench", "reload"}, args...)...)}, Settle: time.Second}
	fs.IntVar(&opts.Runs, "runs", 5, "edits per tool")
	fs.StringVar(&opts.Service, "service", "inventory", "`service` to edit: "+strings.Join(names, " or "))
	fs.BoolVar(&opts.NoAir, "no-air", false, "measure slipway dev only")
	fs.StringVar(&opts.AirBuild, "air-build", "default", "`flags` of air's go build: default (none, the build air's own config runs) or dev (slipway dev's: "+strings.Join(fleet.BuildFlags, " ")+")")
	fs.DurationVar(&opts.Debounce, "debounce", fleet.DefaultDebounce, "slipway dev's debounce and air's delay")
	fs.DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "how long one edit may take to show")
	fs.BoolVar(&opts.JSON, "json", false, "print the JSON document instead of the table")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if _, ok := reloadEdits[opts.Service]; !ok {
		return cli.UsageErrorf("--service %q: bench reload knows how to edit %s", opts.Service, strings.Join(names, " and "))
	}
	if opts.AirBuild != "default" && opts.AirBuild != "dev" {
		return cli.UsageErrorf("--air-build %q: want default or dev", opts.AirBuild)
	}
	if opts.Runs < 1 || opts.Timeout <= 0 || opts.Debounce < 0 {
		return cli.UsageErrorf("--runs and --timeout must be positive, --debounce not negative")
	}
	return runReload(ctx, opts)
}

// runReload measures change to callable under slipway dev and air.
// Each tool watches a copy of its own and both run at once, idle but for
// the edit being measured; the edits alternate between them (ABBA), so a
// machine that gets busier meanwhile weighs on both alike.
func runReload(ctx context.Context, opts reloadOptions) error {
	root, err := findRoot(opts.Root)
	if err != nil {
		return err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go command: %w", err)
	}
	b := &reloadBench{opts: opts, root: root, goBin: goBin, edit: reloadEdits[opts.Service]}
	rep := reloadReport{Benchmark: "reload", Started: time.Now().UTC(), Command: opts.Command, Service: opts.Service,
		Change: b.edit.File + ": `" + b.edit.Field + "` gets a new marker appended", Call: "GET " + b.edit.Path,
		Runs: opts.Runs, TargetMS: msFloat(reloadTarget), SeedMS: msFloat(reloadSeed)}
	rep.Machine = newMachine(ctx, goBin, root, opts.Environ)
	airVersion, err := b.findAir(ctx)
	if err != nil {
		return err
	}

	b.dir = filepath.Join(root, ".slipway", "bench")
	if err := os.MkdirAll(b.dir, 0o750); err != nil {
		return err
	}
	logPath := filepath.Join(b.dir, "reload-"+stamp(rep.Started)+".log")
	logFile, err := os.Create(logPath) //nolint:gosec // our own state directory
	if err != nil {
		return err
	}
	defer logFile.Close()
	b.log = &syncWriter{w: logFile}
	state, err := os.MkdirTemp("", "slipway-bench-reload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	broker, err := fleet.StartBroker(state, "127.0.0.1", 0)
	if err != nil {
		return err
	}
	defer broker.Stop()
	b.natsURL = broker.URL()

	subjects := b.subjects(airVersion)
	for _, s := range subjects {
		if err := b.setUp(ctx, s); err != nil {
			return err
		}
		defer s.stop()
	}
	time.Sleep(opts.Settle)
	rep.LoadAvgBefore = loadAverage()
	b.measureAll(ctx, subjects)
	rep.LoadAvgAfter = loadAverage()
	for _, s := range subjects {
		s.stop()
		if err := s.restore(); err != nil {
			return err
		}
		s.tool.summarize()
		rep.Tools = append(rep.Tools, s.tool)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.finish(rep, logPath)
}

// reloadBench is one run of bench reload: what its tools share.
type reloadBench struct {
	opts    reloadOptions
	root    string
	goBin   string
	edit    reloadEdit
	air     string    // air's binary; "" with --no-air
	dir     string    // .slipway/bench
	log     io.Writer // the tools' output
	natsURL string    // the broker both tools' services use
	ports   []int     // port bases taken so far
}

// findAir builds air unless --no-air or --air names one, and returns its
// version.
func (b *reloadBench) findAir(ctx context.Context) (string, error) {
	if b.opts.NoAir {
		return "", nil
	}
	b.air = b.opts.Air
	if b.air == "" {
		b.opts.progress("building air (pinned in tools/gen/go.mod) into .slipway/bin")
		air, err := buildAir(ctx, b.goBin, b.root, b.opts.Environ)
		if err != nil {
			return "", err
		}
		b.air = air
	}
	return airVersionOf(ctx, b.air)
}

// subjects are the tools to measure: slipway dev, and air unless --no-air.
func (b *reloadBench) subjects(airVersion string) []*reloadSubject {
	opts := b.opts
	build := buildCommand(opts.Service, fleet.BuildFlags)
	subjects := []*reloadSubject{{tool: reloadTool{Tool: "slipway dev",
		Setup: fmt.Sprintf("hot reload: debounce %s; %s to a temporary name, rename; SIGTERM; start; wait for SERVING", opts.Debounce, build)}}}
	if !opts.NoAir {
		subjects = append(subjects, &reloadSubject{tool: reloadTool{Tool: "air " + airVersion,
			Setup: fmt.Sprintf("delay %s; include_ext go; %s; send_interrupt, kill_delay 15s", opts.Debounce, buildCommand(opts.Service, opts.airBuildFlags()))}})
	}
	return subjects
}

// setUp gives a subject its copy of the workspace and ports of its own,
// starts its tool and waits until the service answers. A tool that fails
// to start is marked failed (the other is still measured); an error is for
// what ends the whole run.
func (b *reloadBench) setUp(ctx context.Context, s *reloadSubject) error {
	opts := b.opts
	name := strings.Fields(s.tool.Tool)[0]
	s.work = filepath.Join(b.dir, "work-"+name)
	opts.progress("%s: copying the workspace into %s (the real tree is never edited)", s.tool.Tool, relPath(b.root, s.work))
	if err := s.prepare(ctx, b.goBin, b.root, b.edit, opts.Environ); err != nil {
		return err
	}
	for range 2 {
		base, err := workspace.FreePortBlock(len(workspace.Known), b.ports)
		if err != nil {
			return err
		}
		b.ports = append(b.ports, base)
	}
	dev := fleet.Options{
		Root: s.work, Services: []string{opts.Service}, GRPCBase: b.ports[len(b.ports)-2], HTTPBase: b.ports[len(b.ports)-1],
		Color: "never", Stdout: prefixLines(name+" | ", b.log), Environ: reloadEnviron(opts.Environ, s.work, b.natsURL),
		Debounce: opts.Debounce,
	}.WithDefaults()
	svc, err := planOne(s.work, dev)
	if err != nil {
		return err
	}
	s.call = &reloadCall{edit: b.edit, url: "http://" + svc.HTTPDial + b.edit.Path, client: &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true}, // every poll reaches the current process
	}}
	opts.progress("%s: building and starting %s", s.tool.Tool, svc.Name)
	if name == "slipway" {
		err = s.startDev(ctx, dev, svc, b.log)
	} else {
		err = s.startAir(ctx, opts, b.air, envvar.Set(svc.Env, "NATS_URL", b.natsURL), svc, b.log)
	}
	if err == nil {
		err = s.call.ready(s.ctx, svc, opts.Timeout)
	}
	if err != nil {
		s.fail(opts, err)
	}
	return nil
}

// measureAll makes the edits, alternating the order of the tools (ABBA)
// and pausing --settle after each.
func (b *reloadBench) measureAll(ctx context.Context, subjects []*reloadSubject) {
	for i := 1; i <= b.opts.Runs && ctx.Err() == nil; i++ {
		order := slices.Clone(subjects)
		if i%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range order {
			if s.failed {
				continue
			}
			if err := s.measure(b.opts, i); err != nil {
				s.fail(b.opts, fmt.Errorf("edit %d: %w", i, err))
			}
			select {
			case <-ctx.Done():
			case <-time.After(b.opts.Settle):
			}
		}
	}
}

// finish writes the JSON document, prints the table or the document, and
// fails when a tool failed.
func (b *reloadBench) finish(rep reloadReport, logPath string) error {
	path, err := writeJSON(b.root, rep.Benchmark, rep.Started, rep)
	if err != nil {
		return err
	}
	if b.opts.JSON {
		err = printJSON(b.opts.Stdout, rep)
	} else {
		fmt.Fprint(b.opts.Stdout, reloadTable(rep))
		fmt.Fprintf(b.opts.Stdout, "wrote %s (tool output in %s)\n", relPath(b.root, path), relPath(b.root, logPath))
	}
	if err != nil {
		return err
	}
	for _, t := range rep.Tools {
		if t.Error != "" {
			return fmt.Errorf("%s: %s", t.Tool, t.Error)
		}
	}
	return nil
}

// airBuildFlags are the go build flags air's config gets.
func (o reloadOptions) airBuildFlags() []string {
	if o.AirBuild == "dev" {
		return fleet.BuildFlags
	}
	return nil
}

// buildCommand is the go build command line of a service's binary.
func buildCommand(svc string, flags []string) string {
	args := append(append([]string{"go", "build"}, shellQuote(flags)...), "-o", "<bin>", "./"+filepath.ToSlash(workspace.MainDir(svc)))
	return strings.Join(args, " ")
}

// shellQuote single-quotes the arguments sh would split.
func shellQuote(args []string) []string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		quoted[i] = a
	}
	return quoted
}

// planOne plans the one service dev runs.
func planOne(work string, dev fleet.Options) (fleet.Service, error) {
	defs, err := workspace.Select(work, dev.Services)
	if err != nil {
		return fleet.Service{}, err
	}
	plan, err := fleet.Plan(work, defs, dev)
	if err != nil {
		return fleet.Service{}, err
	}
	return plan[0], nil
}
