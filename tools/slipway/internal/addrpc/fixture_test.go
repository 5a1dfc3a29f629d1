package addrpc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// repoRoot is the Slipway checkout this package sits in.
const repoRoot = "../../../.."

// fixture copies the real files New reads for each service (its proto,
// go.mod and internal/rpc Go files) into a fresh tree and returns its root.
func fixture(t *testing.T, services ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, svc := range services {
		copyFile(t, root, filepath.Join("api/proto/slipway", svc, "v1", svc+".proto"))
		copyFile(t, root, filepath.Join("services", svc, "go.mod"))
		files, err := filepath.Glob(filepath.Join(repoRoot, "services", svc, "internal/rpc/*.go"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		for _, f := range files {
			rel, err := filepath.Rel(repoRoot, f)
			require.NoError(t, err)
			copyFile(t, root, rel)
		}
	}
	return root
}

func copyFile(t *testing.T, root, rel string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	require.NoError(t, err)
	writeFile(t, root, rel, data)
}

func writeFile(t *testing.T, root, rel string, data []byte) {
	t.Helper()
	path := filepath.Join(root, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

func readFile(t *testing.T, root, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	require.NoError(t, err)
	return data
}

// file is the planned file at path.
func file(t *testing.T, p Plan, path string) File {
	t.Helper()
	for _, f := range p.Files {
		if f.Path == path {
			return f
		}
	}
	require.Failf(t, "no such file in the plan", "%s", path)
	return File{}
}
