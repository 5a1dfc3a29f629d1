package app_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/services/payment/internal/provider/stripe/stripetest"
)

// TestRunChargesThroughStripe runs the service with PAYMENT_PROVIDER=stripe
// against stripe-mock, Stripe's own mock of its API, at STRIPE_API_URL: the
// order service authorizes and captures, and the payment records Stripe's
// PaymentIntent.
func TestRunChargesThroughStripe(t *testing.T) {
	s := start(t, "PAYMENT_PROVIDER=stripe", "STRIPE_API_KEY=sk_test_123", "STRIPE_API_URL="+stripetest.StartMock(t))
	ctx := s.asOrder(t)
	authorized, err := s.client.AuthorizePayment(ctx, authorizeReq("o-stripe", "user-alice", "pm_card_visa"))
	require.NoError(t, err)
	p := authorized.GetPayment()
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_AUTHORIZED, p.GetState())
	assert.Equal(t, "stripe", p.GetProvider())
	assert.True(t, strings.HasPrefix(p.GetProviderRef(), "pi_"), "a PaymentIntent id: %q", p.GetProviderRef())

	captured, err := s.client.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{OrderId: "o-stripe", Amount: usd1999, IdempotencyKey: "o-stripe:capture"})
	require.NoError(t, err)
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_CAPTURED, captured.GetPayment().GetState())
}
