package newcmd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/newcmd"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// repoRoot is the real workspace: the dry runs and refusals below read it
// and must leave it as it was, which treeDigest checks.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	root, err := workspace.FindRoot(wd)
	require.NoError(t, err)
	return root
}

// unregistered is a valid service name the workspace does not have yet: a
// team that ran slipway new service widgets still gets a green make test.
func unregistered(t *testing.T, root string) string {
	t.Helper()
	for _, name := range []string{"widgets", "sprockets", "gizmos", "doohickeys"} {
		if _, err := os.Stat(filepath.Join(root, "services", name)); errors.Is(err, fs.ErrNotExist) {
			return name
		}
	}
	t.Fatal("every sample service name is taken")
	return ""
}

func TestMainRefusesAMalformedCommandLine(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"nothing":               {nil, "want service NAME or rpc SERVICE Method"},
		"an unknown kind":       {[]string{"gadget", "x"}, `want service or rpc, got "gadget"`},
		"service without name":  {[]string{"service"}, "want service NAME, got 0 words"},
		"service with two":      {[]string{"service", "a", "b"}, "want service NAME, got 2 words"},
		"rpc without method":    {[]string{"rpc", "inventory"}, "want rpc SERVICE Method, got 1 words"},
		"resource given to rpc": {[]string{"rpc", "inventory", "Archive", "--resource", "X"}, "--resource is for new service"},
		"an invalid name":       {[]string{"service", "Bad-Name", "--dry-run"}, `service name "Bad-Name"`},
		"an invalid method":     {[]string{"rpc", "inventory", "archive_product", "--dry-run"}, `method "archive_product"`},
		"an invalid resource":   {[]string{"service", "sprockets", "--resource", "not-go", "--dry-run"}, `--resource "not-go"`},
		"the tests' name":       {[]string{"service", "gadgets", "--dry-run"}, `service name "gadgets" is reserved for the CLI's tests`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := newcmd.Main(context.Background(), tt.args, &cli.Env{Stdout: &stdout, Stderr: &stderr})
			var usage cli.UsageError
			require.True(t, errors.As(err, &usage), "want a usage error (exit 2), got %v", err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestNewServiceRefusesANameThatExistsAndWritesNothing(t *testing.T) {
	root := repoRoot(t)
	before := treeDigest(t, root)
	for _, name := range []string{"inventory", "user"} {
		var out bytes.Buffer
		err := newcmd.Run(newcmd.Options{Kind: newcmd.KindService, Name: name, Root: root, Stdout: &out})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `service "`+name+`" exists`)
		assert.Empty(t, out.String())
	}
	assert.Equal(t, before, treeDigest(t, root))
}

func TestNewServiceDryRunListsEveryFileAndWritesNothing(t *testing.T) {
	root := repoRoot(t)
	before := treeDigest(t, root)
	var out bytes.Buffer
	// Flags after the name, as people type them.
	name := unregistered(t, root)
	err := newcmd.Main(context.Background(), []string{"service", name, "--dry-run"},
		&cli.Env{Stdout: &out, Stderr: &out})
	require.NoError(t, err)

	got := out.String()
	for _, want := range []string{
		"would create api/proto/slipway/" + name + "/v1/" + name + ".proto\n",
		"would create services/" + name + "/cmd/" + name + "/main.go\n",
		"would create services/" + name + "/internal/store/migrations/postgres/0001_init.sql\n",
		"would create deploy/k8s/base/" + name + ".yaml\n",
		"would edit   go.work\n",
		"would edit   deploy/prometheus/prometheus.yml\n",
		"dry run: nothing written\n",
	} {
		assert.Contains(t, got, want)
	}
	assert.Equal(t, before, treeDigest(t, root), "a dry run changed the workspace")
}

func TestNewRPCDryRunListsTheProtoHandlerAndTest(t *testing.T) {
	root := repoRoot(t)
	before := treeDigest(t, root)
	var out bytes.Buffer
	err := newcmd.Run(newcmd.Options{Kind: newcmd.KindRPC, Name: "inventory", Method: "ArchiveProduct", Root: root, DryRun: true, Stdout: &out})
	require.NoError(t, err)
	assert.Contains(t, out.String(), "would edit   api/proto/slipway/inventory/v1/inventory.proto\n")
	assert.Contains(t, out.String(), "would create services/inventory/internal/rpc/archive_product_test.go\n")
	assert.Equal(t, before, treeDigest(t, root))
}

func TestNewRPCRefusesAnUnknownServiceAndAMethodThatExists(t *testing.T) {
	root := repoRoot(t)
	var out bytes.Buffer
	err := newcmd.Run(newcmd.Options{Kind: newcmd.KindRPC, Name: "nosuchservice", Method: "Archive", Root: root, Stdout: &out})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nosuchservice")

	err = newcmd.Run(newcmd.Options{Kind: newcmd.KindRPC, Name: "inventory", Method: "Reserve", Root: root, Stdout: &out})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Reserve")
	assert.Empty(t, out.String())
}

// treeDigest hashes the paths and contents of the files a plan may touch
// (everything but build output, dependencies and VCS data).
func treeDigest(t *testing.T, root string) [sha256.Size]byte {
	t.Helper()
	h := sha256.New()
	skip := map[string]bool{".git": true, ".slipway": true, "node_modules": true, "dist": true}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skip[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".db") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(data)
		return nil
	})
	require.NoError(t, err)
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}
