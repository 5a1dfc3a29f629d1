// Package delivery drains the notification delivery queue: it sends each
// due notification through the external channel (a domain.Sender) and
// gives each one its own retry schedule, with exponential backoff and
// jitter, until it is delivered or, after its last attempt, failed: a dead
// letter kept with its redacted reason. One notification that keeps failing,
// or a receiver that hangs, holds back no other: claims are per row, sends
// run side by side and each has a timeout.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
)

// tracerName names the instrumentation scope of the worker's spans.
const tracerName = "github.com/slipway-dev/slipway/services/notification/internal/delivery"

// Worker defaults.
const (
	defaultBatchSize    = 32
	defaultConcurrency  = 8
	defaultPollInterval = 500 * time.Millisecond
	statsInterval       = 2 * time.Second
	// leaseMargin is added to the time a batch's sends may take, so a claim
	// outlives its slowest send and its mark.
	leaseMargin = 10 * time.Second
	// markTimeout bounds recording an attempt's outcome, which runs even
	// while the worker stops.
	markTimeout    = 5 * time.Second
	maxPollBackoff = 10 * time.Second
)

// Policy is how a delivery is retried.
type Policy struct {
	// MaxAttempts is how many attempts a delivery gets before it fails.
	MaxAttempts int
	// BaseBackoff is the wait before the second attempt, doubled for each
	// further one up to MaxBackoff, with equal jitter (half fixed, half
	// random) so that many retries of one receiver spread out.
	BaseBackoff, MaxBackoff time.Duration
	// AttemptTimeout is the longest one send may take; claims are leased
	// for the sends of a batch to end.
	AttemptTimeout time.Duration
}

// Worker sends the due deliveries of a domain.DeliveryQueue.
//
// Metrics: slipway_notification_deliveries_pending and
// slipway_notification_deliveries_dead (rows in those states, refreshed every
// 2 s), and slipway_notification_delivery_attempts_total{result="sent|failed|dead"}:
// an attempt that delivered, one that failed and will be retried, one
// after which the delivery is given up.
type Worker struct {
	queue  domain.DeliveryQueue
	sender domain.Sender
	policy Policy
	logger *slog.Logger
	tracer trace.Tracer

	batchSize    int
	concurrency  int
	pollInterval time.Duration
	lease        time.Duration

	pending  prometheus.Gauge
	dead     prometheus.Gauge
	attempts *prometheus.CounterVec
}

// Option configures a Worker.
type Option func(*Worker)

// WithBatchSize sets how many deliveries one claim takes; default 32.
func WithBatchSize(n int) Option { return func(w *Worker) { w.batchSize = n } }

// WithConcurrency sets how many sends run at once; default 8.
func WithConcurrency(n int) Option { return func(w *Worker) { w.concurrency = n } }

// WithPollInterval sets how often an idle worker looks for due deliveries;
// default 500 ms.
func WithPollInterval(d time.Duration) Option { return func(w *Worker) { w.pollInterval = d } }

// WithLease sets how long a claim hides its deliveries from other claims;
// by default the time the batch's sends may take plus 10 s.
func WithLease(d time.Duration) Option { return func(w *Worker) { w.lease = d } }

// NewWorker returns a worker over queue that sends through sender. reg
// (may be nil) receives its metrics and tp (may be nil) its spans.
func NewWorker(queue domain.DeliveryQueue, sender domain.Sender, policy Policy,
	logger *slog.Logger, reg prometheus.Registerer, tp trace.TracerProvider, opts ...Option,
) (*Worker, error) {
	if queue == nil || sender == nil {
		return nil, errors.New("delivery: new worker: queue and sender are required")
	}
	if policy.MaxAttempts < 1 || policy.BaseBackoff <= 0 || policy.MaxBackoff < policy.BaseBackoff || policy.AttemptTimeout <= 0 {
		return nil, fmt.Errorf("delivery: new worker: bad policy %+v", policy)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	w := &Worker{
		queue: queue, sender: sender, policy: policy, logger: logger, tracer: tp.Tracer(tracerName),
		batchSize: defaultBatchSize, concurrency: defaultConcurrency, pollInterval: defaultPollInterval,
	}
	for _, opt := range opts {
		opt(w)
	}
	w.batchSize, w.concurrency = max(w.batchSize, 1), max(w.concurrency, 1)
	if w.lease <= 0 {
		rounds := (w.batchSize + w.concurrency - 1) / w.concurrency
		w.lease = time.Duration(rounds)*policy.AttemptTimeout + leaseMargin
	}
	var err error
	if w.pending, err = telemetry.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "slipway_notification_deliveries_pending",
		Help: "Notification deliveries waiting for their first attempt or a retry.",
	})); err != nil {
		return nil, fmt.Errorf("delivery: new worker: %w", err)
	}
	if w.dead, err = telemetry.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "slipway_notification_deliveries_dead",
		Help: "Notification deliveries given up on (dead letters), kept with their reason.",
	})); err != nil {
		return nil, fmt.Errorf("delivery: new worker: %w", err)
	}
	if w.attempts, err = telemetry.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_notification_delivery_attempts_total",
		Help: "Notification delivery attempts by result: sent, failed (retried later) or dead (given up).",
	}, []string{"result"})); err != nil {
		return nil, fmt.Errorf("delivery: new worker: %w", err)
	}
	for _, r := range []string{"sent", "failed", "dead"} {
		w.attempts.WithLabelValues(r)
	}
	return w, nil
}

// Run delivers until ctx ends, then returns nil: at once again after a
// full batch, else every poll interval. A failed claim (the database is
// away) is retried after a backoff; the queue is in the database, so a
// restart loses nothing. A nil Worker (no external channel) returns at once.
func (w *Worker) Run(ctx context.Context) error {
	if w == nil {
		return nil
	}
	var (
		failures  int
		nextStats time.Time
	)
	for {
		n, err := w.DeliverDue(ctx)
		if ctx.Err() != nil {
			// Stopping, not failing: err is at most the claim the stop cut
			// short, and deliver marked each send it interrupted due again.
			return nil //nolint:nilerr // Run returns nil once ctx ends, as its doc says
		}
		if now := time.Now(); !now.Before(nextStats) {
			w.refreshStats(ctx)
			nextStats = now.Add(statsInterval)
		}
		wait := w.pollInterval
		switch {
		case err != nil:
			failures++
			wait = backoff(failures, w.pollInterval, maxPollBackoff)
			w.logger.WarnContext(ctx, "notification delivery: claim failed, retrying",
				"error", redact.Error(err), "failures", failures, "retry_in", wait)
		case n >= w.batchSize:
			failures = 0
			continue // there is probably more
		default:
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// DeliverDue claims the due deliveries, up to a batch, sends them side by
// side and records each outcome; it returns how many it claimed.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	now := time.Now()
	claimed, err := w.queue.ClaimDue(ctx, now, now.Add(w.lease), w.batchSize)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, w.concurrency)
	var wg sync.WaitGroup
	for _, d := range claimed {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			w.deliver(ctx, d)
		})
	}
	wg.Wait()
	return len(claimed), nil
}

// deliver makes one attempt at d inside a span that continues the event's
// trace, and records its outcome. Errors are redacted before they reach
// the span, the log or the row: the webhook URL carries a credential.
func (w *Worker) deliver(ctx context.Context, d domain.Delivery) {
	n := d.Notification
	sctx := propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier(d.TraceContext))
	sctx, span := w.tracer.Start(sctx, "notification deliver",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("slipway.notification.id", n.ID),
			attribute.String("slipway.event.id", n.EventID),
			attribute.Int("slipway.delivery.attempt", d.Attempt),
		))
	defer span.End()
	sendErr := w.sender.Send(sctx, n)

	// The outcome is recorded even when the worker is stopping.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	logger := w.logger.With("notification_id", n.ID, "event_id", n.EventID, "attempt", d.Attempt)
	now := time.Now()
	if sendErr == nil {
		w.attempts.WithLabelValues("sent").Inc()
		w.record(mctx, logger, w.queue.MarkDelivered(mctx, d, now))
		logger.InfoContext(sctx, "notification delivered")
		return
	}
	reason := redact.Error(sendErr)
	span.RecordError(reason)
	span.SetStatus(codes.Error, reason.Error())
	if ctx.Err() != nil {
		// Cut short by the stop: due again at once, for the next start.
		w.record(mctx, logger, w.queue.MarkRetry(mctx, d, now, "interrupted by shutdown: "+reason.Error()))
		return
	}
	if errors.Is(sendErr, domain.ErrUndeliverable) || d.Attempt >= w.policy.MaxAttempts {
		w.attempts.WithLabelValues("dead").Inc()
		w.record(mctx, logger, w.queue.MarkFailed(mctx, d, now, reason.Error()))
		logger.ErrorContext(sctx, "notification delivery failed for good", "error", reason)
		return
	}
	wait := backoff(d.Attempt, w.policy.BaseBackoff, w.policy.MaxBackoff)
	var asked interface{ RetryAfter() time.Duration }
	if errors.As(sendErr, &asked) && asked.RetryAfter() > wait {
		wait = asked.RetryAfter()
	}
	w.attempts.WithLabelValues("failed").Inc()
	w.record(mctx, logger, w.queue.MarkRetry(mctx, d, now.Add(wait), reason.Error()))
	logger.WarnContext(sctx, "notification delivery failed, retrying", "error", reason, "retry_in", wait)
}

// record logs a failure to record an attempt's outcome. The claim's lease
// then ends and the delivery is attempted again: at least once.
func (w *Worker) record(ctx context.Context, logger *slog.Logger, err error) {
	if err != nil {
		logger.WarnContext(ctx, "notification delivery: record the attempt", "error", redact.Error(err))
	}
}

// refreshStats updates the gauges; a failed read keeps the last values.
func (w *Worker) refreshStats(ctx context.Context) {
	pending, dead, err := w.queue.Counts(ctx)
	if err != nil {
		w.logger.DebugContext(ctx, "notification delivery: count deliveries", "error", redact.Error(err))
		return
	}
	w.pending.Set(float64(pending))
	w.dead.Set(float64(dead))
}

// backoff is the wait after the attempt-th failure: base doubled per
// failure, capped, with equal jitter.
func backoff(attempt int, base, maxWait time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2) //nolint:gosec // retry jitter needs no cryptographic randomness
}
