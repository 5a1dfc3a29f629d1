package workspace_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithin(t *testing.T) {
	root := filepath.FromSlash("/ws")
	tests := []struct {
		path string
		want bool
	}{
		{"/ws", true},
		{"/ws/services/user/main.go", true},
		{"/ws/./api/../go.work", true},
		{"/ws/..hidden/x.go", true}, // a name that starts with two dots is inside
		{"/", false},
		{"/elsewhere/main.go", false},
		{"/ws-other/main.go", false}, // a sibling sharing the prefix is outside
		{"/ws/../elsewhere", false},
		{"relative/main.go", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want, workspace.Within(root, filepath.FromSlash(tt.path)))
		})
	}
}

func TestModules(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	ok := "package main\n\nfunc main() {}\n"
	root := clitest.GoWorkspace(t, map[string]string{"user": ok, "order": ok})

	mods, err := workspace.Modules(t.Context(), goBin, root, os.Environ())
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{
		filepath.Join(root, "services", "user"):  true,
		filepath.Join(root, "services", "order"): true,
	}, mods, "go.work's relative use directories, made absolute")

	// An absolute use directory is kept as it is.
	elsewhere := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(elsewhere, "go.mod"), []byte("module example.com/elsewhere\n\ngo 1.26.0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26.0\n\nuse "+elsewhere+"\n"), 0o644))
	mods, err = workspace.Modules(t.Context(), goBin, root, os.Environ())
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{elsewhere: true}, mods)

	// Without a go.work the go command has nothing to edit.
	_, err = workspace.Modules(t.Context(), goBin, t.TempDir(), append(os.Environ(), "GOWORK=off"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "go work edit -json")
}
