package rebuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sift drops what the first build already held and the generator's own
// output, and says whether a change came early or events were lost.
func TestReloaderSift(t *testing.T) {
	root := t.TempDir()
	t0 := time.Now()
	r := &Reloader{root: root, builtFrom: t0, readyAt: t0.Add(time.Second), genDone: t0.Add(2 * time.Second)}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	file := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }

	files, early, lost := r.sift([]Change{
		{Path: file("services/user/a.go"), At: at(-time.Millisecond)},              // before the build began: built
		{Path: file("services/user/b.go"), At: at(500 * time.Millisecond)},         // while the services started
		{Path: file("api/gen/go/x.pb.go"), At: at(2*time.Second + genEchoSlack/2)}, // the generator's echo
		{Path: file("api/gen/go/y.pb.go"), At: at(3 * time.Second)},                // an edit after it
		{Path: root, At: at(3 * time.Second), Lost: true},
	})
	assert.Equal(t, []string{file("services/user/b.go"), file("api/gen/go/y.pb.go")}, files)
	assert.True(t, early, "b.go was saved before hot reload was ready")
	assert.True(t, lost)

	files, early, lost = r.sift([]Change{{Path: file("services/user/c.go"), At: at(4 * time.Second)}})
	assert.Equal(t, []string{file("services/user/c.go")}, files)
	assert.False(t, early)
	assert.False(t, lost)

	files, _, _ = r.sift([]Change{{Path: file("services/user/d.go"), At: at(-time.Second)}})
	assert.Empty(t, files, "everything saved before the build is in it")
}

// The reloader reports an exit of a service it restarted itself once per
// exit, so that dev does not report it twice.
func TestReloaderOwnExitCountsDown(t *testing.T) {
	r := &Reloader{ownExits: map[string]int{"user": 2}}
	assert.True(t, r.OwnExit("user"))
	assert.True(t, r.OwnExit("user"))
	assert.False(t, r.OwnExit("user"), "two exits were the reloader's; the third is news")
	assert.False(t, r.OwnExit("order"))
	assert.Nil(t, r.Process("user"), "no process before the first start")
}

func TestSkipDir(t *testing.T) {
	for name, skip := range map[string]bool{
		".git": true, ".slipway": true, ".idea": true, "node_modules": true, "testdata": true, "_build": true,
		"services": false, "internal": false, "gen": false, "web": false,
	} {
		assert.Equal(t, skip, SkipDir(name), name)
	}
}

// Until the package graph is known the watch keeps every file (the reload
// sorts them out then); afterwards only those the services are built from.
func TestWatchKeepsEveryFileUntilTheGraphIsKnown(t *testing.T) {
	h := &Watch{}
	assert.True(t, h.keep("/ws/README.md"))
	h.graph.Store(&serviceGraph{root: "/ws", services: []string{"user"}, deps: map[string]serviceDeps{
		"user": {dirs: map[string]bool{"/ws/services/user": true}},
	}})
	assert.True(t, h.keep("/ws/services/user/a.go"))
	assert.False(t, h.keep("/ws/README.md"))
	assert.False(t, h.keep("/ws/services/user/a_test.go"))
}

// A change that does not compile leaves the binary that was there and the
// service as it was, shows the compiler's output and reports the failure.
func TestReloadKeepsTheOldBinaryWhenTheBuildFails(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	root := clitest.GoWorkspace(t, map[string]string{"user": "package main\n\nfunc main() {}\n"})
	g, err := loadServiceGraph(t.Context(), goBin, root, []string{"user"}, os.Environ())
	require.NoError(t, err)

	var out clitest.SyncBuffer
	console := fleet.NewConsole(&out, false, "user")
	var (
		mu      sync.Mutex
		reports []fleet.ReloadReport
	)
	opts := fleet.Options{Environ: os.Environ(), OnReload: func(r fleet.ReloadReport) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, r)
	}}
	r := newReloader(root, goBin, g, fleet.NewSupervisor(console), console, opts, nil, map[string]*fleet.Process{})

	bin := workspace.BinaryPath(root, "user")
	require.NoError(t, os.MkdirAll(filepath.Dir(bin), 0o755))
	require.NoError(t, os.WriteFile(bin, []byte("the old binary"), 0o755))

	// A file no service is built from changes nothing.
	readme := filepath.Join(root, "README.md")
	require.NoError(t, os.WriteFile(readme, []byte("# ws\n"), 0o644))
	r.Reload(t.Context(), []Change{{Path: readme, At: time.Now()}})
	assert.Empty(t, out.String())

	main := filepath.Join(root, "services", "user", "cmd", "user", "main.go")
	require.NoError(t, os.WriteFile(main, []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644))
	r.Reload(t.Context(), []Change{{Path: main, At: time.Now()}})

	assert.Contains(t, out.String(), "services/user/cmd/user/main.go changed: rebuilding user")
	assert.Contains(t, out.String(), "build of user failed after")
	assert.Contains(t, out.String(), "user stays down until a change builds", "it was not running")
	assert.Contains(t, out.String(), "undefined: undefinedThing", "the compiler's output is shown")
	got, err := os.ReadFile(bin)
	require.NoError(t, err)
	assert.Equal(t, "the old binary", string(got))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reports, 1)
	assert.Equal(t, "user", reports[0].Service)
	assert.Equal(t, []string{"services/user/cmd/user/main.go"}, reports[0].Files)
	assert.ErrorContains(t, reports[0].Err, "build user")
}
