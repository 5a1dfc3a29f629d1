package drift

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devloop"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

func TestSameButLoopbackPorts(t *testing.T) {
	tests := []struct {
		name      string
		want, got any
		same      bool
	}{
		{"peer port", "127.0.0.1:50053", "127.0.0.1:52153", true},
		{"URL port", "http://127.0.0.1:8081/.well-known/jwks.json", "http://127.0.0.1:9281/.well-known/jwks.json", true},
		{"NATS port", "nats://127.0.0.1:4222", "nats://127.0.0.1:42561", true},
		{"localhost is loopback", "http://localhost:8080", "http://127.0.0.1:9000", true},
		{"console origins come in pairs", []any{"http://localhost:8080", "http://127.0.0.1:8080"}, []any{"http://localhost:8080"}, true},
		{"another host", "nats://127.0.0.1:4222", "nats://nats:4222", false},
		{"another path", "http://127.0.0.1:8081/.well-known/jwks.json", "http://127.0.0.1:8081/jwks", false},
		{"another scheme", "http://127.0.0.1:8081/x", "https://127.0.0.1:8081/x", false},
		{"an origin more", []any{"http://localhost:8080"}, []any{"http://localhost:8080", "https://console.example.com"}, false},
		{"a loopback-looking name", "127.0.0.1.example.com:80", "127.0.0.1.example.com:81", false},
		{"a port inside a host name", "http://127.0.0.1:80", "http://127.0.0.1:80.evil.example", false},
		{"not strings", 10.0, 11.0, false},
		{"a list against a string", []any{"127.0.0.1:1"}, "127.0.0.1:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.same, sameButLoopbackPorts(tt.want, tt.got))
		})
	}
}

// debugConfigServer serves a /debug/config of service svc whose
// config_fingerprint_key is reported as fingerprinted under key, as a
// service does with its own key.
func debugConfigServer(t *testing.T, svc, key string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fp := redact.NewFingerprinter([]byte(key))
		_ = json.NewEncoder(w).Encode(map[string]any{"service": svc, "config": map[string]any{"config_fingerprint_key": fp.Secret(key), "log_level": "info"}})
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestDetectEnv(t *testing.T) {
	root := t.TempDir()
	keyFile := workspace.FingerprintKeyFile(root)
	require.NoError(t, os.MkdirAll(filepath.Dir(keyFile), 0o700))
	require.NoError(t, os.WriteFile(keyFile, []byte("dev-session-key-0123456789\n"), 0o600))
	devSystem := debugConfigServer(t, "inventory", "dev-session-key-0123456789")
	otherSystem := debugConfigServer(t, "inventory", "a-deployment-key-0123456789")
	opts := func(target string) Options {
		return Options{Targets: map[string]string{"inventory": target}, Timeout: time.Second}
	}

	env, why := detectEnv(t.Context(), root, opts(devSystem), "")
	assert.Equal(t, "local", env)
	assert.Contains(t, why, "inventory runs under this workspace's slipway dev")

	env, why = detectEnv(t.Context(), root, opts(otherSystem), "")
	assert.Equal(t, "dev", env, "a service with another fingerprint key is not this workspace's dev system")
	assert.Empty(t, why)

	env, _ = detectEnv(t.Context(), t.TempDir(), opts(devSystem), "")
	assert.Equal(t, "dev", env, "without dev's key in the workspace nothing is dev's")

	noRunning := opts(devSystem)
	noRunning.NoRunning = true
	env, _ = detectEnv(t.Context(), root, noRunning, "")
	assert.Equal(t, "dev", env, "--no-running asks nothing")

	env, _ = detectEnv(t.Context(), root, opts("127.0.0.1:1"), "")
	assert.Equal(t, "dev", env, "an unreachable service is not dev's")

	assert.Equal(t, "user", probeService(Options{}))
	assert.Equal(t, "order", probeService(Options{Services: []string{"payment", "order"}}))
	assert.Equal(t, "inventory", probeService(Options{Targets: map[string]string{"notification": "x", "inventory": "y"}}))
}

// TestFreshDevSystemHasNoDriftAgainstLocal starts the real services as
// slipway dev does (its plan, its embedded NATS, a clean environment, ports
// apart from make run's) and runs drift with no --env: it picks the local
// environment and finds nothing. Then the same system with a log level and
// CORS origins from the environment: drift names exactly those keys.
func TestFreshDevSystemHasNoDriftAgainstLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts every service; skipped with -short")
	}
	root := devWorkspace(t)

	t.Run("fresh", func(t *testing.T) {
		rep, err := driftAgainstDev(t, root)
		require.NoError(t, err, "a fresh dev system is as declared in deploy/config/local")
		assert.Equal(t, "local", rep.Env, "a slipway dev system is compared with the local environment by default")
		assert.False(t, rep.Drift)
		assert.Len(t, rep.Services, len(workspace.Known))
		same := 0
		for _, r := range rep.Rows {
			assert.False(t, r.Drift, "%s %s: declared %v, found %v: %s", r.Service, r.Key, r.Declared, r.Found, r.Status)
			if r.Status == statusSame {
				same++
			}
		}
		assert.Greater(t, same, 60, "the declared keys were compared, not skipped")
	})

	t.Run("real drift is still drift", func(t *testing.T) {
		rep, err := driftAgainstDev(t, root,
			"SLIPWAY_ORDER_LOG_LEVEL=debug",
			// Not a loopback port: the runner's freedom does not cover it.
			"SLIPWAY_USER_CORS_ALLOWED_ORIGINS=https://console.example.com")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "drift found in 2 key(s): user cors_allowed_origins (running), order log_level (running)")
		assert.True(t, rep.Drift)
	})
}

// devWorkspace is a workspace for a dev system of its own: the real
// sources (linked), its own .slipway with the services built into its bin.
func devWorkspace(t *testing.T) string {
	t.Helper()
	real := workspaceRoot(t)
	root := t.TempDir()
	for _, name := range []string{"go.work", "go.work.sum", "api", "platform", "services", "deploy", "tools"} {
		require.NoError(t, os.Symlink(filepath.Join(real, name), filepath.Join(root, name)))
	}
	for _, s := range workspace.Known {
		bin := workspace.BinaryPath(root, s.Name)
		cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./"+filepath.ToSlash(workspace.MainDir(s.Name)))
		cmd.Dir = real
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build %s:\n%s", s.Name, out)
	}
	return root
}

// driftAgainstDev runs a dev system in root with extra environment, runs
// drift against it with no --env, and stops the system.
func driftAgainstDev(t *testing.T, root string, env ...string) (Report, error) {
	t.Helper()
	grpcBase, httpBase := clitest.FreePortBase(t, len(workspace.Known)), clitest.FreePortBase(t, len(workspace.Known))
	for httpBase > grpcBase-len(workspace.Known) && httpBase < grpcBase+len(workspace.Known) {
		httpBase = clitest.FreePortBase(t, len(workspace.Known))
	}
	var out clitest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- devloop.Run(ctx, fleet.Options{
			Root: root, NoBuild: true, NoWatch: true, GRPCBase: grpcBase, HTTPBase: httpBase,
			ReadyTimeout: 60 * time.Second, StopTimeout: 10 * time.Second, Color: "never",
			Stdout: &out, Environ: clitest.Environ(env...),
		})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "dev stops cleanly:\n%s", out.String())
		case <-time.After(30 * time.Second):
			t.Errorf("dev did not stop:\n%s", out.String())
		}
	}()
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			require.FailNow(t, "dev ended early", "%v\n%s", err, out.String())
		default:
		}
		return strings.Contains(out.String(), "SERVING in")
	}, 90*time.Second, 200*time.Millisecond, "dev did not start:\n%s", out.String())

	targets := map[string]string{}
	for _, s := range workspace.Known {
		targets[s.Name] = "127.0.0.1:" + strconv.Itoa(httpBase+s.HTTPPort-workspace.DefaultHTTPBase)
	}
	var stdout bytes.Buffer
	err := Run(t.Context(), Options{
		Root: root, Targets: targets, JSON: true, Stdout: &stdout,
		AdminEmail: workspace.DevAdminEmail, AdminPassword: workspace.DevAdminPassword,
	})
	var rep Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), stdout.String())
	return rep, err
}
