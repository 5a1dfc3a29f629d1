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
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/api/gen/openapi"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/client"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/order/internal/config"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/rpc"
	"github.com/slipway-dev/slipway/services/order/internal/saga"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

// newUserClient dials the user service, which the order service calls only
// to log its service account in, in plaintext development (under mutual TLS
// it is never called: the connection stays idle).
func newUserClient(cfg *config.Config, p *discovery.Peers) (userv1.UserServiceClient, func(), error) {
	// Login issues a fresh token each time: repeating it is harmless.
	conn, err := p.Dial("user", cfg.UserAddr, client.WithTimeout(cfg.PeerTimeout),
		client.WithRetry(userv1.UserService_Login_FullMethodName), client.WithRetryAttempts(cfg.PeerRetryAttempts))
	if err != nil {
		return nil, nil, err
	}
	return userv1.NewUserServiceClient(conn), func() { _ = conn.Close() }, nil
}

// newTokenSource logs the order service's account in through the user
// service and keeps its token fresh. Under mutual TLS there is none: the
// order service proves itself with its certificate, and peers refuse
// password service tokens.
func newTokenSource(cfg *config.Config, users userv1.UserServiceClient) client.TokenSource {
	if cfg.TLS.Enabled() {
		return nil
	}
	email, password := cfg.ServiceAccountEmail(), cfg.ServiceAccountPassword
	return auth.NewLoginTokenSource(func(ctx context.Context) (string, time.Time, error) {
		resp, err := users.Login(ctx, &userv1.LoginRequest{Email: email, Password: password})
		if err != nil {
			return "", time.Time{}, fmt.Errorf("log in as %s: %w", email, err)
		}
		return resp.GetAccessToken(), resp.GetExpiresAt().AsTime(), nil
	})
}

// newInventoryClient dials inventory as the order service: by its
// certificate under mutual TLS (Peers.Dial), else with its account's token
// (tokens is nil under mutual TLS). Every
// method the order service calls is idempotent (Reserve and Release by
// order id), so each is retried on UNAVAILABLE.
func newInventoryClient(cfg *config.Config, p *discovery.Peers, tokens client.TokenSource) (inventoryv1.InventoryServiceClient, func(), error) {
	conn, err := p.Dial("inventory", cfg.InventoryAddr,
		client.WithTimeout(cfg.PeerTimeout),
		client.WithTokenSource(tokens),
		client.WithRetry(
			inventoryv1.InventoryService_GetProduct_FullMethodName,
			inventoryv1.InventoryService_ListProducts_FullMethodName,
			inventoryv1.InventoryService_Reserve_FullMethodName,
			inventoryv1.InventoryService_Release_FullMethodName,
		),
		client.WithRetryAttempts(cfg.PeerRetryAttempts))
	if err != nil {
		return nil, nil, err
	}
	return inventoryv1.NewInventoryServiceClient(conn), func() { _ = conn.Close() }, nil
}

// newPaymentClient dials the payment service as the order service, as
// newInventoryClient dials inventory. Every method the order service calls
// is idempotent by its key (derived from the order and the step), so each
// is retried on UNAVAILABLE.
func newPaymentClient(cfg *config.Config, p *discovery.Peers, tokens client.TokenSource) (paymentv1.PaymentServiceClient, func(), error) {
	conn, err := p.Dial("payment", cfg.PaymentAddr,
		client.WithTimeout(cfg.PeerTimeout),
		client.WithTokenSource(tokens),
		client.WithRetry(
			paymentv1.PaymentService_AuthorizePayment_FullMethodName,
			paymentv1.PaymentService_CapturePayment_FullMethodName,
			paymentv1.PaymentService_VoidPayment_FullMethodName,
			paymentv1.PaymentService_RefundPayment_FullMethodName,
		),
		client.WithRetryAttempts(cfg.PeerRetryAttempts))
	if err != nil {
		return nil, nil, err
	}
	return paymentv1.NewPaymentServiceClient(conn), func() { _ = conn.Close() }, nil
}

// newBroker connects to NATS and makes sure the orders stream exists, so
// the first event has somewhere to go. The cleanup closes the connection
// after the App (and so the relay) has stopped.
func newBroker(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*events.Broker, func(), error) {
	key, err := events.ParseSigningKey(cfg.EventsSigningKey)
	if err != nil {
		return nil, nil, fmt.Errorf("EVENTS_SIGNING_KEY: %w", err)
	}
	return events.OpenBroker(ctx, events.BrokerConfig{
		URL: cfg.NATSURL, Name: config.Service, User: cfg.NATSUser, Password: cfg.NATSPassword,
		Owns:       []events.Stream{{Name: apievents.StreamOrders, Subjects: apievents.SubjectsOrders}},
		SigningKey: key,
		Produces:   true, // warns when events go unsigned
	}, logger)
}

// newRelay puts the outbox in the migrated database and returns the relay
// that publishes it.
func newRelay(ctx context.Context, db *platformstore.DB, b *events.Broker, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider) (*events.Relay, error) {
	if err := events.EnsureSchema(ctx, db); err != nil {
		return nil, fmt.Errorf("outbox schema: %w", err)
	}
	return events.NewRelay(db, b.JS, logger, reg, tp)
}

// openStore is the order store over the database, waking the relay after
// every commit that enqueued an event.
func openStore(db *platformstore.DB, relay *events.Relay) *store.Store {
	return store.New(db, store.WithCommitHook(relay.Notify))
}

// newSagaConfig is the order saga's configuration (PAYMENT_*, SAGA_RECOVERY_*).
func newSagaConfig(cfg *config.Config) domain.SagaConfig { return cfg.Saga() }

// newSagaWorker is the saga's recovery worker at the configured interval.
func newSagaWorker(cfg *config.Config, orders *domain.OrderService, logger *slog.Logger, reg *prometheus.Registry) (*saga.Worker, error) {
	return saga.New(orders, cfg.SagaRecoveryInterval, logger, reg)
}

// newServer serves the order handler on every protocol with its auth
// policy; ties the database and NATS to readiness, runs the relay and the
// saga's recovery worker beside the servers and registers the instance when
// discovery is etcd.
func newServer(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider,
	db *platformstore.DB, h *rpc.Handler, v auth.Verifier, b *events.Broker, relay *events.Relay, recovery *saga.Worker,
	p *discovery.Peers,
) (*server.App, error) {
	opts := []server.Option{
		server.WithService(server.Service{
			Desc:    &orderv1.OrderService_ServiceDesc,
			Impl:    h,
			Gateway: orderv1.RegisterOrderServiceHandler,
		}),
		server.WithAuth(auth.Authenticate(v, rpc.Policy(), auth.WithTLS(cfg.TLS))),
		server.WithOpenAPI(openapi.Order),
		server.WithCheck("database", db.Ping),
		server.WithOptionalCheck("nats", events.Check(b.Conn)), // the outbox and durable consumers ride out a broker outage
		server.WithWorker("outbox-relay", relay.Run),
		server.WithWorker("saga-recovery", recovery.Run),
		server.WithRegistration(p.Registration()),
	}
	return server.New(cfg.Base, cfg, logger, reg, tp, opts...)
}
