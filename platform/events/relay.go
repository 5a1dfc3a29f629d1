package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// tracerName names the instrumentation scope of this package's spans.
const tracerName = "github.com/slipway-dev/slipway/platform/events"

// relayLockKey is the PostgreSQL advisory lock a relay holds for each batch,
// so that with several replicas exactly one publishes at a time and id order
// holds ("relay" in ASCII). Advisory locks are per database.
const relayLockKey int64 = 0x72656c6179

// Relay defaults.
const (
	relayBatchSize      = 100
	relayPollInterval   = 200 * time.Millisecond
	relayPublishTimeout = 5 * time.Second
	relayMinBackoff     = 100 * time.Millisecond
	relayMaxBackoff     = 5 * time.Second
	relayStatsInterval  = time.Second
	relayPruneInterval  = time.Hour
	// relayRetention keeps sent rows for a week for debugging; the stream's
	// duplicate window, not these rows, is what makes a re-publish harmless.
	relayRetention = 7 * 24 * time.Hour
	maxErrorLen    = 1000
)

// errNotConnected fails a publish at once while the connection is away, so
// rows stay pending instead of filling the client's reconnect buffer.
var errNotConnected = errors.New("nats connection is not connected")

// Relay publishes pending outbox rows in id order with Nats-Msg-Id = event
// id, marks a row sent only after the JetStream ack, and never skips a row
// that commits out of id order: each poll reads the lowest unsent ids, not
// ids above the last one sent.
//
// A failed publish is recorded on its row (attempts, last_error) and stops
// the batch, so later rows never overtake it; the relay retries after a
// bounded, jittered exponential backoff. A crash between the ack and the
// mark re-publishes the row on restart, which the stream's duplicate window
// drops. On PostgreSQL each batch runs under an advisory lock, so replicas
// may all run a Relay and only one publishes at a time.
//
// Metrics: slipway_outbox_pending, slipway_outbox_oldest_pending_age_seconds,
// slipway_outbox_published_total and slipway_outbox_publish_errors_total.
// Each publish is a producer span that continues the trace stored by Enqueue.
type Relay struct {
	db     *store.DB
	js     jetstream.JetStream
	logger *slog.Logger
	tracer trace.Tracer
	wake   chan struct{}

	batchSize      int
	pollInterval   time.Duration
	publishTimeout time.Duration
	minBackoff     time.Duration
	maxBackoff     time.Duration
	statsInterval  time.Duration
	pruneInterval  time.Duration
	retention      time.Duration

	pending       prometheus.Gauge
	oldestAge     prometheus.Gauge
	published     prometheus.Counter
	publishErrors prometheus.Counter
}

// NewRelay returns a relay over db's outbox that publishes through js. reg
// (may be nil) receives its metrics and tp (may be nil) its spans.
func NewRelay(db *store.DB, js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer, tp trace.TracerProvider) (*Relay, error) {
	if db == nil || js == nil {
		return nil, errors.New("events: new relay: db and js are required")
	}
	if _, ok := nowSQL[db.Dialect]; !ok {
		return nil, fmt.Errorf("events: new relay: unsupported dialect %q", db.Dialect)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	r := &Relay{
		db:             db,
		js:             js,
		logger:         logger,
		tracer:         tp.Tracer(tracerName),
		wake:           make(chan struct{}, 1),
		batchSize:      relayBatchSize,
		pollInterval:   relayPollInterval,
		publishTimeout: relayPublishTimeout,
		minBackoff:     relayMinBackoff,
		maxBackoff:     relayMaxBackoff,
		statsInterval:  relayStatsInterval,
		pruneInterval:  relayPruneInterval,
		retention:      relayRetention,
	}
	var err error
	if r.pending, err = telemetry.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "slipway_outbox_pending",
		Help: "Outbox events committed but not yet published.",
	})); err != nil {
		return nil, fmt.Errorf("events: new relay: %w", err)
	}
	if r.oldestAge, err = telemetry.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "slipway_outbox_oldest_pending_age_seconds",
		Help: "Age of the oldest unpublished outbox event; 0 when none is pending.",
	})); err != nil {
		return nil, fmt.Errorf("events: new relay: %w", err)
	}
	if r.published, err = telemetry.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "slipway_outbox_published_total",
		Help: "Outbox events published and acknowledged by JetStream.",
	})); err != nil {
		return nil, fmt.Errorf("events: new relay: %w", err)
	}
	if r.publishErrors, err = telemetry.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "slipway_outbox_publish_errors_total",
		Help: "Outbox publish attempts that failed (the event stays pending and is retried).",
	})); err != nil {
		return nil, fmt.Errorf("events: new relay: %w", err)
	}
	return r, nil
}

// Notify wakes the relay to publish at once instead of at its next poll.
// Producers call it after committing a transaction that enqueued events. It
// never blocks; it does not cut short a backoff after a failed publish.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run publishes until ctx is done, then returns nil. It polls every 200 ms
// when idle, at once again after a full batch, and when notified. A publish
// cut short by the stop stays pending for the next start.
func (r *Relay) Run(ctx context.Context) error {
	var (
		failures             int
		nextStats, nextPrune time.Time
	)
	for {
		n, err := r.relayBatch(ctx)
		if stopped(ctx) {
			return nil
		}
		if now := time.Now(); err != nil || !now.Before(nextStats) {
			r.refreshStats(ctx)
			nextStats = now.Add(r.statsInterval)
		}
		if now := time.Now(); !now.Before(nextPrune) {
			r.prune(ctx)
			nextPrune = now.Add(r.pruneInterval)
		}

		if err != nil {
			failures++
			wait := backoff(failures, r.minBackoff, r.maxBackoff)
			r.logger.WarnContext(ctx, "outbox relay: batch failed, retrying",
				"error", err, "failures", failures, "retry_in", wait)
			if !sleep(ctx, wait, nil) {
				return nil
			}
			continue
		}
		if failures > 0 {
			r.logger.InfoContext(ctx, "outbox relay: publishing again", "after_failures", failures)
			failures = 0
		}
		if n >= r.batchSize {
			continue // there is probably more
		}
		if !sleep(ctx, r.pollInterval, r.wake) {
			return nil
		}
	}
}

// querier is what a batch needs from *sql.DB or *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type outboxRow struct {
	id      int64
	eventID string
	subject string
	payload []byte
	headers string
}

// relayBatch publishes up to batchSize pending rows in id order and reports
// how many it handled. It stops at the first failure, which it records on
// the row, so that no later row overtakes it.
func (r *Relay) relayBatch(ctx context.Context) (int, error) {
	var (
		q      querier = r.db
		commit         = func() error { return nil }
	)
	if r.db.Dialect == store.Postgres {
		// The batch's reads and marks run in one transaction holding the
		// advisory lock. SQLite has a single writer process, and holding its
		// write lock across publishes would stall producers, so there each
		// statement commits on its own.
		tx, err := r.db.BeginTx(ctx, nil)
		if err != nil {
			return 0, fmt.Errorf("begin: %w", err)
		}
		defer func() { _ = tx.Rollback() }() // a no-op after Commit
		var leader bool
		if err := tx.QueryRowContext(ctx, "SELECT pg_try_advisory_xact_lock($1)", relayLockKey).Scan(&leader); err != nil {
			return 0, fmt.Errorf("relay lock: %w", err)
		}
		if !leader {
			return 0, nil // another replica is relaying
		}
		q, commit = tx, tx.Commit
	}

	rows, err := loadPending(ctx, q, r.batchSize)
	if err != nil {
		return 0, err
	}
	for i, row := range rows {
		if err := r.publish(ctx, row); err != nil {
			if ctx.Err() != nil {
				return i, ctx.Err()
			}
			r.publishErrors.Inc()
			_, markErr := q.ExecContext(ctx,
				"UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
				row.id, truncate(err.Error(), maxErrorLen))
			if markErr == nil {
				markErr = commit()
			}
			return i, errors.Join(fmt.Errorf("publish event %s to %s: %w", row.eventID, row.subject, err), markErr)
		}
		if _, err := q.ExecContext(ctx,
			"UPDATE outbox SET sent_at = "+nowSQL[r.db.Dialect]+", attempts = attempts + 1 WHERE id = $1",
			row.id); err != nil {
			// Unmarked rows are published again; the duplicate window drops them.
			return i, fmt.Errorf("mark event %s sent: %w", row.eventID, err)
		}
		r.published.Inc()
	}
	if err := commit(); err != nil {
		return 0, fmt.Errorf("commit marks: %w", err)
	}
	return len(rows), nil
}

func loadPending(ctx context.Context, q querier, limit int) ([]outboxRow, error) {
	rows, err := q.QueryContext(ctx,
		"SELECT id, event_id, subject, payload, headers FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("read pending events: %w", err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var row outboxRow
		if err := rows.Scan(&row.id, &row.eventID, &row.subject, &row.payload, &row.headers); err != nil {
			return nil, fmt.Errorf("read pending events: %w", err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read pending events: %w", err)
	}
	return out, nil
}

// publish sends one row and waits for the stream's ack, inside a producer
// span that continues the trace stored with the row.
func (r *Relay) publish(ctx context.Context, row outboxRow) error {
	stored := propagation.MapCarrier{}
	if err := json.Unmarshal([]byte(row.headers), &stored); err != nil {
		// Publishing without the stored headers beats blocking the outbox.
		r.logger.WarnContext(ctx, "outbox relay: unreadable headers, publishing without them",
			"event_id", row.eventID, "error", err)
		stored = propagation.MapCarrier{}
	}
	ctx = traceContext.Extract(ctx, stored)
	ctx, span := r.tracer.Start(ctx, row.subject+" publish",
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String("nats"),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("publish"),
			semconv.MessagingDestinationName(row.subject),
			semconv.MessagingMessageID(row.eventID),
			semconv.MessagingMessageBodySize(len(row.payload)),
		))
	defer span.End()

	msg := nats.NewMsg(row.subject)
	for k, v := range stored {
		msg.Header.Set(k, v)
	}
	// The consumer's span becomes a child of this one.
	for _, k := range traceContext.Fields() {
		msg.Header.Del(k)
	}
	traceContext.Inject(ctx, headerCarrier(msg.Header))
	msg.Header.Set(jetstream.MsgIDHeader, row.eventID)
	msg.Data = row.payload

	err := errNotConnected
	if r.js.Conn().IsConnected() {
		pctx, cancel := context.WithTimeout(ctx, r.publishTimeout)
		var ack *jetstream.PubAck
		ack, err = r.js.PublishMsg(pctx, msg)
		cancel()
		if err == nil {
			span.SetAttributes(
				attribute.String("messaging.nats.stream", ack.Stream),
				attribute.Int64("messaging.nats.stream_sequence", int64(ack.Sequence)), //nolint:gosec // sequences fit in int64
				attribute.Bool("messaging.nats.duplicate", ack.Duplicate))
			return nil
		}
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	return err
}

var statsSQL = map[store.Dialect]string{
	store.Postgres: `SELECT count(*), COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)), 0)::float8
		FROM outbox WHERE sent_at IS NULL`,
	store.SQLite: `SELECT count(*), COALESCE((julianday('now') - julianday(min(created_at))) * 86400.0, 0.0)
		FROM outbox WHERE sent_at IS NULL`,
}

// refreshStats updates the pending gauges. A failed read keeps the last values.
func (r *Relay) refreshStats(ctx context.Context) {
	var (
		n   int64
		age float64
	)
	if err := r.db.QueryRowContext(ctx, statsSQL[r.db.Dialect]).Scan(&n, &age); err != nil {
		r.logger.DebugContext(ctx, "outbox relay: read pending stats", "error", err)
		return
	}
	r.pending.Set(float64(n))
	r.oldestAge.Set(max(age, 0))
}

var pruneSQL = map[store.Dialect]string{
	store.Postgres: "DELETE FROM outbox WHERE sent_at < clock_timestamp() - make_interval(secs => $1)",
	store.SQLite:   "DELETE FROM outbox WHERE sent_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $1)",
}

// prune deletes rows sent longer than the retention ago.
func (r *Relay) prune(ctx context.Context) {
	var arg any = r.retention.Seconds()
	if r.db.Dialect == store.SQLite {
		arg = "-" + strconv.FormatFloat(r.retention.Seconds(), 'f', 3, 64) + " seconds"
	}
	res, err := r.db.ExecContext(ctx, pruneSQL[r.db.Dialect], arg)
	if err != nil {
		r.logger.WarnContext(ctx, "outbox relay: prune sent events", "error", err)
		return
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		r.logger.DebugContext(ctx, "outbox relay: pruned sent events", "rows", n)
	}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
