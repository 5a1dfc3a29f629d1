package providermetrics_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/payment/internal/provider"
	"github.com/slipway-dev/slipway/services/payment/internal/provider/sandbox"
	"github.com/slipway-dev/slipway/services/payment/internal/providermetrics"
)

func TestOutcomeClassifiesEveryErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, providermetrics.OutcomeOK},
		{fmt.Errorf("authorize: %w", &provider.DeclineError{Code: "card_declined"}), providermetrics.OutcomeDeclined},
		{fmt.Errorf("x: %w", provider.ErrTransient), providermetrics.OutcomeTransient},
		{fmt.Errorf("x: %w", provider.ErrOutcomeUnknown), providermetrics.OutcomeUnknown},
		{fmt.Errorf("x: %w", provider.ErrInvalidRequest), providermetrics.OutcomeInvalidRequest},
		{fmt.Errorf("x: %w", provider.ErrWrongState), providermetrics.OutcomeWrongState},
		{errors.New("disk on fire"), providermetrics.OutcomeError},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, providermetrics.Outcome(tt.err))
		})
	}
}

func TestWrapCountsCallsByOperationAndOutcome(t *testing.T) {
	reg := prometheus.NewRegistry()
	psp, err := sandbox.New(sandbox.NewMemoryLedger(), sandbox.WithLatency(sandbox.Latency{}))
	require.NoError(t, err)
	p, err := providermetrics.Wrap(psp, reg)
	require.NoError(t, err)
	assert.Equal(t, "sandbox", p.Name())

	req := provider.AuthorizeRequest{IdempotencyKey: "k1", OrderID: "o1", UserID: "u1", Amount: 100, Currency: "USD", PaymentMethod: "pm_card_visa"}
	auth, err := p.Authorize(t.Context(), req)
	require.NoError(t, err)
	declined := req
	declined.IdempotencyKey, declined.PaymentMethod = "k2", "pm_card_chargeDeclined"
	_, err = p.Authorize(t.Context(), declined)
	require.Error(t, err)
	require.NoError(t, p.Capture(t.Context(), "k3", auth.Ref, 100))
	require.ErrorIs(t, p.Void(t.Context(), "k4", auth.Ref), provider.ErrWrongState)
	require.NoError(t, p.Refund(t.Context(), "k5", auth.Ref, 100))

	calls := func(op, outcome string) float64 { return counted(t, reg, op, outcome) }
	assert.Equal(t, 1.0, calls("authorize", providermetrics.OutcomeOK))
	assert.Equal(t, 1.0, calls("authorize", providermetrics.OutcomeDeclined))
	assert.Equal(t, 1.0, calls("capture", providermetrics.OutcomeOK))
	assert.Equal(t, 1.0, calls("void", providermetrics.OutcomeWrongState))
	assert.Equal(t, 1.0, calls("refund", providermetrics.OutcomeOK))
	assert.Equal(t, 0.0, calls("void", providermetrics.OutcomeOK))
}

func TestWrapTwiceOnOneRegistryShares(t *testing.T) {
	reg := prometheus.NewRegistry()
	psp, err := sandbox.New(sandbox.NewMemoryLedger())
	require.NoError(t, err)
	_, err = providermetrics.Wrap(psp, reg)
	require.NoError(t, err)
	_, err = providermetrics.Wrap(psp, reg)
	assert.NoError(t, err, "a second wrap shares the registered counter")
}

// counted is the value of slipway_payment_provider_calls_total for the
// sandbox's op and outcome as reg exposes it; the series must exist.
func counted(t *testing.T, reg *prometheus.Registry, op, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "slipway_payment_provider_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] == "sandbox" && labels["operation"] == op && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series for operation %q outcome %q", op, outcome)
	return 0
}
