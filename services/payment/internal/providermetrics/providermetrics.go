// Package providermetrics counts the calls the payment service makes to
// its payment service provider, by operation and outcome, wrapping any
// provider.Provider.
package providermetrics

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/services/payment/internal/provider"
)

// Outcomes of a provider call, the outcome label's values.
const (
	OutcomeOK             = "ok"
	OutcomeDeclined       = "declined"
	OutcomeTransient      = "transient"
	OutcomeUnknown        = "outcome_unknown"
	OutcomeInvalidRequest = "invalid_request"
	OutcomeWrongState     = "wrong_state"
	OutcomeError          = "error"
)

// Operations of a provider call, the operation label's values.
var operations = []string{"authorize", "capture", "void", "refund"}

var outcomes = []string{OutcomeOK, OutcomeDeclined, OutcomeTransient, OutcomeUnknown, OutcomeInvalidRequest, OutcomeWrongState, OutcomeError}

// Provider is a provider.Provider that counts its calls.
type Provider struct {
	next  provider.Provider
	calls *prometheus.CounterVec
}

var _ provider.Provider = (*Provider)(nil)

// Wrap returns next counting every call in
// slipway_payment_provider_calls_total{provider, operation, outcome} on reg.
func Wrap(next provider.Provider, reg prometheus.Registerer) (*Provider, error) {
	calls, err := telemetry.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_payment_provider_calls_total",
		Help: "Calls to the payment service provider by operation (authorize, capture, void, refund) and outcome " +
			"(ok, declined, transient, outcome_unknown, invalid_request, wrong_state, error).",
	}, []string{"provider", "operation", "outcome"}))
	if err != nil {
		return nil, fmt.Errorf("providermetrics: %w", err)
	}
	// Every series exists from the start, so a rate over it is never empty.
	for _, op := range operations {
		for _, o := range outcomes {
			calls.WithLabelValues(next.Name(), op, o)
		}
	}
	return &Provider{next: next, calls: calls}, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return p.next.Name() }

// Authorize implements provider.Provider.
func (p *Provider) Authorize(ctx context.Context, r provider.AuthorizeRequest) (provider.Authorization, error) {
	a, err := p.next.Authorize(ctx, r)
	p.count("authorize", err)
	return a, err
}

// Capture implements provider.Provider.
func (p *Provider) Capture(ctx context.Context, idempotencyKey, ref string, amount int64) error {
	err := p.next.Capture(ctx, idempotencyKey, ref, amount)
	p.count("capture", err)
	return err
}

// Void implements provider.Provider.
func (p *Provider) Void(ctx context.Context, idempotencyKey, ref string) error {
	err := p.next.Void(ctx, idempotencyKey, ref)
	p.count("void", err)
	return err
}

// Refund implements provider.Provider.
func (p *Provider) Refund(ctx context.Context, idempotencyKey, ref string, amount int64) error {
	err := p.next.Refund(ctx, idempotencyKey, ref, amount)
	p.count("refund", err)
	return err
}

func (p *Provider) count(op string, err error) {
	p.calls.WithLabelValues(p.next.Name(), op, Outcome(err)).Inc()
}

// Outcome is the outcome label of a call that returned err.
func Outcome(err error) string {
	if _, ok := provider.IsDeclined(err); ok {
		return OutcomeDeclined
	}
	switch {
	case err == nil:
		return OutcomeOK
	case provider.IsTransient(err):
		return OutcomeTransient
	case provider.IsOutcomeUnknown(err):
		return OutcomeUnknown
	case errors.Is(err, provider.ErrInvalidRequest), errors.Is(err, provider.ErrNotFound), errors.Is(err, provider.ErrIdempotencyKeyReused):
		return OutcomeInvalidRequest
	case errors.Is(err, provider.ErrWrongState):
		return OutcomeWrongState
	}
	return OutcomeError
}
