package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	apievents "github.com/slipway-dev/slipway/api/events"
	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	"github.com/slipway-dev/slipway/api/gen/openapi"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/notification/internal/config"
	"github.com/slipway-dev/slipway/services/notification/internal/delivery"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
	"github.com/slipway-dev/slipway/services/notification/internal/orderevents"
	"github.com/slipway-dev/slipway/services/notification/internal/rpc"
	"github.com/slipway-dev/slipway/services/notification/internal/sender"
)

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

// newChannel is the webhook when NOTIFY_WEBHOOK_URL is set; else
// notifications are in-app only.
func newChannel(cfg *config.Config) domain.Channel {
	if cfg.WebhookURL == "" {
		return domain.ChannelNone
	}
	return domain.ChannelWebhook
}

// newDeliveryWorker drains the delivery queue into the webhook; nil when
// there is no webhook.
func newDeliveryWorker(cfg *config.Config, queue domain.DeliveryQueue, logger *slog.Logger,
	reg *prometheus.Registry, tp *sdktrace.TracerProvider,
) (*delivery.Worker, error) {
	if cfg.WebhookURL == "" {
		return nil, nil
	}
	return delivery.NewWorker(queue, sender.NewWebhookSender(cfg.WebhookURL, sender.WithTimeout(cfg.WebhookTimeout)),
		delivery.Policy{
			MaxAttempts:    cfg.WebhookMaxAttempts,
			BaseBackoff:    cfg.WebhookBackoff,
			MaxBackoff:     cfg.WebhookMaxBackoff,
			AttemptTimeout: cfg.WebhookTimeout,
		}, logger, reg, tp)
}

// newConsumer is the durable consumer "notification" of the order events,
// with the inbox table it dedupes by created first.
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

// newServer serves the notification handler on every protocol with its
// auth policy, runs the order events consumer and the delivery worker (when
// there is a webhook) beside it, and ties the database and NATS to
// readiness.
func newServer(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider,
	db *platformstore.DB, b *events.Broker, h *rpc.Handler, v auth.Verifier, consumer *events.Consumer, p *discovery.Peers,
	deliveries *delivery.Worker,
) (*server.App, error) {
	return server.New(cfg.Base, cfg, logger, reg, tp,
		server.WithRegistration(p.Registration()),
		server.WithService(server.Service{
			Desc:    &notificationv1.NotificationService_ServiceDesc,
			Impl:    h,
			Gateway: notificationv1.RegisterNotificationServiceHandler,
		}),
		server.WithAuth(auth.Authenticate(v, rpc.Policy(), auth.WithTLS(cfg.TLS))),
		server.WithOpenAPI(openapi.Notification),
		server.WithCheck("database", db.Ping),
		server.WithOptionalCheck("nats", events.Check(b.Conn)), // the outbox and durable consumers ride out a broker outage
		server.WithWorker("order-events", consumer.Run),
		server.WithWorker("notification-delivery", deliveries.Run),
		server.WithWorker("inbox-pruner", consumer.PruneInbox(cfg.InboxRetention)),
	)
}
