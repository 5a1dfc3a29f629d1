package rebuild

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// When the kernel's event queue overflows, which files changed is unknown:
// the watcher says so with a change of the whole root.
func TestWatcherReportsLostEvents(t *testing.T) {
	root := t.TempDir()
	var warned []error
	w, err := newWatcher(root, func(string) bool { return true }, 20*time.Millisecond, func(err error) { warned = append(warned, err) })
	require.NoError(t, err)
	go w.Run(t.Context())

	w.handleError(errors.New("some other watch error"))
	noBatch(t, w.Batches(), 100*time.Millisecond)

	w.handleError(fsnotify.ErrEventOverflow)
	batch := nextBatch(t, w.Batches(), 5*time.Second)
	require.Len(t, batch, 1)
	assert.Equal(t, root, batch[0].Path)
	assert.True(t, batch[0].Lost)
	assert.Len(t, warned, 2, "both errors are shown")
}

// Lost events rebuild every service; a batch without them only the
// services the files are built into.
func TestReloadImpactOfLostEvents(t *testing.T) {
	root := t.TempDir()
	userDir, invDir := filepath.Join(root, "services", "user", "x"), filepath.Join(root, "services", "inventory", "x")
	g := &serviceGraph{root: root, services: []string{"user", "inventory"}, deps: map[string]serviceDeps{
		"user":      {dirs: map[string]bool{userDir: true}},
		"inventory": {dirs: map[string]bool{invDir: true}},
	}}

	c := reloadImpact(g, []string{filepath.Join(userDir, "a.go")}, false)
	assert.Equal(t, []string{"user"}, c.Services)
	assert.Equal(t, []string{"services/user/x/a.go"}, c.Files)

	assert.True(t, reloadImpact(g, nil, false).Empty())

	c = reloadImpact(g, nil, true)
	assert.Equal(t, []string{"user", "inventory"}, c.Services)
	assert.False(t, c.Regen)
	require.Len(t, c.Files, 1)
	assert.True(t, strings.Contains(c.Files[0], "events lost"))

	c = reloadImpact(g, []string{filepath.Join(userDir, "a.go")}, true)
	assert.Equal(t, []string{"user", "inventory"}, c.Services)
	assert.Equal(t, []string{"services/user/x/a.go"}, c.Files, "the files known to have changed are named")
}
