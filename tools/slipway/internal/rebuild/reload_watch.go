package rebuild

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
)

// Watch is hot reload's watcher, which dev starts before the first build.
// Until the package graph is known (go list, once every service serves) it
// keeps every changed file; from then on only those the services are built
// from. The debouncer holds the early changes until dev takes them, so a
// file saved while the services build or start is rebuilt then, not lost.
type Watch struct {
	root   string
	opts   fleet.Options
	out    *fleet.Console
	w      *watcher
	graph  atomic.Pointer[serviceGraph] // nil until StartReload has listed the packages
	cancel context.CancelFunc
	once   sync.Once
}

// StartWatch watches every directory under root that dev does not skip.
func StartWatch(ctx context.Context, root string, opts fleet.Options, out *fleet.Console) (*Watch, error) {
	h := &Watch{root: root, opts: opts, out: out}
	w, err := newWatcher(root, h.keep, opts.Debounce, func(err error) { out.Infof("hot reload: watch error: %v", err) })
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	h.w = w
	watchCtx, cancel := context.WithCancel(ctx) //nolint:gosec // Stop calls it (h.cancel)
	h.cancel = cancel
	go w.Run(watchCtx)
	return h, nil
}

// keep tells the watcher which changed files matter: all of them until the
// graph is known (the reload filters them then), afterwards what it says.
func (h *Watch) keep(path string) bool {
	g := h.graph.Load()
	return g == nil || g.Relevant(path)
}

// Batches delivers the changed files in debounced batches.
func (h *Watch) Batches() <-chan []Change { return h.w.Batches() }

// Stop ends the watch; nil and repeated calls are fine.
func (h *Watch) Stop() {
	if h == nil {
		return
	}
	h.once.Do(h.cancel)
}

// StartReload learns which packages each service is built from and returns
// the Reloader. The changes that arrived since builtFrom (when the first
// build began) are waiting in the debouncer for dev to take.
func (h *Watch) StartReload(ctx context.Context, names []string, plan []fleet.Service, procs map[string]*fleet.Process, sup *fleet.Supervisor, builtFrom time.Time) (*Reloader, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("find the go command: %w", err)
	}
	start := time.Now()
	graph, err := loadServiceGraph(ctx, goBin, h.root, names, h.opts.Environ)
	if err != nil {
		return nil, fmt.Errorf("package graph: %w", err)
	}
	h.graph.Store(graph)
	h.out.Infof("hot reload on: watching %d directories since before the build; the services are built from %d workspace packages (go list took %s); --no-watch turns it off",
		h.w.Dirs(), graph.Packages(), report.Seconds(time.Since(start)))
	r := newReloader(h.root, goBin, graph, sup, h.out, h.opts, plan, procs)
	r.builtFrom = builtFrom
	r.readyAt = time.Now()
	if h.opts.OnWatch != nil {
		h.opts.OnWatch()
	}
	return r, nil
}
