package sender_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/slipway-dev/slipway/services/notification/internal/domain"
	"github.com/slipway-dev/slipway/services/notification/internal/sender"
)

var note = domain.Notification{
	ID: "019cf0a1-2b3c-7d4e-8f00-000000000001", UserID: "user-a", OrderID: "ord_1",
	Kind: domain.KindOrderPlaced, Title: "Order placed",
	Body:    "Your order ord_1 for 2 items totalling USD 79.90 is placed.",
	EventID: "evt-1", CreatedAt: time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC),
}

// hit is one request the test webhook received.
type hit struct {
	at     time.Time
	header http.Header
	body   []byte
}

// webhook is a test receiver that answers the n-th request with answers[n]
// (the last answer repeats) and records every request.
type webhook struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

// answer writes one response; a nil answer drops the connection.
type answer func(w http.ResponseWriter)

func status(code int, headers ...string) answer {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}
}

func newWebhook(t *testing.T, answers ...answer) *webhook {
	t.Helper()
	wh := &webhook{}
	wh.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		wh.mu.Lock()
		n := len(wh.hits)
		wh.hits = append(wh.hits, hit{at: time.Now(), header: r.Header.Clone(), body: body})
		wh.mu.Unlock()
		a := answers[min(n, len(answers)-1)]
		if a == nil {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		a(w)
	}))
	t.Cleanup(wh.Close)
	return wh
}

func (wh *webhook) requests() []hit {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return append([]hit(nil), wh.hits...)
}

// fast are options that keep retries quick in tests.
func fast(opts ...sender.WebhookOption) []sender.WebhookOption {
	return append([]sender.WebhookOption{sender.WithBackoff(time.Millisecond, 5*time.Millisecond), sender.WithMaxAttempts(4)}, opts...)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestWebhookRetriesUntilItSucceeds(t *testing.T) {
	tests := []struct {
		name    string
		answers []answer
	}{
		{"503 twice then 200", []answer{status(503), status(503), status(200)}},
		{"429 then 204", []answer{status(429), status(204)}},
		{"a dropped connection then 200", []answer{nil, status(200)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wh := newWebhook(t, tt.answers...)
			s := sender.NewWebhookSender(wh.URL, discard(), fast()...)
			require.NoError(t, s.Send(t.Context(), note))
			assert.Len(t, wh.requests(), len(tt.answers), "one attempt per answer until the success")
		})
	}
}

func TestWebhookPostsTheNotificationAsJSON(t *testing.T) {
	wh := newWebhook(t, status(200))
	s := sender.NewWebhookSender(wh.URL, discard())

	// A span in ctx: its trace continues in the webhook request.
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(t.Context(), sc)
	require.NoError(t, s.Send(ctx, note))

	reqs := wh.requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "evt-1", r.header.Get("Idempotency-Key"), "receivers dedupe by event id")
	assert.Contains(t, r.header.Get("Traceparent"), sc.TraceID().String())

	var got map[string]any
	require.NoError(t, json.Unmarshal(r.body, &got))
	assert.Equal(t, map[string]any{
		"id": note.ID, "user_id": "user-a", "order_id": "ord_1", "kind": "ORDER_PLACED",
		"title": "Order placed", "body": note.Body, "event_id": "evt-1",
		"created_at": "2026-03-14T15:09:26.535897Z",
	}, got)
}

func TestWebhookGivesUpAfterMaxAttempts(t *testing.T) {
	for _, attempts := range []int{1, 3} {
		t.Run(fmt.Sprintf("503 every time, %d attempts", attempts), func(t *testing.T) {
			wh := newWebhook(t, status(503))
			s := sender.NewWebhookSender(wh.URL, discard(), fast(sender.WithMaxAttempts(attempts))...)
			err := s.Send(t.Context(), note)
			require.Error(t, err)
			var se *sender.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 503, se.StatusCode)
			assert.ErrorContains(t, err, "gave up after")
			assert.Len(t, wh.requests(), attempts)
		})
	}
}

func TestWebhookDoesNotRetryOtherClientErrors(t *testing.T) {
	for _, code := range []int{400, 401, 404, 410, 422, 301} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			wh := newWebhook(t, status(code, "Location", "/elsewhere"), status(200))
			s := sender.NewWebhookSender(wh.URL, discard(), fast()...)
			err := s.Send(t.Context(), note)
			var se *sender.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, code, se.StatusCode)
			assert.Len(t, wh.requests(), 1, "no second attempt, and no redirect followed")
		})
	}
}

func TestWebhookHonoursRetryAfter(t *testing.T) {
	t.Run("in seconds", func(t *testing.T) {
		wh := newWebhook(t, status(429, "Retry-After", "1"), status(200))
		s := sender.NewWebhookSender(wh.URL, discard(), fast()...)
		require.NoError(t, s.Send(t.Context(), note))
		reqs := wh.requests()
		require.Len(t, reqs, 2)
		assert.GreaterOrEqual(t, reqs[1].at.Sub(reqs[0].at), 950*time.Millisecond, "waited as the receiver asked, not the 1 ms backoff")
	})
	t.Run("as a date", func(t *testing.T) {
		at := time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) // whole seconds: 1 to 2 s away
		wh := newWebhook(t, status(503, "Retry-After", at), status(200))
		s := sender.NewWebhookSender(wh.URL, discard(), fast()...)
		require.NoError(t, s.Send(t.Context(), note))
		reqs := wh.requests()
		require.Len(t, reqs, 2)
		assert.GreaterOrEqual(t, reqs[1].at.Sub(reqs[0].at), 900*time.Millisecond)
	})
	t.Run("longer than the sender waits gives up at once", func(t *testing.T) {
		wh := newWebhook(t, status(503, "Retry-After", "120"), status(200))
		s := sender.NewWebhookSender(wh.URL, discard(), fast(sender.WithMaxRetryAfter(time.Second))...)
		start := time.Now()
		err := s.Send(t.Context(), note)
		assert.ErrorContains(t, err, "Retry-After 2m0s")
		assert.Less(t, time.Since(start), time.Second)
		assert.Len(t, wh.requests(), 1)
	})
}

func TestWebhookAttemptTimeoutIsRetried(t *testing.T) {
	slow := func(w http.ResponseWriter) {
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(200)
	}
	wh := newWebhook(t, slow, status(200))
	s := sender.NewWebhookSender(wh.URL, discard(), fast(sender.WithTimeout(50*time.Millisecond))...)
	require.NoError(t, s.Send(t.Context(), note))
	assert.Len(t, wh.requests(), 2)
}

func TestWebhookStopsWhenTheContextEnds(t *testing.T) {
	wh := newWebhook(t, status(503))
	s := sender.NewWebhookSender(wh.URL, discard(), sender.WithBackoff(time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, note)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Len(t, wh.requests(), 1)
}

func TestLogSenderWritesOneStructuredLine(t *testing.T) {
	var buf bytes.Buffer
	s := sender.NewLogSender(slog.New(slog.NewJSONHandler(&buf, nil)))
	require.NoError(t, s.Send(t.Context(), note))

	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line), buf.String())
	assert.Equal(t, "notification sent", line["msg"])
	assert.Equal(t, "user-a", line["user_id"])
	assert.Equal(t, "ord_1", line["order_id"])
	assert.Equal(t, "ORDER_PLACED", line["kind"])
	assert.Equal(t, "Order placed", line["title"])
	assert.Equal(t, "evt-1", line["event_id"])
	assert.Equal(t, 1, bytes.Count(buf.Bytes(), []byte("\n")), "one line")
}
