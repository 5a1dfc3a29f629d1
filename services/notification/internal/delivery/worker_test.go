package delivery_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/notification/internal/delivery"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
	"github.com/slipway-dev/slipway/services/notification/internal/sender"
	"github.com/slipway-dev/slipway/services/notification/internal/store"
)

// fast is a policy that keeps a test's retries quick.
var fast = delivery.Policy{MaxAttempts: 4, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond, AttemptTimeout: time.Second}

// env is a migrated database of one dialect, the store over it, and what a
// worker reports to.
type env struct {
	db     *platformstore.DB
	store  *store.Store
	reg    *prometheus.Registry
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	logs   *syncBuffer
	logger *slog.Logger
}

func newEnv(t *testing.T, dialect platformstore.Dialect) *env {
	t.Helper()
	db := storetest.Open(t, dialect)
	require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
	spans := tracetest.NewSpanRecorder()
	logs := &syncBuffer{}
	return &env{
		db: db, store: store.New(db), reg: prometheus.NewRegistry(),
		spans: spans, tp: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		logs: logs, logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}
}

// forEachDialect runs test on a fresh env of every dialect.
func forEachDialect(t *testing.T, test func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) { test(t, newEnv(t, d)) })
	}
}

// queue stores a notification per event id, each with its delivery queued
// as the event consumer does, and returns their ids by event id.
func (e *env) queue(t *testing.T, eventIDs ...string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	require.NoError(t, e.db.InTx(t.Context(), func(tx *sql.Tx) error {
		for _, ev := range eventIDs {
			id, err := uuid.NewV7()
			require.NoError(t, err)
			n := domain.Notification{
				ID: id.String(), UserID: "user-a", OrderID: "ord-" + ev, Kind: domain.KindOrderPlaced,
				Title: "Order placed", Body: "Your order is placed.", EventID: ev,
				CreatedAt: time.Now().UTC().Truncate(time.Microsecond), Delivery: domain.DeliveryPending,
			}
			if _, err := e.store.Tx(tx).CreateNotification(t.Context(), n); err != nil {
				return err
			}
			if err := e.store.Tx(tx).EnqueueDelivery(t.Context(), n); err != nil {
				return err
			}
			ids[ev] = n.ID
		}
		return nil
	}))
	return ids
}

// run starts a worker posting to url and stops it when the test ends.
func (e *env) run(t *testing.T, url string, policy delivery.Policy, opts ...delivery.Option) {
	t.Helper()
	w, err := delivery.NewWorker(e.store, sender.NewWebhookSender(url, sender.WithTimeout(policy.AttemptTimeout)), policy,
		e.logger, e.reg, e.tp, append([]delivery.Option{delivery.WithPollInterval(5 * time.Millisecond)}, opts...)...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
}

func (e *env) row(t *testing.T, id string) store.DeliveryRow {
	t.Helper()
	r, err := e.store.Delivery(t.Context(), id)
	require.NoError(t, err)
	return r
}

// waitState waits until notification id's delivery is in state.
func (e *env) waitState(t *testing.T, id string, state domain.DeliveryState) store.DeliveryRow {
	t.Helper()
	var r store.DeliveryRow
	require.Eventually(t, func() bool {
		r = e.row(t, id)
		return r.State == state
	}, 10*time.Second, 5*time.Millisecond, "delivery of %s to become %s", id, state)
	return r
}

// attempts reads slipway_notification_delivery_attempts_total{result}.
func (e *env) attempts(t *testing.T, result string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "slipway_notification_delivery_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// hook is a test webhook: answer decides each request's answer from its
// event id (Idempotency-Key) and how many requests that event had before.
type hook struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string][]time.Time
}

func newHook(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, eventID string, n int)) *hook {
	t.Helper()
	h := &hook{hits: map[string][]time.Time{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		ev := r.Header.Get("Idempotency-Key")
		h.mu.Lock()
		n := len(h.hits[ev])
		h.hits[ev] = append(h.hits[ev], time.Now())
		h.mu.Unlock()
		answer(w, r, ev, n)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) times(eventID string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.hits[eventID]...)
}

func TestAFailingDeliveryIsRetriedWithBackoffUntilDelivered(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		h := newHook(t, func(w http.ResponseWriter, _ *http.Request, _ string, n int) {
			if n < 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		ids := e.queue(t, "evt-1")
		policy := delivery.Policy{MaxAttempts: 5, BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, AttemptTimeout: time.Second}
		e.run(t, h.URL, policy)

		r := e.waitState(t, ids["evt-1"], domain.DeliveryDelivered)
		assert.Equal(t, 3, r.Attempts)
		assert.Empty(t, r.LastError)
		hits := h.times("evt-1")
		require.Len(t, hits, 3, "two failures, then the success, and nothing after")
		// Equal jitter: at least half of 100 ms, then of 200 ms.
		assert.GreaterOrEqual(t, hits[1].Sub(hits[0]), 50*time.Millisecond)
		assert.GreaterOrEqual(t, hits[2].Sub(hits[1]), 100*time.Millisecond, "the backoff doubles")
		assert.Equal(t, float64(1), e.attempts(t, "sent"))
		assert.Equal(t, float64(2), e.attempts(t, "failed"))
		assert.Zero(t, e.attempts(t, "dead"))
	})
}

func TestTheReceiversRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t, platformstore.SQLite)
	h := newHook(t, func(w http.ResponseWriter, _ *http.Request, _ string, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ids := e.queue(t, "evt-1")
	e.run(t, h.URL, fast)
	e.waitState(t, ids["evt-1"], domain.DeliveryDelivered)
	hits := h.times("evt-1")
	require.Len(t, hits, 2)
	assert.GreaterOrEqual(t, hits[1].Sub(hits[0]), 950*time.Millisecond, "waited as asked, not the 20 ms backoff")
}

// TestOneFailingNotificationHoldsBackNoOther: one notification the webhook
// always refuses with 503, one on which it hangs, and ten it accepts. The
// ten are delivered while the two are still being retried, and the failing
// one is dead after exactly MaxAttempts attempts, with its reason.
func TestOneFailingNotificationHoldsBackNoOther(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		h := newHook(t, func(w http.ResponseWriter, r *http.Request, ev string, _ int) {
			switch ev {
			case "evt-failing":
				w.WriteHeader(http.StatusBadGateway)
			case "evt-hanging":
				<-r.Context().Done() // until the sender's attempt timeout
			default:
				w.WriteHeader(http.StatusNoContent)
			}
		})
		events := []string{"evt-failing", "evt-hanging"}
		for i := range 10 {
			events = append(events, fmt.Sprintf("evt-ok-%d", i))
		}
		ids := e.queue(t, events...)
		policy := delivery.Policy{MaxAttempts: 3, BaseBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, AttemptTimeout: 500 * time.Millisecond}
		started := time.Now()
		e.run(t, h.URL, policy, delivery.WithBatchSize(4), delivery.WithConcurrency(4))

		for i := range 10 {
			e.waitState(t, ids[fmt.Sprintf("evt-ok-%d", i)], domain.DeliveryDelivered)
		}
		okAfter := time.Since(started)
		assert.Less(t, okAfter, 2*time.Second, "the good ones did not wait for the bad ones' retries")
		assert.Equal(t, domain.DeliveryPending, e.row(t, ids["evt-failing"]).State, "the failing one is still being retried")

		dead := e.waitState(t, ids["evt-failing"], domain.DeliveryFailed)
		assert.Equal(t, 3, dead.Attempts)
		assert.Contains(t, dead.LastError, "502 Bad Gateway")
		assert.Len(t, h.times("evt-failing"), 3, "exactly MaxAttempts attempts")
		hung := e.waitState(t, ids["evt-hanging"], domain.DeliveryFailed)
		assert.Contains(t, hung.LastError, "deadline exceeded")
		for i := range 10 {
			assert.Len(t, h.times(fmt.Sprintf("evt-ok-%d", i)), 1)
		}
		assert.Equal(t, float64(10), e.attempts(t, "sent"))
		assert.Equal(t, float64(2), e.attempts(t, "dead"))
	})
}

func TestAnUndeliverableNotificationFailsAtOnce(t *testing.T) {
	e := newEnv(t, platformstore.SQLite)
	h := newHook(t, func(w http.ResponseWriter, _ *http.Request, _ string, _ int) { w.WriteHeader(http.StatusGone) })
	ids := e.queue(t, "evt-1")
	e.run(t, h.URL, fast)
	r := e.waitState(t, ids["evt-1"], domain.DeliveryFailed)
	assert.Equal(t, 1, r.Attempts, "retrying cannot fix a 410")
	assert.Contains(t, r.LastError, "410 Gone")
}

// TestARestartLosesNothing stops a worker in the middle of a send; the
// delivery stays queued and a new worker, as after a restart, delivers it.
func TestARestartLosesNothing(t *testing.T) {
	e := newEnv(t, platformstore.SQLite)
	release := make(chan struct{})
	h := newHook(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
		if n == 0 {
			select { // the first attempt hangs until the worker stops
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	defer close(release)
	ids := e.queue(t, "evt-1")

	w, err := delivery.NewWorker(e.store, sender.NewWebhookSender(h.URL, sender.WithTimeout(time.Minute)),
		delivery.Policy{MaxAttempts: 2, BaseBackoff: time.Hour, MaxBackoff: time.Hour, AttemptTimeout: time.Minute},
		e.logger, e.reg, e.tp, delivery.WithPollInterval(5*time.Millisecond))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	require.Eventually(t, func() bool { return len(h.times("evt-1")) == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	r := e.row(t, ids["evt-1"])
	assert.Equal(t, domain.DeliveryPending, r.State, "still queued")
	assert.Contains(t, r.LastError, "interrupted by shutdown")
	assert.False(t, r.NextAttemptAt.After(time.Now()), "due again at once, not after the lease or the 1 h backoff")

	e.run(t, h.URL, fast) // the next start
	r = e.waitState(t, ids["evt-1"], domain.DeliveryDelivered)
	assert.Equal(t, 2, r.Attempts)
}

// TestTheWebhookSecretStaysOutOfLogsSpansAndRows points the worker at a
// closed port through a URL with a secret in its user info, path and query,
// and scans every log line, every span (name, attributes, status, events)
// and the dead letter's reason for it.
func TestTheWebhookSecretStaysOutOfLogsSpansAndRows(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	secrets := []string{"hook-pass-1d4e", "T0SECRET7", "tok3n-beef"}
	url := "http://hook-user:hook-pass-1d4e@" + addr + "/services/T0SECRET7?token=tok3n-beef"

	e := newEnv(t, platformstore.SQLite)
	ids := e.queue(t, "evt-1")
	e.run(t, url, delivery.Policy{MaxAttempts: 2, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, AttemptTimeout: time.Second})
	r := e.waitState(t, ids["evt-1"], domain.DeliveryFailed)
	assert.Contains(t, r.LastError, "connection refused")
	assert.Contains(t, r.LastError, addr, "the endpoint is named")

	// The row is marked before the attempt's span ends and its line is logged.
	require.Eventually(t, func() bool {
		return len(e.spans.Ended()) == 2 && strings.Contains(e.logs.String(), "notification delivery failed for good")
	}, 5*time.Second, 5*time.Millisecond, "a span per attempt, and the dead letter logged")
	ended := e.spans.Ended()
	var traced strings.Builder
	for _, s := range ended {
		fmt.Fprintf(&traced, "%s %v %s %s\n", s.Name(), s.Attributes(), s.Status().Code, s.Status().Description)
		for _, ev := range s.Events() {
			fmt.Fprintf(&traced, "%s %v\n", ev.Name, ev.Attributes)
		}
	}
	assert.Contains(t, traced.String(), "connection refused", "the spans record the error")
	logs := e.logs.String()
	for _, secret := range secrets {
		assert.NotContains(t, logs, secret, "in the logs")
		assert.NotContains(t, traced.String(), secret, "in the spans")
		assert.NotContains(t, r.LastError, secret, "in the dead letter's reason")
	}
}

func TestNewWorkerRefusesABadPolicy(t *testing.T) {
	e := newEnv(t, platformstore.SQLite)
	s := sender.NewWebhookSender("http://127.0.0.1:1")
	for _, p := range []delivery.Policy{
		{MaxAttempts: 0, BaseBackoff: time.Second, MaxBackoff: time.Second, AttemptTimeout: time.Second},
		{MaxAttempts: 1, BaseBackoff: 0, MaxBackoff: time.Second, AttemptTimeout: time.Second},
		{MaxAttempts: 1, BaseBackoff: time.Minute, MaxBackoff: time.Second, AttemptTimeout: time.Second},
		{MaxAttempts: 1, BaseBackoff: time.Second, MaxBackoff: time.Second},
	} {
		_, err := delivery.NewWorker(e.store, s, p, nil, nil, nil)
		assert.ErrorContains(t, err, "bad policy", "%+v", p)
	}
	_, err := delivery.NewWorker(nil, s, fast, nil, nil, nil)
	assert.Error(t, err)
}

// syncBuffer is a bytes.Buffer safe for the worker's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
