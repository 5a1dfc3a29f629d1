package rebuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nextBatch waits for one batch, failing after wait.
func nextBatch(t *testing.T, batches <-chan []Change, wait time.Duration) []Change {
	t.Helper()
	select {
	case b := <-batches:
		return b
	case <-time.After(wait):
		t.Fatalf("no batch within %s", wait)
		return nil
	}
}

// noBatch checks that nothing arrives for wait.
func noBatch(t *testing.T, batches <-chan []Change, wait time.Duration) {
	t.Helper()
	select {
	case b := <-batches:
		t.Fatalf("unexpected batch: %v", b)
	case <-time.After(wait):
	}
}

func paths(batch []Change) []string {
	var ps []string
	for _, c := range batch {
		ps = append(ps, c.Path)
	}
	return ps
}

func TestDebouncerCoalescesABurst(t *testing.T) {
	const quiet = 150 * time.Millisecond
	d := newDebouncer(quiet, time.Minute)
	go d.run(t.Context())

	start := time.Now()
	var last time.Time
	for i, p := range []string{"a.go", "b.go", "a.go", "c.go", "b.go"} {
		d.Add(Change{Path: p, At: start.Add(time.Duration(i) * time.Millisecond)})
		last = time.Now()
		time.Sleep(10 * time.Millisecond) // well within the quiet time
	}
	batch := nextBatch(t, d.out, 5*time.Second)
	assert.Equal(t, []string{"a.go", "b.go", "c.go"}, paths(batch), "one batch, each path once, in first-seen order")
	assert.Equal(t, start, batch[0].At, "a path keeps the time of its first change")
	assert.GreaterOrEqual(t, time.Since(last), quiet, "the batch waited for the tree to be quiet after the last change")
	noBatch(t, d.out, 3*quiet)

	d.Add(Change{Path: "d.go", At: time.Now()})
	assert.Equal(t, []string{"d.go"}, paths(nextBatch(t, d.out, 5*time.Second)), "a later change is a batch of its own")
}

func TestDebouncerBoundsTheWait(t *testing.T) {
	d := newDebouncer(200*time.Millisecond, 500*time.Millisecond)
	go d.run(t.Context())

	start := time.Now()
	stop := time.After(1500 * time.Millisecond)
	var batch []Change
	for i := 0; batch == nil; i++ {
		select {
		case batch = <-d.out:
		case <-stop:
			t.Fatal("a tree that never goes quiet got no batch")
		case <-time.After(50 * time.Millisecond):
			d.Add(Change{Path: "log" + string(rune('a'+i%26)), At: time.Now()})
		}
	}
	assert.Less(t, time.Since(start), 1200*time.Millisecond)
	assert.NotEmpty(t, batch)
}

func TestDebouncerMergesWhileTheReceiverIsBusy(t *testing.T) {
	const quiet = 30 * time.Millisecond
	d := newDebouncer(quiet, time.Minute)
	go d.run(t.Context())

	d.Add(Change{Path: "a.go", At: time.Now()})
	time.Sleep(10 * quiet) // quiet: a batch is ready, nobody takes it
	d.Add(Change{Path: "b.go", At: time.Now()})
	d.Add(Change{Path: "a.go", At: time.Now()})
	time.Sleep(10 * quiet)
	assert.Equal(t, []string{"a.go", "b.go"}, paths(nextBatch(t, d.out, 5*time.Second)))
	noBatch(t, d.out, 3*quiet)
}

func TestWatcherReportsChangesRecursively(t *testing.T) {
	root := t.TempDir()
	for _, dir := range []string{"pkg/sub", ".git/objects", ".slipway/bin", "web/node_modules/x", "pkg/testdata"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, dir), 0o755))
	}
	keep := func(p string) bool { return strings.HasSuffix(p, ".go") }
	w, err := newWatcher(root, keep, 50*time.Millisecond, func(err error) { t.Errorf("watch error: %v", err) })
	require.NoError(t, err)
	assert.Equal(t, 4, w.Dirs(), "root, pkg, pkg/sub and web; not .git, .slipway, node_modules or testdata")
	go w.Run(t.Context())

	write := func(rel, content string) string {
		p := filepath.Join(root, filepath.FromSlash(rel))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	a := write("pkg/sub/a.go", "package sub\n")
	write("pkg/sub/notes.txt", "ignored by keep")
	write(".slipway/bin/x.go", "package x\n")
	write("web/node_modules/x/y.go", "package y\n")
	write("pkg/testdata/t.go", "package t\n")
	assert.Equal(t, []string{a}, paths(nextBatch(t, w.Batches(), 5*time.Second)))

	// A directory created later is watched, and what landed in it before the
	// watch is reported.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "pkg", "fresh", "deeper"), 0o755))
	b := write("pkg/fresh/deeper/b.go", "package deeper\n")
	assert.Equal(t, []string{b}, paths(nextBatch(t, w.Batches(), 5*time.Second)))

	c := write("pkg/fresh/deeper/c.go", "package deeper\n")
	require.NoError(t, os.Remove(a))
	batch := paths(nextBatch(t, w.Batches(), 5*time.Second))
	assert.ElementsMatch(t, []string{a, c}, batch, "writes and removals both count")
}
