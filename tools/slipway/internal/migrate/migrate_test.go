package migrate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/migrate"
	"github.com/slipway-dev/slipway/tools/slipway/internal/scratchdb"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

func TestMainRefusesBadCommandLines(t *testing.T) {
	for name, args := range map[string][]string{
		"no verb":         nil,
		"unknown verb":    {"down"},
		"unknown flag":    {"status", "--all"},
		"stray argument":  {"up", "order"},
		"unknown service": {"status", "--services", "payments"},
		"bad prefix":      {"up", "--postgres", "postgres://127.0.0.1:5432", "--postgres-prefix", "Bad-Name"},
		"not a server":    {"up", "--postgres", "mysql://root:s3cret@127.0.0.1/x"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			env := &cli.Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Environ: clitest.Environ()}
			err := migrate.Main(context.Background(), args, env)
			assert.Equal(t, cli.ExitUsage, cli.ExitCode(&stderr, "migrate", err), "%v", err)
			assert.NotContains(t, stderr.String(), "s3cret", "a URL's password is never printed")
		})
	}
}

func TestMainHelpNamesTheVerbsAndTheOverride(t *testing.T) {
	var stderr bytes.Buffer
	err := migrate.Main(context.Background(), []string{"--help"}, &cli.Env{Stdout: &bytes.Buffer{}, Stderr: &stderr})
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, stderr.String(), "usage: slipway migrate status|up")
	assert.Contains(t, stderr.String(), "SLIPWAY_<SERVICE>_DATABASE_URL")
	assert.Contains(t, stderr.String(), "--postgres")
}

func TestWriteShowsEveryMigrationAndWhatUpApplied(t *testing.T) {
	at := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	reports := []server.MigrateReport{
		{Service: "user", Dialect: store.SQLite, Migrations: []store.Migration{
			{Version: 1, Name: "init", State: store.MigrationApplied, AppliedAt: at},
		}},
		{Service: "order", Dialect: store.Postgres,
			Applied: []store.Migration{{Version: 2, Name: "totals", State: store.MigrationApplied, AppliedAt: at}},
			Migrations: []store.Migration{
				{Version: 1, Name: "init", State: store.MigrationApplied, AppliedAt: at},
				{Version: 2, Name: "totals", State: store.MigrationApplied, AppliedAt: at},
				{Version: 3, Name: "refunds", State: store.MigrationPending},
			}, Pending: 1},
	}
	var up, status bytes.Buffer
	require.NoError(t, migrate.Write(&up, "up", reports))
	require.NoError(t, migrate.Write(&status, "status", reports))

	assert.Contains(t, up.String(), "order: applied 0002_totals\n")
	assert.NotContains(t, status.String(), "applied 0002_totals\n", "status lists no applied lines")
	lines := strings.Split(status.String(), "\n")
	require.GreaterOrEqual(t, len(lines), 5)
	assert.Regexp(t, `^SERVICE\s+DIALECT\s+VERSION\s+NAME\s+STATE\s+APPLIED AT$`, lines[0])
	assert.Regexp(t, `^user\s+sqlite\s+0001\s+init\s+applied\s+2026-12-07T14:00:00Z$`, lines[1])
	assert.Regexp(t, `^order\s+postgres\s+0003\s+refunds\s+PENDING\s+-$`, lines[4])
	assert.Contains(t, status.String(), "2 services, 4 migrations, 1 pending\n")
}

// binaries builds the user and notification services once for the tests
// that run them (a minute or so the first time).
var binaries = sync.OnceValues(func() (string, error) {
	root, err := workspace.Resolve("", "")
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "slipway-migrate-bin-")
	if err != nil {
		return "", err
	}
	for _, svc := range []string{"user", "notification"} {
		r := fleet.BuildBinary(context.Background(), goBin, root, svc, filepath.Join(dir, svc), os.Environ())
		if r.Err != nil {
			return "", errors.Join(r.Err, errors.New(r.Output))
		}
	}
	return dir, nil
})

// fakeRoot is a workspace with the user and notification services whose
// .slipway/bin holds the real binaries.
func fakeRoot(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds two services")
	}
	bin, err := binaries()
	require.NoError(t, err)
	root := clitest.FakeWorkspace(t, "user", "notification")
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".slipway", "bin"), 0o755))
	for _, svc := range []string{"user", "notification"} {
		require.NoError(t, os.Symlink(filepath.Join(bin, svc), workspace.BinaryPath(root, svc)))
	}
	return root
}

func run(t *testing.T, opts migrate.Options) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	opts.NoBuild, opts.Stdout, opts.Stderr = true, &stdout, &stderr
	if opts.Environ == nil {
		opts.Environ = clitest.Environ()
	}
	err := migrate.Run(context.Background(), opts)
	t.Logf("stderr:\n%s", stderr.String())
	return stdout.String(), err
}

func TestRunAppliesEveryServicesMigrationsOnTheDevDatabases(t *testing.T) {
	root := fakeRoot(t)

	out, err := run(t, migrate.Options{Verb: "status", Root: root})
	require.NoError(t, err, "pending migrations are not a failure")
	assert.Regexp(t, `user\s+sqlite\s+0001\s+init\s+PENDING`, out)
	assert.Regexp(t, `notification\s+sqlite\s+0001\s+init\s+PENDING`, out)

	out, err = run(t, migrate.Options{Verb: "up", Root: root})
	require.NoError(t, err)
	assert.Contains(t, out, "user: applied 0001_init")
	assert.Contains(t, out, "notification: applied 0002_deliveries")
	assert.FileExists(t, filepath.Join(root, ".slipway", "data", "user.db"), "the database slipway dev uses")

	out, err = run(t, migrate.Options{Verb: "up", Root: root, JSON: true})
	require.NoError(t, err)
	var reports []server.MigrateReport
	require.NoError(t, json.Unmarshal([]byte(out), &reports))
	require.Len(t, reports, 2)
	for _, r := range reports {
		assert.Empty(t, r.Applied, "%s: a second up applies nothing", r.Service)
		assert.Zero(t, r.Pending, r.Service)
		assert.NotEmpty(t, r.Migrations, r.Service)
	}
}

func TestRunNamesTheServiceThatFailedAndStillAsksTheOthers(t *testing.T) {
	root := fakeRoot(t)
	// The notification database is a directory: it cannot be opened.
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".slipway", "data", "notification.db"), 0o755))

	out, err := run(t, migrate.Options{Verb: "status", Root: root})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "migrate status failed for notification")
	assert.Regexp(t, `user\s+sqlite\s+0001\s+init\s+PENDING`, out, "user is still reported")
	assert.Contains(t, out, "\n1 service, 2 migrations, 2 pending\n")
}

func TestRunPointsOneServiceAtPostgreSQL(t *testing.T) {
	root := fakeRoot(t)
	serverURL := cmpOr(os.Getenv("POSTGRES_TEST_URL"), scratchdb.DefaultServerURL)
	dbURL, drop, err := scratchdb.Create(context.Background(), serverURL, "slipway_migrate_test")
	if err != nil {
		t.Skipf("needs PostgreSQL: %v", err)
	}
	t.Cleanup(drop)

	out, err := run(t, migrate.Options{Verb: "up", Root: root, Services: []string{"user"},
		Environ: clitest.Environ("SLIPWAY_USER_DATABASE_URL=" + dbURL)})
	require.NoError(t, err)
	assert.Regexp(t, `user\s+postgres\s+0001\s+init\s+applied`, out)
	assert.NotContains(t, out, "notification", "--services user asks user only")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestRunUpCreatesTheMissingPostgreSQLDatabases(t *testing.T) {
	root := fakeRoot(t)
	serverURL := cmpOr(os.Getenv("POSTGRES_TEST_URL"), scratchdb.DefaultServerURL)
	conn, err := pgx.Connect(context.Background(), serverURL)
	if err != nil {
		t.Skipf("needs PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	prefix := "slipway_mt" + strings.ToLower(rand.Text()[:8]) + "_"
	t.Cleanup(func() {
		for _, svc := range []string{"user", "notification"} {
			_, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+prefix+svc+" WITH (FORCE)")
			assert.NoError(t, err)
		}
	})

	_, err = run(t, migrate.Options{Verb: "status", Root: root, Postgres: serverURL, PostgresPrefix: prefix})
	require.Error(t, err, "status creates nothing: the databases are missing")

	out, err := run(t, migrate.Options{Verb: "up", Root: root, Postgres: serverURL, PostgresPrefix: prefix})
	require.NoError(t, err)
	assert.Regexp(t, `user\s+postgres\s+0001\s+init\s+applied`, out)
	assert.Regexp(t, `notification\s+postgres\s+0002\s+deliveries\s+applied`, out)
	var n int
	require.NoError(t, conn.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_database WHERE datname IN ($1, $2)", prefix+"user", prefix+"notification").Scan(&n))
	assert.Equal(t, 2, n, "up created both databases")
}

func TestRunWithoutABinarySaysToBuildIt(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user")
	var stderr bytes.Buffer
	err := migrate.Run(context.Background(), migrate.Options{Verb: "status", Root: root, NoBuild: true,
		Stdout: &bytes.Buffer{}, Stderr: &stderr, Environ: clitest.Environ()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "migrate status failed for every service: user")
	assert.Contains(t, stderr.String(), "run without --no-build to build it")
}

func TestRunJSONIsAnArrayEvenWhenNothingAnswered(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user")
	var stdout bytes.Buffer
	err := migrate.Run(context.Background(), migrate.Options{Verb: "status", Root: root, NoBuild: true, JSON: true,
		Stdout: &stdout, Stderr: &bytes.Buffer{}, Environ: clitest.Environ()})
	require.Error(t, err)
	assert.Equal(t, "[]\n", stdout.String())
}

func TestMainTrimsTheServicesList(t *testing.T) {
	var stderr bytes.Buffer
	env := &cli.Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Environ: clitest.Environ()}
	err := migrate.Main(context.Background(), []string{"status", "--services", "user, payments,", "--root", t.TempDir()}, env)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown service "payments"`, "entries are trimmed and empty ones dropped")
}
