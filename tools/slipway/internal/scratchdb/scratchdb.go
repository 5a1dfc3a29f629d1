// Package scratchdb creates throw-away PostgreSQL databases for measurements
// and experiments, and drops them again.
package scratchdb

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Create creates a database named prefix_<random> on the
// server and returns its URL and a function that drops it.
func Create(ctx context.Context, serverURL, prefix string) (string, func(), error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL URL: %w", err)
	}
	name := prefix + "_" + strings.ToLower(rand.Text()[:10])
	admin := func(ctx context.Context, sql string) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
		_, err = conn.Exec(ctx, sql)
		return err
	}
	// Identifiers cannot be parameters; name is ours and plain ASCII.
	if err := admin(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() {
		// FORCE ends connections a killed service left behind.
		_ = admin(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	db := *u
	db.Path = "/" + name
	return db.String(), drop, nil
}

// DefaultServerURL is the PostgreSQL the tests use when
// POSTGRES_TEST_URL is unset.
const DefaultServerURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
