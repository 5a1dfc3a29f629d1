package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
)

// EnsureDatabases creates each service's database on the server when it is
// missing, and reports which it created and which it found.
func EnsureDatabases(ctx context.Context, server, prefix string, services []string, out *Console) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return fmt.Errorf("--postgres: connect to %s: %w", report.RedactURL(server), err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var created, found []string
	for _, svc := range services {
		name := prefix + svc
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			return fmt.Errorf("--postgres: look up database %s: %w", name, err)
		}
		if exists {
			found = append(found, name)
			continue
		}
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "42P04": // duplicate_database: created meanwhile
			found = append(found, name)
		case err != nil:
			return fmt.Errorf("--postgres: create database %s: %w", name, err)
		default:
			created = append(created, name)
		}
	}
	msg := "postgres " + report.RedactURL(server) + ":"
	if len(created) > 0 {
		msg += " created " + strings.Join(created, ", ") + ";"
	}
	if len(found) > 0 {
		msg += " using " + strings.Join(found, ", ") + ";"
	}
	out.Infof("%s", strings.TrimSuffix(msg, ";"))
	return nil
}
