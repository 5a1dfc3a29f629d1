package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
)

// Defaults of a WebhookSender. With them a send that keeps failing gives up
// after about 4×5 s + 1.4 s of backoff, inside the event consumer's 30 s
// ack wait, so a slow receiver does not get the event redelivered while
// this delivery still runs.
const (
	defaultTimeout     = 5 * time.Second
	defaultMaxAttempts = 4
	defaultBaseBackoff = 200 * time.Millisecond
	defaultMaxBackoff  = 5 * time.Second
	// defaultMaxRetryAfter is the longest Retry-After honoured; a receiver
	// asking for more is given up on, and the event's redelivery retries later.
	defaultMaxRetryAfter = 10 * time.Second
)

// maxErrorBody is how much of a failed answer's body an error quotes;
// maxDrain is how much more is read so the connection can be reused.
const (
	maxErrorBody = 256
	maxDrain     = 64 << 10
)

// WebhookSender posts each notification as JSON to one URL. An attempt has
// its own timeout; network errors, timeouts, 5xx and 429 answers are
// retried with exponential backoff and jitter (a Retry-After header, in
// seconds or as a date, sets the wait instead), up to a bounded number of
// attempts; any other answer outside 2xx, redirects included, fails at once.
//
// Every request carries Idempotency-Key: the notification's event id, since
// a notification may be sent more than once (a retry after a lost answer,
// or the event redelivered after a failure), and the W3C trace context.
type WebhookSender struct {
	url           string
	client        *http.Client
	logger        *slog.Logger
	propagator    propagation.TextMapPropagator
	timeout       time.Duration
	maxAttempts   int
	baseBackoff   time.Duration
	maxBackoff    time.Duration
	maxRetryAfter time.Duration
	now           func() time.Time
}

var _ domain.Sender = (*WebhookSender)(nil)

// WebhookOption configures a WebhookSender.
type WebhookOption func(*WebhookSender)

// WithTimeout bounds each attempt (connect, send, answer); default 5 s.
func WithTimeout(d time.Duration) WebhookOption {
	return func(s *WebhookSender) { s.timeout = d }
}

// WithMaxAttempts sets how many attempts a send makes in all; default 4.
func WithMaxAttempts(n int) WebhookOption {
	return func(s *WebhookSender) { s.maxAttempts = n }
}

// WithBackoff sets the wait before the second attempt (base, doubled for
// each further attempt) and its cap; defaults 200 ms and 5 s.
func WithBackoff(base, maxWait time.Duration) WebhookOption {
	return func(s *WebhookSender) { s.baseBackoff, s.maxBackoff = base, maxWait }
}

// WithMaxRetryAfter sets the longest Retry-After the sender waits for;
// default 10 s. An answer asking for longer ends the send with an error.
func WithMaxRetryAfter(d time.Duration) WebhookOption {
	return func(s *WebhookSender) { s.maxRetryAfter = d }
}

// WithHTTPClient sets the client requests go through. The default follows
// no redirects: a webhook that moved is a configuration error.
func WithHTTPClient(c *http.Client) WebhookOption {
	return func(s *WebhookSender) { s.client = c }
}

// NewWebhookSender returns a sender posting to url, logging retries to logger.
func NewWebhookSender(url string, logger *slog.Logger, opts ...WebhookOption) *WebhookSender {
	s := &WebhookSender{
		url:    url,
		logger: logger,
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		propagator:    telemetry.Propagator(),
		timeout:       defaultTimeout,
		maxAttempts:   defaultMaxAttempts,
		baseBackoff:   defaultBaseBackoff,
		maxBackoff:    defaultMaxBackoff,
		maxRetryAfter: defaultMaxRetryAfter,
		now:           time.Now,
	}
	for _, opt := range opts {
		opt(s)
	}
	s.maxAttempts = max(s.maxAttempts, 1)
	return s
}

// StatusError is a webhook answer outside 2xx.
type StatusError struct {
	StatusCode int
	Body       string // the start of the answer's body, for the log
}

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

// Send implements domain.Sender. It returns nil once the webhook answers
// 2xx, and an error after the last attempt, on an answer that is not worth
// retrying, or when ctx ends.
func (s *WebhookSender) Send(ctx context.Context, n domain.Notification) error {
	body, err := json.Marshal(payload{
		ID: n.ID, UserID: n.UserID, OrderID: n.OrderID, Kind: string(n.Kind),
		Title: n.Title, Body: n.Body, EventID: n.EventID, CreatedAt: n.CreatedAt,
	})
	if err != nil {
		return fmt.Errorf("webhook: encode notification %s: %w", n.ID, err)
	}
	for attempt := 1; ; attempt++ {
		retry, wait, err := s.attempt(ctx, n, body)
		if err == nil {
			return nil
		}
		if !retry {
			return fmt.Errorf("webhook: notification %s: attempt %d: %w", n.ID, attempt, err)
		}
		if attempt >= s.maxAttempts {
			return fmt.Errorf("webhook: notification %s: gave up after %d attempts: %w", n.ID, attempt, err)
		}
		if wait < 0 {
			wait = s.backoff(attempt)
		} else if wait > s.maxRetryAfter {
			return fmt.Errorf("webhook: notification %s: attempt %d: Retry-After %s is longer than the %s this sender waits: %w",
				n.ID, attempt, wait, s.maxRetryAfter, err)
		}
		s.logger.WarnContext(ctx, "webhook attempt failed, retrying",
			"notification_id", n.ID, "event_id", n.EventID, "attempt", attempt, "wait", wait, "error", err)
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("webhook: notification %s: stopped after %d attempts: %w (last error: %w)", n.ID, attempt, serr, err)
		}
	}
}

// attempt makes one request. It reports whether a failure is worth
// retrying and, when the answer said so, how long to wait first (-1 when
// it did not).
func (s *WebhookSender) attempt(ctx context.Context, n domain.Notification, body []byte) (retry bool, wait time.Duration, err error) {
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return false, -1, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "slipway-notification")
	req.Header.Set("Idempotency-Key", n.EventID)
	s.propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))

	resp, err := s.client.Do(req)
	if err != nil {
		// A network error or this attempt's timeout is retried; the caller's
		// own context ending is not.
		return ctx.Err() == nil, -1, err
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))

	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return false, -1, nil
	}
	statusErr := &StatusError{StatusCode: code, Body: strings.TrimSpace(string(head))}
	if code == http.StatusTooManyRequests || code >= 500 {
		return true, retryAfter(resp.Header.Get("Retry-After"), s.now()), statusErr
	}
	return false, -1, statusErr
}

// backoff is the wait after a failed attempt: doubling from the base,
// capped, with "equal jitter" (half fixed, half random) so that many
// senders retrying one receiver spread out.
func (s *WebhookSender) backoff(attempt int) time.Duration {
	d := s.baseBackoff
	for i := 1; i < attempt && d < s.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.maxBackoff)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2) //nolint:gosec // retry jitter needs no cryptographic randomness
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
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0)
	}
	return -1
}

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
