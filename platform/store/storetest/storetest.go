// Package storetest gives each test its own real, empty database, so one
// repository test suite runs unchanged against SQLite and PostgreSQL.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/platform/store"
)

// defaultPostgresURL is the server used when POSTGRES_TEST_URL is unset: a
// local PostgreSQL, as compose and CI start it.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// connectTimeout bounds how long an unreachable PostgreSQL delays a test
// before it is skipped.
const connectTimeout = 5 * time.Second

// Dialects returns every dialect, for tests that loop over them:
//
//	for _, d := range storetest.Dialects() {
//		t.Run(string(d), func(t *testing.T) { db := storetest.Open(t, d); ... })
//	}
func Dialects() []store.Dialect {
	return []store.Dialect{store.SQLite, store.Postgres}
}

// Open returns a fresh, empty database of the dialect for one test, closed
// (and for PostgreSQL dropped) when the test ends:
//
//   - SQLite: a file in t.TempDir().
//   - PostgreSQL: a new database slipway_t_<random> on the server at
//     POSTGRES_TEST_URL (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). When that server
//     cannot be reached the test is skipped with the reason, unless CI=true:
//     then it fails, so CI never passes by skipping.
//
// No migrations are applied; call db.Migrate.
func Open(t testing.TB, dialect store.Dialect) *store.DB {
	t.Helper()
	switch dialect {
	case store.SQLite:
		return openSQLite(t)
	case store.Postgres:
		return openPostgres(t)
	}
	t.Fatalf("storetest: unknown dialect %q", dialect)
	return nil
}

func openSQLite(t testing.TB) *store.DB {
	t.Helper()
	path := filepath.ToSlash(filepath.Join(t.TempDir(), "test.db"))
	db, err := store.Open(context.Background(), "sqlite://"+path, "storetest", nil)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func openPostgres(t testing.TB) *store.DB {
	t.Helper()
	serverURL := serverURL()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("storetest: POSTGRES_TEST_URL: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		unreachable(t, u, err)
	}
	defer func() { _ = admin.Close(context.Background()) }()

	name := "slipway_t_" + randomSuffix()
	// Identifiers cannot be parameters; name is ours and plain ASCII.
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, serverURL, name) })

	dbURL := *u
	dbURL.Path = "/" + name
	db, err := store.Open(ctx, dbURL.String(), "storetest", nil)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	// Registered after the drop, so it runs before it.
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// unreachable skips the test, or fails it on CI where PostgreSQL must be up.
func unreachable(t testing.TB, u *url.URL, err error) {
	t.Helper()
	msg := fmt.Sprintf("storetest: PostgreSQL at %s is unreachable (set POSTGRES_TEST_URL): %v", u.Redacted(), err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func dropDatabase(t testing.TB, serverURL, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Errorf("storetest: drop database %s: %v", name, err)
		return
	}
	defer func() { _ = admin.Close(context.Background()) }()
	// FORCE ends connections a test leaked, which would block the drop.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("storetest: drop database %s: %v", name, err)
	}
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}
