package sender_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
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

func TestWebhookPostsTheNotificationAsJSON(t *testing.T) {
	wh := newWebhook(t, status(200))
	s := sender.NewWebhookSender(wh.URL)

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

func TestWebhookMakesOneAttemptAndSaysWhetherToRetry(t *testing.T) {
	tests := []struct {
		name          string
		answer        answer
		undeliverable bool
		retryAfter    time.Duration
	}{
		{name: "503", answer: status(503), retryAfter: -1},
		{name: "429 with Retry-After in seconds", answer: status(429, "Retry-After", "7"), retryAfter: 7 * time.Second},
		{name: "a Retry-After that cannot be read", answer: status(503, "Retry-After", "soon"), retryAfter: -1},
		{name: "a Retry-After of days is capped", answer: status(503, "Retry-After", "999999"), retryAfter: 24 * time.Hour},
		{name: "400", answer: status(400), undeliverable: true},
		{name: "401", answer: status(401), undeliverable: true},
		{name: "404", answer: status(404), undeliverable: true},
		{name: "410", answer: status(410), undeliverable: true},
		{name: "a redirect is not followed", answer: status(301, "Location", "/elsewhere"), undeliverable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wh := newWebhook(t, tt.answer, status(200))
			err := sender.NewWebhookSender(wh.URL).Send(t.Context(), note)
			var se *sender.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.undeliverable, errors.Is(err, domain.ErrUndeliverable))
			if !tt.undeliverable {
				assert.Equal(t, tt.retryAfter, se.RetryAfter())
			}
			assert.Len(t, wh.requests(), 1, "one attempt: the delivery worker retries")
		})
	}
	t.Run("Retry-After as a date", func(t *testing.T) {
		at := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
		wh := newWebhook(t, status(503, "Retry-After", at))
		var se *sender.StatusError
		require.ErrorAs(t, sender.NewWebhookSender(wh.URL).Send(t.Context(), note), &se)
		assert.InDelta(t, time.Hour.Seconds(), se.RetryAfter().Seconds(), 2)
	})
	t.Run("a dropped connection is worth retrying", func(t *testing.T) {
		wh := newWebhook(t, nil)
		err := sender.NewWebhookSender(wh.URL).Send(t.Context(), note)
		require.Error(t, err)
		assert.NotErrorIs(t, err, domain.ErrUndeliverable)
	})
	t.Run("an attempt that times out is worth retrying", func(t *testing.T) {
		slow := func(w http.ResponseWriter) {
			time.Sleep(300 * time.Millisecond)
			w.WriteHeader(200)
		}
		wh := newWebhook(t, slow)
		err := sender.NewWebhookSender(wh.URL, sender.WithTimeout(50*time.Millisecond)).Send(t.Context(), note)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, domain.ErrUndeliverable)
	})
	t.Run("a 2xx is delivered", func(t *testing.T) {
		wh := newWebhook(t, status(204))
		assert.NoError(t, sender.NewWebhookSender(wh.URL).Send(t.Context(), note))
	})
}

// TestWebhookErrorsNeverShowTheURL attacks the leak of a webhook credential
// through *url.Error: a URL with a secret in its user info, path and query,
// pointing at a closed port.
func TestWebhookErrorsNeverShowTheURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	secrets := []string{"hook-user", "hook-pass", "T0SECRET", "tok3n"}
	raw := "http://hook-user:hook-pass@" + addr + "/services/T0SECRET?token=tok3n"

	err = sender.NewWebhookSender(raw).Send(t.Context(), note)
	require.Error(t, err)
	for _, s := range secrets {
		assert.NotContains(t, err.Error(), s)
		assert.NotContains(t, fmt.Sprintf("%+v", err), s)
	}
	assert.Contains(t, err.Error(), addr, "the endpoint is still named")
	assert.NotErrorIs(t, err, domain.ErrUndeliverable, "a refused connection is worth retrying")
	var ue *url.Error
	assert.ErrorAs(t, err, &ue, "the cause is kept for errors.As")

	t.Run("nor does an answer that quotes it", func(t *testing.T) {
		wh := newWebhook(t, func(w http.ResponseWriter) {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, "bad request to "+"http://hook-user:hook-pass@x.example/T0SECRET?token=tok3n")
		})
		err := sender.NewWebhookSender(wh.URL).Send(t.Context(), note)
		require.Error(t, err)
		for _, s := range secrets {
			assert.NotContains(t, err.Error(), s)
		}
	})
}

func TestWebhookStopsWhenTheContextEnds(t *testing.T) {
	wh := newWebhook(t, func(w http.ResponseWriter) {
		time.Sleep(2 * time.Second)
		w.WriteHeader(200)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := sender.NewWebhookSender(wh.URL).Send(ctx, note)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)
}
