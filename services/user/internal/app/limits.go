package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-dev/slipway/platform/ratelimit"
	"github.com/slipway-dev/slipway/services/user/internal/config"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
	"github.com/slipway-dev/slipway/services/user/internal/password"
	"github.com/slipway-dev/slipway/services/user/internal/rpc"
)

// hashIdleRelease is how long hashing must pause before its memory goes
// back to the OS: long enough that a run of logins pays for it once.
const hashIdleRelease = time.Second

// newHasher is Argon2id with the default cost, failing fast when a flood
// holds every hashing slot for longer than AUTH_HASH_QUEUE_TIMEOUT, and
// giving the hashes' memory back once they pause (19 MiB each, which an
// idle service would otherwise hold until the runtime's next GC).
func newHasher(cfg *config.Config) *password.Argon2id {
	return password.NewArgon2id(password.WithQueueTimeout(cfg.AuthHashQueueTimeout),
		password.WithIdleRelease(hashIdleRelease))
}

// newTrustedProxies are the proxies whose X-Forwarded-For the handler reads
// (AUTH_TRUSTED_PROXIES; none by default).
func newTrustedProxies(cfg *config.Config) (rpc.TrustedProxies, error) {
	return cfg.TrustedProxies()
}

// newAuthLimits are the limits on Login and Register: per client address,
// per account and client, and per account across clients (GCRA), and the
// failure backoff per account and client; in memory,
// or in Redis when REDIS_URL is set (falling back to memory while Redis
// does not answer). A limit whose rate or delay is 0 is off.
func newAuthLimits(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry) (domain.Limits, func(), error) {
	var (
		limits  domain.Limits
		closers []func()
	)
	cleanup := func() {
		for _, c := range closers {
			c()
		}
	}
	limiter := func(name string, rate float64, burst int) (domain.Limiter, error) {
		if rate == 0 {
			logger.Info("login limit off", "limiter", name)
			return nil, nil
		}
		lim, closeLim, err := ratelimit.Open(cfg.RedisURL, name, ratelimit.Limit{Rate: rate, Burst: burst}, logger, reg)
		if err != nil {
			return nil, err
		}
		closers = append(closers, closeLim)
		return authLimiter{lim}, nil
	}
	var err error
	if limits.PerAddress, err = limiter("auth-address", cfg.AuthAddrRateLimit, cfg.AuthAddrRateBurst); err != nil {
		cleanup()
		return domain.Limits{}, nil, err
	}
	if limits.PerAccountClient, err = limiter("auth-account-client", cfg.AuthAccountRateLimit, cfg.AuthAccountRateBurst); err != nil {
		cleanup()
		return domain.Limits{}, nil, err
	}
	if limits.AccountWide, err = limiter("auth-account", cfg.AuthAccountWideRateLimit, cfg.AuthAccountWideRateBurst); err != nil {
		cleanup()
		return domain.Limits{}, nil, err
	}
	// Suspects only reorders the hashing queue, so it needs no setting: an
	// address stays suspect for 10 s after a failed login, up to 10 min
	// while its logins keep failing.
	suspects, closeSuspects, err := ratelimit.OpenBackoff(cfg.RedisURL, "auth-suspects",
		ratelimit.Policy{Base: 10 * time.Second, Max: 10 * time.Minute}, logger, reg)
	if err != nil {
		cleanup()
		return domain.Limits{}, nil, err
	}
	closers = append(closers, closeSuspects)
	limits.Suspects = suspects
	if cfg.AuthKnownClientTTL > 0 {
		// A backoff whose every wait is the TTL: remembering a client is a
		// "failure" that keeps it waiting, that is known, for the TTL.
		known, closeKnown, err := ratelimit.OpenBackoff(cfg.RedisURL, "auth-known",
			ratelimit.Policy{Base: cfg.AuthKnownClientTTL, Max: cfg.AuthKnownClientTTL}, logger, reg)
		if err != nil {
			cleanup()
			return domain.Limits{}, nil, err
		}
		closers = append(closers, closeKnown)
		limits.Known = knownClients{known}
	}
	if cfg.AuthFailureDelay == 0 {
		logger.Info("login failure backoff off (AUTH_FAILURE_DELAY=0)")
		return limits, cleanup, nil
	}
	b, closeBackoff, err := ratelimit.OpenBackoff(cfg.RedisURL, "auth-failures",
		ratelimit.Policy{Base: cfg.AuthFailureDelay, Max: cfg.AuthFailureDelayMax}, logger, reg)
	if err != nil {
		cleanup()
		return domain.Limits{}, nil, err
	}
	closers = append(closers, closeBackoff)
	limits.Backoff = b
	return limits, cleanup, nil
}

// knownClients is the domain's KnownClients over a platform backoff whose
// wait is the time a client stays known.
type knownClients struct{ b ratelimit.Backoff }

func (k knownClients) Known(ctx context.Context, key string) bool { return k.b.Wait(ctx, key) > 0 }

func (k knownClients) Remember(ctx context.Context, key string) { k.b.Failed(ctx, key) }

// authLimiter is the domain's Limiter over a platform limiter.
type authLimiter struct{ lim ratelimit.Limiter }

func (a authLimiter) Allow(ctx context.Context, key string) (bool, time.Duration) {
	d := a.lim.Allow(ctx, key)
	return d.Allowed, d.RetryAfter
}

func (a authLimiter) Refund(ctx context.Context, key string) { a.lim.Refund(ctx, key) }
