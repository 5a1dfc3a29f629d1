package stripe_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/payment/internal/provider"
	"github.com/slipway-dev/slipway/services/payment/internal/provider/stripe"
)

// answering is a Stripe stand-in that answers every request with status
// and body, so the real client parses Stripe's error shapes.
func answering(t *testing.T, status int, body string) *stripe.Provider {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return newProvider(t, srv.URL)
}

func newProvider(t *testing.T, url string) *stripe.Provider {
	t.Helper()
	p, err := stripe.New("sk_test_123", stripe.WithURL(url), stripe.WithNetworkRetries(0))
	require.NoError(t, err)
	return p
}

func visa(key string) provider.AuthorizeRequest {
	return provider.AuthorizeRequest{IdempotencyKey: key, OrderID: "order-1", UserID: "user-1", Amount: 1500, Currency: "EUR", PaymentMethod: "pm_card_visa"}
}

func TestStripeErrorsBecomeTheProviderKinds(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    error  // a sentinel, or nil for a decline
		decline string // the decline code wanted
	}{
		{"insufficient funds", 402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","payment_intent":{"id":"pi_d1"}}}`, nil, "insufficient_funds"},
		{"generic decline keeps the error code", 402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline","message":"Your card was declined."}}`, nil, "card_declined"},
		{"expired card", 402, `{"error":{"type":"card_error","code":"expired_card","message":"Your card has expired."}}`, nil, "expired_card"},
		{"rate limited", 429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`, provider.ErrTransient, ""},
		{"key in flight", 409, `{"error":{"type":"idempotency_error","message":"There is currently another in-progress request using this Idempotent Key"}}`, provider.ErrTransient, ""},
		{"server error", 500, `{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}`, provider.ErrOutcomeUnknown, ""},
		{"bad gateway", 502, `{"error":{"type":"api_error","message":"bad gateway"}}`, provider.ErrOutcomeUnknown, ""},
		{"key reused", 400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`, provider.ErrIdempotencyKeyReused, ""},
		{"no such payment intent", 404, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such payment_intent: 'pi_x'"}}`, provider.ErrNotFound, ""},
		{"unexpected state", 400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state","message":"This PaymentIntent could not be captured because it has a status of canceled."}}`, provider.ErrWrongState, ""},
		{"invalid parameter", 400, `{"error":{"type":"invalid_request_error","code":"parameter_invalid_integer","message":"Invalid integer: abc"}}`, provider.ErrInvalidRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := answering(t, tt.status, tt.body)
			_, err := p.Authorize(context.Background(), visa("k1"))
			require.Error(t, err)
			if tt.want == nil {
				d, ok := provider.IsDeclined(err)
				require.True(t, ok, "want a decline, got %v", err)
				assert.Equal(t, tt.decline, d.Code)
				assert.NotEmpty(t, d.Message)
				assert.False(t, provider.Retryable(err))
				return
			}
			require.ErrorIs(t, err, tt.want)
			_, declined := provider.IsDeclined(err)
			assert.False(t, declined)
		})
	}
}

func TestDeclineCarriesThePaymentIntent(t *testing.T) {
	p := answering(t, 402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"fraudulent","message":"Your card was declined.","payment_intent":{"id":"pi_d1"}}}`)
	_, err := p.Authorize(context.Background(), visa("k1"))
	d, ok := provider.IsDeclined(err)
	require.True(t, ok)
	assert.Equal(t, "pi_d1", d.Ref)
	assert.Equal(t, "fraudulent", d.Code)
}

func TestAuthorizationThatNeedsMoreIsADecline(t *testing.T) {
	p := answering(t, 200, `{"id":"pi_rpm","object":"payment_intent","status":"requires_payment_method",
"last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"lost_card","message":"Your card was declined."}}`)
	_, err := p.Authorize(context.Background(), visa("k1"))
	d, ok := provider.IsDeclined(err)
	require.True(t, ok, "got %v", err)
	assert.Equal(t, "lost_card", d.Code)
	assert.Equal(t, "pi_rpm", d.Ref)

	p = answering(t, 200, `{"id":"pi_proc","object":"payment_intent","status":"processing"}`)
	a, err := p.Authorize(context.Background(), visa("k2"))
	require.NoError(t, err)
	assert.Equal(t, provider.Authorization{Ref: "pi_proc", Status: provider.StatusPending}, a)
}

func TestUnreachableStripeIsTransient(t *testing.T) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	p := newProvider(t, "http://"+addr)
	err = p.Capture(context.Background(), "k1", "pi_1", 0)
	require.ErrorIs(t, err, provider.ErrTransient)
}

func TestDeadlineBeforeTheAnswerIsOutcomeUnknown(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	p := newProvider(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := p.Void(ctx, "k1", "pi_1")
	require.ErrorIs(t, err, provider.ErrOutcomeUnknown)
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
}

func TestRequestsNoProviderAcceptsNeverLeave(t *testing.T) {
	called := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	t.Cleanup(srv.Close)
	p := newProvider(t, srv.URL)
	ctx := context.Background()

	noPM := visa("k1")
	noPM.PaymentMethod = ""
	_, err := p.Authorize(ctx, noPM)
	require.ErrorIs(t, err, provider.ErrInvalidRequest)
	require.ErrorIs(t, p.Capture(ctx, "", "pi_1", 0), provider.ErrInvalidRequest)
	require.ErrorIs(t, p.Refund(ctx, "k", "pi_1", -3), provider.ErrInvalidRequest)
	require.ErrorIs(t, p.Void(ctx, "k", ""), provider.ErrInvalidRequest)
	assert.False(t, called)

	_, err = stripe.New("")
	require.Error(t, err, "an API key is required")
}
