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

// Limits guard Login and Register against password guessing and floods.
// They run before any password hashing, so a refused attempt costs
// nothing. A nil member is no limit.
type Limits struct {
	// PerAddress is keyed by the client address: it bounds what one source
	// can try across many accounts.
	PerAddress Limiter
	// PerAccount is keyed by the normalised email, known or not: it bounds
	// guesses against one account from many sources.
	PerAccount Limiter
	// Backoff is keyed like PerAccount: each failed login in a row makes the
	// account's next attempt wait longer, up to its cap.
	Backoff FailureBackoff
	// Suspects is keyed like PerAddress and refuses nothing: while an
	// address is in its failure backoff, its logins hash at low priority
	// (LowPriority), so a flood of wrong passwords from many addresses
	// waits behind the logins of clean addresses instead of starving them.
	Suspects FailureBackoff
}

// WithLimits makes Login and Register enforce l.
func WithLimits(l Limits) Option { return func(s *UserService) { s.limits = l } }

// admission is one attempt let through the limits; settle it with the
// attempt's outcome.
type admission struct {
	limits           Limits
	address, account string
}

// admit lets one attempt for account from address through the limits, or
// returns an errkind.RetryAfterError. The address pays first and is not
// refunded when the account refuses, so an attacker who keeps trying a
// slowed-down account spends their own address's budget, not the real
// user's. A slowed-down account is refused before it spends its own budget.
func (s *UserService) admit(ctx context.Context, address, account string, backoff bool) (*admission, error) {
	l := s.limits
	if l.PerAddress != nil {
		if ok, wait := l.PerAddress.Allow(ctx, address); !ok {
			return nil, errkind.RetryAfter("too many attempts from this address", wait)
		}
	}
	if backoff && l.Backoff != nil {
		if wait := l.Backoff.Wait(ctx, account); wait > 0 {
			return nil, errkind.RetryAfter("too many failed logins for this account", wait)
		}
	}
	if l.PerAccount != nil {
		if ok, wait := l.PerAccount.Allow(ctx, account); !ok {
			return nil, errkind.RetryAfter("too many attempts for this account", wait)
		}
	}
	return &admission{limits: l, address: address, account: account}, nil
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
	if a.limits.PerAccount != nil {
		a.limits.PerAccount.Refund(ctx, a.account)
	}
}

// settleLogin accounts for a login's outcome. The right password costs
// nothing and ends the account's failure streak, so the limits count
// failures: a busy NAT or proxy address whose users log in correctly is
// not limited, and neither are the service accounts' logins. A wrong
// password (or an unknown email, treated the same so the limits reveal
// nothing) stays spent and slows the account down. A login refused for
// want of a hashing slot stays spent too, so a flood pays for the slots it
// keeps busy. Any other failure (the store, the token) is given back: the
// client learnt nothing and did nothing wrong.
func (a *admission) settleLogin(ctx context.Context, err error) {
	switch {
	case err == nil:
		a.refund(ctx)
		if a.limits.Backoff != nil {
			a.limits.Backoff.Succeeded(ctx, a.account)
		}
		if a.limits.Suspects != nil {
			a.limits.Suspects.Succeeded(ctx, a.address)
		}
	case errors.Is(err, ErrInvalidCredentials):
		if a.limits.Backoff != nil {
			a.limits.Backoff.Failed(ctx, a.account)
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
