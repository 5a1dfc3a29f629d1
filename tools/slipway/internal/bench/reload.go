package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devloop"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/rebuild"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
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

// reloadReport is the JSON document of bench reload.
type reloadReport struct {
	Benchmark string       `json:"benchmark"`
	Started   time.Time    `json:"started"`
	Command   string       `json:"command"`
	Machine   Machine      `json:"machine"`
	Service   string       `json:"service"`
	Change    string       `json:"change"`
	Call      string       `json:"call"`
	Runs      int          `json:"runs"`
	TargetMS  float64      `json:"target_ms"`
	SeedMS    float64      `json:"seed_ms"`
	Tools     []reloadTool `json:"tools"`
	// Load averages (1, 5, 15 minutes) around the measured edits.
	LoadAvgBefore string `json:"load_average_before,omitempty"`
	LoadAvgAfter  string `json:"load_average_after,omitempty"`
}

// reloadTool is one tool's runs.
type reloadTool struct {
	Tool          string         `json:"tool"`
	Setup         string         `json:"setup"`
	Samples       []reloadSample `json:"samples"`
	MedianMS      float64        `json:"median_ms"`
	MinMS         float64        `json:"min_ms"`
	MaxMS         float64        `json:"max_ms"`
	BuildMedianMS float64        `json:"build_median_ms"`
	StopMedianMS  float64        `json:"stop_median_ms"`
	ReadyMedianMS float64        `json:"ready_median_ms"`
	Error         string         `json:"error,omitempty"`
}

// reloadSample is one edit: total is from the write of the file to the new
// response; build and ready are the tool's share (see the table's notes).
type reloadSample struct {
	TotalMS float64 `json:"total_ms"`
	BuildMS float64 `json:"build_ms"`
	StopMS  float64 `json:"stop_ms"` // slipway dev: of the old process; air's is in its build
	ReadyMS float64 `json:"ready_ms"`
}

func (t *reloadTool) summarize() {
	var total, build, stop, ready []time.Duration
	for _, s := range t.Samples {
		total = append(total, msDuration(s.TotalMS))
		build = append(build, msDuration(s.BuildMS))
		stop = append(stop, msDuration(s.StopMS))
		ready = append(ready, msDuration(s.ReadyMS))
	}
	if len(total) == 0 {
		return
	}
	st := summarize(total)
	t.MedianMS, t.MinMS, t.MaxMS = msFloat(st.median), msFloat(st.min), msFloat(st.max)
	t.BuildMedianMS, t.StopMedianMS, t.ReadyMedianMS = msFloat(summarize(build).median), msFloat(summarize(stop).median), msFloat(summarize(ready).median)
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
	edit := reloadEdits[opts.Service]
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go command: %w", err)
	}
	rep := reloadReport{Benchmark: "reload", Started: time.Now().UTC(), Command: opts.Command, Service: opts.Service,
		Change: edit.File + ": `" + edit.Field + "` gets a new marker appended", Call: "GET " + edit.Path,
		Runs: opts.Runs, TargetMS: msFloat(reloadTarget), SeedMS: msFloat(reloadSeed)}
	rep.Machine = newMachine(ctx, goBin, root, opts.Environ)

	air, airVersion := opts.Air, ""
	if !opts.NoAir {
		if air == "" {
			opts.progress("building air (pinned in tools/gen/go.mod) into .slipway/bin")
			if air, err = buildAir(ctx, goBin, root, opts.Environ); err != nil {
				return err
			}
		}
		if airVersion, err = airVersionOf(ctx, air); err != nil {
			return err
		}
	}

	benchDir := filepath.Join(root, ".slipway", "bench")
	if err := os.MkdirAll(benchDir, 0o750); err != nil {
		return err
	}
	logPath := filepath.Join(benchDir, "reload-"+stamp(rep.Started)+".log")
	logFile, err := os.Create(logPath) //nolint:gosec // our own state directory
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := &syncWriter{w: logFile}
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

	build := buildCommand(opts.Service, fleet.BuildFlags)
	subjects := []*reloadSubject{{tool: reloadTool{Tool: "slipway dev",
		Setup: fmt.Sprintf("hot reload: debounce %s; %s to a temporary name, rename; SIGTERM; start; wait for SERVING", opts.Debounce, build)}}}
	if !opts.NoAir {
		subjects = append(subjects, &reloadSubject{tool: reloadTool{Tool: "air " + airVersion,
			Setup: fmt.Sprintf("delay %s; include_ext go; %s; send_interrupt, kill_delay 15s", opts.Debounce, buildCommand(opts.Service, opts.airBuildFlags()))}})
	}
	var ports []int
	for _, s := range subjects {
		name := strings.Fields(s.tool.Tool)[0]
		s.work = filepath.Join(benchDir, "work-"+name)
		opts.progress("%s: copying the workspace into %s (the real tree is never edited)", s.tool.Tool, relPath(root, s.work))
		if err := s.prepare(ctx, goBin, root, edit, opts.Environ); err != nil {
			return err
		}
		for range 2 {
			base, err := workspace.FreePortBlock(len(workspace.Known), ports)
			if err != nil {
				return err
			}
			ports = append(ports, base)
		}
		dev := fleet.Options{
			Root: s.work, Services: []string{opts.Service}, GRPCBase: ports[len(ports)-2], HTTPBase: ports[len(ports)-1],
			Color: "never", Stdout: prefixLines(name+" | ", log), Environ: reloadEnviron(opts.Environ, s.work, broker.URL()),
			Debounce: opts.Debounce,
		}.WithDefaults()
		svc, err := planOne(s.work, dev)
		if err != nil {
			return err
		}
		s.call = &reloadCall{edit: edit, url: "http://" + svc.HTTPDial + edit.Path, client: &http.Client{
			Timeout:   2 * time.Second,
			Transport: &http.Transport{DisableKeepAlives: true}, // every poll reaches the current process
		}}
		opts.progress("%s: building and starting %s", s.tool.Tool, svc.Name)
		if name == "slipway" {
			err = s.startDev(ctx, dev, svc, log)
		} else {
			err = s.startAir(ctx, opts, air, envvar.Set(svc.Env, "NATS_URL", broker.URL()), svc, log)
		}
		defer s.stop()
		if err == nil {
			err = s.call.ready(s.ctx, svc, opts.Timeout)
		}
		if err != nil {
			s.fail(opts, err)
		}
	}

	time.Sleep(opts.Settle)
	rep.LoadAvgBefore = loadAverage()
	for i := 1; i <= opts.Runs && ctx.Err() == nil; i++ {
		order := slices.Clone(subjects)
		if i%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range order {
			if s.failed {
				continue
			}
			if err := s.measure(opts, i); err != nil {
				s.fail(opts, fmt.Errorf("edit %d: %w", i, err))
			}
			select {
			case <-ctx.Done():
			case <-time.After(opts.Settle):
			}
		}
	}
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

	path, err := writeJSON(root, rep.Benchmark, rep.Started, rep)
	if err != nil {
		return err
	}
	if opts.JSON {
		err = printJSON(opts.Stdout, rep)
	} else {
		fmt.Fprint(opts.Stdout, reloadTable(rep))
		fmt.Fprintf(opts.Stdout, "wrote %s (tool output in %s)\n", relPath(root, path), relPath(root, logPath))
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

// reloadSubject is one tool under measurement, watching its own copy of
// the workspace.
type reloadSubject struct {
	tool      reloadTool
	work      string // its copy of the workspace
	file      string // the handler it edits
	orig      []byte
	call      *reloadCall
	breakdown breakdownFunc
	ctx       context.Context // ends when the tool does
	stopOnce  sync.Once
	stopTool  func()
	failed    bool
}

// breakdownFunc returns a tool's share of one edit (BuildMS, StopMS, ReadyMS).
type breakdownFunc func(editAt, seenAt time.Time) (reloadSample, error)

// prepare copies the workspace and reads the handler to edit.
func (s *reloadSubject) prepare(ctx context.Context, goBin, root string, edit reloadEdit, environ []string) error {
	if _, err := copyWorkspace(ctx, goBin, root, s.work, environ); err != nil {
		return err
	}
	s.file = filepath.Join(s.work, filepath.FromSlash(edit.File))
	orig, err := os.ReadFile(s.file)
	if err != nil {
		return err
	}
	if c := strings.Count(string(orig), edit.Field); c != 1 {
		return fmt.Errorf("%s has %d lines with %q, want 1: update reloadEdits in tools/slipway/bench_reload.go", edit.File, c, edit.Field)
	}
	s.orig = orig
	s.ctx = ctx
	s.stopTool = func() {}
	return nil
}

func (s *reloadSubject) stop() { s.stopOnce.Do(s.stopTool) }

func (s *reloadSubject) restore() error {
	return os.WriteFile(s.file, s.orig, 0o600) //nolint:gosec // a file of the scratch copy
}

func (s *reloadSubject) fail(opts reloadOptions, err error) {
	s.failed = true
	s.tool.Error = err.Error()
	opts.progress("%s: %v", s.tool.Tool, err)
}

// measure makes edit number i and times it: from the write of the file to
// the API answering with the new marker.
func (s *reloadSubject) measure(opts reloadOptions, i int) error {
	tag := strings.Fields(s.tool.Tool)[0]
	marker := fmt.Sprintf("[bench %s %d/%d %d]", tag, i, opts.Runs, time.Now().UnixNano()%1e9)
	src := s.call.edit.apply(string(s.orig), marker)
	editAt := time.Now()
	if err := os.WriteFile(s.file, []byte(src), 0o600); err != nil { //nolint:gosec // a file of the scratch copy
		return err
	}
	seenAt, err := s.call.waitFor(s.ctx, marker, opts.Timeout)
	if err != nil {
		return err
	}
	sample, err := s.breakdown(editAt, seenAt)
	if err != nil {
		return err
	}
	total := seenAt.Sub(editAt)
	sample.TotalMS = msFloat(total)
	s.tool.Samples = append(s.tool.Samples, sample)
	opts.progress("%-12s edit %d/%d: %s (build %s, stop %s, ready %s)", s.tool.Tool, i, opts.Runs, report.Seconds(total),
		secText(sample.BuildMS), secText(sample.StopMS), secText(sample.ReadyMS))
	return nil
}

// startDev runs slipway dev's hot reload in process on the subject's copy
// and waits until it watches.
func (s *reloadSubject) startDev(ctx context.Context, dev fleet.Options, svc fleet.Service, log io.Writer) error {
	devCtx, cancel := context.WithCancel(ctx)
	s.ctx = devCtx
	watching := make(chan struct{})
	reports := make(chan fleet.ReloadReport, 64)
	dev.OnWatch = func() { close(watching) }
	dev.OnReload = func(r fleet.ReloadReport) {
		select {
		case reports <- r:
		default:
		}
	}
	done := make(chan error, 1)
	go func() {
		err := devloop.Run(devCtx, dev)
		cancel() // dev ended: so does every wait on it
		done <- err
	}()
	s.stopTool = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(log, "slipway dev ended: %v\n", err)
		}
	}
	s.breakdown = func(_, _ time.Time) (reloadSample, error) {
		// The report follows SERVING by microseconds; the API may answer first.
		timeout := time.After(10 * time.Second)
		for {
			select {
			case r := <-reports:
				if r.Service != svc.Name {
					continue
				}
				if r.Err != nil {
					return reloadSample{}, r.Err
				}
				return reloadSample{BuildMS: msFloat(r.Build), StopMS: msFloat(r.Stop), ReadyMS: msFloat(r.Ready)}, nil
			case <-timeout:
				return reloadSample{}, errors.New("no reload report")
			}
		}
	}
	select {
	case <-watching:
		return nil
	case <-devCtx.Done():
		return errors.New("dev ended before it watched; see the log")
	}
}

// reloadEnviron is the parent environment without what would change
// the service under test, with the scratch workspace and the bench's broker.
func reloadEnviron(parent []string, work, natsURL string) []string {
	var env []string
	for _, kv := range parent {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "DATABASE_URL", k == "NATS_URL", k == "GOWORK", k == "DRAIN_DELAY",
			strings.HasPrefix(k, "AUTH_"), strings.HasPrefix(k, "ADMIN_"), strings.HasPrefix(k, "SLIPWAY_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOWORK="+filepath.Join(work, "go.work"), "NATS_URL="+natsURL)
}

// reloadCall is the REST call whose response shows the edit.
type reloadCall struct {
	edit   reloadEdit
	url    string
	client *http.Client
	token  string
}

// get calls the API once and returns the body of a 200 answer.
func (c *reloadCall) get(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return "", err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return string(body), nil
}

// waitFor polls the call every 10ms until its answer contains want ("" is
// any 200 answer) and returns when it first did.
func (c *reloadCall) waitFor(ctx context.Context, want string, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		body, err := c.get(ctx)
		if err == nil && strings.Contains(body, want) {
			return time.Now(), nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("the answer has no %q yet", want)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s did not show the change within %s (last: %w)", c.url, timeout, last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ready waits for the service to answer SERVING, signs in when the call
// needs it, and waits for the call to answer.
func (c *reloadCall) ready(ctx context.Context, svc fleet.Service, timeout time.Duration) error {
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if r := fleet.PollServing(wait, svc.GRPCDial, svc.ClientTLS); r.Err != nil {
		return fmt.Errorf("%s not SERVING on %s within %s (last: %w)", svc.Name, svc.GRPCDial, timeout, r.Err)
	}
	if err := c.signIn(ctx, svc.HTTPDial); err != nil {
		return err
	}
	_, err := c.waitFor(ctx, "", timeout)
	return err
}

// signIn registers a user and logs in, for a call that needs a token. The
// token stays valid across restarts: the signing key is a file.
func (c *reloadCall) signIn(ctx context.Context, httpAddr string) error {
	if !c.edit.Login {
		return nil
	}
	email := fmt.Sprintf("bench-%d@example.com", time.Now().UnixNano())
	const password = "bench-password-1"
	post := func(path string, body any) ([]byte, error) {
		payload, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+path, bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(out))
		}
		return out, err
	}
	if _, err := post("/v1/users", map[string]string{"email": email, "password": password, "displayName": "Bench"}); err != nil {
		return err
	}
	out, err := post("/v1/sessions", map[string]string{"email": email, "password": password})
	if err != nil {
		return err
	}
	var session struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal(out, &session); err != nil || session.AccessToken == "" {
		return fmt.Errorf("login answered no access token: %s", out)
	}
	c.token = session.AccessToken
	return nil
}

// copyWorkspace copies the workspace's modules (go.work's use directories)
// and go.work into dst, replacing what dst held: with git, the files git
// tracks or would track (so no build output); without, every file outside
// the directories the watcher skips. It returns how many files it copied.
func copyWorkspace(ctx context.Context, goBin, root, dst string, environ []string) (int, error) {
	mods, err := workspace.Modules(ctx, goBin, root, environ)
	if err != nil {
		return 0, err
	}
	paths := []string{"go.work", "go.work.sum"}
	for dir := range mods {
		rel, err := filepath.Rel(root, dir)
		if err != nil || !workspace.Within(root, dir) {
			return 0, fmt.Errorf("workspace module %s is outside %s: bench cannot copy it", dir, root)
		}
		paths = append(paths, rel)
	}
	slices.Sort(paths)
	files, err := gitFiles(ctx, root, paths)
	if err != nil {
		files, err = walkFiles(root, paths)
		if err != nil {
			return 0, err
		}
	}
	if err := os.RemoveAll(dst); err != nil {
		return 0, err
	}
	n := 0
	for _, rel := range files {
		src := filepath.Join(root, rel)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted but still tracked, or a link
		}
		if err := copyFile(src, filepath.Join(dst, rel), fi.Mode().Perm()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func gitFiles(ctx context.Context, root string, paths []string) ([]string, error) {
	args := append([]string{"-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--"}, paths...)
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return nil, err
	}
	var files []string
	for f := range strings.SplitSeq(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f != "" {
			files = append(files, filepath.FromSlash(f))
		}
	}
	return slices.Compact(files), nil
}

func walkFiles(root string, paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		err := filepath.WalkDir(filepath.Join(root, p), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() && rebuild.SkipDir(d.Name()) {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				rel, _ := filepath.Rel(root, path)
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	in, err := os.Open(src) //nolint:gosec // a file of the workspace
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm) //nolint:gosec // the copy keeps the original's mode
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func reloadTable(rep reloadReport) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tRUNS\tMEDIAN\tMIN\tMAX\tBUILD\tSTOP\tREADY")
	for _, t := range rep.Tools {
		if len(t.Samples) == 0 {
			fmt.Fprintf(tw, "%s\t0\t-\t-\t-\t-\t-\t-\n", t.Tool)
			continue
		}
		stop := "-"
		if t.StopMedianMS > 0 {
			stop = secText(t.StopMedianMS)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Tool, len(t.Samples), secText(t.MedianMS), secText(t.MinMS),
			secText(t.MaxMS), secText(t.BuildMedianMS), stop, secText(t.ReadyMedianMS))
	}
	_ = tw.Flush()
	for _, t := range rep.Tools {
		fmt.Fprintf(&b, "%s: %s\n", t.Tool, t.Setup)
	}
	if len(rep.Tools) == 2 && rep.Tools[0].MedianMS > 0 && rep.Tools[1].MedianMS > 0 {
		fmt.Fprintf(&b, "%s takes %.2fx the time of slipway dev (medians)\n", rep.Tools[1].Tool, rep.Tools[1].MedianMS/rep.Tools[0].MedianMS)
	}
	fmt.Fprintf(&b, "service %s; change: %s; measured from the write of the file until %s returns it;\n", rep.Service, rep.Change, rep.Call)
	fmt.Fprintln(&b, "each tool on its own copy of the workspace, edits alternating between them (ABBA)")
	fmt.Fprintln(&b, "BUILD: slipway dev's go build; air's \"building...\" to \"running...\" (its go build and the stop of the old process)")
	fmt.Fprintln(&b, "STOP: slipway dev's stop of the old process (SIGTERM to exit)")
	fmt.Fprintln(&b, "READY: slipway dev: new process start to gRPC SERVING; air: \"running...\" to the new response")
	for _, t := range rep.Tools {
		if t.Error != "" {
			fmt.Fprintf(&b, "%s failed: %s\n", t.Tool, t.Error)
		}
	}
	if len(rep.Tools) > 0 && len(rep.Tools[0].Samples) > 0 {
		fmt.Fprintf(&b, "goal: median <= %s (seed asks <= %s); slipway dev: %s, %s\n", report.Seconds(reloadTarget), report.Seconds(reloadSeed),
			secText(rep.Tools[0].MedianMS), report.Verdict(rep.Tools[0].MedianMS, reloadTarget, reloadSeed))
	}
	return b.String()
}
