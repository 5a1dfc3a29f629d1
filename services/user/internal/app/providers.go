package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/api/gen/openapi"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/cache"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/user/internal/config"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
	"github.com/slipway-dev/slipway/services/user/internal/rpc"
)

// JWKSPath is where the user service publishes the keys its tokens verify with.
const JWKSPath = "/.well-known/jwks.json"

// newSigner returns the token signer over the configured key.
func newSigner(cfg *config.Config) (*auth.Signer, error) {
	key, err := cfg.SigningPrivateKey()
	if err != nil {
		return nil, err
	}
	return auth.NewSigner(key, cfg.Issuer, cfg.TokenTTL), nil
}

// tokenIssuer issues the domain's tokens with the platform's Signer.
type tokenIssuer struct{ signer *auth.Signer }

func newTokenIssuer(s *auth.Signer) domain.TokenIssuer { return tokenIssuer{signer: s} }

// Issue signs a token whose subject is the account id.
func (t tokenIssuer) Issue(_ context.Context, u domain.User) (domain.Token, error) {
	value, expires, err := t.signer.Sign(auth.Claims{Subject: u.ID, Email: u.Email, Role: auth.Role(u.Role)})
	if err != nil {
		return domain.Token{}, err
	}
	return domain.Token{Value: value, ExpiresAt: expires}, nil
}

// userCacheName names the account cache in metrics and its Redis keys
// (slipway:user:v1:<id>); the version changes with the cached shape, so
// instances of two releases never read each other's entries.
const userCacheName = "user:v1"

// newUserCache is the cache of accounts read by id: in memory, or in Redis
// when REDIS_URL is set; nil when USER_CACHE_TTL is 0.
func newUserCache(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry) (domain.UserCache, func(), error) {
	if cfg.UserCacheTTL == 0 {
		logger.Info("user cache off (USER_CACHE_TTL=0)")
		return nil, func() {}, nil
	}
	c, closeCache, err := cache.Open(cfg.RedisURL, userCacheName, logger, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("user cache: %w", err)
	}
	aside, err := cache.NewAside[domain.User](c, userCacheName, cfg.UserCacheTTL, reg)
	if err != nil {
		closeCache()
		return nil, nil, err
	}
	return userCache{aside: aside, logger: logger}, closeCache, nil
}

// userCache is the domain's UserCache over the platform's cache-aside; it
// reports the invalidations the cache could not take, which the domain
// does not fail on.
type userCache struct {
	aside  *cache.Aside[domain.User]
	logger *slog.Logger
}

func (c userCache) Get(ctx context.Context, id string, load func(context.Context) (domain.User, error)) (domain.User, error) {
	return c.aside.Get(ctx, id, load)
}

func (c userCache) Invalidate(ctx context.Context, id string) {
	if err := c.aside.Invalidate(ctx, id); err != nil {
		c.logger.WarnContext(ctx, "user cache invalidation failed: the cached account may be served until its TTL",
			"user_id", id, "error", err.Error())
	}
}

// newUserService returns the domain service with the configured first admin
// and service accounts in place, so an operator can sign in and peers can
// log in as soon as the service serves.
func newUserService(ctx context.Context, cfg *config.Config, logger *slog.Logger,
	users domain.UserStore, hasher domain.PasswordHasher, tokens domain.TokenIssuer, userCache domain.UserCache,
	limits domain.Limits,
) (*domain.UserService, error) {
	opts := []domain.Option{domain.WithLimits(limits)}
	if userCache != nil {
		opts = append(opts, domain.WithCache(userCache))
	}
	svc := domain.NewUserService(users, hasher, tokens, opts...)
	if cfg.AdminEmail != "" {
		admin, err := svc.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword)
		if err != nil {
			return nil, fmt.Errorf("ensure admin account: %w", err)
		}
		logger.InfoContext(ctx, "admin account ready", "user_id", admin.ID, "email", admin.Email)
	}
	accounts, err := cfg.ServiceAccountList()
	if err != nil {
		return nil, err
	}
	for _, a := range accounts {
		u, err := svc.EnsureServiceAccount(ctx, a.Name, a.Password)
		if err != nil {
			return nil, fmt.Errorf("ensure service account %s: %w", a.Name, err)
		}
		logger.InfoContext(ctx, "service account ready", "name", a.Name, "user_id", u.ID, "email", u.Email)
	}
	return svc, nil
}

// serverOptions is everything the user service adds to the platform server.
// Its own auth hook trusts its own key directly: no HTTP round trip to itself.
func serverOptions(cfg *config.Config, h *rpc.Handler, signer *auth.Signer, db *platformstore.DB) []server.Option {
	verifier := auth.NewKeyVerifier(signer.PublicKey(), cfg.Issuer)
	return []server.Option{
		server.WithService(server.Service{
			Desc:    &userv1.UserService_ServiceDesc,
			Impl:    h,
			Gateway: userv1.RegisterUserServiceHandler,
		}),
		server.WithAuth(auth.Authenticate(verifier, rpc.Policy, auth.WithTLS(cfg.TLS))),
		server.WithHTTPHandler("GET "+JWKSPath, signer.JWKS()),
		server.WithOpenAPI(openapi.User),
		server.WithCheck("database", db.Ping),
	}
}

// newServer builds the platform server for the whole config.
func newServer(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider, opts []server.Option, p *discovery.Peers) (*server.App, error) {
	return server.New(cfg.Base, cfg, logger, reg, tp, append(opts, server.WithRegistration(p.Registration()))...)
}
