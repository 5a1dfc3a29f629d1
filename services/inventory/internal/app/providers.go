package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	apievents "github.com/slipway-dev/slipway/api/events"
	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/api/gen/openapi"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/inventory/internal/config"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/orderevents"
	"github.com/slipway-dev/slipway/services/inventory/internal/rpc"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
	"github.com/slipway-dev/slipway/services/inventory/internal/sweeper"
)

// openStore is the inventory store over the migrated database, with its
// product cache (PRODUCT_CACHE_TTL) and the catalog seeded first when
// configured (seeding only adds missing products, so a restart never
// resets stock).
func openStore(ctx context.Context, cfg *config.Config, db *platformstore.DB, logger *slog.Logger) (*store.Store, error) {
	st := store.New(db, store.WithProductCache(cfg.ProductCacheTTL))
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

// domainOptions configures the domain from the config: how long a
// reservation holds its stock before it expires.
func domainOptions(cfg *config.Config) []domain.Option {
	return []domain.Option{domain.WithReservationTTL(cfg.ReservationTTL)}
}

// openBroker connects to NATS as a consumer (events.ConsumerSettings
// says how). ORDERS is order's to create: the consumer waits for it in the
// background, so the service starts before order. The cleanup closes the
// connection, after the consumer has stopped.
func openBroker(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*events.Broker, func(), error) {
	bc, err := cfg.BrokerConfig(config.Service)
	if err != nil {
		return nil, nil, err
	}
	return events.OpenBroker(ctx, bc, logger)
}

// newConsumer is the durable consumer "inventory" of the order events, with
// the inbox table it dedupes by created first.
func newConsumer(ctx context.Context, db *platformstore.DB, b *events.Broker, h *orderevents.Handler,
	logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider,
) (*events.Consumer, error) {
	if err := events.EnsureSchema(ctx, db); err != nil {
		return nil, fmt.Errorf("events schema: %w", err)
	}
	return events.NewConsumer(db, b.JS, events.ConsumerConfig{
		Stream:   apievents.StreamOrders,
		Durable:  orderevents.Durable,
		Subjects: orderevents.Subjects,
		Schemas:  apievents.Schemas, // anything else is dead-lettered unhandled
		// With EVENTS_PRODUCER_KEYS, only events signed by their producer.
		Producers:    apievents.Producers,
		ProducerKeys: b.ProducerKeys,
		MaxEventAge:  b.MaxEventAge,
	}, h.Handle, logger, reg, tp)
}

// newSweeper is the reservation sweeper at the configured interval.
func newSweeper(cfg *config.Config, inventory *domain.InventoryService, logger *slog.Logger, reg *prometheus.Registry) (*sweeper.Sweeper, error) {
	return sweeper.New(inventory, cfg.ReservationSweepInterval, logger, reg)
}

// newServer serves the inventory handler on every protocol with its auth
// policy, runs the order events consumer and the reservation sweeper beside
// it, and ties the database and NATS to readiness and shutdown.
func newServer(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider,
	db *platformstore.DB, b *events.Broker, h *rpc.Handler, v auth.Verifier, consumer *events.Consumer, sweep *sweeper.Sweeper, p *discovery.Peers,
) (*server.App, error) {
	return server.New(cfg.Base, cfg, logger, reg, tp,
		server.WithRegistration(p.Registration()),
		server.WithService(server.Service{
			Desc:    &inventoryv1.InventoryService_ServiceDesc,
			Impl:    h,
			Gateway: inventoryv1.RegisterInventoryServiceHandler,
		}),
		server.WithAuth(auth.Authenticate(v, rpc.Policy(), auth.WithTLS(cfg.TLS))),
		server.WithOpenAPI(openapi.Inventory),
		server.WithCheck("database", db.Ping),
		server.WithOptionalCheck("nats", events.Check(b.Conn)), // the outbox and durable consumers ride out a broker outage
		server.WithWorker("order-events", consumer.Run),
		server.WithWorker("inbox-pruner", consumer.PruneInbox(cfg.InboxRetention)),
		server.WithWorker("reservation-sweeper", sweep.Run),
	)
}
