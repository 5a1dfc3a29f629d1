// Package clitest holds what the tests of several verbs share: a scratch
// workspace and an environment without the developer's own settings.
package clitest

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// SyncBuffer is a bytes.Buffer safe for the concurrent writers of a test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}
