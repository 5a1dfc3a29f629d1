package gentool_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/gentool"
)

func TestDirFindsToolsGenAboveTheWorkingDirectory(t *testing.T) {
	dir, err := gentool.Dir()
	require.NoError(t, err)
	assert.Equal(t, "gen", filepath.Base(dir))
	assert.FileExists(t, filepath.Join(dir, "go.mod"))

	t.Chdir(t.TempDir())
	_, err = gentool.Dir()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no tools/gen/go.mod above")
}

func TestGoRunsInToolsGenOutsideTheWorkspace(t *testing.T) {
	out, err := gentool.Go(t.Context(), "env", "GOWORK")
	require.NoError(t, err)
	assert.Equal(t, "off", out, "GOWORK=off: the tools module alone")
	mod, err := gentool.Go(t.Context(), "list", "-m")
	require.NoError(t, err)
	assert.NotEmpty(t, mod)

	_, err = gentool.Go(t.Context(), "no-such-command")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "go no-such-command in ")
}
