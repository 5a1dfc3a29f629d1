// Package stripe is the payment provider on Stripe, through the official
// client (stripe-go): Authorize creates and confirms a PaymentIntent with
// manual capture, Capture captures it, Void cancels it, and Refund creates a
// Refund. Every request carries the caller's idempotency key as Stripe's
// Idempotency-Key, so a retry never charges twice.
//
// Stripe's errors become the provider's kinds (see provider):
//
//	card_error (402)                         *provider.DeclineError, Code = decline code or error code
//	429 (rate limit, lock timeout)           provider.ErrTransient
//	409 idempotency_error (key in flight)    provider.ErrTransient
//	connection refused                       provider.ErrTransient
//	5xx, api_error, a lost connection,       provider.ErrOutcomeUnknown (Stripe documents a
//	a context that ended                     5xx's outcome as unknown; retry with the same key)
//	400 idempotency_error                    provider.ErrIdempotencyKeyReused
//	404 resource_missing                     provider.ErrNotFound
//	payment_intent_unexpected_state,         provider.ErrWrongState
//	charge_already_captured/_refunded
//	any other invalid_request_error          provider.ErrInvalidRequest
//
// NewWebhookHandler verifies and hands on the events Stripe sends
// asynchronously.
package stripe

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"

	"github.com/slipway-dev/slipway/services/payment/internal/provider"
)

// Name is the provider's name.
const Name = "stripe"

// Provider is the payment provider on Stripe. It is safe for concurrent use.
type Provider struct {
	client *stripego.Client
}

var _ provider.Provider = (*Provider)(nil)

// Option configures New.
type Option func(*options)

type options struct {
	url        string
	httpClient *http.Client
	retries    *int64
	logger     *slog.Logger
}

// WithURL sends the API requests to url instead of Stripe's API, such as a
// stripe-mock in tests.
func WithURL(url string) Option { return func(o *options) { o.url = url } }

// WithHTTPClient sets the HTTP client (one like stripe-go's default, with
// an 80 s timeout, without it). Its transport is wrapped to trace the calls
// either way.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// defaultTimeout is stripe-go's own HTTP timeout.
const defaultTimeout = 80 * time.Second

// WithNetworkRetries sets how many times stripe-go itself retries a request
// that failed on the network or that Stripe asks to retry, with the same
// idempotency key (stripe-go's default, 2, without it). The saga retries
// too; 0 leaves retrying to it alone.
func WithNetworkRetries(n int64) Option { return func(o *options) { o.retries = &n } }

// WithLogger sets where stripe-go's own log lines go (nowhere without it).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// New returns a provider that calls Stripe with the secret key apiKey.
func New(apiKey string, opts ...Option) (*Provider, error) {
	if apiKey == "" {
		return nil, errors.New("stripe: an API key is required")
	}
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := &stripego.BackendConfig{
		HTTPClient:        traced(o.httpClient),
		MaxNetworkRetries: o.retries,
		LeveledLogger:     slogLogger{o.logger},
		EnableTelemetry:   stripego.Bool(false),
	}
	if o.url != "" {
		cfg.URL = stripego.String(o.url)
	}
	b := stripego.GetBackendWithConfig(stripego.APIBackend, cfg)
	client := stripego.NewClient(apiKey, stripego.WithBackends(&stripego.Backends{API: b, Connect: b, Uploads: b, MeterEvents: b}))
	return &Provider{client: client}, nil
}

// traced is c, or a client like stripe-go's default, whose every request is
// a client span (otelhttp) when its context carries a span: a child of it,
// from its tracer provider, with server.address Stripe's host, so the
// service map shows the call to Stripe. No trace context is sent to Stripe.
func traced(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{Timeout: defaultTimeout}
	}
	t := *c
	t.Transport = otelhttp.NewTransport(cmp.Or[http.RoundTripper](c.Transport, http.DefaultTransport),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithSpanNameFormatter(spanName))
	return &t
}

// spanName is the request's method and route, the object's id left out:
// Stripe's paths are /v1/<collection>/<id>/<action>, so
// "POST /v1/payment_intents/{id}/capture".
func spanName(_ string, r *http.Request) string {
	parts := strings.Split(r.URL.Path, "/")
	if len(parts) > 3 && parts[3] != "" {
		parts[3] = "{id}"
	}
	return r.Method + " " + strings.Join(parts, "/")
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return Name }

// Authorize implements provider.Provider: a PaymentIntent created with
// confirm=true and capture_method=manual on r.PaymentMethod, which holds the
// funds. A card that needs 3-D Secure is declined (authentication_required)
// rather than left waiting for a customer who is not there.
func (p *Provider) Authorize(ctx context.Context, r provider.AuthorizeRequest) (provider.Authorization, error) {
	if err := r.Validate(); err != nil {
		return provider.Authorization{}, err
	}
	if r.PaymentMethod == "" {
		return provider.Authorization{}, fmt.Errorf("%w: a payment method is required", provider.ErrInvalidRequest)
	}
	params := &stripego.PaymentIntentCreateParams{
		Amount:                stripego.Int64(r.Amount),
		Currency:              stripego.String(strings.ToLower(r.Currency)),
		PaymentMethod:         stripego.String(r.PaymentMethod),
		CaptureMethod:         stripego.String(string(stripego.PaymentIntentCaptureMethodManual)),
		Confirm:               stripego.Bool(true),
		ErrorOnRequiresAction: stripego.Bool(true),
		// Without a return URL, Stripe refuses to confirm with payment
		// methods that redirect; a server-side hold never redirects.
		AutomaticPaymentMethods: &stripego.PaymentIntentCreateAutomaticPaymentMethodsParams{
			Enabled:        stripego.Bool(true),
			AllowRedirects: stripego.String(string(stripego.PaymentIntentAutomaticPaymentMethodsAllowRedirectsNever)),
		},
	}
	params.IdempotencyKey = stripego.String(r.IdempotencyKey)
	params.AddMetadata("order_id", r.OrderID)
	params.AddMetadata("user_id", r.UserID)
	pi, err := p.client.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		return provider.Authorization{}, fmt.Errorf("stripe: authorize order %s: %w", r.OrderID, classify(ctx, err))
	}
	return authorization(pi)
}

// authorization reads a confirmed PaymentIntent: requires_capture is a
// hold; processing is decided later; a PaymentIntent left wanting a payment
// method or an action was not authorized, which is a decline.
func authorization(pi *stripego.PaymentIntent) (provider.Authorization, error) {
	switch pi.Status {
	case stripego.PaymentIntentStatusRequiresCapture:
		return provider.Authorization{Ref: pi.ID, Status: provider.StatusAuthorized}, nil
	case stripego.PaymentIntentStatusProcessing:
		return provider.Authorization{Ref: pi.ID, Status: provider.StatusPending}, nil
	case stripego.PaymentIntentStatusSucceeded:
		return provider.Authorization{Ref: pi.ID, Status: provider.StatusCaptured}, nil
	}
	d := &provider.DeclineError{Code: "payment_incomplete", Message: "the payment was not authorized: it is " + string(pi.Status), Ref: pi.ID}
	if e := pi.LastPaymentError; e != nil {
		d.Code, d.Message = declineCode(e), e.Msg
	}
	return provider.Authorization{}, d
}

// Capture implements provider.Provider.
func (p *Provider) Capture(ctx context.Context, idempotencyKey, ref string, amount int64) error {
	if err := checkCall(idempotencyKey, ref, amount); err != nil {
		return err
	}
	params := &stripego.PaymentIntentCaptureParams{}
	if amount > 0 {
		params.AmountToCapture = stripego.Int64(amount)
	}
	params.IdempotencyKey = stripego.String(idempotencyKey)
	if _, err := p.client.V1PaymentIntents.Capture(ctx, ref, params); err != nil {
		return fmt.Errorf("stripe: capture %s: %w", ref, classify(ctx, err))
	}
	return nil
}

// Void implements provider.Provider: the PaymentIntent is canceled, which
// releases the hold.
func (p *Provider) Void(ctx context.Context, idempotencyKey, ref string) error {
	if err := checkCall(idempotencyKey, ref, 0); err != nil {
		return err
	}
	params := &stripego.PaymentIntentCancelParams{}
	params.IdempotencyKey = stripego.String(idempotencyKey)
	if _, err := p.client.V1PaymentIntents.Cancel(ctx, ref, params); err != nil {
		return fmt.Errorf("stripe: void %s: %w", ref, classify(ctx, err))
	}
	return nil
}

// Refund implements provider.Provider: a Refund of the PaymentIntent ref.
func (p *Provider) Refund(ctx context.Context, idempotencyKey, ref string, amount int64) error {
	if err := checkCall(idempotencyKey, ref, amount); err != nil {
		return err
	}
	params := &stripego.RefundCreateParams{PaymentIntent: stripego.String(ref)}
	if amount > 0 {
		params.Amount = stripego.Int64(amount)
	}
	params.IdempotencyKey = stripego.String(idempotencyKey)
	if _, err := p.client.V1Refunds.Create(ctx, params); err != nil {
		return fmt.Errorf("stripe: refund %s: %w", ref, classify(ctx, err))
	}
	return nil
}

// checkCall refuses a Capture, Void or Refund before it reaches Stripe.
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

// Stripe error codes that mean the payment's state forbids the request.
var wrongStateCodes = map[stripego.ErrorCode]bool{
	stripego.ErrorCodePaymentIntentUnexpectedState: true,
	stripego.ErrorCodeChargeAlreadyCaptured:        true,
	stripego.ErrorCodeChargeAlreadyRefunded:        true,
	stripego.ErrorCodeChargeExpiredForCapture:      true,
}

// classify turns a stripe-go error into the provider's kinds; the package
// documentation has the table.
func classify(ctx context.Context, err error) error {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return classifyTransport(ctx, err)
	}
	switch {
	case se.Type == stripego.ErrorTypeCard:
		d := &provider.DeclineError{Code: declineCode(se), Message: se.Msg}
		if se.PaymentIntent != nil {
			d.Ref = se.PaymentIntent.ID
		}
		return d
	case se.HTTPStatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s (%d %s)", provider.ErrTransient, se.Msg, se.HTTPStatusCode, se.Code)
	case se.Type == stripego.ErrorTypeIdempotency && se.HTTPStatusCode == http.StatusConflict:
		return fmt.Errorf("%w: a request with this key is still in flight: %s", provider.ErrTransient, se.Msg)
	case se.Type == stripego.ErrorTypeIdempotency:
		return fmt.Errorf("%w: %s", provider.ErrIdempotencyKeyReused, se.Msg)
	case se.HTTPStatusCode >= 500 || se.Type == stripego.ErrorTypeAPI:
		return fmt.Errorf("%w: %s (%d)", provider.ErrOutcomeUnknown, se.Msg, se.HTTPStatusCode)
	case se.HTTPStatusCode == http.StatusNotFound || se.Code == stripego.ErrorCodeResourceMissing:
		return fmt.Errorf("%w: %s", provider.ErrNotFound, se.Msg)
	case wrongStateCodes[se.Code]:
		return fmt.Errorf("%w: %s", provider.ErrWrongState, se.Msg)
	}
	return fmt.Errorf("%w: %s (%d %s %s)", provider.ErrInvalidRequest, se.Msg, se.HTTPStatusCode, se.Type, se.Code)
}

// classifyTransport classifies an error that is not Stripe's answer: a
// request that never left (refused connection) is transient; one cut off
// after it left, or by its context, has an unknown outcome.
func classifyTransport(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", provider.Interrupted(ctx), err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("%w: %w", provider.ErrTransient, err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", provider.ErrOutcomeUnknown, err)
	}
	return err
}

// declineCode is the issuer's decline code when it says more than a
// generic decline, else Stripe's error code.
func declineCode(e *stripego.Error) string {
	if e.DeclineCode != "" && e.DeclineCode != stripego.DeclineCodeGenericDecline {
		return string(e.DeclineCode)
	}
	if e.Code != "" {
		return string(e.Code)
	}
	return "card_declined"
}

// slogLogger passes stripe-go's log lines to a slog.Logger.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Debugf(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s slogLogger) Infof(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s slogLogger) Warnf(format string, v ...any)  { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s slogLogger) Errorf(format string, v ...any) { s.l.Warn(fmt.Sprintf(format, v...)) }
