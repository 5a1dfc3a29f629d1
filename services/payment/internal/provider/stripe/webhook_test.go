package stripe_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/slipway-dev/slipway/services/payment/internal/provider/stripe"
)

const whSecret = "whsec_test_secret"

// recorder collects the events a webhook hands on.
type recorder struct {
	events []stripe.Event
	err    error
}

func (r *recorder) handle(_ context.Context, e stripe.Event) error {
	r.events = append(r.events, e)
	return r.err
}

// deliver posts body to h with the Stripe-Signature header sig.
func deliver(t *testing.T, h http.Handler, body []byte, sig string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// signed signs body with secret at ts, as Stripe does.
func signed(body []byte, secret string, ts time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: ts}).Header
}

const (
	succeededEvent = `{"id":"evt_1","object":"event","api_version":"2025-08-27.basil","created":1765000000,"type":"payment_intent.succeeded",
"data":{"object":{"id":"pi_123","object":"payment_intent","amount":1500,"amount_received":1500,"status":"succeeded"}}}`
	failedEvent = `{"id":"evt_2","object":"event","api_version":"2025-08-27.basil","created":1765000000,"type":"payment_intent.payment_failed",
"data":{"object":{"id":"pi_456","object":"payment_intent","amount":900,"status":"requires_payment_method",
"last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}}}`
	canceledEvent = `{"id":"evt_3","object":"event","api_version":"2024-06-20","created":1765000000,"type":"payment_intent.canceled",
"data":{"object":{"id":"pi_789","object":"payment_intent","status":"canceled"}}}`
	refundedEvent = `{"id":"evt_4","object":"event","api_version":"2025-08-27.basil","created":1765000000,"type":"charge.refunded",
"data":{"object":{"id":"ch_1","object":"charge","payment_intent":"pi_123","amount":1500,"amount_refunded":500,"refunded":false}}}`
	otherEvent = `{"id":"evt_5","object":"event","api_version":"2025-08-27.basil","created":1765000000,"type":"customer.created",
"data":{"object":{"id":"cus_1","object":"customer"}}}`
)

func TestWebhookHandsOnVerifiedPaymentEvents(t *testing.T) {
	tests := []struct {
		name string
		body string
		want stripe.Event
	}{
		{"succeeded", succeededEvent, stripe.Event{ID: "evt_1", Type: stripe.EventPaymentSucceeded, Ref: "pi_123", Amount: 1500}},
		{"payment failed", failedEvent, stripe.Event{ID: "evt_2", Type: stripe.EventPaymentFailed, Ref: "pi_456"}},
		{"canceled, on another API version", canceledEvent, stripe.Event{ID: "evt_3", Type: stripe.EventPaymentCanceled, Ref: "pi_789"}},
		{"charge refunded", refundedEvent, stripe.Event{ID: "evt_4", Type: stripe.EventChargeRefunded, Ref: "pi_123", Amount: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			h := stripe.NewWebhookHandler(whSecret, rec.handle)
			body := []byte(tt.body)
			require.Equal(t, http.StatusOK, deliver(t, h, body, signed(body, whSecret, time.Now())))
			require.Len(t, rec.events, 1)
			got := rec.events[0]
			assert.Equal(t, tt.want.ID, got.ID)
			assert.Equal(t, tt.want.Type, got.Type)
			assert.Equal(t, tt.want.Ref, got.Ref)
			assert.Equal(t, tt.want.Amount, got.Amount)
			assert.Equal(t, time.Unix(1765000000, 0).UTC(), got.Created)
			if tt.want.Type == stripe.EventPaymentFailed {
				require.NotNil(t, got.Decline)
				assert.Equal(t, "insufficient_funds", got.Decline.Code)
				assert.Equal(t, "Your card has insufficient funds.", got.Decline.Message)
			} else {
				assert.Nil(t, got.Decline)
			}
		})
	}
}

func TestWebhookRefusesWhatStripeDidNotSign(t *testing.T) {
	body := []byte(succeededEvent)
	tampered := bytes.Replace(body, []byte(`"amount_received":1500`), []byte(`"amount_received":9999`), 1)
	require.NotEqual(t, body, tampered)

	tests := []struct {
		name string
		body []byte
		sig  string
	}{
		{"tampered body", tampered, signed(body, whSecret, time.Now())},
		{"other secret", body, signed(body, "whsec_someone_else", time.Now())},
		{"old timestamp", body, signed(body, whSecret, time.Now().Add(-10*time.Minute))},
		{"no signature", body, ""},
		{"garbage signature", body, "t=1,v1=nothex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			h := stripe.NewWebhookHandler(whSecret, rec.handle)
			assert.Equal(t, http.StatusBadRequest, deliver(t, h, tt.body, tt.sig))
			assert.Empty(t, rec.events, "nothing is handed on")
		})
	}
}

func TestWebhookToleranceIsSettable(t *testing.T) {
	body := []byte(succeededEvent)
	sig := signed(body, whSecret, time.Now().Add(-10*time.Minute))
	var rec recorder
	h := stripe.NewWebhookHandler(whSecret, rec.handle, stripe.WithTolerance(time.Hour))
	assert.Equal(t, http.StatusOK, deliver(t, h, body, sig))
	assert.Len(t, rec.events, 1)
}

func TestWebhookAcknowledgesOtherEventsWithoutHandingThemOn(t *testing.T) {
	var rec recorder
	h := stripe.NewWebhookHandler(whSecret, rec.handle)
	body := []byte(otherEvent)
	assert.Equal(t, http.StatusOK, deliver(t, h, body, signed(body, whSecret, time.Now())))
	assert.Empty(t, rec.events)
}

func TestWebhookAsksForRedeliveryWhenTheHandlerFails(t *testing.T) {
	rec := recorder{err: errors.New("database down")}
	h := stripe.NewWebhookHandler(whSecret, rec.handle)
	body := []byte(succeededEvent)
	assert.Equal(t, http.StatusInternalServerError, deliver(t, h, body, signed(body, whSecret, time.Now())))
	assert.Len(t, rec.events, 1)
}

func TestWebhookOnlyTakesPost(t *testing.T) {
	var rec recorder
	h := stripe.NewWebhookHandler(whSecret, rec.handle)
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, httptest.NewRequest(http.MethodGet, "/webhooks/stripe", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rw.Code)
	assert.Empty(t, rec.events)
}
