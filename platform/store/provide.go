package store

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-dev/slipway/platform/config"
)

// Migrations is a service's migration tree, laid out as
// <dialect>/NNNN_name.sql. It is a named type so wire can provide it.
type Migrations fs.FS

// ProviderSet provides a service's open, migrated database. The injector
// supplies config.Base, the registry, the logger and the Migrations.
var ProviderSet = wire.NewSet(Provide)

// Provide opens base.DatabaseURL with base.DB's pool settings, applies the
// migrations (DB.Migrate), logs each one it applied, and returns a cleanup that closes the database. The service's readiness check and
// shutdown use the same *DB.
func Provide(ctx context.Context, base config.Base, reg *prometheus.Registry, m Migrations, logger *slog.Logger) (*DB, func(), error) {
	db, err := Open(ctx, base.DatabaseURL, base.Service, reg, WithPool(base.DB))
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	applied, err := db.MigrateUp(ctx, m)
	for _, a := range applied { // with an error too: the files before the failed one
		logger.InfoContext(ctx, "migration applied", "version", a.Version, "name", a.Name)
	}
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("migrate %s database: %w", db.Dialect, err)
	}
	return db, func() {
		if err := db.Close(); err != nil {
			logger.Warn("close database", "error", err)
		}
	}, nil
}
