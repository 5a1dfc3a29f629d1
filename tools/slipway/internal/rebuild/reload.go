package rebuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Reloader rebuilds and restarts the services a batch of changes affects.
// Everything but the restarts runs on dev's main goroutine, which also owns
// procs; the restarts of several services run side by side.
type Reloader struct {
	root  string
	goBin string
	graph *serviceGraph
	sup   *fleet.Supervisor
	out   *fleet.Console
	opts  fleet.Options
	plan  map[string]fleet.Service
	procs map[string]*fleet.Process // the current process of each service, live or not

	builtFrom time.Time      // when the first build began: what changed before, it has
	readyAt   time.Time      // when hot reload was ready: what changed before waited for it
	genDone   time.Time      // when the last code generation ended
	ownExits  map[string]int // exits the Reloader reported itself, for dev to skip
	refreshed chan error     // nil unless a graph refresh runs
}

func newReloader(root, goBin string, graph *serviceGraph, sup *fleet.Supervisor, out *fleet.Console, opts fleet.Options, plan []fleet.Service, procs map[string]*fleet.Process) *Reloader {
	r := &Reloader{root: root, goBin: goBin, graph: graph, sup: sup, out: out, opts: opts,
		plan: map[string]fleet.Service{}, procs: procs, ownExits: map[string]int{}}
	for _, s := range plan {
		r.plan[s.Name] = s
	}
	return r
}

// OwnExit reports whether dev should skip an exit the supervisor delivered
// because the Reloader already reported it.
func (r *Reloader) OwnExit(name string) bool {
	if r.ownExits[name] > 0 {
		r.ownExits[name]--
		return true
	}
	return false
}

// Process returns the current process of svc, live or not (nil before its
// first start).
func (r *Reloader) Process(svc string) *fleet.Process { return r.procs[svc] }

// running reports whether the service's current process is alive.
func (r *Reloader) running(svc string) bool {
	p := r.procs[svc]
	if p == nil {
		return false
	}
	select {
	case <-p.Done():
		return false
	default:
		return true
	}
}

// genEchoSlack covers the delay between a generator writing a file and the
// watcher stamping the event.
const genEchoSlack = 100 * time.Millisecond

// Reload handles one batch of changes: regenerate when a .proto changed,
// build every affected service to a temporary name, and only for the builds
// that succeeded replace the binary and restart the process. A failed build
// leaves the old process serving.
func (r *Reloader) Reload(ctx context.Context, changes []Change) {
	p := pass{start: time.Now()}
	files, early, lost := r.sift(changes)
	p.impact = reloadImpact(r.graph, files, lost)
	if p.impact.Empty() {
		return
	}
	if lost {
		r.out.Infof("the watcher lost events (the kernel's queue overflowed), so any file may have changed: rebuilding every service")
	}
	when := ""
	if early {
		when = " while the services built or started"
	}
	r.out.Infof("%s changed%s: rebuilding %s", summarizeFiles(p.impact.Files), when, strings.Join(p.impact.Services, ", "))
	if p.impact.Regen && !r.generate(ctx, &p) {
		return
	}
	restart := r.buildAndInstall(ctx, p)
	if ctx.Err() != nil || len(restart) == 0 {
		return
	}
	if rebuilt, ok := r.restartAll(ctx, p, restart); ok {
		// An edit may have added imports: learn the graph of what was
		// rebuilt again, in the background, so the next change is not
		// delayed by it.
		r.refresh(ctx, rebuilt)
	}
}

// pass is one batch's reload under way.
type pass struct {
	impact changeImpact
	start  time.Time     // when the batch arrived
	gen    time.Duration // the code generation's share
}

// sift returns the changed files a batch brings that the first build did
// not already hold, whether any was saved before hot reload was ready, and
// whether the watcher lost events.
func (r *Reloader) sift(changes []Change) (files []string, early, lost bool) {
	for _, c := range changes {
		// The watcher stamps a change after the write, so one stamped
		// before the first build began is in it.
		if c.At.Before(r.builtFrom) {
			continue
		}
		early = early || c.At.Before(r.readyAt)
		if c.Lost {
			lost = true
			continue
		}
		// The generator's own output arrives after the generation it
		// followed; everything was rebuilt already.
		if !r.genDone.IsZero() && c.At.Before(r.genDone.Add(genEchoSlack)) && workspace.Within(filepath.Join(r.root, "api", "gen"), c.Path) {
			continue
		}
		files = append(files, c.Path)
	}
	return files, early, lost
}

// generate regenerates the code for a .proto change and reports whether
// the reload goes on; when generation fails, every service keeps running.
func (r *Reloader) generate(ctx context.Context, p *pass) bool {
	took, err := r.regenerate(ctx)
	r.genDone = time.Now()
	p.gen = took
	if err != nil {
		if ctx.Err() == nil {
			r.out.Infof("code generation failed after %s; every service keeps running the code it had: %v", report.Seconds(took), err)
		}
		for _, svc := range p.impact.Services {
			r.report(fleet.ReloadReport{Service: svc, Files: p.impact.Files, Total: time.Since(p.start), Gen: p.gen, Err: err})
		}
		return false
	}
	r.out.Infof("regenerated the code from the protos in %s", report.Seconds(took))
	return true
}

// buildAndInstall builds the affected services and moves each binary that
// built into place; it returns those builds, and reports the failed ones.
func (r *Reloader) buildAndInstall(ctx context.Context, p pass) []fleet.BuildResult {
	builds := r.buildAll(ctx, p.impact.Services)
	if ctx.Err() != nil {
		return nil
	}
	var built []fleet.BuildResult
	for _, b := range builds {
		if b.Err == nil {
			if err := os.Rename(b.Binary, workspace.BinaryPath(r.root, b.Service)); err != nil {
				b.Err, b.Output = err, ""
			}
		}
		if b.Err != nil {
			keeps := "the running " + b.Service + " keeps serving the old code"
			if !r.running(b.Service) {
				keeps = b.Service + " stays down until a change builds"
			}
			r.out.Infof("build of %s failed after %s; %s:", b.Service, report.Seconds(b.Took), keeps)
			if b.Output != "" {
				r.out.Block(b.Output)
			}
			r.report(fleet.ReloadReport{Service: b.Service, Files: p.impact.Files, Total: time.Since(p.start), Gen: p.gen, Build: b.Took, Err: fmt.Errorf("build %s: %w", b.Service, b.Err)})
			continue
		}
		built = append(built, b)
	}
	return built
}

// restartAll restarts the services that built, side by side, and reports
// each. It returns the services it restarted, and false when ctx ended
// meanwhile.
func (r *Reloader) restartAll(ctx context.Context, p pass, builds []fleet.BuildResult) ([]string, bool) {
	results := make([]restartResult, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Go(func() { results[i] = r.restart(ctx, b.Service) })
	}
	wg.Wait()
	var rebuilt []string
	for i, res := range results {
		b := builds[i]
		if res.proc != nil {
			r.procs[b.Service] = res.proc
		}
		rep := fleet.ReloadReport{Service: b.Service, Files: p.impact.Files, Total: res.servingAt.Sub(p.start), Gen: p.gen,
			Build: b.Took, Stop: res.stop, Ready: res.ready, Err: res.err}
		rebuilt = append(rebuilt, b.Service)
		switch {
		case ctx.Err() != nil:
			return nil, false
		case res.err == nil:
			parts := fmt.Sprintf("build %s, ready %s", report.Seconds(rep.Build), report.Seconds(rep.Ready))
			if p.gen > 0 {
				parts = "generate " + report.Seconds(p.gen) + ", " + parts
			}
			r.out.Infof("%s reloaded in %s (%s)", b.Service, report.Seconds(rep.Total), parts)
		default:
			rep.Total = time.Since(p.start)
			r.out.Infof("%s was rebuilt but is not serving: %v", b.Service, res.err)
			fleet.ShowTail(r.out, res.proc)
			if res.exited {
				r.ownExits[b.Service]++
				r.out.Infof("save a fix and dev rebuilds and restarts %s", b.Service)
			}
		}
		r.report(rep)
	}
	return rebuilt, true
}

// reloadImpact is what a batch asks of the reload: after lost events, every
// service is rebuilt (the code is not regenerated: make gen-proto does that
// when a lost .proto change is the reason).
func reloadImpact(g *serviceGraph, files []string, lost bool) changeImpact {
	impact := g.Impact(files)
	if lost {
		impact.Services = slices.Clone(g.services)
		if len(impact.Files) == 0 {
			impact.Files = []string{"(unknown: events lost)"}
		}
	}
	return impact
}

// refresh relists the dependencies of services in the background; a refresh
// that is still running is waited for first.
func (r *Reloader) refresh(ctx context.Context, services []string) {
	if r.refreshed != nil {
		if err := <-r.refreshed; err != nil && ctx.Err() == nil {
			r.out.Infof("hot reload: could not update the package graph: %v", err)
		}
	}
	done := make(chan error, 1)
	r.refreshed = done
	go func() { done <- r.graph.Refresh(ctx, services...) }()
}

func (r *Reloader) report(rep fleet.ReloadReport) {
	if r.opts.OnReload != nil {
		r.opts.OnReload(rep)
	}
}

// summarizeFiles names up to three files.
func summarizeFiles(files []string) string {
	const shown = 3
	if len(files) <= shown {
		return strings.Join(files, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(files[:shown], ", "), len(files)-shown)
}

// regenerate runs the code generators after a .proto change: `make
// gen-proto gen-openapi` when make is there, else buf for the Go code only.
func (r *Reloader) regenerate(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	var cmd *exec.Cmd
	if mk, err := exec.LookPath("make"); err == nil {
		r.out.Infof("a .proto changed: make gen-proto gen-openapi")
		cmd = exec.CommandContext(ctx, mk, "--no-print-directory", "gen-proto", "gen-openapi")
		cmd.Dir = r.root
	} else {
		r.out.Infof("a .proto changed: buf generate (make is not installed, so the OpenAPI documents stay as they are)")
		cmd = exec.CommandContext(ctx, r.goBin, "tool", "-modfile="+filepath.Join(r.root, "tools", "gen", "go.mod"), "buf", "generate")
		cmd.Dir = filepath.Join(r.root, "api")
		cmd.Env = envvar.Set(r.opts.Environ, "GOWORK", "off")
	}
	if cmd.Env == nil {
		cmd.Env = r.opts.Environ
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if text := strings.TrimSpace(string(out)); text != "" {
			r.out.Block(text)
		}
		return time.Since(start), err
	}
	return time.Since(start), nil
}

// buildAll builds services to temporary names next to their binaries, at
// most GOMAXPROCS at a time.
func (r *Reloader) buildAll(ctx context.Context, services []string) []fleet.BuildResult {
	results := make([]fleet.BuildResult, len(services))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, svc := range services {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = fleet.BuildBinary(ctx, r.goBin, r.root, svc, workspace.BinaryPath(r.root, svc)+".next", r.opts.Environ, fleet.BuildFlags...)
		})
	}
	wg.Wait()
	return results
}

// restartResult is how one service's restart went.
type restartResult struct {
	proc      *fleet.Process
	stop      time.Duration
	ready     time.Duration
	servingAt time.Time
	exited    bool // the new process exited before it was SERVING
	err       error
}

// restart replaces a service's process: the ports are fixed, so the old one
// stops first (SIGTERM, then SIGKILL after the stop timeout), then the new
// one starts and dev waits for it to answer SERVING.
func (r *Reloader) restart(ctx context.Context, svc string) restartResult {
	var res restartResult
	s := r.plan[svc]
	if old := r.procs[svc]; old != nil {
		stopAt := time.Now()
		if e := r.sup.Stop(old, r.opts.StopTimeout, r.opts.Force); e.Killed {
			r.out.Infof("the old %s did not stop within %s: killed", svc, r.opts.StopTimeout)
		}
		res.stop = time.Since(stopAt)
	}
	p, err := r.sup.Start(fleet.ProcSpec{Name: s.Name, Path: s.Binary, Dir: r.root, Env: s.Env})
	if err != nil {
		res.err = err
		return res
	}
	res.proc = p

	readyCtx, cancel := context.WithTimeout(ctx, r.opts.ReadyTimeout)
	defer cancel()
	polled := make(chan fleet.Readiness, 1)
	go func() { polled <- fleet.PollServing(readyCtx, s.GRPCDial, s.ClientTLS) }()
	select {
	case rd := <-polled:
		if rd.Err != nil {
			res.err = fmt.Errorf("not SERVING within %s (last: %w)", r.opts.ReadyTimeout, rd.Err)
			return res
		}
		res.servingAt = rd.At
		res.ready = rd.At.Sub(p.Started())
	case <-p.Done():
		cancel()
		<-polled
		res.exited = true
		res.err = errors.New("it exited before it was SERVING: " + p.Exit().Describe())
	}
	return res
}
