package devloop

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSession is a session of plan with its output in out.
func testSession(t *testing.T, root string, opts fleet.Options, out *clitest.SyncBuffer, plan ...fleet.Service) *session {
	t.Helper()
	console := fleet.NewConsole(out, false, "user")
	return &session{opts: opts, root: root, names: workspace.Names(workspace.Known[:1]), plan: plan,
		getenv: func(k string) string { v, _ := envvar.Lookup(opts.Environ, k); return v },
		out:    console, sup: fleet.NewSupervisor(console), procs: map[string]*fleet.Process{}}
}

func TestReadyTable(t *testing.T) {
	var out clitest.SyncBuffer
	sup := fleet.NewSupervisor(fleet.NewConsole(&out, false, "user"))
	p, err := sup.Start(fleet.ProcSpec{Name: "user", Path: clitest.Executable(t), Dir: t.TempDir(),
		Env: append(os.Environ(), clitest.ChildModeEnv+"=wait")})
	require.NoError(t, err)
	t.Cleanup(func() { sup.Stop(p, time.Second, nil) })

	plan := []fleet.Service{{Name: "user", Scheme: "http", GRPCDial: "127.0.0.1:50051", HTTPDial: "127.0.0.1:8081",
		Env: []string{"DATABASE_URL=postgres://postgres@127.0.0.1:5432/slipway_user"}}}
	procs := map[string]*fleet.Process{"user": p}
	readyAt := map[string]time.Time{"user": p.Started().Add(250 * time.Millisecond)}
	startAt := p.Started().Add(-50 * time.Millisecond)
	none := func(string) string { return "" }

	table := readyTable(plan, procs, readyAt, startAt, 1500*time.Millisecond, false, none)
	assert.Regexp(t, `user\s+SERVING\s+127\.0\.0\.1:50051\s+127\.0\.0\.1:8081\s+http://127\.0\.0\.1:8081/docs\s+postgres\s+0\.25s`, table)
	assert.Contains(t, table, "all 1 services SERVING in 0.30s (build 1.50s)")
	assert.Contains(t, table, "admin login (dev only): "+workspace.DevAdminEmail+" / "+workspace.DevAdminPassword)

	table = readyTable(plan, procs, readyAt, startAt, 0, true, func(k string) string {
		return map[string]string{"ADMIN_EMAIL": "me@example.com"}[k]
	})
	assert.Contains(t, table, "(build skipped)")
	assert.NotContains(t, table, "admin login", "the environment sets the admin: dev's defaults are not in use")
}

func TestConsoleURLAndHosts(t *testing.T) {
	tests := []struct {
		opts  fleet.Options
		url   string
		hosts []string
	}{
		{fleet.Options{Host: "127.0.0.1", ConsolePort: 8080}, "http://localhost:8080", []string{"localhost", "127.0.0.1", "::1"}},
		{fleet.Options{Host: "0.0.0.0", ConsolePort: 9000, TLS: true}, "https://localhost:9000", nil},
		{fleet.Options{Host: "::", ConsolePort: 8080}, "http://localhost:8080", nil},
		{fleet.Options{Host: "10.0.0.5", ConsolePort: 8080}, "http://10.0.0.5:8080", []string{"localhost", "127.0.0.1", "::1", "10.0.0.5"}},
		{fleet.Options{Host: "localhost", ConsolePort: 8080}, "http://localhost:8080", []string{"localhost", "127.0.0.1", "::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.opts.Host, func(t *testing.T) {
			assert.Equal(t, tt.url, consoleURL(tt.opts))
			assert.Equal(t, tt.hosts, consoleHosts(tt.opts))
		})
	}
}

func TestTLSSummary(t *testing.T) {
	root, certs := clitest.DevTLSWorkspace(t)
	plan := []fleet.Service{{Name: "user", GRPCDial: "127.0.0.1:50051", HTTPDial: "127.0.0.1:8081"}}
	summary := tlsSummary(root, certs, plan)
	ca := filepath.Join(".slipway", "tls", "ca.pem")
	assert.Contains(t, summary, "dev CA: "+ca+" (in "+root)
	assert.Contains(t, summary, "curl --cacert "+ca+" https://127.0.0.1:8081/readyz")
	cert, key := workspace.TLSFiles(root, workspace.CLIIdentity)
	assert.Contains(t, summary, "tools/grpcurl -cacert "+certs.CAFile+" -cert "+cert+" -key "+key+" 127.0.0.1:50051 list", "grpcurl runs elsewhere: absolute paths")

	assert.NotContains(t, tlsSummary(root, certs, nil), "curl", "no service, nothing to call")
}

func TestSessionStartBroker(t *testing.T) {
	t.Run("the environment's NATS", func(t *testing.T) {
		var out clitest.SyncBuffer
		s := testSession(t, t.TempDir(), fleet.Options{Environ: []string{"NATS_URL=nats://elsewhere:4222"}}, &out,
			fleet.Service{Name: "user", Env: []string{"A=b"}})
		stop, err := s.startBroker()
		require.NoError(t, err)
		stop()
		assert.Contains(t, out.String(), "NATS from the environment: nats://elsewhere:4222")
		assert.Equal(t, []string{"A=b"}, s.plan[0].Env, "the service's environment comes from the parent's as planned")
	})
	t.Run("embedded", func(t *testing.T) {
		root := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(root, ".slipway", "keys"), 0o700))
		var out clitest.SyncBuffer
		s := testSession(t, root, fleet.Options{Host: "127.0.0.1"}, &out, fleet.Service{Name: "user"})
		stop, err := s.startBroker()
		require.NoError(t, err)
		defer stop()
		url := fleet.EnvValue(s.plan[0].Env, "NATS_URL")
		assert.Regexp(t, `^nats://127\.0\.0\.1:\d+$`, url)
		assert.Contains(t, out.String(), "embedded NATS JetStream at "+url)
	})
}

func TestSessionBuild(t *testing.T) {
	t.Run("--no-build without a binary", func(t *testing.T) {
		root := clitest.FakeWorkspace(t, "user")
		var out clitest.SyncBuffer
		s := testSession(t, root, fleet.Options{NoBuild: true}, &out,
			fleet.Service{Name: "user", Binary: workspace.BinaryPath(root, "user")})
		err := s.build(t.Context())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--no-build: no binary for user")
	})
	t.Run("interrupted", func(t *testing.T) {
		root := clitest.GoWorkspace(t, map[string]string{"user": "package main\n\nfunc main() {}\n"})
		var out clitest.SyncBuffer
		s := testSession(t, root, fleet.Options{Environ: os.Environ()}, &out, fleet.Service{Name: "user"})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		require.ErrorIs(t, s.build(ctx), errBuildInterrupted, "a stop during the build is no failure")
		assert.Contains(t, out.String(), "interrupted during the build")
	})
	t.Run("builds", func(t *testing.T) {
		root := clitest.GoWorkspace(t, map[string]string{"user": "package main\n\nfunc main() {}\n"})
		var out clitest.SyncBuffer
		s := testSession(t, root, fleet.Options{Environ: os.Environ()}, &out, fleet.Service{Name: "user"})
		require.NoError(t, s.build(t.Context()), out.String())
		assert.FileExists(t, workspace.BinaryPath(root, "user"))
		assert.Contains(t, out.String(), "building 1 service(s), up to 1 at a time")
	})
}
