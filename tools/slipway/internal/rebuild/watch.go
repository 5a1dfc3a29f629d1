// Package rebuild is dev's hot reload: it watches the workspace (fsnotify,
// debounced), knows from the package graph which services a changed file is
// built into, and rebuilds and restarts only those.
package rebuild

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
)

// Change is one changed file of a batch.
type Change struct {
	Path string    // absolute
	At   time.Time // first event for the path in this batch
	Lost bool      // events were lost (the kernel's queue overflowed): Path is the root, anything may have changed
}

// SkipDir reports whether a directory below the root is left unwatched:
// dot directories (.git, .slipway, editors' state), node_modules, and the
// directories the go command itself ignores (testdata, _name).
func SkipDir(name string) bool {
	return name == "node_modules" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// watcher watches a tree recursively with fsnotify (which watches single
// directories) and hands over the changed files that matter, in debounced
// batches. Directories created later are watched as they appear.
type watcher struct {
	root  string
	fsw   *fsnotify.Watcher
	keep  func(path string) bool // which changed files matter
	warn  func(err error)
	deb   *debouncer
	nDirs int
}

// newWatcher watches every directory under root but the skipped ones. keep
// filters the changed files; warn hears of watch errors (nil: ignored).
func newWatcher(root string, keep func(string) bool, quiet time.Duration, warn func(error)) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if warn == nil {
		warn = func(error) {}
	}
	w := &watcher{root: root, fsw: fsw, keep: keep, warn: warn, deb: newDebouncer(quiet, fleet.MaxBatchDelay)}
	n, _, err := w.addTree(root)
	if err != nil {
		_ = fsw.Close()
		return nil, err
	}
	w.nDirs = n
	return w, nil
}

// Dirs is how many directories were watched at the start.
func (w *watcher) Dirs() int { return w.nDirs }

// Batches delivers the changed files, one batch once the tree is quiet.
func (w *watcher) Batches() <-chan []Change { return w.deb.out }

// Run forwards events until ctx ends, then stops watching.
func (w *watcher) Run(ctx context.Context) {
	defer w.fsw.Close()
	go w.deb.run(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.handleError(err)
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.handle(ev)
		}
	}
}

// handleError reports a watch error. When events were lost, which files
// changed is unknown: a change of the whole root says so, so that no edit
// goes unbuilt.
func (w *watcher) handleError(err error) {
	w.warn(err)
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.deb.Add(Change{Path: w.root, At: time.Now(), Lost: true})
	}
}

func (w *watcher) handle(ev fsnotify.Event) {
	// Chmod alone changes no content (touch, editors' metadata updates).
	if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		return
	}
	now := time.Now()
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			if SkipDir(fi.Name()) {
				return
			}
			// Files may have landed in it before the watch did (mkdir -p
			// then write, git checkout): report them too.
			_, files, err := w.addTree(ev.Name)
			if err != nil {
				w.warn(err)
			}
			for _, f := range files {
				if w.keep(f) {
					w.deb.Add(Change{Path: f, At: now})
				}
			}
			return
		}
	}
	if w.keep(ev.Name) {
		w.deb.Add(Change{Path: ev.Name, At: now})
	}
}

// addTree watches dir and every directory below it that is not skipped, and
// returns how many directories it watched and the files found on the way.
func (w *watcher) addTree(dir string) (int, []string, error) {
	var (
		dirs  int
		files []string
	)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			return nil // vanished or unreadable below: not ours to watch
		}
		if !d.IsDir() {
			files = append(files, path)
			return nil
		}
		if path != w.root && SkipDir(d.Name()) {
			return filepath.SkipDir
		}
		if err := w.fsw.Add(path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		dirs++
		return nil
	})
	return dirs, files, err
}

// debouncer collects changes and hands them over as one batch once none has
// arrived for quiet, or once the oldest has waited maxWait. While the
// receiver is busy (rebuilding), later batches merge into the waiting one.
type debouncer struct {
	quiet   time.Duration
	maxWait time.Duration
	in      chan Change
	out     chan []Change
	done    chan struct{} // closed when run returns
}

func newDebouncer(quiet, maxWait time.Duration) *debouncer {
	return &debouncer{
		quiet: quiet, maxWait: maxWait,
		in: make(chan Change, 256), out: make(chan []Change), done: make(chan struct{}),
	}
}

// Add queues one change; after run has returned it drops it.
func (d *debouncer) Add(c Change) {
	select {
	case d.in <- c:
	case <-d.done:
	}
}

// run batches the changes until ctx ends.
func (d *debouncer) run(ctx context.Context) {
	defer close(d.done)
	var (
		pending []Change  // not quiet yet
		ready   []Change  // quiet, waiting for the receiver
		first   time.Time // of pending
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var out chan []Change
		if len(ready) > 0 {
			out = d.out
		}
		select {
		case <-ctx.Done():
			return
		case c := <-d.in:
			if len(pending) == 0 {
				first = time.Now()
			}
			pending = mergeChanges(pending, c)
			wait := min(d.quiet, time.Until(first.Add(d.maxWait)))
			timer.Reset(max(wait, 0))
		case <-timer.C:
			for _, c := range pending {
				ready = mergeChanges(ready, c)
			}
			pending = nil
		case out <- ready:
			ready = nil
		}
	}
}

// mergeChanges adds c to batch unless its path is there already, keeping
// the first time a path changed.
func mergeChanges(batch []Change, c Change) []Change {
	for _, b := range batch {
		if b.Path == c.Path && b.Lost == c.Lost {
			return batch
		}
	}
	return append(batch, c)
}
