package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/services/payment/internal/provider"
)

// Name is the sandbox's provider name.
const Name = "sandbox"

// Provider is the sandbox payment service provider. It is safe for
// concurrent use.
type Provider struct {
	ledger           Ledger
	latency          Latency
	transientRate    float64
	transientFailing int

	rngMu sync.Mutex
	rng   *mathrand.Rand

	// attempts counts the attempts of pm_card_transient authorizations per
	// idempotency key. It is kept past success, so a replay of the key
	// reaches the ledger's stored answer.
	attemptsMu sync.Mutex
	attempts   map[string]int
}

var _ provider.Provider = (*Provider)(nil)

// Option configures New.
type Option func(*options)

type options struct {
	latency          Latency
	transientRate    float64
	transientFailing int
	seed             *uint64
}

// WithLatency sets the latency profile (DefaultLatency without it; the
// zero Latency answers at once).
func WithLatency(l Latency) Option { return func(o *options) { o.latency = l } }

// WithTransientRate makes a share rate, in [0, 1], of all calls fail with
// provider.ErrTransient before they take effect.
func WithTransientRate(rate float64) Option { return func(o *options) { o.transientRate = rate } }

// WithTransientCardFailures sets how many attempts with one idempotency key
// pm_card_transient fails before it authorizes (2 without it).
func WithTransientCardFailures(n int) Option {
	return func(o *options) { o.transientFailing = n }
}

// WithSeed seeds the draws of latency and injected failures, so a run can
// be repeated; without it they are seeded at random.
func WithSeed(seed uint64) Option { return func(o *options) { o.seed = &seed } }

// New returns a sandbox provider that keeps its payments in ledger.
func New(ledger Ledger, opts ...Option) (*Provider, error) {
	o := options{latency: DefaultLatency, transientFailing: defaultTransientCardFailures}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.latency.validate(); err != nil {
		return nil, err
	}
	if o.transientRate < 0 || o.transientRate > 1 {
		return nil, fmt.Errorf("sandbox: transient rate %v is not in [0, 1]", o.transientRate)
	}
	if o.transientFailing < 0 {
		return nil, fmt.Errorf("sandbox: transient card failures %d is negative", o.transientFailing)
	}
	seed := mathrand.Uint64() //nolint:gosec // chaos draws need no cryptographic randomness
	if o.seed != nil {
		seed = *o.seed
	}
	return &Provider{
		ledger:           ledger,
		latency:          o.latency,
		transientRate:    o.transientRate,
		transientFailing: o.transientFailing,
		rng:              mathrand.New(mathrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), //nolint:gosec // repeatable by design (WithSeed)
		attempts:         map[string]int{},
	}, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return Name }

// Payment returns the payment ref as the sandbox holds it.
func (p *Provider) Payment(ctx context.Context, ref string) (Payment, error) {
	return p.ledger.Payment(ctx, ref)
}

// Authorize implements provider.Provider. What it does depends on
// r.PaymentMethod; see the package documentation.
func (p *Provider) Authorize(ctx context.Context, r provider.AuthorizeRequest) (provider.Authorization, error) {
	if err := r.Validate(); err != nil {
		return provider.Authorization{}, err
	}
	pm := r.PaymentMethod
	if pm == "" {
		pm = DefaultPaymentMethod
	}
	currency := strings.ToLower(r.Currency)
	op := Operation{
		Key:         r.IdempotencyKey,
		Fingerprint: fingerprint("authorize", r.OrderID, r.UserID, strconv.FormatInt(r.Amount, 10), currency, pm),
	}
	out, err := p.call(ctx, op, func(ctx context.Context) error {
		switch behaviourOf(pm) {
		case cardUnknown:
			return fmt.Errorf("%w: no such payment method %q", provider.ErrInvalidRequest, pm)
		case cardTimeout:
			<-ctx.Done()
			return provider.Interrupted(ctx)
		case cardTransient:
			if p.failTransientCard(r.IdempotencyKey) {
				return fmt.Errorf("%w: %s: the issuer did not answer in time (503)", provider.ErrTransient, pm)
			}
		}
		return nil
	}, func(*Payment) (*Payment, Outcome, error) {
		if d, ok := declines[pm]; ok {
			return nil, Outcome{Decline: &d}, nil
		}
		now := time.Now().UTC()
		pay := &Payment{
			Ref: newRef(), OrderID: r.OrderID, UserID: r.UserID, PaymentMethod: pm, Currency: currency,
			Authorized: r.Amount, Status: provider.StatusAuthorized, CreatedAt: now, UpdatedAt: now,
		}
		return pay, Outcome{Ref: pay.Ref, Status: pay.Status}, nil
	})
	if err != nil {
		return provider.Authorization{}, err
	}
	if out.Decline != nil {
		d := *out.Decline
		return provider.Authorization{}, &d
	}
	return provider.Authorization{Ref: out.Ref, Status: out.Status}, nil
}

// Capture implements provider.Provider.
func (p *Provider) Capture(ctx context.Context, idempotencyKey, ref string, amount int64) error {
	if err := checkCall(idempotencyKey, ref, amount); err != nil {
		return err
	}
	op := Operation{Key: idempotencyKey, Ref: ref, Fingerprint: fingerprint("capture", ref, strconv.FormatInt(amount, 10))}
	_, err := p.call(ctx, op, nil, func(cur *Payment) (*Payment, Outcome, error) {
		if cur.Status != provider.StatusAuthorized {
			return nil, Outcome{}, fmt.Errorf("%w: cannot capture %s, it is %s", provider.ErrWrongState, ref, cur.Status)
		}
		take := amount
		if take == 0 {
			take = cur.Authorized
		}
		if take > cur.Authorized {
			return nil, Outcome{}, fmt.Errorf("%w: capture of %d exceeds the %d authorized on %s", provider.ErrInvalidRequest, take, cur.Authorized, ref)
		}
		next := *cur
		next.Captured, next.Status, next.UpdatedAt = take, provider.StatusCaptured, time.Now().UTC()
		return &next, Outcome{Ref: ref, Status: next.Status}, nil
	})
	return err
}

// Void implements provider.Provider.
func (p *Provider) Void(ctx context.Context, idempotencyKey, ref string) error {
	if err := checkCall(idempotencyKey, ref, 0); err != nil {
		return err
	}
	op := Operation{Key: idempotencyKey, Ref: ref, Fingerprint: fingerprint("void", ref)}
	_, err := p.call(ctx, op, nil, func(cur *Payment) (*Payment, Outcome, error) {
		if cur.Status != provider.StatusAuthorized {
			return nil, Outcome{}, fmt.Errorf("%w: cannot void %s, it is %s", provider.ErrWrongState, ref, cur.Status)
		}
		next := *cur
		next.Status, next.UpdatedAt = provider.StatusVoided, time.Now().UTC()
		return &next, Outcome{Ref: ref, Status: next.Status}, nil
	})
	return err
}

// Refund implements provider.Provider.
func (p *Provider) Refund(ctx context.Context, idempotencyKey, ref string, amount int64) error {
	if err := checkCall(idempotencyKey, ref, amount); err != nil {
		return err
	}
	op := Operation{Key: idempotencyKey, Ref: ref, Fingerprint: fingerprint("refund", ref, strconv.FormatInt(amount, 10))}
	_, err := p.call(ctx, op, nil, func(cur *Payment) (*Payment, Outcome, error) {
		if cur.Status != provider.StatusCaptured {
			return nil, Outcome{}, fmt.Errorf("%w: cannot refund %s, it is %s", provider.ErrWrongState, ref, cur.Status)
		}
		left := cur.Captured - cur.Refunded
		give := amount
		if give == 0 {
			give = left
		}
		if give > left {
			return nil, Outcome{}, fmt.Errorf("%w: refund of %d exceeds the %d left to refund on %s", provider.ErrInvalidRequest, give, left, ref)
		}
		next := *cur
		next.Refunded += give
		next.UpdatedAt = time.Now().UTC()
		if next.Refunded == next.Captured {
			next.Status = provider.StatusRefunded
		}
		return &next, Outcome{Ref: ref, Status: next.Status}, nil
	})
	return err
}

// call runs one request as a PSP would: the first half of the latency, an
// injected transient failure, the card's own behaviour (before, nil for
// none), the effect in the ledger, then the second half of the latency.
func (p *Provider) call(ctx context.Context, op Operation, before func(context.Context) error, step Step) (Outcome, error) {
	there, back := p.draw()
	if !sleep(ctx, there) {
		return Outcome{}, provider.Interrupted(ctx)
	}
	if p.inject() {
		return Outcome{}, fmt.Errorf("%w: sandbox: injected failure (503 service unavailable)", provider.ErrTransient)
	}
	if before != nil {
		if err := before(ctx); err != nil {
			return Outcome{}, err
		}
	}
	out, err := p.ledger.Apply(ctx, op, step)
	if err != nil {
		return Outcome{}, ledgerError(ctx, err)
	}
	if !sleep(ctx, back) {
		return Outcome{}, provider.Interrupted(ctx)
	}
	return out, nil
}

// draw returns the two halves of one call's latency.
func (p *Provider) draw() (there, back time.Duration) {
	p.rngMu.Lock()
	d := p.latency.sample(p.rng)
	p.rngMu.Unlock()
	return d / 2, d - d/2
}

// inject reports whether this call fails with an injected transient failure.
func (p *Provider) inject() bool {
	if p.transientRate == 0 {
		return false
	}
	p.rngMu.Lock()
	defer p.rngMu.Unlock()
	return p.rng.Float64() < p.transientRate
}

// failTransientCard counts an attempt of pm_card_transient with key and
// reports whether it fails.
func (p *Provider) failTransientCard(key string) bool {
	p.attemptsMu.Lock()
	defer p.attemptsMu.Unlock()
	p.attempts[key]++
	return p.attempts[key] <= p.transientFailing
}

// ledgerError classifies a ledger failure: the provider's sentinels pass
// through; an ended context or an unreachable database leaves the outcome
// unknown (the ledger may have committed), which a retry with the same key
// resolves.
func ledgerError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, provider.ErrNotFound), errors.Is(err, provider.ErrWrongState),
		errors.Is(err, provider.ErrInvalidRequest), errors.Is(err, provider.ErrIdempotencyKeyReused):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("%w: sandbox ledger: %w", provider.ErrOutcomeUnknown, err)
	case errors.Is(err, errkind.Unavailable):
		return fmt.Errorf("%w: sandbox ledger: %w", provider.ErrOutcomeUnknown, err)
	}
	return fmt.Errorf("sandbox ledger: %w", err)
}

// checkCall refuses a Capture, Void or Refund no PSP would accept.
func checkCall(key, ref string, amount int64) error {
	switch {
	case strings.TrimSpace(key) == "":
		return fmt.Errorf("%w: an idempotency key is required", provider.ErrInvalidRequest)
	case ref == "":
		return fmt.Errorf("%w: a payment ref is required", provider.ErrInvalidRequest)
	case amount < 0:
		return fmt.Errorf("%w: amount %d is negative", provider.ErrInvalidRequest, amount)
	}
	return nil
}

// fingerprint identifies an operation and its parameters.
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, s := range parts {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newRef returns a new payment id, shaped like Stripe's.
func newRef() string {
	return "pi_sbx_" + rand.Text()
}
