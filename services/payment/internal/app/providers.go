package app

import (
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
	"github.com/slipway-dev/slipway/services/payment/internal/rpc"
)

// newServer serves the payment handler on every protocol with its auth
// policy, registers the instance for discovery and ties the database to
// readiness.
func newServer(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider,
	db *platformstore.DB, h *rpc.Handler, v auth.Verifier, p *discovery.Peers,
) (*server.App, error) {
	return server.New(cfg.Base, cfg, logger, reg, tp,
		server.WithRegistration(p.Registration()),
		server.WithService(server.Service{
			Desc:    &paymentv1.PaymentService_ServiceDesc,
			Impl:    h,
			Gateway: paymentv1.RegisterPaymentServiceHandler,
		}),
		server.WithAuth(auth.Authenticate(v, rpc.Policy(), auth.WithTLS(cfg.TLS))),
		server.WithOpenAPI(openapi.Payment),
		server.WithCheck("database", db.Ping),
	)
}
