//go:build wireinject

package app

import (
	"context"
	"log/slog"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/user/internal/config"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
	"github.com/slipway-dev/slipway/services/user/internal/password"
	"github.com/slipway-dev/slipway/services/user/internal/rpc"
	"github.com/slipway-dev/slipway/services/user/internal/store"
)

// newApp builds the user service's server and the cleanup that releases
// what it opened.
func newApp(ctx context.Context, cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider) (*server.App, func(), error) {
	panic(wire.Build(
		discovery.ProviderSet,
		store.ProviderSet,
		rpc.ProviderSet,
		platformstore.ProviderSet,
		wire.FieldsOf(new(*config.Config), "Base"),
		newSigner,
		newTokenIssuer,
		newUserCache,
		newHasher,
		wire.Bind(new(domain.PasswordHasher), new(*password.Argon2id)),
		newTrustedProxies,
		newAuthLimits,
		newUserService,
		serverOptions,
		newServer,
	))
}
