package debug

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/rpc/jsonrpc"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDebugMainUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown service", []string{"billing"}, `unknown service "billing" (known: ` + strings.Join(knownNames(), ", ") + `)`},
		{"no service", nil, "name the service to debug"},
		{"two services", []string{"user", "order"}, `debug runs one service, got ["user" "order"]`},
		{"bad listen address", []string{"user", "--listen", "2345"}, "--listen: address \"2345\""},
		{"service args with --dap", []string{"user", "--dap", "--", "--config", "x.yaml"}, "--dap takes no service arguments"},
		{"bad flag", []string{"user", "--nope"}, "invalid flags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr clitest.SyncBuffer
			env := &cli.Env{Stdout: io.Discard, Stderr: &stderr, Environ: []string{"PATH=/bin"}}
			err := Main(t.Context(), tt.args, env)
			var uerr cli.UsageError
			require.ErrorAs(t, err, &uerr)
			assert.ErrorContains(t, err, tt.want)
			assert.Equal(t, cli.ExitUsage, cli.ExitCode(io.Discard, "debug", err))
		})
	}
}

func TestDebugHelp(t *testing.T) {
	var out clitest.SyncBuffer
	err := Main(t.Context(), []string{"-h"}, &cli.Env{Stdout: &out, Stderr: &out})
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, want := range []string{"--accept-multiclient", "dlv dap", "single session", vscodeAttachConfig} {
		assert.Contains(t, out.String(), want)
	}
}

func TestParseDebugArgs(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		services   []string
		rest       []string
		listen     string
		dap        bool
		grpcBase   int
		wantErrMsg string
	}{
		{name: "service only", args: []string{"order"}, services: []string{"order"}, listen: DefaultListen},
		{name: "flags after the service", args: []string{"order", "--listen", ":4000", "--dap"}, services: []string{"order"}, listen: ":4000", dap: true},
		{name: "flags before the service", args: []string{"--dap", "order", "--grpc-port-base=6000"}, services: []string{"order"}, listen: DefaultListen, dap: true, grpcBase: 6000},
		{name: "service args are not parsed", args: []string{"user", "--", "--config", "dev.yaml", "--dap"}, services: []string{"user"}, rest: []string{"--config", "dev.yaml", "--dap"}, listen: DefaultListen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("debug", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			listen := fs.String("listen", DefaultListen, "")
			dap := fs.Bool("dap", false, "")
			grpcBase := fs.Int("grpc-port-base", 0, "")
			services, rest, err := parseArgs(fs, tt.args)
			require.NoError(t, err)
			assert.Equal(t, tt.services, services)
			assert.Equal(t, tt.rest, rest)
			assert.Equal(t, tt.listen, *listen)
			assert.Equal(t, tt.dap, *dap)
			assert.Equal(t, tt.grpcBase, *grpcBase)
		})
	}
}

func TestPlanDebug(t *testing.T) {
	const version = "v1.2.3-4-gabcdef"
	buildFlags := "--build-flags=-gcflags='all=-N -l' -ldflags='-X github.com/slipway-dev/slipway/platform/buildinfo.Version=" + version + "'"
	tests := []struct {
		name       string
		opts       Options
		wantArgs   []string
		wantAttach string
		wantBroker bool
	}{
		{
			name: "headless by default",
			opts: Options{Service: "inventory", Args: []string{"--config", "dev.yaml"}},
			wantArgs: []string{
				"tool", "dlv", "debug", "./services/inventory/cmd/inventory",
				"--headless", "--listen=127.0.0.1:2345", "--api-version=2", "--accept-multiclient", "--continue",
				"--output=" + filepath.Join("/ws", ".slipway", "bin", "inventory.debug"),
				buildFlags, "--", "--config", "dev.yaml",
			},
			wantAttach: "127.0.0.1:2345", wantBroker: true,
		},
		{
			name:       "--dap runs the DAP server instead",
			opts:       Options{Service: "inventory", DAP: true, Listen: ":4000"},
			wantArgs:   []string{"tool", "dlv", "dap", "--listen=:4000"},
			wantAttach: "127.0.0.1:4000", wantBroker: true,
		},
		{
			name: "user needs no broker",
			opts: Options{Service: "user", Output: "/tmp/user.bin"},
			wantArgs: []string{
				"tool", "dlv", "debug", "./services/user/cmd/user",
				"--headless", "--listen=127.0.0.1:2345", "--api-version=2", "--accept-multiclient", "--continue",
				"--output=/tmp/user.bin", buildFlags,
			},
			wantAttach: "127.0.0.1:2345",
		},
		{
			name:       "NATS_URL from the environment: no embedded broker",
			opts:       Options{Service: "order", DAP: true, Environ: []string{"NATS_URL=nats://elsewhere:4222"}},
			wantArgs:   []string{"tool", "dlv", "dap", "--listen=127.0.0.1:2345"},
			wantAttach: "127.0.0.1:2345",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Environ == nil {
				opts.Environ = []string{"PATH=/bin"}
			}
			opts = opts.withDefaults()
			require.NoError(t, opts.validate())
			plan, err := newPlan("/ws", opts, version)
			require.NoError(t, err)
			assert.Equal(t, tt.wantArgs, plan.Args)
			assert.Equal(t, tt.wantAttach, plan.Attach)
			assert.Equal(t, tt.wantBroker, plan.Broker)
		})
	}
}

// The service under the debugger gets what slipway dev gives it.
func TestPlanDebugEnvironmentIsDevs(t *testing.T) {
	environ := []string{"PATH=/bin", "SLIPWAY_INVENTORY_LOG_LEVEL=debug", "DATABASE_URL="}
	opts := Options{Service: "inventory", Environ: environ, GRPCBase: 6000, HTTPBase: 7000}.withDefaults()
	plan, err := newPlan("/ws", opts, "dev")
	require.NoError(t, err)

	dev, err := fleet.Plan("/ws", []workspace.Service{workspace.Known[2]}, fleet.Options{Environ: environ, GRPCBase: 6000, HTTPBase: 7000}.WithDefaults())
	require.NoError(t, err)
	for _, k := range []string{"GRPC_ADDR", "HTTP_ADDR", "DATABASE_URL", "DRAIN_DELAY", "AUTH_JWKS_URL", "USER_ADDR", "INVENTORY_ADDR", "LOG_LEVEL", "PATH"} {
		want, _ := envvar.Lookup(dev[0].Env, k)
		got, ok := envvar.Lookup(plan.Service.Env, k)
		assert.True(t, ok, k)
		assert.Equal(t, want, got, k)
	}
	assert.Equal(t, "sqlite:///ws/.slipway/data/inventory.db", fleet.EnvValue(plan.Service.Env, "DATABASE_URL"))
	assert.Equal(t, "127.0.0.1:6002", fleet.EnvValue(plan.Service.Env, "GRPC_ADDR"))
	assert.Equal(t, "127.0.0.1:7002", fleet.EnvValue(plan.Service.Env, "HTTP_ADDR"))
	assert.Equal(t, "debug", fleet.EnvValue(plan.Service.Env, "LOG_LEVEL"))
}

// The debug build uses the flags that deploy/docker/buildflags.mk defines
// for the Dockerfile's debug target.
func TestDebugBuildFlagsMatchBuildflagsMk(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	mk, err := os.ReadFile(filepath.Join(root, "deploy", "docker", "buildflags.mk"))
	require.NoError(t, err)
	value := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `[ \t]*:=[ \t]*(.*)$`).FindSubmatch(mk)
		require.NotNil(t, m, "%s in buildflags.mk", name)
		return strings.TrimSpace(string(m[1]))
	}
	assert.Equal(t, gcFlags, value("GO_DEBUG_GCFLAGS"))
	assert.Equal(t, versionVar, value("VERSION_VAR"))
	assert.Equal(t, "-X $(VERSION_VAR)=$(VERSION)", value("GO_DEBUG_LDFLAGS"), "buildFlags sets only the version")
	assert.Empty(t, value("GO_DEBUG_BUILDFLAGS"), "buildFlags passes no other build flags")
}

func TestLineWatch(t *testing.T) {
	var out clitest.SyncBuffer
	w := newLineWatch(&out, "listening at: ")
	_, _ = w.Write([]byte("building\n"))
	select {
	case <-w.Found():
		t.Fatal("found before the line")
	default:
	}
	_, _ = w.Write([]byte("API server listening at: 127.0.0.1:1\n"))
	_, _ = w.Write([]byte("DAP server listening at: 127.0.0.1:1\n")) // a second match must not panic
	select {
	case <-w.Found():
	default:
		t.Fatal("not found")
	}
	assert.Equal(t, "building\nAPI server listening at: 127.0.0.1:1\nDAP server listening at: 127.0.0.1:1\n", out.String())
}

// debugStartLimit is how long dlv has to build the service and listen, once
// the build cache is warm (warmDebugBuild).
const debugStartLimit = 2 * time.Minute

// warmDebugBuild compiles the service with the debug flags first, so that
// the time limit below measures dlv rather than a cold build cache (a first
// build of the whole graph without optimisations takes minutes).
func warmDebugBuild(t *testing.T, root, svc string) {
	t.Helper()
	start := time.Now()
	cmd := exec.CommandContext(t.Context(), "go", "build", "-gcflags="+gcFlags, "-o", os.DevNull, "./"+filepath.ToSlash(workspace.MainDir(svc)))
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "debug build of %s:\n%s", svc, out)
	t.Logf("debug build of %s (cache warm-up) took %s", svc, report.Seconds(time.Since(start)))
}

// startDebug runs Run in the background and waits until dlv listens.
func startDebug(t *testing.T, ctx context.Context, opts Options, out *clitest.SyncBuffer) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	deadline := time.After(debugStartLimit)
	for !strings.Contains(out.String(), "server listening at: ") {
		select {
		case err := <-done:
			t.Fatalf("debug ended (%v) before dlv listened; output:\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("dlv did not listen within %s; output:\n%s", debugStartLimit, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return done
}

func debugResult(t *testing.T, done <-chan error, out *clitest.SyncBuffer) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("debug did not end; output:\n%s", out.String())
		return nil
	}
}

// debugPortClosed reports whether nothing accepts connections on addr any more.
func debugPortClosed(addr string) func() bool {
	return func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	}
}

// TestRunDebugInventory runs the real inventory service under the pinned
// dlv: dlv listens and answers its JSON-RPC API, the service reaches
// SERVING with the dev environment, and cancelling (what SIGINT/SIGTERM do
// to slipway) sends SIGTERM to dlv, which stops and takes the service with it.
func TestRunDebugInventory(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	warmDebugBuild(t, root, "inventory")

	tmp := t.TempDir()
	b, err := fleet.StartBroker(tmp, "127.0.0.1", 0)
	require.NoError(t, err)
	t.Cleanup(b.Stop)

	var out clitest.SyncBuffer
	grpcBase, httpBase := clitest.FreeBases(t)
	environ := clitest.Environ("DATABASE_URL=sqlite://"+filepath.ToSlash(filepath.Join(tmp, "inventory.db")), "NATS_URL="+b.URL())
	listen := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
	opts := Options{
		Service: "inventory", Listen: listen, Root: root, Output: filepath.Join(tmp, "inventory.debug"),
		GRPCBase: grpcBase, HTTPBase: httpBase, Color: "never", Stdout: &out, Environ: environ,
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := startDebug(t, ctx, opts, &out)

	conn, err := net.DialTimeout("tcp", listen, 5*time.Second)
	require.NoError(t, err, "dial dlv")
	client := jsonrpc.NewClient(conn)
	var version struct {
		DelveVersion string
		APIVersion   int
	}
	require.NoError(t, client.Call("RPCServer.GetVersion", struct{}{}, &version))
	require.NoError(t, client.Close())
	assert.Equal(t, 2, version.APIVersion)
	assert.Contains(t, version.DelveVersion, "1.27.2", "the pinned dlv")

	grpcAddr := "127.0.0.1:" + strconv.Itoa(grpcBase+2)
	serving, cancelPoll := context.WithTimeout(ctx, 30*time.Second)
	defer cancelPoll()
	r := fleet.PollServing(serving, grpcAddr, nil)
	require.NoError(t, r.Err, "inventory under dlv never answered SERVING; output:\n%s", out.String())
	assert.Eventually(t, func() bool { return strings.Contains(out.String(), "inventory SERVING: gRPC "+grpcAddr) },
		5*time.Second, 20*time.Millisecond, "slipway reports SERVING")
	assert.Contains(t, out.String(), "go tool dlv connect "+listen)
	assert.NotContains(t, out.String(), "embedded NATS", "NATS_URL is set")

	cancel()
	require.NoError(t, debugResult(t, done, &out), out.String())
	assert.Contains(t, out.String(), "dlv stopped in ")
	assert.Eventually(t, debugPortClosed(grpcAddr), 5*time.Second, 50*time.Millisecond, "the service stopped with dlv")
	assert.Eventually(t, debugPortClosed(listen), 5*time.Second, 50*time.Millisecond, "dlv stopped")
	assert.NoFileExists(t, opts.Output, "dlv removes its binary")
}

// TestRunDebugDAP starts `dlv dap` and speaks DAP to it: it answers the
// initialize request, builds nothing until a launch request, and stops on
// cancel.
func TestRunDebugDAP(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	var out clitest.SyncBuffer
	grpcBase, httpBase := clitest.FreeBases(t)
	environ := clitest.Environ("NATS_URL=nats://127.0.0.1:1")
	listen := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
	opts := Options{
		Service: "order", DAP: true, Listen: listen, Root: root,
		GRPCBase: grpcBase, HTTPBase: httpBase, Color: "never", Stdout: &out, Environ: environ,
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := startDebug(t, ctx, opts, &out)
	assert.Contains(t, out.String(), "DAP server listening at: "+listen)
	assert.Contains(t, out.String(), `"program": "${workspaceFolder}/services/order/cmd/order"`)
	assert.NotContains(t, out.String(), "embedded NATS", "NATS_URL is set")

	conn, err := net.DialTimeout("tcp", listen, 5*time.Second)
	require.NoError(t, err, "dial dlv dap")
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	body := `{"seq":1,"type":"request","command":"initialize","arguments":{"adapterID":"go","clientID":"slipway-test"}}`
	_, err = fmt.Fprintf(conn, "Content-Length: %d\r\n\r\n%s", len(body), body)
	require.NoError(t, err)
	resp, err := readDAPMessage(bufio.NewReader(conn))
	require.NoError(t, err)
	assert.Contains(t, resp, `"command":"initialize"`)
	assert.Contains(t, resp, `"success":true`)

	cancel()
	require.NoError(t, debugResult(t, done, &out), out.String())
	assert.Eventually(t, debugPortClosed(listen), 5*time.Second, 50*time.Millisecond, "dlv dap stopped")
}

// readDAPMessage reads one Content-Length framed DAP message.
func readDAPMessage(r *bufio.Reader) (string, error) {
	length := -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			if length, err = strconv.Atoi(v); err != nil {
				return "", err
			}
		}
	}
	if length < 0 {
		return "", errors.New("no Content-Length header")
	}
	body := make([]byte, length)
	_, err := io.ReadFull(r, body)
	return string(body), err
}

// knownNames are the registry's services, in its order.
func knownNames() []string {
	names := make([]string, len(workspace.Known))
	for i, s := range workspace.Known {
		names[i] = s.Name
	}
	return names
}
