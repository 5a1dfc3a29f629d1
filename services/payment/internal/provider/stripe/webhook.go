package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/slipway-dev/slipway/services/payment/internal/provider"
)

// The event types the webhook hands on; Stripe's others are acknowledged
// and dropped.
const (
	EventPaymentSucceeded = string(stripego.EventTypePaymentIntentSucceeded)
	EventPaymentFailed    = string(stripego.EventTypePaymentIntentPaymentFailed)
	EventPaymentCanceled  = string(stripego.EventTypePaymentIntentCanceled)
	EventChargeRefunded   = string(stripego.EventTypeChargeRefunded)
)

// maxWebhookBody bounds an event's body; Stripe's events are far smaller.
const maxWebhookBody = 64 << 10

// Event is a verified Stripe event about a payment.
type Event struct {
	// ID is Stripe's event id (evt_...): Stripe may deliver an event more
	// than once, so a handler deduplicates on it.
	ID string
	// Type is one of the Event* constants.
	Type string
	// Ref is the PaymentIntent the event is about (provider.Authorization.Ref).
	Ref string
	// Amount is the PaymentIntent's amount received (succeeded) or the
	// charge's amount refunded so far (charge.refunded), in minor units.
	Amount int64
	// Decline is why the payment failed (payment_failed), if Stripe said.
	Decline *provider.DeclineError
	// Created is when Stripe created the event.
	Created time.Time
}

// EventHandler handles a verified event. An error makes the webhook answer
// 500, and Stripe delivers the event again later.
type EventHandler func(ctx context.Context, e Event) error

// WebhookOption configures NewWebhookHandler.
type WebhookOption func(*webhookHandler)

// WithTolerance sets how old a signature's timestamp may be
// (webhook.DefaultTolerance, 5 minutes, without it): an older one is a
// replay, refused.
func WithTolerance(d time.Duration) WebhookOption {
	return func(h *webhookHandler) { h.tolerance = d }
}

// WithWebhookLogger sets where refused deliveries are logged (nowhere
// without it).
func WithWebhookLogger(l *slog.Logger) WebhookOption {
	return func(h *webhookHandler) { h.logger = l }
}

type webhookHandler struct {
	secret    string
	handle    EventHandler
	tolerance time.Duration
	logger    *slog.Logger
}

// NewWebhookHandler returns the HTTP handler for Stripe's webhook: it
// verifies the Stripe-Signature header against the endpoint's signing
// secret (whsec_...) and the timestamp against the tolerance, answers 400
// to a delivery that fails either, and hands the payment events
// (payment_intent.succeeded, .payment_failed, .canceled, charge.refunded)
// to handle.
func NewWebhookHandler(secret string, handle EventHandler, opts ...WebhookOption) http.Handler {
	h := &webhookHandler{secret: secret, handle: handle, tolerance: webhook.DefaultTolerance, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(h)
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	// The events' fields read here (ids, amounts, status, last error) are
	// the same in every API version, so an endpoint on another version is
	// accepted.
	evt, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), h.secret,
		webhook.ConstructEventOptions{Tolerance: h.tolerance, IgnoreAPIVersionMismatch: true})
	if err != nil {
		h.logger.WarnContext(r.Context(), "stripe webhook refused", "error", err)
		http.Error(w, "invalid signature", http.StatusBadRequest)
		return
	}
	e, ok, err := eventOf(evt)
	if err != nil {
		h.logger.WarnContext(r.Context(), "stripe webhook unreadable", "event_id", evt.ID, "type", evt.Type, "error", err)
		http.Error(w, "unreadable event", http.StatusBadRequest)
		return
	}
	if !ok {
		w.WriteHeader(http.StatusOK) // not ours: acknowledged, so Stripe stops sending it
		return
	}
	if err := h.handle(r.Context(), e); err != nil {
		h.logger.ErrorContext(r.Context(), "stripe webhook event not handled", "event_id", e.ID, "type", e.Type, "error", err)
		http.Error(w, "event not handled", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// eventOf reads the payment event out of a verified Stripe event; ok is
// false for a type the webhook does not hand on.
func eventOf(evt stripego.Event) (e Event, ok bool, err error) {
	e = Event{ID: evt.ID, Type: string(evt.Type), Created: time.Unix(evt.Created, 0).UTC()}
	if evt.Data == nil {
		return Event{}, false, errors.New("event has no data")
	}
	switch e.Type {
	case EventPaymentSucceeded, EventPaymentFailed, EventPaymentCanceled:
		var pi stripego.PaymentIntent
		if err := json.Unmarshal(evt.Data.Raw, &pi); err != nil {
			return Event{}, false, fmt.Errorf("read payment intent: %w", err)
		}
		e.Ref = pi.ID
		if e.Type == EventPaymentSucceeded {
			e.Amount = pi.AmountReceived
		}
		if pe := pi.LastPaymentError; e.Type == EventPaymentFailed && pe != nil {
			e.Decline = &provider.DeclineError{Code: declineCode(pe), Message: pe.Msg, Ref: pi.ID}
		}
	case EventChargeRefunded:
		var ch stripego.Charge
		if err := json.Unmarshal(evt.Data.Raw, &ch); err != nil {
			return Event{}, false, fmt.Errorf("read charge: %w", err)
		}
		if ch.PaymentIntent != nil {
			e.Ref = ch.PaymentIntent.ID
		}
		e.Amount = ch.AmountRefunded
	default:
		return Event{}, false, nil
	}
	if e.Ref == "" {
		return Event{}, false, fmt.Errorf("%s event %s names no payment intent", e.Type, e.ID)
	}
	return e, true, nil
}
