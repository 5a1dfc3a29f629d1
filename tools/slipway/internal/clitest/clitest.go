// Package clitest holds what the tests of several verbs share: a scratch
// workspace and an environment without the developer's own settings.
package clitest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/require"
)

// FakeWorkspace makes a workspace root holding go.work and an (empty) main
// package directory for each service, so that dev finds them.
func FakeWorkspace(t *testing.T, services ...string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26.0\n"), 0o644))
	for _, svc := range services {
		require.NoError(t, os.MkdirAll(filepath.Join(root, workspace.MainDir(svc)), 0o755))
	}
	return root
}

// Environ is the test's environment without anything that would change
// what dev gives its children, plus extra.
func Environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "DATABASE_URL", k == "DRAIN_DELAY", k == "NO_COLOR",
			strings.HasPrefix(k, "AUTH_"), strings.HasPrefix(k, "ADMIN_"), strings.HasPrefix(k, "SLIPWAY_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// DevTLSWorkspace is a workspace whose .slipway/tls holds dev's CA and
// certificates, as `slipway dev --tls` leaves them.
func DevTLSWorkspace(t *testing.T) (string, *devcert.Bundle) {
	t.Helper()
	root := FakeWorkspace(t)
	b, err := devcert.Ensure(devcert.Options{Dir: workspace.TLSDir(root), Identities: workspace.TLSIdentities()})
	require.NoError(t, err)
	return root, b
}
