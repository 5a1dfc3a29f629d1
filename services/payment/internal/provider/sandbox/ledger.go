package sandbox

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/services/payment/internal/provider"
)

// Payment is one payment as the sandbox keeps it.
type Payment struct {
	Ref           string
	OrderID       string
	UserID        string
	PaymentMethod string
	// Currency is lower-case ISO 4217.
	Currency string
	// Authorized, Captured and Refunded are minor units, with
	// Refunded <= Captured <= Authorized.
	Authorized int64
	Captured   int64
	Refunded   int64
	Status     provider.Status
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Operation is one request as the ledger records it.
type Operation struct {
	// Key is the request's idempotency key.
	Key string
	// Fingerprint identifies the operation and its parameters: a key sent
	// again with another fingerprint is refused.
	Fingerprint string
	// Ref is the payment the operation acts on; empty for an authorization.
	Ref string
}

// Outcome is what an operation answered, stored under its key.
type Outcome struct {
	// Ref and Status are the payment's after the operation.
	Ref    string
	Status provider.Status
	// Decline, if set, is the refusal the operation answered with.
	Decline *provider.DeclineError
	// Replayed is true when the outcome was stored by an earlier request
	// with the same key; it is not stored itself.
	Replayed bool
}

// Step is an operation's effect: given the payment it acts on (nil for an
// authorization), it returns the payment as it should be stored (nil to
// store none) and the outcome. An error stores nothing.
type Step func(p *Payment) (*Payment, Outcome, error)

// Ledger keeps the sandbox's payments and the outcomes stored under
// idempotency keys. Apply is atomic: no two Apply calls on one payment or
// one key interleave.
type Ledger interface {
	// Apply returns the outcome stored under op.Key, with Replayed set, if
	// there is one, or provider.ErrIdempotencyKeyReused if it was stored
	// with another fingerprint. Otherwise it loads the payment op.Ref
	// (provider.ErrNotFound if there is none), runs step, and stores the
	// payment and the outcome step returns together. step may run more
	// than once (a database transaction retried); only one run is stored.
	Apply(ctx context.Context, op Operation, step Step) (Outcome, error)
	// Payment returns the payment ref, or provider.ErrNotFound.
	Payment(ctx context.Context, ref string) (Payment, error)
}

// MemoryLedger is a Ledger in memory: what it holds is lost with the process.
type MemoryLedger struct {
	mu       sync.Mutex
	payments map[string]Payment
	keys     map[string]storedOutcome
}

type storedOutcome struct {
	fingerprint string
	outcome     Outcome
}

// NewMemoryLedger returns an empty MemoryLedger.
func NewMemoryLedger() *MemoryLedger {
	return &MemoryLedger{payments: map[string]Payment{}, keys: map[string]storedOutcome{}}
}

// Apply implements Ledger.
func (m *MemoryLedger) Apply(ctx context.Context, op Operation, step Step) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.keys[op.Key]; ok {
		if s.fingerprint != op.Fingerprint {
			return Outcome{}, fmt.Errorf("%w: key %q", provider.ErrIdempotencyKeyReused, op.Key)
		}
		out := s.outcome
		out.Replayed = true
		return out, nil
	}
	var cur *Payment
	if op.Ref != "" {
		p, ok := m.payments[op.Ref]
		if !ok {
			return Outcome{}, fmt.Errorf("%w: %q", provider.ErrNotFound, op.Ref)
		}
		cur = &p
	}
	next, out, err := step(cur)
	if err != nil {
		return Outcome{}, err
	}
	if next != nil {
		m.payments[next.Ref] = *next
	}
	m.keys[op.Key] = storedOutcome{fingerprint: op.Fingerprint, outcome: out}
	return out, nil
}

// Payment implements Ledger.
func (m *MemoryLedger) Payment(_ context.Context, ref string) (Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.payments[ref]
	if !ok {
		return Payment{}, fmt.Errorf("%w: %q", provider.ErrNotFound, ref)
	}
	return p, nil
}
