package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/api/gen/openapi"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/inventory/internal/config"
	"github.com/slipway-dev/slipway/services/inventory/internal/rpc"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

// openStore is the inventory store over the migrated database, with the
// catalog seeded first when configured (seeding only adds missing products,
// so a restart never resets stock).
func openStore(ctx context.Context, cfg *config.Config, db *platformstore.DB, logger *slog.Logger) (*store.Store, error) {
	st := store.New(db)
	if !cfg.SeedCatalog {
		return st, nil
	}
	n, err := st.SeedCatalog(ctx, time.Now())
	if err != nil {
		return nil, fmt.Errorf("seed catalog: %w", err)
	}
	if n > 0 {
		logger.InfoContext(ctx, "catalog seeded", "products_added", n)
	}
	return st, nil
}

// newServer serves the inventory handler on every protocol with its auth
// policy, and ties the database to readiness and shutdown.
func newServer(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider,
	db *platformstore.DB, h *rpc.Handler, v auth.Verifier,
) (*server.App, error) {
	return server.New(cfg.Base, cfg, logger, reg, tp,
		server.WithService(server.Service{
			Desc:    &inventoryv1.InventoryService_ServiceDesc,
			Impl:    h,
			Gateway: inventoryv1.RegisterInventoryServiceHandler,
		}),
		server.WithAuth(auth.Authenticate(v, rpc.Policy())),
		server.WithOpenAPI(openapi.Inventory),
		server.WithCheck("database", db.Ping),
	)
}
