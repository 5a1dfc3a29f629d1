package clitest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// GoWorkspace makes a real workspace with one stdlib-only module per service
// whose main is the given source.
func GoWorkspace(t *testing.T, mains map[string]string) string {
	t.Helper()
	root := t.TempDir()
	work := "go 1.26.0\n\nuse (\n"
	for svc, src := range mains {
		dir := filepath.Join(root, "services", svc)
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "cmd", svc), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/"+svc+"\n\ngo 1.26.0\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "cmd", svc, "main.go"), []byte(src), 0o644))
		work += "\t./services/" + svc + "\n"
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte(work+")\n"), 0o644))
	return root
}

// GRPCWorkspace makes a workspace of one module holding the main package of
// svc. The module requires what slipway's module requires (but the
// workspace's own modules), with its go.sum, so the main can import grpc
// and the build needs only the module cache.
func GRPCWorkspace(t *testing.T, svc, mainSrc string) string {
	t.Helper()
	modDir := moduleDir(t)
	gomod, err := os.ReadFile(filepath.Join(modDir, "go.mod"))
	require.NoError(t, err)
	gosum, err := os.ReadFile(filepath.Join(modDir, "go.sum"))
	require.NoError(t, err)
	mod := "module example.com/" + svc + "\n"
	goLine := "go 1.26.0"
	inReplace := false
	for line := range strings.SplitSeq(string(gomod), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "module "):
			continue
		case trimmed == "replace (":
			inReplace = true
			continue
		case inReplace:
			inReplace = trimmed != ")"
			continue
		case strings.HasPrefix(trimmed, "replace "), strings.Contains(trimmed, "github.com/slipway-dev/"):
			continue // the workspace's modules are not part of this one
		case strings.HasPrefix(trimmed, "go "):
			goLine = trimmed
		}
		mod += line + "\n"
	}

	root := t.TempDir()
	dir := filepath.Join(root, "services", svc)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "cmd", svc), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), gosum, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cmd", svc, "main.go"), []byte(mainSrc), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte(goLine+"\n\nuse ./services/"+svc+"\n"), 0o644))
	return root
}

// moduleDir is the directory of the module the test runs in: the nearest
// parent of the working directory holding go.mod.
func moduleDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the working directory")
		dir = parent
	}
}
