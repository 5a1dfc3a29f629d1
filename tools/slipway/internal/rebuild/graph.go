package rebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// serviceGraph knows which service binaries each workspace file is built
// into, from `go list -deps` of every service's main package, so hot reload
// rebuilds only the services a change affects. It is safe for concurrent use:
// the watcher asks it which files matter while dev refreshes it after a
// rebuild (an edit may have added an import).
type serviceGraph struct {
	root     string
	goBin    string
	environ  []string
	services []string // in start order
	modules  map[string]bool

	mu   sync.RWMutex
	deps map[string]serviceDeps // by service
}

// serviceDeps are the workspace directories one service's binary is built from.
type serviceDeps struct {
	dirs    map[string]bool // package directories
	embeds  map[string]bool // directories holding files the packages embed
	ignored map[string]bool // .go files of those packages that build constraints exclude (wire.go)
}

// changeImpact is what a batch of changed files asks of dev.
type changeImpact struct {
	Services []string // to rebuild and restart, in start order
	Regen    bool     // a .proto changed: regenerate the code first
	Files    []string // the changed files that matter, relative to the root
}

// Empty reports whether the changes affect nothing dev runs.
func (c changeImpact) Empty() bool { return len(c.Services) == 0 && !c.Regen }

// listedPackage is the part of `go list -json` output the graph reads.
type listedPackage struct {
	Dir            string
	Standard       bool
	EmbedFiles     []string
	IgnoredGoFiles []string
}

// Fields asked of go list: fewer fields, less work for it.
const listFields = "Dir,Standard,EmbedFiles,IgnoredGoFiles"

// loadServiceGraph lists the dependencies of every service's main package,
// at most GOMAXPROCS go list commands at a time.
func loadServiceGraph(ctx context.Context, goBin, root string, services, environ []string) (*serviceGraph, error) {
	g := &serviceGraph{root: root, goBin: goBin, environ: environ, services: slices.Clone(services), deps: map[string]serviceDeps{}}
	mods, err := workspace.Modules(ctx, goBin, root, environ)
	if err != nil {
		return nil, err
	}
	g.modules = mods
	if err := g.Refresh(ctx, services...); err != nil {
		return nil, err
	}
	return g, nil
}

// Refresh lists the dependencies of the given services again.
func (g *serviceGraph) Refresh(ctx context.Context, services ...string) error {
	found := make([]serviceDeps, len(services))
	errs := make([]error, len(services))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, svc := range services {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			found[i], errs[i] = listServiceDeps(ctx, g.goBin, g.root, svc, g.environ)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, svc := range services {
		g.deps[svc] = found[i]
	}
	return nil
}

// Packages is how many workspace package directories the services use.
func (g *serviceGraph) Packages() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	dirs := map[string]bool{}
	for _, d := range g.deps {
		for dir := range d.dirs {
			dirs[dir] = true
		}
	}
	return len(dirs)
}

// listServiceDeps runs `go list -deps` on one service's main package and
// keeps the packages inside the workspace root (the module cache never
// changes under dev's feet).
func listServiceDeps(ctx context.Context, goBin, root, svc string, environ []string) (serviceDeps, error) {
	pkg := "./" + filepath.ToSlash(workspace.MainDir(svc))
	cmd := exec.CommandContext(ctx, goBin, "list", "-e", "-deps", "-json="+listFields, pkg)
	cmd.Dir = root
	cmd.Env = environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		return serviceDeps{}, fmt.Errorf("go list -deps %s: %w\n%s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	deps := serviceDeps{dirs: map[string]bool{}, embeds: map[string]bool{}, ignored: map[string]bool{}}
	dec := json.NewDecoder(bytes.NewReader(stdout))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return serviceDeps{}, fmt.Errorf("go list -deps %s: %w", pkg, err)
		}
		if p.Standard || p.Dir == "" || !workspace.Within(root, p.Dir) {
			continue
		}
		dir := filepath.Clean(p.Dir)
		deps.dirs[dir] = true
		for _, f := range p.EmbedFiles {
			deps.embeds[filepath.Dir(filepath.Join(dir, f))] = true
		}
		for _, f := range p.IgnoredGoFiles {
			deps.ignored[filepath.Join(dir, f)] = true
		}
	}
	if len(deps.dirs) == 0 {
		return serviceDeps{}, fmt.Errorf("go list -deps %s: no package of the workspace", pkg)
	}
	return deps, nil
}

// Relevant reports whether a change to file (absolute) affects any service.
func (g *serviceGraph) Relevant(file string) bool {
	svcs, regen := g.affects(file)
	return regen || len(svcs) > 0
}

// Impact works out what a batch of changed files (absolute paths) needs.
func (g *serviceGraph) Impact(files []string) changeImpact {
	var c changeImpact
	hit := map[string]bool{}
	for _, f := range files {
		svcs, regen := g.affects(f)
		if !regen && len(svcs) == 0 {
			continue
		}
		c.Regen = c.Regen || regen
		for _, s := range svcs {
			hit[s] = true
		}
		rel, _ := filepath.Rel(g.root, f)
		c.Files = append(c.Files, filepath.ToSlash(rel))
	}
	for _, s := range g.services {
		if hit[s] {
			c.Services = append(c.Services, s)
		}
	}
	return c
}

// Extensions of non-Go files the go command compiles into a package.
var packageSourceExts = map[string]bool{".s": true, ".S": true, ".c": true, ".h": true, ".cc": true, ".cpp": true, ".syso": true}

// affects returns the services a change to file rebuilds, and whether the
// change asks for code generation first. The rules:
//
//   - go.work, and go.mod or go.sum of a workspace module: every service
//     (the workspace selects one version of each dependency for all);
//   - a .proto under api/proto: regenerate, then every service;
//   - anything else under api/gen but .go: nothing (generator output that
//     follows a .proto change, which rebuilt everything already);
//   - a .go file: the services whose binaries hold its package, unless it is
//     a test or build constraints exclude it;
//   - any other file: the services that embed files of its directory, or
//     compile it (assembly, cgo).
func (g *serviceGraph) affects(file string) (services []string, regen bool) {
	file = filepath.Clean(file)
	if !workspace.Within(g.root, file) {
		return nil, false
	}
	rel, _ := filepath.Rel(g.root, file)
	rel = filepath.ToSlash(rel)
	base, ext, dir := path.Base(rel), path.Ext(rel), filepath.Dir(file)
	switch {
	case rel == "go.work" || rel == "go.work.sum":
		return g.services, false
	case base == "go.mod" || base == "go.sum":
		if g.modules[dir] {
			return g.services, false
		}
		return nil, false
	case strings.HasPrefix(rel, "api/proto/") && ext == ".proto":
		return g.services, true
	case strings.HasPrefix(rel, "api/gen/") && ext != ".go":
		return nil, false
	case strings.HasSuffix(base, "_test.go"):
		return nil, false
	}

	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, svc := range g.services {
		d := g.deps[svc]
		var hit bool
		switch {
		case ext == ".go":
			hit = d.dirs[dir] && !d.ignored[file]
		case packageSourceExts[ext]:
			hit = d.dirs[dir]
		default:
			hit = d.embeds[dir]
		}
		if hit {
			services = append(services, svc)
		}
	}
	return services, false
}
