package server_test

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/store"
)

// The schemas of the test services: "widgets" migrates cleanly, "gadgets"
// has a broken second file.
var testMigrations = map[string]store.Migrations{
	"widgets": fstest.MapFS{
		"sqlite/0001_widgets.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE widgets (id TEXT PRIMARY KEY);")},
		"sqlite/0002_colour.sql":    {Data: []byte("-- +goose Up\nALTER TABLE widgets ADD COLUMN colour TEXT;")},
		"postgres/0001_widgets.sql": {Data: []byte("-- +goose Up\nCREATE TABLE widgets (id TEXT PRIMARY KEY);")},
		"postgres/0002_colour.sql":  {Data: []byte("-- +goose Up\nALTER TABLE widgets ADD COLUMN colour TEXT;")},
	},
	"gadgets": fstest.MapFS{
		"sqlite/0001_gadgets.sql": {Data: []byte("-- +goose Up\nCREATE TABLE gadgets (id TEXT PRIMARY KEY);")},
		"sqlite/0002_broken.sql":  {Data: []byte("-- +goose Up\nALTER TABLE no_such_table ADD COLUMN x TEXT;")},
	},
}

// migrateMain runs the widgets binary (server.Main) with args against the
// database at dbURL, and returns its output.
func migrateMain(t *testing.T, service, dbURL string, args ...string) (string, error) {
	t.Helper()
	newConfig := func() *widgetConfig {
		c := newWidgetConfig()
		c.Service = service
		return c
	}
	var got *widgetConfig
	var out strings.Builder
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": dbURL}[k] }
	err := server.Main(context.Background(), args, getenv, &out, newConfig, buildWidgets(&got), testMigrations[service])
	assert.Nil(t, got, "migrate builds and serves nothing")
	return out.String(), err
}

func sqliteURL(t *testing.T) string {
	return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "w.db"))
}

func TestMainMigrateStatusAndUp(t *testing.T) {
	dbURL := sqliteURL(t)

	out, err := migrateMain(t, "widgets", dbURL, "migrate", "status")
	require.NoError(t, err)
	assert.Contains(t, out, "widgets database (sqlite): 2 migrations, 2 pending")
	assert.Regexp(t, `(?m)^VERSION\s+NAME\s+STATE\s+APPLIED AT$`, out)
	assert.Regexp(t, `(?m)^0001\s+widgets\s+pending\s+-$`, out)
	assert.Regexp(t, `(?m)^0002\s+colour\s+pending\s+-$`, out)

	out, err = migrateMain(t, "widgets", dbURL, "migrate", "up")
	require.NoError(t, err)
	assert.Contains(t, out, "applied 0001_widgets\napplied 0002_colour\n")
	assert.Contains(t, out, "2 migrations, 0 pending")
	assert.Regexp(t, `(?m)^0002\s+colour\s+applied\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, out)

	out, err = migrateMain(t, "widgets", dbURL, "migrate", "up")
	require.NoError(t, err)
	assert.Contains(t, out, "nothing to apply\n", "a second up applies nothing")

	db, err := store.Open(context.Background(), dbURL, "check", nil)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(context.Background(), "INSERT INTO widgets (id, colour) VALUES ('w1', 'red')")
	assert.NoError(t, err, "the schema is in place")
}

func TestMainMigrateJSON(t *testing.T) {
	dbURL := sqliteURL(t)
	tests := []struct {
		args        []string
		wantApplied []int64
		wantPending int
	}{
		{args: []string{"migrate", "status", "--json"}, wantPending: 2},
		{args: []string{"migrate", "--json", "up"}, wantApplied: []int64{1, 2}},
		{args: []string{"migrate", "status", "--json"}},
	}
	for _, tt := range tests {
		out, err := migrateMain(t, "widgets", dbURL, tt.args...)
		require.NoError(t, err, "%v", tt.args)
		var report server.MigrateReport
		require.NoError(t, json.Unmarshal([]byte(out), &report), "%v: %s", tt.args, out)
		assert.Equal(t, "widgets", report.Service)
		assert.Equal(t, store.SQLite, report.Dialect)
		assert.Equal(t, tt.wantPending, report.Pending, "%v", tt.args)
		require.Len(t, report.Migrations, 2)
		assert.Equal(t, "colour", report.Migrations[1].Name)
		var applied []int64
		for _, m := range report.Applied {
			applied = append(applied, m.Version)
		}
		assert.Equal(t, tt.wantApplied, applied, "%v", tt.args)
	}
}

func TestMainMigrateFailures(t *testing.T) {
	tests := map[string]struct {
		service string
		url     string
		args    []string
		want    string
		code    int
	}{
		"no verb":           {args: []string{"migrate"}, want: `want status or up, got ""`, code: 2},
		"unknown verb":      {args: []string{"migrate", "down"}, want: `want status or up, got "down"`, code: 2},
		"stray argument":    {args: []string{"migrate", "up", "now"}, want: "unexpected arguments", code: 2},
		"unknown flag":      {args: []string{"migrate", "status", "--all"}, want: "flag provided but not defined", code: 2},
		"help":              {args: []string{"migrate", "-help"}, code: 0},
		"bad database url":  {url: "mysql://x", args: []string{"migrate", "status"}, want: "DATABASE_URL", code: 1},
		"no migrations":     {service: "sprockets", args: []string{"migrate", "status"}, want: "service sprockets has no migrations", code: 1},
		"a file that fails": {service: "gadgets", args: []string{"migrate", "up"}, want: "migration 0002_broken.sql", code: 1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			url := tt.url
			if url == "" {
				url = sqliteURL(t)
			}
			_, err := migrateMain(t, cmp.Or(tt.service, "widgets"), url, tt.args...)
			assert.Equal(t, tt.code, server.ExitCode(err), "%v", err)
			if tt.want != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.want)
			}
		})
	}
}

func TestMainMigrateHelp(t *testing.T) {
	out, err := migrateMain(t, "widgets", sqliteURL(t), "migrate", "-help")
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, out, "usage: widgets migrate status|up [--config file] [--json]")
	assert.Contains(t, out, "-json")

	out, err = migrateMain(t, "widgets", sqliteURL(t), "-help")
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, out, "       widgets migrate status|up [--config file] [--json]\n", "the service's -help shows the command")
}

func TestMainMigrateUpNamesTheFilesItAppliedBeforeOneFailed(t *testing.T) {
	out, err := migrateMain(t, "gadgets", sqliteURL(t), "migrate", "up")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0002_broken.sql")
	assert.Contains(t, out, "applied 0001_gadgets\n", "the first file is committed, and the operator is told")
	assert.NotContains(t, out, "applied 0002_broken")
}
