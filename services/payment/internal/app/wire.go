//go:build wireinject

package app

import (
	"context"
	"log/slog"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/payment/internal/config"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
	"github.com/slipway-dev/slipway/services/payment/internal/rpc"
	"github.com/slipway-dev/slipway/services/payment/internal/store"
)

// newApp wires the payment service: database, store, payment provider,
// domain, handler, server.
func newApp(ctx context.Context, cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider) (*server.App, func(), error) {
	panic(wire.Build(
		discovery.ProviderSet,
		wire.FieldsOf(new(*config.Config), "Base"),
		platformstore.ProviderSet,
		auth.ProviderSet,
		store.ProviderSet,
		domain.ProviderSet,
		rpc.ProviderSet,
		newProvider,
		newServer,
	))
}
