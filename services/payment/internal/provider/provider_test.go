package provider_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/payment/internal/provider"
)

func TestValidateRefusesWhatNoProviderAccepts(t *testing.T) {
	ok := provider.AuthorizeRequest{IdempotencyKey: "k", Amount: 1, Currency: "usd", PaymentMethod: "pm_card_visa"}
	require.NoError(t, ok.Validate())
	upper := ok
	upper.Currency = "EUR"
	require.NoError(t, upper.Validate(), "either case is a currency")

	tests := []struct {
		name   string
		change func(*provider.AuthorizeRequest)
	}{
		{"no idempotency key", func(r *provider.AuthorizeRequest) { r.IdempotencyKey = " " }},
		{"zero amount", func(r *provider.AuthorizeRequest) { r.Amount = 0 }},
		{"negative amount", func(r *provider.AuthorizeRequest) { r.Amount = -5 }},
		{"empty currency", func(r *provider.AuthorizeRequest) { r.Currency = "" }},
		{"four letters", func(r *provider.AuthorizeRequest) { r.Currency = "usdd" }},
		{"digits", func(r *provider.AuthorizeRequest) { r.Currency = "us1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.change(&r)
			err := r.Validate()
			require.ErrorIs(t, err, provider.ErrInvalidRequest)
			assert.False(t, provider.Retryable(err))
		})
	}
}

func TestErrorKindsClassify(t *testing.T) {
	decline := fmt.Errorf("authorize order o1: %w", &provider.DeclineError{Code: "insufficient_funds", Message: "Your card has insufficient funds.", Ref: "pi_1"})
	transient := fmt.Errorf("capture: %w", provider.ErrTransient)
	unknown := fmt.Errorf("void: %w", provider.ErrOutcomeUnknown)
	permanent := fmt.Errorf("refund: %w", provider.ErrWrongState)

	d, ok := provider.IsDeclined(decline)
	require.True(t, ok)
	assert.Equal(t, "insufficient_funds", d.Code)
	assert.Equal(t, "pi_1", d.Ref)
	assert.Contains(t, decline.Error(), "payment declined (insufficient_funds): Your card has insufficient funds.")
	assert.False(t, provider.Retryable(decline))

	_, ok = provider.IsDeclined(transient)
	assert.False(t, ok)
	assert.True(t, provider.IsTransient(transient))
	assert.True(t, provider.Retryable(transient))
	assert.False(t, provider.IsOutcomeUnknown(transient))

	assert.True(t, provider.IsOutcomeUnknown(unknown))
	assert.True(t, provider.Retryable(unknown))
	assert.False(t, provider.IsTransient(unknown))

	assert.False(t, provider.Retryable(permanent))
	_, ok = provider.IsDeclined(permanent)
	assert.False(t, ok)
}

func TestInterruptedIsOutcomeUnknownAndKeepsTheContextError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	err := provider.Interrupted(ctx)
	assert.True(t, provider.IsOutcomeUnknown(err))
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
}
