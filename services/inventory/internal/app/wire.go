//go:build wireinject

package app

import (
	"log/slog"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/inventory/internal/config"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/rpc"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

// newApp wires the inventory service over an open, migrated database.
func newApp(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider,
	db *platformstore.DB,
) (*server.App, func(), error) {
	panic(wire.Build(
		store.ProviderSet,
		domain.ProviderSet,
		rpc.ProviderSet,
		newVerifier,
		newServer,
	))
}
