package app

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/api/gen/openapi"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/inventory/internal/config"
	"github.com/slipway-dev/slipway/services/inventory/internal/rpc"
)

// newVerifier checks tokens against the user service's published keys.
func newVerifier(cfg *config.Config) auth.Verifier {
	return auth.NewJWKSVerifier(cfg.JWKSURL, auth.DefaultIssuer, nil)
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
		server.WithCloser("database", db.Close),
	)
}
