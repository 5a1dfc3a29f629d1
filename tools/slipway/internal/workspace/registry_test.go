package workspace_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegistryIsValid(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(workspace.RegistryFile)))
	require.NoError(t, err)
	svcs, err := workspace.ParseRegistry(data)
	require.NoError(t, err)
	require.NotEmpty(t, svcs)
	assert.Equal(t, svcs, workspace.Known, "Known is the registry file, in its order")
	assert.Equal(t, "user", svcs[0].Name, "user starts first: the others call it")
	assert.Equal(t, workspace.DefaultGRPCBase, svcs[0].GRPCPort)
	assert.Equal(t, workspace.DefaultHTTPBase, svcs[0].HTTPPort)
	for _, s := range svcs {
		assert.DirExists(t, filepath.Join(root, workspace.MainDir(s.Name)), "%s is registered but has no main", s.Name)
	}
}

func TestParseRegistryRefuses(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"duplicate name", `[{"name":"a","grpcPort":1,"httpPort":2},{"name":"a","grpcPort":3,"httpPort":4}]`, `service "a" is listed twice`},
		{"duplicate port", `[{"name":"a","grpcPort":1,"httpPort":2},{"name":"b","grpcPort":3,"httpPort":1}]`, "port 1 is used by both a and b"},
		{"port out of range", `[{"name":"a","grpcPort":0,"httpPort":70000}]`, "port 0 is out of range"},
		{"bad name", `[{"name":"Pay-ment","grpcPort":1,"httpPort":2}]`, `service name "Pay-ment"`},
		{"unknown field", `[{"name":"a","grpc":1,"httpPort":2}]`, `unknown field "grpc"`},
		{"not an array", `{"name":"a"}`, "service registry"},
		{"trailing data", `[] []`, "data after the array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workspace.ParseRegistry([]byte(tc.data))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestNamesOfAService(t *testing.T) {
	assert.Equal(t, "Notification", workspace.Title("notification"))
	assert.Equal(t, "slipway.user.v1", workspace.ProtoPackage("user"))
	assert.Equal(t, "slipway.inventory.v1.InventoryService", workspace.GRPCService("inventory"))
}
