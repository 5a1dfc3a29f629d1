// Package sender delivers notifications through an external channel,
// implementing domain.Sender: WebhookSender posts JSON to a configured URL,
// one attempt per call, and the delivery worker retries.
package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
)

// defaultTimeout bounds one attempt when WithTimeout is not given.
const defaultTimeout = 5 * time.Second

// maxRetryAfter caps the wait a receiver may ask for with Retry-After.
const maxRetryAfter = 24 * time.Hour

// maxErrorBody is how much of a failed answer's body an error quotes;
// maxDrain is how much more is read so the connection can be reused.
const (
	maxErrorBody = 256
	maxDrain     = 64 << 10
)

// WebhookSender posts each notification as JSON to one URL, one attempt
// per Send under its own timeout; the delivery worker retries. Network
// errors, timeouts, 5xx and 429 answers are worth retrying (a Retry-After
// header, in seconds or as a date, says when: StatusError.RetryAfter); any
// other answer outside 2xx, redirects included, is ErrUndeliverable.
//
// Every request carries Idempotency-Key: the notification's event id, since
// a notification may be sent more than once (a retry after a lost answer),
// and the W3C trace context. The URL usually holds the receiver's
// credential, so every error Send returns has it masked (redact.Error).
type WebhookSender struct {
	url        string
	client     *http.Client
	propagator propagation.TextMapPropagator
	timeout    time.Duration
	now        func() time.Time
}

var _ domain.Sender = (*WebhookSender)(nil)

// WebhookOption configures a WebhookSender.
type WebhookOption func(*WebhookSender)

// WithTimeout bounds each attempt (connect, send, answer); default 5 s.
func WithTimeout(d time.Duration) WebhookOption {
	return func(s *WebhookSender) { s.timeout = d }
}

// WithHTTPClient sets the client requests go through. The default follows
// no redirects: a webhook that moved is a configuration error.
func WithHTTPClient(c *http.Client) WebhookOption {
	return func(s *WebhookSender) { s.client = c }
}

// NewWebhookSender returns a sender posting to url.
func NewWebhookSender(url string, opts ...WebhookOption) *WebhookSender {
	s := &WebhookSender{
		url: url,
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		propagator: telemetry.Propagator(),
		timeout:    defaultTimeout,
		now:        time.Now,
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// StatusError is a webhook answer outside 2xx.
type StatusError struct {
	StatusCode int
	Body       string // the start of the answer's body, for the log
	retryAfter time.Duration
}

// retryable reports whether the answer is worth trying again: 429 and 5xx.
func (e *StatusError) retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// Is makes an answer that retrying cannot fix domain.ErrUndeliverable.
func (e *StatusError) Is(target error) bool {
	return target == domain.ErrUndeliverable && !e.retryable()
}

// RetryAfter is the wait the answer's Retry-After header asked for; -1 when
// it asked none.
func (e *StatusError) RetryAfter() time.Duration { return e.retryAfter }

// Error implements error.
func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("webhook answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("webhook answered %d %s: %q", e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// payload is the JSON body of a webhook request.
type payload struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	OrderID   string    `json:"order_id"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	EventID   string    `json:"event_id"`
	CreatedAt time.Time `json:"created_at"`
}

// Send implements domain.Sender: one attempt. It returns nil once the
// webhook answers 2xx; otherwise an error with the URL masked, which wraps
// domain.ErrUndeliverable when retrying cannot help.
func (s *WebhookSender) Send(ctx context.Context, n domain.Notification) error {
	body, err := json.Marshal(payload{
		ID: n.ID, UserID: n.UserID, OrderID: n.OrderID, Kind: string(n.Kind),
		Title: n.Title, Body: n.Body, EventID: n.EventID, CreatedAt: n.CreatedAt,
	})
	if err != nil {
		return fmt.Errorf("webhook: encode notification %s: %w", n.ID, err)
	}
	if err := s.attempt(ctx, n, body); err != nil {
		return redact.Error(fmt.Errorf("webhook: notification %s: %w", n.ID, err))
	}
	return nil
}

// attempt makes one request.
func (s *WebhookSender) attempt(ctx context.Context, n domain.Notification, body []byte) error {
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w: %w", domain.ErrUndeliverable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "slipway-notification")
	req.Header.Set("Idempotency-Key", n.EventID)
	s.propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))

	resp, err := s.client.Do(req)
	if err != nil {
		return err // a network error or this attempt's timeout: worth retrying
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))

	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	statusErr := &StatusError{StatusCode: code, Body: redact.URLsIn(strings.TrimSpace(string(head))), retryAfter: -1}
	if statusErr.retryable() {
		statusErr.retryAfter = retryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	return statusErr
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
// It returns -1 when there is none or it cannot be read.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return -1
		}
		return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return min(max(at.Sub(now), 0), maxRetryAfter)
	}
	return -1
}
