package domain

import (
	"context"
	"errors"
	"time"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Limiter is a rate limit per key. Allow spends one request of key's
// budget, or says how long until there is one; Refund gives back a request
// that turned out not to count.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration)
	Refund(ctx context.Context, key string)
}

// FailureBackoff makes a key wait longer after each failure in a row; a
// success forgets them, and so does a quiet period.
type FailureBackoff interface {
	// Wait is how long key must still wait; 0 means it may go now.
	Wait(ctx context.Context, key string) time.Duration
	Failed(ctx context.Context, key string) time.Duration
	Succeeded(ctx context.Context, key string)
}

// KnownClients remembers the clients that logged in to an account lately,
// keyed like Limits.PerAccountClient.
type KnownClients interface {
	Known(ctx context.Context, key string) bool
	Remember(ctx context.Context, key string)
}

// Limits guard Login and Register against password guessing and floods.
// They run before any password hashing, so a refused attempt costs
// nothing. A nil member is no limit.
//
// The tight limits on one account are kept per client (the account and
// the client's key: its IPv4 address or IPv6 /64), so an attacker's
// failures slow the attacker's own attempts and never the owner's from
// another address. AccountWide is the ceiling against guessing from many
// addresses at once; it must refill faster than PerAccountClient lets one
// client spend, so that no single client can keep it empty.
type Limits struct {
	// PerAddress is keyed by the client: it bounds what one source can try
	// across many accounts.
	PerAddress Limiter
	// PerAccountClient is keyed by the account (the normalised email,
	// known or not) and the client: it bounds one source's guesses against
	// one account.
	PerAccountClient Limiter
	// AccountWide is keyed by the account alone: it bounds the guesses of
	// every source together. A login with the right password is given
	// back, so only failures count.
	AccountWide Limiter
	// Backoff is keyed like PerAccountClient: each failed login in a row
	// makes that client's next attempt at the account wait longer, up to
	// its cap; the owner at another address does not wait.
	Backoff FailureBackoff
	// Known exempts a client's logins from AccountWide while it is known
	// to the account: it logged in there with the right password lately.
	// Guessing from many addresses then cannot keep the owner out from an
	// address they used before; the per-client limits still apply.
	Known KnownClients
	// Suspects is keyed like PerAddress and refuses nothing: while an
	// address is in its failure backoff, its logins hash at low priority
	// (LowPriority), so a flood of wrong passwords from many addresses
	// waits behind the logins of clean addresses instead of starving them.
	Suspects FailureBackoff
}

// WithLimits makes Login and Register enforce l.
func WithLimits(l Limits) Option { return func(s *UserService) { s.limits = l } }

// skipsAccountWide reports whether an attempt by pair's client is exempt
// from AccountWide: only a login from a client known to the account is.
func (l Limits) skipsAccountWide(ctx context.Context, pair string, login bool) bool {
	return login && l.Known != nil && l.Known.Known(ctx, pair)
}

// accountClientKey is the key of one client's attempts at one account. The
// client key (an IP address or an IPv6 prefix) never holds a '|', so the
// pair cannot be confused with another whatever the email.
func accountClientKey(account, client string) string { return client + "|" + account }

// admission is one attempt let through the limits; settle it with the
// attempt's outcome.
type admission struct {
	limits                 Limits
	address, account, pair string
	wide                   bool // spent from AccountWide
}

// admit lets one attempt for account from address through the limits, or
// returns an errkind.RetryAfterError. The address pays first and is not
// refunded when a later limit refuses, so an attacker who keeps trying a
// slowed-down account spends their own address's budget. A client in its
// backoff for the account is refused before it spends anything more; one
// refused by the account-wide ceiling gets its per-client spend back, so a
// real user who retries while many addresses guess loses nothing. A login
// from a known client skips the account-wide ceiling.
func (s *UserService) admit(ctx context.Context, address, account string, login bool) (*admission, error) {
	l := s.limits
	a := &admission{limits: l, address: address, account: account, pair: accountClientKey(account, address)}
	if l.PerAddress != nil {
		if ok, wait := l.PerAddress.Allow(ctx, address); !ok {
			return nil, errkind.RetryAfter("too many attempts from this address", wait)
		}
	}
	if login && l.Backoff != nil {
		if wait := l.Backoff.Wait(ctx, a.pair); wait > 0 {
			return nil, errkind.RetryAfter("too many failed logins for this account from this address", wait)
		}
	}
	if l.PerAccountClient != nil {
		if ok, wait := l.PerAccountClient.Allow(ctx, a.pair); !ok {
			return nil, errkind.RetryAfter("too many attempts for this account from this address", wait)
		}
	}
	if l.AccountWide != nil && !l.skipsAccountWide(ctx, a.pair, login) {
		a.wide = true
		if ok, wait := l.AccountWide.Allow(ctx, account); !ok {
			if l.PerAccountClient != nil {
				l.PerAccountClient.Refund(ctx, a.pair)
			}
			return nil, errkind.RetryAfter("too many attempts for this account", wait)
		}
	}
	return a, nil
}

// priority marks ctx low priority when the attempt's address is a suspect.
func (a *admission) priority(ctx context.Context) context.Context {
	if a.limits.Suspects != nil && a.limits.Suspects.Wait(ctx, a.address) > 0 {
		return LowPriority(ctx)
	}
	return ctx
}

// refund gives back what the attempt spent.
func (a *admission) refund(ctx context.Context) {
	if a.limits.PerAddress != nil {
		a.limits.PerAddress.Refund(ctx, a.address)
	}
	if a.limits.PerAccountClient != nil {
		a.limits.PerAccountClient.Refund(ctx, a.pair)
	}
	if a.wide {
		a.limits.AccountWide.Refund(ctx, a.account)
	}
}

// settleLogin accounts for a login's outcome. The right password costs
// nothing and ends the client's failure streak on the account, so the
// limits count failures: a busy NAT or proxy address whose users log in
// correctly is not limited, and neither are the service accounts' logins. A
// wrong password (or an unknown email, treated the same so the limits
// reveal nothing) stays spent and slows that client's next attempt at the
// account down. A login refused for want of a hashing slot stays spent
// too, so a flood pays for the slots it keeps busy. Any other failure (the
// store, the token) is given back: the client learnt nothing and did
// nothing wrong.
func (a *admission) settleLogin(ctx context.Context, err error) {
	switch {
	case err == nil:
		a.refund(ctx)
		if a.limits.Backoff != nil {
			a.limits.Backoff.Succeeded(ctx, a.pair)
		}
		if a.limits.Suspects != nil {
			a.limits.Suspects.Succeeded(ctx, a.address)
		}
		if a.limits.Known != nil {
			a.limits.Known.Remember(ctx, a.pair)
		}
	case errors.Is(err, ErrInvalidCredentials):
		if a.limits.Backoff != nil {
			a.limits.Backoff.Failed(ctx, a.pair)
		}
		if a.limits.Suspects != nil {
			a.limits.Suspects.Failed(ctx, a.address)
		}
	case !errors.Is(err, errkind.ResourceExhausted):
		a.refund(ctx)
	}
}

// settleRegister accounts for a registration's outcome: one that reached
// the store (created, or the email taken) stays spent, and so does one
// refused for want of a hashing slot; any other failure is given back.
func (a *admission) settleRegister(ctx context.Context, err error) {
	if err != nil && !errors.Is(err, ErrAlreadyExists) && !errors.Is(err, errkind.ResourceExhausted) {
		a.refund(ctx)
	}
}

type lowPriorityKey struct{}

// LowPriority marks ctx's password hashing as able to wait behind every
// other: registrations, and logins from addresses whose logins failed
// lately. The hasher serves them only when no other hash waits.
func LowPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, lowPriorityKey{}, true)
}

// IsLowPriority reports whether ctx was marked by LowPriority.
func IsLowPriority(ctx context.Context) bool {
	low, _ := ctx.Value(lowPriorityKey{}).(bool)
	return low
}
