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
	"github.com/slipway-dev/slipway/services/order/internal/config"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/payment"
	"github.com/slipway-dev/slipway/services/order/internal/rpc"
	"github.com/slipway-dev/slipway/services/order/internal/stock"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

// newApp wires the order service: database and outbox, NATS, peers,
// store, stock, payments, domain, saga recovery, handlers, server.
func newApp(ctx context.Context, cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider) (*server.App, func(), error) {
	panic(wire.Build(
		wire.FieldsOf(new(*config.Config), "Base"),
		platformstore.ProviderSet,
		auth.ProviderSet,
		store.ProviderSet,
		stock.ProviderSet,
		domain.ProviderSet,
		rpc.ProviderSet,
		discovery.ProviderSet,
		newUserClient,
		newTokenSource,
		newInventoryClient,
		newBroker,
		newRelay,
		openStore,
		newOrderLimiter,
		newSagaConfig,
		newSagaWorker,
		payment.ProviderSet,
		newPaymentClient,
		wire.Bind(new(domain.Payments), new(*payment.Client)),
		wire.Bind(new(domain.OrderStore), new(*store.Store)),
		wire.Bind(new(domain.StockReserver), new(*stock.Reserver)),
		newServer,
	))
}
