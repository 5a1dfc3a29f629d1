package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/api/gen/openapi"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/payment/internal/config"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
	"github.com/slipway-dev/slipway/services/payment/internal/provider"
	"github.com/slipway-dev/slipway/services/payment/internal/provider/sandbox"
	"github.com/slipway-dev/slipway/services/payment/internal/provider/stripe"
	"github.com/slipway-dev/slipway/services/payment/internal/providermetrics"
	"github.com/slipway-dev/slipway/services/payment/internal/rpc"
)

// StripeWebhookPath is where Stripe delivers its events when the provider
// is Stripe and STRIPE_WEBHOOK_SECRET is set.
const StripeWebhookPath = "/webhooks/stripe"

// newProvider is the payment service provider cfg names, counting its
// calls on reg: the sandbox keeps its ledger in the service's database, so
// a restart keeps authorizations capturable.
func newProvider(cfg *config.Config, db *platformstore.DB, logger *slog.Logger, reg *prometheus.Registry) (domain.Provider, error) {
	var (
		psp provider.Provider
		err error
	)
	switch cfg.Provider {
	case config.ProviderStripe:
		psp, err = stripe.New(cfg.StripeAPIKey, stripe.WithURL(cfg.StripeAPIURL), stripe.WithLogger(logger))
	default:
		psp, err = sandbox.New(sandbox.NewSQLLedger(db),
			sandbox.WithLatency(sandbox.Latency{Median: cfg.SandboxLatencyMedian, P99: cfg.SandboxLatencyP99}),
			sandbox.WithTransientRate(cfg.SandboxTransientRate))
	}
	if err != nil {
		return nil, fmt.Errorf("payment provider %s: %w", cfg.Provider, err)
	}
	return providermetrics.Wrap(psp, reg)
}

// newServer serves the payment handler on every protocol with its auth
// policy, registers the instance for discovery, ties the database to
// readiness and, on Stripe, takes Stripe's webhook.
func newServer(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider,
	db *platformstore.DB, h *rpc.Handler, v auth.Verifier, p *discovery.Peers,
) (*server.App, error) {
	opts := []server.Option{
		server.WithRegistration(p.Registration()),
		server.WithService(server.Service{
			Desc:    &paymentv1.PaymentService_ServiceDesc,
			Impl:    h,
			Gateway: paymentv1.RegisterPaymentServiceHandler,
		}),
		server.WithAuth(auth.Authenticate(v, rpc.Policy(), auth.WithTLS(cfg.TLS))),
		server.WithOpenAPI(openapi.Payment),
		server.WithCheck("database", db.Ping),
	}
	if cfg.Provider == config.ProviderStripe && cfg.StripeWebhookSecret != "" {
		opts = append(opts, server.WithHTTPHandler("POST "+StripeWebhookPath,
			stripe.NewWebhookHandler(cfg.StripeWebhookSecret, logStripeEvent(logger), stripe.WithWebhookLogger(logger))))
	}
	return server.New(cfg.Base, cfg, logger, reg, tp, opts...)
}

// logStripeEvent records the payment events Stripe sends. The service
// learns every outcome from the answers to its own calls (authorization
// is confirmed synchronously and capture is manual), so an event changes
// nothing; the log shows what Stripe saw, for reconciliation.
func logStripeEvent(logger *slog.Logger) stripe.EventHandler {
	return func(ctx context.Context, e stripe.Event) error {
		attrs := []any{"event_id", e.ID, "type", e.Type, "provider_ref", e.Ref, "amount", e.Amount}
		if e.Decline != nil {
			attrs = append(attrs, "decline_code", e.Decline.Code)
		}
		logger.InfoContext(ctx, "stripe event", attrs...)
		return nil
	}
}
