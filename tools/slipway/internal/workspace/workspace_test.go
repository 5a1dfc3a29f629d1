package workspace_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckPortsFree(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	taken := ln.Addr().String()
	_, takenPort, _ := net.SplitHostPort(taken)
	free := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))

	require.NoError(t, workspace.CheckPortsFree([]workspace.Endpoint{{Service: "user", Kind: "gRPC", Addr: free}}))

	err = workspace.CheckPortsFree([]workspace.Endpoint{{Service: "user", Kind: "gRPC", Addr: free}, {Service: "inventory", Kind: "HTTP", Addr: taken}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "port "+takenPort+" for inventory HTTP ("+taken+") is already in use")
	assert.NotContains(t, err.Error(), "user")

	err = workspace.CheckPortsFree([]workspace.Endpoint{{Service: "user", Kind: "gRPC", Addr: free}, {Service: "order", Kind: "HTTP", Addr: free}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wanted by both user gRPC and order HTTP")
}

func TestFindWorkspaceRoot(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user")
	got, err := workspace.FindRoot(filepath.Join(root, workspace.MainDir("user")))
	require.NoError(t, err)
	assert.Equal(t, root, got)

	_, err = workspace.FindRoot(t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no go.work")
}

func TestExistingServicesInStartOrder(t *testing.T) {
	root := clitest.FakeWorkspace(t, "inventory", "user")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "services", "order"), 0o755)) // no cmd/order yet
	defs, err := workspace.Existing(root)
	require.NoError(t, err)
	assert.Equal(t, []string{"user", "inventory"}, workspace.Names(defs))
}
