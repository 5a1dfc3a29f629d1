package devloop

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/grpchealth"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/scratchdb"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testDevOptions(t *testing.T, root string, out *clitest.SyncBuffer, extraEnv ...string) fleet.Options {
	t.Helper()
	grpcBase, httpBase := clitest.FreeBases(t)
	return fleet.Options{
		Root:         root,
		NoBuild:      true,
		GRPCBase:     grpcBase,
		HTTPBase:     httpBase,
		ReadyTimeout: 10 * time.Second,
		StopTimeout:  5 * time.Second,
		Color:        "never",
		Stdout:       out,
		Environ:      clitest.Environ(extraEnv...),
	}
}

// startDev runs Run in the background; the returned channel yields its result.
func startDev(ctx context.Context, opts fleet.Options) <-chan error {
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	return done
}

// devResult waits for dev to end.
func devResult(t *testing.T, done <-chan error, out *clitest.SyncBuffer) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("dev did not end; output:\n%s", out.String())
		return nil
	}
}

func TestRunDevServesAndStopsCleanly(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user", "inventory")
	clitest.UseTestBinaryFor(t, root, "user", "inventory")
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out, clitest.ChildModeEnv+"=serve", clitest.ChildReadyAfterEnv+"=100ms")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	done := startDev(ctx, opts)
	clitest.WaitForOutput(t, &out, done, "all 2 services SERVING in")

	inventoryGRPC := "127.0.0.1:" + strconv.Itoa(opts.GRPCBase+2)
	inventoryHTTP := "127.0.0.1:" + strconv.Itoa(opts.HTTPBase+2)
	st, err := grpchealth.Check(t.Context(), inventoryGRPC, "", nil)
	require.NoError(t, err)
	assert.Equal(t, "SERVING", st)

	got := out.String()
	assert.Contains(t, got, "(build skipped)")
	assert.Regexp(t, `inventory\s+SERVING\s+`+inventoryGRPC+`\s+`+inventoryHTTP+`\s+http://`+inventoryHTTP+`/docs\s+sqlite\s+\d+\.\d\ds`, got)
	assert.Contains(t, got, fmt.Sprintf(`inventory | {"msg":"listening","grpc_addr":%q,"database_url":%q,"drain_delay":"0s"}`,
		inventoryGRPC, "sqlite://"+filepath.ToSlash(root)+"/.slipway/data/inventory.db"),
		"children log with a padded prefix and get the dev environment")
	assert.Contains(t, got, "admin login (dev only): admin@slipway.local / slipway-admin")
	assert.NotContains(t, got, "hot reload", "--no-build runs prebuilt binaries: nothing to rebuild")
	assert.DirExists(t, filepath.Join(root, ".slipway", "data"))
	assert.DirExists(t, filepath.Join(root, ".slipway", "keys"))

	cancel()
	require.NoError(t, devResult(t, done, &out), out.String())
	got = out.String()
	assert.Contains(t, got, `user      | {"msg":"shutting down"}`)
	assert.Contains(t, got, "user stopped in")
	assert.Contains(t, got, "inventory stopped in")
	assert.Contains(t, got, "all services stopped")
	_, err = grpchealth.Check(t.Context(), inventoryGRPC, "", nil)
	assert.Error(t, err, "the service is gone")
}

func TestRunDevParentDatabaseURLWins(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user")
	clitest.UseTestBinaryFor(t, root, "user")
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out, clitest.ChildModeEnv+"=serve", "DATABASE_URL=postgres://dev:secret@localhost/slipway")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	done := startDev(ctx, opts)
	clitest.WaitForOutput(t, &out, done, "all 1 services SERVING in")
	assert.Contains(t, out.String(), `"database_url":"postgres://dev:secret@localhost/slipway"`)
	assert.Regexp(t, `user\s+SERVING\s+.*/docs\s+postgres\s+`, out.String(), "the table names each service's database")
	cancel()
	require.NoError(t, devResult(t, done, &out))
}

func TestRunDevFailures(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		timeout time.Duration
		wantErr string
		wantOut []string
	}{
		{
			name:    "never ready",
			env:     []string{clitest.ChildModeEnv + "=serve", clitest.ChildReadyAfterEnv + "=never"},
			timeout: 500 * time.Millisecond,
			wantErr: "not SERVING within 500ms: user",
			wantOut: []string{"user did not answer SERVING on", "health status NOT_SERVING", "last 1 line(s) of user:", `{"msg":"listening"`, "user stopped in"},
		},
		{
			name:    "exits before ready",
			env:     []string{clitest.ChildModeEnv + "=exit"},
			wantErr: "user exited before it was ready: exit code 3",
			wantOut: []string{"last 1 line(s) of user:\n    bye"},
		},
		{
			name:    "exits while running",
			env:     []string{clitest.ChildModeEnv + "=serve", clitest.ChildExitAfterEnv + "=200ms"},
			wantErr: "user exited unexpectedly: exit code 4",
			wantOut: []string{"all 1 services SERVING", "user exited on its own after", `{"msg":"crashing"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := clitest.FakeWorkspace(t, "user")
			clitest.UseTestBinaryFor(t, root, "user")
			var out clitest.SyncBuffer
			opts := testDevOptions(t, root, &out, tt.env...)
			if tt.timeout > 0 {
				opts.ReadyTimeout = tt.timeout
			}
			err := devResult(t, startDev(t.Context(), opts), &out)
			require.Error(t, err, out.String())
			assert.Contains(t, err.Error(), tt.wantErr)
			for _, w := range tt.wantOut {
				assert.Contains(t, out.String(), w)
			}
		})
	}
}

func TestRunDevInterruptedBeforeReady(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user")
	clitest.UseTestBinaryFor(t, root, "user")
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out, clitest.ChildModeEnv+"=serve", clitest.ChildReadyAfterEnv+"=never")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	done := startDev(ctx, opts)
	clitest.WaitForOutput(t, &out, done, `{"msg":"listening"`)
	cancel()
	require.NoError(t, devResult(t, done, &out), "an interrupt is a clean stop")
	assert.Contains(t, out.String(), "interrupted while waiting")
	assert.Contains(t, out.String(), "user stopped in")
}

func TestRunDevFailsWhenPortIsTaken(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user", "inventory")
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(opts.HTTPBase+2))
	require.NoError(t, err)
	defer ln.Close()

	err = Run(t.Context(), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("port %d for inventory HTTP", opts.HTTPBase+2))
	assert.Contains(t, err.Error(), "already in use")
	assert.NotContains(t, err.Error(), "for user", "only the taken port is reported")
}

func TestRunDevNoServices(t *testing.T) {
	root := clitest.FakeWorkspace(t)
	var out clitest.SyncBuffer
	err := Run(t.Context(), testDevOptions(t, root, &out))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no services to run")

	opts := testDevOptions(t, clitest.FakeWorkspace(t, "user"), &out)
	opts.Services = []string{"order"}
	err = Run(t.Context(), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "service order does not exist yet")
}

func TestRunDevBuildFailureShowsCompilerOutput(t *testing.T) {
	root := clitest.GoWorkspace(t, map[string]string{"user": "package main\n\nfunc main() { undefinedThing() }\n"})
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out)
	opts.NoBuild = false

	err := Run(t.Context(), opts)
	require.Error(t, err)
	assert.Equal(t, "build failed: user", err.Error())
	assert.Contains(t, out.String(), "building user (./services/user/cmd/user)")
	assert.Contains(t, out.String(), "undefined: undefinedThing", "the compiler output is shown")
}

// fakeServiceSource is the main of a tiny service: gRPC health SERVING on
// GRPC_ADDR, its version over HTTP on HTTP_ADDR, and "version <v>" on start.
func fakeServiceSource(version string) string {
	return `package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

const version = "` + version + `"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	grpcLis, err := net.Listen("tcp", os.Getenv("GRPC_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	httpLis, err := net.Listen("tcp", os.Getenv("HTTP_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(grpcLis)
	web := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, version)
	})}
	go web.Serve(httpLis)
	fmt.Println("version " + version)
	<-ctx.Done()
	web.Close()
	srv.GracefulStop()
}
`
}

// httpBody GETs url and returns the body.
func httpBody(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// nextReload waits for dev's next reload report.
func nextReload(t *testing.T, reports <-chan fleet.ReloadReport, done <-chan error, out *clitest.SyncBuffer) fleet.ReloadReport {
	t.Helper()
	select {
	case r := <-reports:
		return r
	case err := <-done:
		t.Fatalf("dev ended (%v) before reloading; output:\n%s", err, out.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("no reload; output:\n%s", out.String())
	}
	return fleet.ReloadReport{}
}

func TestRunDevHotReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a gRPC service three times")
	}
	root := clitest.GRPCWorkspace(t, "inventory", fakeServiceSource("v1"))
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out, "GOWORK="+filepath.Join(root, "go.work"))
	opts.NoBuild = false
	opts.Debounce = 50 * time.Millisecond
	opts.ReadyTimeout = 30 * time.Second
	watching := make(chan struct{})
	opts.OnWatch = func() { close(watching) }
	reports := make(chan fleet.ReloadReport, 16)
	opts.OnReload = func(r fleet.ReloadReport) { reports <- r }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	done := startDev(ctx, opts)
	select {
	case <-watching:
	case err := <-done:
		t.Fatalf("dev ended (%v) before watching; output:\n%s", err, out.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("dev is not watching; output:\n%s", out.String())
	}
	assert.Contains(t, out.String(), "hot reload on: watching")
	url := "http://127.0.0.1:" + strconv.Itoa(opts.HTTPBase+2) + "/"
	assert.Equal(t, "v1", httpBody(t, url))

	// An edit: the new build replaces the process. The test file saved with
	// it is no reason to rebuild and is not named.
	cmdDir := filepath.Join(root, workspace.MainDir("inventory"))
	require.NoError(t, os.WriteFile(filepath.Join(cmdDir, "main_test.go"), []byte("package main\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cmdDir, "main.go"), []byte(fakeServiceSource("v2")), 0o644))
	r := nextReload(t, reports, done, &out)
	require.NoError(t, r.Err, out.String())
	assert.Equal(t, "inventory", r.Service)
	assert.Equal(t, []string{"services/inventory/cmd/inventory/main.go"}, r.Files)
	assert.Positive(t, r.Build)
	assert.Positive(t, r.Ready)
	assert.GreaterOrEqual(t, r.Total, r.Build+r.Ready)
	assert.Equal(t, "v2", httpBody(t, url), "the new code answers")
	assert.Regexp(t, `services/inventory/cmd/inventory/main.go changed: rebuilding inventory`, out.String())
	assert.Regexp(t, `inventory reloaded in \d+\.\d\ds \(build \d+\.\d\ds, ready \d+\.\d\ds\)`, out.String())
	assert.Contains(t, out.String(), "inventory | version v2")
	assert.FileExists(t, workspace.BinaryPath(root, "inventory"))
	assert.NoFileExists(t, workspace.BinaryPath(root, "inventory")+".next", "the new build was renamed over the binary")

	// A broken edit: the compiler's message, and the old process serves on.
	broken := strings.Replace(fakeServiceSource("v3"), "\tdefer stop()\n", "\tdefer stop()\n\tundefinedThing()\n", 1)
	require.NoError(t, os.WriteFile(filepath.Join(cmdDir, "main.go"), []byte(broken), 0o644))
	r = nextReload(t, reports, done, &out)
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "build inventory")
	assert.Contains(t, out.String(), "build of inventory failed after")
	assert.Contains(t, out.String(), "the running inventory keeps serving the old code")
	assert.Contains(t, out.String(), "undefined: undefinedThing", "the compiler's message is shown")
	assert.Equal(t, "v2", httpBody(t, url), "the old process keeps serving")
	assert.NotContains(t, out.String(), "inventory | version v3")

	// An edit that builds but dies at start is reported once; dev keeps
	// watching, and the next edit starts the service again.
	crashing := strings.Replace(fakeServiceSource("v4"), "\tdefer stop()\n", "\tdefer stop()\n\tfmt.Println(\"crashing\")\n\tos.Exit(3)\n", 1)
	require.NoError(t, os.WriteFile(filepath.Join(cmdDir, "main.go"), []byte(crashing), 0o644))
	r = nextReload(t, reports, done, &out)
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "it exited before it was SERVING: exit code 3")
	assert.Contains(t, out.String(), "inventory was rebuilt but is not serving")
	assert.Contains(t, out.String(), "inventory | crashing")
	require.NoError(t, os.WriteFile(filepath.Join(cmdDir, "main.go"), []byte(fakeServiceSource("v5")), 0o644))
	r = nextReload(t, reports, done, &out)
	require.NoError(t, r.Err, out.String())
	assert.Equal(t, "v5", httpBody(t, url))
	assert.NotContains(t, out.String(), "inventory exited on its own", "the reload reported the crash; dev does not again")

	cancel()
	require.NoError(t, devResult(t, done, &out), out.String())
	select {
	case r := <-reports:
		t.Fatalf("unexpected reload: %+v", r)
	default:
	}
}

func TestRunDevNoWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a gRPC service")
	}
	root := clitest.GRPCWorkspace(t, "inventory", fakeServiceSource("v1"))
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out, "GOWORK="+filepath.Join(root, "go.work"))
	opts.NoBuild = false
	opts.NoWatch = true
	opts.Debounce = 50 * time.Millisecond
	opts.OnWatch = func() { t.Error("--no-watch watched") }
	opts.OnReload = func(r fleet.ReloadReport) { t.Errorf("--no-watch reloaded: %+v", r) }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	done := startDev(ctx, opts)
	clitest.WaitForOutput(t, &out, done, "all 1 services SERVING in")
	require.NoError(t, os.WriteFile(filepath.Join(root, workspace.MainDir("inventory"), "main.go"), []byte(fakeServiceSource("v2")), 0o644))
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, "v1", httpBody(t, "http://127.0.0.1:"+strconv.Itoa(opts.HTTPBase+2)+"/"))
	assert.NotContains(t, out.String(), "hot reload")
	cancel()
	require.NoError(t, devResult(t, done, &out), out.String())
}

// A file saved after the first build read the sources, while the services
// still start, is rebuilt once they serve: the old code does not go on
// serving without a word.
func TestRunDevRebuildsAnEditSavedDuringTheFirstBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a gRPC service twice")
	}
	root := clitest.GRPCWorkspace(t, "inventory", fakeServiceSource("v1"))
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out, "GOWORK="+filepath.Join(root, "go.work"))
	opts.NoBuild = false
	opts.Debounce = 50 * time.Millisecond
	opts.ReadyTimeout = 30 * time.Second
	mainGo := filepath.Join(root, workspace.MainDir("inventory"), "main.go")
	opts.AfterBuild = func() {
		require.NoError(t, os.WriteFile(mainGo, []byte(fakeServiceSource("v2")), 0o644))
	}
	url := "http://127.0.0.1:" + strconv.Itoa(opts.HTTPBase+2) + "/"
	firstServed := make(chan string, 1)
	opts.OnWatch = func() { firstServed <- httpBody(t, url) }
	reports := make(chan fleet.ReloadReport, 16)
	opts.OnReload = func(r fleet.ReloadReport) { reports <- r }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	done := startDev(ctx, opts)
	r := nextReload(t, reports, done, &out)
	require.NoError(t, r.Err, out.String())
	assert.Equal(t, "v1", <-firstServed, "the first build has the sources from before the edit")
	assert.Equal(t, "inventory", r.Service)
	assert.Equal(t, []string{"services/inventory/cmd/inventory/main.go"}, r.Files)
	assert.Equal(t, "v2", httpBody(t, url), "the edit saved during the start serves")
	assert.Contains(t, out.String(), "services/inventory/cmd/inventory/main.go changed while the services built or started: rebuilding inventory")
	assert.Contains(t, out.String(), "inventory | version v2")

	cancel()
	require.NoError(t, devResult(t, done, &out), out.String())
	select {
	case r := <-reports:
		t.Fatalf("one edit, one reload; also: %+v", r)
	default:
	}
}

// devPostgres returns the test PostgreSQL server, skipping when it does not
// answer (failing under CI).
func devPostgres(t *testing.T) string {
	t.Helper()
	server := os.Getenv("POSTGRES_TEST_URL")
	if server == "" {
		server = scratchdb.DefaultServerURL
	}
	conn, err := pgx.Connect(t.Context(), server)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s: %v", report.RedactURL(server), err)
		}
		t.Skipf("PostgreSQL at %s is unreachable: %v", report.RedactURL(server), err)
	}
	_ = conn.Close(t.Context())
	return server
}

func databaseExists(t *testing.T, server, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), server)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	return exists
}

func TestRunDevPostgresCreatesEachServiceDatabase(t *testing.T) {
	server := devPostgres(t)
	prefix := "slipway_devtest_" + strings.ToLower(rand.Text()[:8]) + "_"
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), server)
		if err != nil {
			return
		}
		defer func() { _ = conn.Close(context.Background()) }()
		for _, svc := range []string{"user", "inventory"} {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+prefix+svc+" WITH (FORCE)")
		}
	})
	root := clitest.FakeWorkspace(t, "user", "inventory")
	clitest.UseTestBinaryFor(t, root, "user", "inventory")
	// The inventory database exists already: dev uses it and creates the other.
	conn, err := pgx.Connect(t.Context(), server)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), "CREATE DATABASE "+prefix+"inventory")
	require.NoError(t, err)
	_ = conn.Close(t.Context())

	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out, clitest.ChildModeEnv+"=serve", "DATABASE_URL=sqlite://elsewhere.db")
	opts.Postgres, opts.PostgresPrefix = server, prefix
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := startDev(ctx, opts)
	clitest.WaitForOutput(t, &out, done, "all 2 services SERVING in")

	assert.True(t, databaseExists(t, server, prefix+"user"))
	assert.Contains(t, out.String(), "created "+prefix+"user; using "+prefix+"inventory")
	wantURL, err := fleet.ServiceDatabaseURL(server, prefix, "user")
	require.NoError(t, err)
	assert.Contains(t, out.String(), fmt.Sprintf(`"database_url":%q`, wantURL), "--postgres wins over DATABASE_URL")
	assert.Regexp(t, `user\s+SERVING\s+.*/docs\s+postgres\s+`, out.String())
	cancel()
	require.NoError(t, devResult(t, done, &out))
}

func TestRunDevPostgresUnreachable(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user")
	clitest.UseTestBinaryFor(t, root, "user")
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out, clitest.ChildModeEnv+"=serve")
	opts.Postgres = "postgres://postgres@127.0.0.1:" + strconv.Itoa(clitest.FreePort(t)) + "/postgres?connect_timeout=2"
	err := devResult(t, startDev(t.Context(), opts), &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--postgres: connect to")
}
