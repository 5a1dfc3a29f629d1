package events

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"buf.build/go/protovalidate"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// Consumer defaults and tuning.
const (
	defaultMaxDeliver   = 5
	defaultAckWait      = 30 * time.Second
	defaultRetryDelay   = time.Second
	maxRetryDelay       = time.Minute
	deadLetterPrefix    = "slipway.deadletter."
	consumerLagInterval = 5 * time.Second
	// consumerPullMax bounds the messages buffered in the client. Their ack
	// timers run while they wait, so the buffer must drain within AckWait.
	consumerPullMax     = 32
	consumerMinBackoff  = 100 * time.Millisecond
	consumerMaxBackoff  = 5 * time.Second
	deadLetterTimeout   = 5 * time.Second
	maxDeadLetterReason = 1000
	// deadLetterHeadroom is how many deliveries past MaxDeliver the server
	// allows, so that a failed dead-letter publish is retried (about 20
	// minutes at the longest retry delay).
	deadLetterHeadroom = 20
)

// Message is one delivered event. ID is the event id (the Nats-Msg-Id the
// relay set; for a message published without one, "<stream>:<sequence>"),
// Delivery counts deliveries of this message to the consumer, from 1.
type Message struct {
	ID, Subject string
	Data        []byte
	Header      nats.Header
	Delivery    uint64
}

// Decode unmarshals the protobuf payload into dst. It fails when the
// message's Slipway-Event-Type names another message type.
func (m Message) Decode(dst proto.Message) error {
	want := string(proto.MessageName(dst))
	if got := m.Header.Get(HeaderEventType); got != "" && got != want {
		return fmt.Errorf("events: decode event %s: it is a %s, not a %s", m.ID, got, want)
	}
	if err := proto.Unmarshal(m.Data, dst); err != nil {
		return fmt.Errorf("events: decode event %s as %s: %w", m.ID, want, err)
	}
	return nil
}

// Handler applies one event inside tx, the transaction that also records the
// event in the inbox: it must make its changes through tx, so that they
// commit together with that record or not at all. An error rolls both back
// and the message is delivered again later. ctx carries the consumer span (a
// child of the producer's trace) and ends at the consumer's AckWait.
type Handler func(ctx context.Context, tx *sql.Tx, m Message) error

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	// Stream is the JetStream stream to consume; Durable the consumer's
	// durable name, shared by every replica of the service and used as the
	// inbox's consumer key.
	Stream, Durable string
	// Subjects filters the stream (all of its subjects when empty). More
	// than one subject needs nats-server 2.10 or later.
	Subjects []string
	// MaxDeliver is how many deliveries may fail before the message is
	// dead-lettered. Default 5.
	MaxDeliver int
	// AckWait is how long a delivery may take before JetStream delivers the
	// message again; the handler's ctx ends then. Default 30s.
	AckWait time.Duration
	// DeadLetterSubject receives messages given up on. Default
	// "slipway.deadletter." + Durable; a stream must capture it.
	DeadLetterSubject string
	// RetryDelay is the delay before a message whose handler failed is
	// delivered again; it doubles with each delivery, up to a minute.
	// Default 1s. (Not in the platform contract: an addition.)
	RetryDelay time.Duration
	// Schemas, when set, is the message type each subject carries. A
	// message on a subject not in it, without that type in its
	// Slipway-Event-Type and Content-Type headers, whose payload does not
	// decode as that type, or that breaks the type's protovalidate rules, is
	// rejected: dead-lettered at once with the reason, never handed to the
	// handler, and not recorded in the inbox.
	Schemas map[string]proto.Message
	// ProducerKeys, when set, turns on the authentication check: a message
	// must carry a valid Ed25519 signature (Slipway-Signature) of the one
	// producer Producers names for its subject, made with one of that
	// producer's keys; else it is rejected like a schema failure.
	ProducerKeys map[string][]ed25519.PublicKey
	// Producers names the one producer of each subject (required with
	// ProducerKeys; a subject not in it is rejected).
	Producers map[string]string
	// MaxEventAge is the oldest signed event the authentication check
	// accepts (by its Slipway-Signed-At); an older one is rejected, so a
	// captured event cannot be replayed once the inbox has pruned its id.
	// Default MaxEventAge(DefaultInboxRetention); set it from the inbox
	// retention the consumer prunes with.
	MaxEventAge time.Duration
}

// Consumer runs a Handler for each message of a durable JetStream pull
// consumer, exactly once in effect: the handler's transaction also inserts
// (consumer, event id) into the inbox table, so a redelivered event finds its
// row, skips the handler and is acknowledged. A message is acknowledged only
// after its transaction commits. A failed handler rolls back and the message
// is negatively acknowledged with a growing delay; when delivery MaxDeliver
// fails too, the message, its headers and the reason are published to
// DeadLetterSubject and the message is terminated. A message that fails the
// authentication or schema check (ConsumerConfig.ProducerKeys, Schemas) is
// dead-lettered at once, without retries, and never reaches the handler.
//
// Metrics: slipway_consumer_processed_total{consumer,result=ok|duplicate|error|dead_lettered|rejected},
// slipway_consumer_redeliveries_total{consumer}, slipway_inbox_pruned_total{consumer}
// and slipway_consumer_lag{consumer} (messages not yet acknowledged: pending
// plus in flight, refreshed every 5 s).
type Consumer struct {
	db     *store.DB
	js     jetstream.JetStream
	cfg    ConsumerConfig
	h      Handler
	logger *slog.Logger
	tracer trace.Tracer

	lagInterval   time.Duration
	minBackoff    time.Duration
	maxBackoff    time.Duration
	pruneInterval time.Duration
	pruneBatch    int

	validator protovalidate.Validator
	now       func() time.Time

	ok, duplicate, failed, deadLettered, rejected prometheus.Counter
	lag                                           prometheus.Gauge
	redelivered                                   prometheus.Counter
	inboxPruned                                   prometheus.Counter
}

// NewConsumer checks cfg, fills its defaults and returns a consumer; Run
// creates or updates the durable consumer on the server. reg (may be nil)
// receives its metrics and tp (may be nil) its spans.
func NewConsumer(db *store.DB, js jetstream.JetStream, cfg ConsumerConfig, h Handler, logger *slog.Logger, reg prometheus.Registerer, tp trace.TracerProvider) (*Consumer, error) {
	if db == nil || js == nil || h == nil {
		return nil, errors.New("events: new consumer: db, js and handler are required")
	}
	if cfg.Stream == "" || cfg.Durable == "" {
		return nil, errors.New("events: new consumer: stream and durable name are required")
	}
	if strings.ContainsAny(cfg.Durable, ".*> \t\r\n/\\") {
		return nil, fmt.Errorf("events: new consumer: durable name %q may not contain '.', '*', '>', '/', '\\' or spaces", cfg.Durable)
	}
	if cfg.ProducerKeys != nil && len(cfg.Producers) == 0 {
		return nil, fmt.Errorf("events: new consumer %s: ProducerKeys need Producers, the producer of each subject", cfg.Durable)
	}
	if cfg.MaxDeliver < 0 || cfg.AckWait < 0 || cfg.RetryDelay < 0 {
		return nil, fmt.Errorf("events: new consumer %s: MaxDeliver, AckWait and RetryDelay may not be negative", cfg.Durable)
	}
	if cfg.MaxDeliver == 0 {
		cfg.MaxDeliver = defaultMaxDeliver
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = defaultAckWait
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = defaultRetryDelay
	}
	if cfg.MaxEventAge <= 0 {
		cfg.MaxEventAge = MaxEventAge(DefaultInboxRetention)
	}
	if cfg.DeadLetterSubject == "" {
		cfg.DeadLetterSubject = deadLetterPrefix + cfg.Durable
	}
	cfg.Subjects = append([]string(nil), cfg.Subjects...)
	var validator protovalidate.Validator
	if cfg.Schemas != nil {
		// protovalidate's process-wide validator: each validator builds a
		// CEL environment over every linked proto file (milliseconds of
		// start and megabytes of heap), so the consumers share one, built
		// when the first event is checked, with anything else that uses it.
		validator = protovalidate.GlobalValidator
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if tp == nil {
		tp = noop.NewTracerProvider()
	}

	processed, err := telemetry.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_consumer_processed_total",
		Help: "Messages a consumer finished, by result: ok, duplicate (already in the inbox), error (will be redelivered), dead_lettered, rejected (failed the schema or authentication check; dead-lettered at once).",
	}, []string{"consumer", "result"}))
	if err != nil {
		return nil, fmt.Errorf("events: new consumer %s: %w", cfg.Durable, err)
	}
	lag, err := telemetry.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slipway_consumer_lag",
		Help: "Messages the consumer has not acknowledged yet: pending on the stream plus delivered and in flight.",
	}, []string{"consumer"}))
	if err != nil {
		return nil, fmt.Errorf("events: new consumer %s: %w", cfg.Durable, err)
	}
	redeliveries, err := telemetry.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_consumer_redeliveries_total",
		Help: "Messages delivered to the consumer again (after a failure, an ack timeout or a consumer reset).",
	}, []string{"consumer"}))
	if err != nil {
		return nil, fmt.Errorf("events: new consumer %s: %w", cfg.Durable, err)
	}
	pruned, err := telemetry.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_inbox_pruned_total",
		Help: "Inbox rows deleted because they were older than the inbox retention.",
	}, []string{"consumer"}))
	if err != nil {
		return nil, fmt.Errorf("events: new consumer %s: %w", cfg.Durable, err)
	}
	return &Consumer{
		validator:     validator,
		now:           time.Now,
		rejected:      processed.WithLabelValues(cfg.Durable, "rejected"),
		inboxPruned:   pruned.WithLabelValues(cfg.Durable),
		redelivered:   redeliveries.WithLabelValues(cfg.Durable),
		db:            db,
		js:            js,
		cfg:           cfg,
		h:             h,
		logger:        logger.With("consumer", cfg.Durable),
		tracer:        tp.Tracer(tracerName),
		lagInterval:   consumerLagInterval,
		pruneInterval: inboxPruneInterval,
		pruneBatch:    inboxPruneBatch,
		minBackoff:    consumerMinBackoff,
		maxBackoff:    consumerMaxBackoff,
		ok:            processed.WithLabelValues(cfg.Durable, "ok"),
		duplicate:     processed.WithLabelValues(cfg.Durable, "duplicate"),
		failed:        processed.WithLabelValues(cfg.Durable, "error"),
		deadLettered:  processed.WithLabelValues(cfg.Durable, "dead_lettered"),
		lag:           lag.WithLabelValues(cfg.Durable),
	}, nil
}

// Run creates or updates the durable consumer and processes messages one at
// a time until ctx is done, then returns nil. The message in hand when ctx
// ends is finished first (bounded by AckWait). When the server is
// unreachable, or the consumer is deleted under it, Run recreates the
// consumer after a backoff instead of returning.
func (c *Consumer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	lagCtx, stopLag := context.WithCancel(ctx)
	wg.Go(func() { c.watchLag(lagCtx) })
	defer func() {
		stopLag()
		wg.Wait()
	}()

	for failures := 0; ; {
		started := time.Now()
		cons, err := c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, c.serverConfig())
		if err == nil {
			err = c.consume(ctx, cons)
		}
		if stopped(ctx) {
			return nil
		}
		if time.Since(started) > c.maxBackoff {
			failures = 0 // it ran for a while: this is a new failure, not a repeat
		}
		failures++
		wait := backoff(failures, c.minBackoff, c.maxBackoff)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			// Its owner (the producer) creates it; the consumer may start first.
			c.logger.InfoContext(ctx, "events consumer waiting for its stream to be created by its owner",
				"stream", c.cfg.Stream, "retry_in", wait)
		} else {
			c.logger.WarnContext(ctx, "events consumer stopped, restarting",
				"stream", c.cfg.Stream, "error", err, "retry_in", wait)
		}
		if !sleep(ctx, wait, nil) {
			return nil
		}
	}
}

// serverConfig is the durable consumer's JetStream configuration.
//
// The server may deliver deadLetterHeadroom more times than MaxDeliver: the
// consumer counts deliveries itself and dead-letters after the MaxDeliver-th
// failure, and the extra deliveries give a failed dead-letter publish, or a
// last delivery that timed out, more chances instead of stranding the message
// unacknowledged at once.
//
// Redeliveries back off through NakWithDelay (RetryDelay, doubling), not
// through the consumer's BackOff list: nats-server measures a Nak delay from
// AckWait but expires it against BackOff[n], so a growing BackOff would
// stretch every Nak delay by BackOff[n] - AckWait (a 40 ms retry became 2 s
// in our tests). A delivery that times out is redelivered after AckWait.
func (c *Consumer) serverConfig() jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		Description:   "slipway events consumer",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		MaxDeliver:    c.cfg.MaxDeliver + deadLetterHeadroom,
	}
	// A single filter uses the field that servers before 2.10 understand.
	if len(c.cfg.Subjects) == 1 {
		cc.FilterSubject = c.cfg.Subjects[0]
	} else {
		cc.FilterSubjects = c.cfg.Subjects
	}
	return cc
}

func (c *Consumer) consume(ctx context.Context, cons jetstream.Consumer) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(consumerPullMax))
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("next message: %w", err)
		}
		c.handle(ctx, msg)
	}
}

// handle processes one message and settles it: Ack, Nak with delay, or
// dead-letter and Term.
func (c *Consumer) handle(ctx context.Context, jm jetstream.Msg) {
	md, err := jm.Metadata()
	if err != nil {
		// Only a message from outside JetStream lacks metadata.
		c.logger.ErrorContext(ctx, "events consumer: message without metadata", "subject", jm.Subject(), "error", err)
		return
	}
	hdr := jm.Headers()
	if hdr == nil {
		hdr = nats.Header{}
	}
	m := Message{
		ID:       hdr.Get(jetstream.MsgIDHeader),
		Subject:  jm.Subject(),
		Data:     jm.Data(),
		Header:   hdr,
		Delivery: md.NumDelivered,
	}
	if m.Delivery > 1 {
		c.redelivered.Inc()
	}
	if m.ID == "" {
		m.ID = fmt.Sprintf("%s:%d", md.Stream, md.Sequence.Stream)
	}

	// The message is finished even when Run is stopping; AckWait bounds it.
	ctx = traceContext.Extract(context.WithoutCancel(ctx), headerCarrier(hdr))
	ctx, span := c.tracer.Start(ctx, m.Subject+" process",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String("nats"),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(m.Subject),
			semconv.MessagingConsumerGroupName(c.cfg.Durable),
			semconv.MessagingMessageID(m.ID),
			semconv.MessagingMessageBodySize(len(m.Data)),
			attribute.Int64("messaging.nats.num_delivered", int64(md.NumDelivered)), //nolint:gosec // delivery counts fit in int64
		))
	defer span.End()
	if err := c.check(m); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		c.reject(ctx, jm, m, err)
		return
	}
	hctx, cancel := context.WithTimeout(ctx, c.cfg.AckWait)
	defer cancel()

	duplicate, handlerErr, err := c.process(hctx, m)
	// An error may quote a URL that carries a credential (a webhook's, in a
	// *url.Error): masked before the span, the logs and the dead letter.
	handlerErr, err = redact.Error(handlerErr), redact.Error(err)
	switch {
	case err == nil:
		if err := jm.Ack(); err != nil {
			// It comes back and finds its inbox row.
			c.logger.WarnContext(ctx, "events consumer: ack failed", "event_id", m.ID, "error", err)
		}
		span.SetAttributes(attribute.Bool("slipway.event.duplicate", duplicate))
		if duplicate {
			c.duplicate.Inc()
			c.logger.DebugContext(ctx, "events consumer: duplicate event acknowledged", "event_id", m.ID, "subject", m.Subject)
		} else {
			c.ok.Inc()
		}
	case handlerErr != nil:
		span.RecordError(handlerErr)
		span.SetStatus(codes.Error, handlerErr.Error())
		c.handlerFailed(ctx, jm, m, handlerErr)
	default: // the inbox or the transaction failed, not the handler
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		c.retry(ctx, jm, m, err)
	}
}

// process runs the handler in a transaction with the inbox insert. It
// reports a duplicate when the inbox already has the event, and the
// handler's own error apart from failures of the inbox or the commit.
func (c *Consumer) process(ctx context.Context, m Message) (duplicate bool, handlerErr, err error) {
	err = c.db.InTx(ctx, func(tx *sql.Tx) error {
		duplicate, handlerErr = false, nil // InTx may run this again
		// A concurrent delivery of the same event waits here on the key until
		// the first transaction ends, then inserts nothing.
		res, err := tx.ExecContext(ctx,
			"INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
			c.cfg.Durable, m.ID)
		if err != nil {
			return fmt.Errorf("record event %s in inbox: %w", m.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("record event %s in inbox: %w", m.ID, err)
		}
		if n == 0 {
			duplicate = true
			return nil
		}
		handlerErr = c.callHandler(ctx, tx, m)
		return handlerErr
	})
	return duplicate, handlerErr, err
}

// callHandler turns a handler panic into an error, so that one bad message
// cannot take the process down; the message is retried and dead-lettered.
func (c *Consumer) callHandler(ctx context.Context, tx *sql.Tx, m Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.logger.ErrorContext(ctx, "events consumer: handler panicked",
				"event_id", m.ID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return c.h(ctx, tx, m)
}

// handlerFailed retries the message, or dead-letters it when this was its
// MaxDeliver-th delivery.
func (c *Consumer) handlerFailed(ctx context.Context, jm jetstream.Msg, m Message, cause error) {
	if m.Delivery < uint64(c.cfg.MaxDeliver) {
		c.retry(ctx, jm, m, cause)
		return
	}
	if err := c.deadLetter(ctx, m, cause); err != nil {
		c.logger.ErrorContext(ctx, "events consumer: dead-lettering failed, will retry",
			"event_id", m.ID, "dead_letter_subject", c.cfg.DeadLetterSubject, "error", err)
		c.retry(ctx, jm, m, fmt.Errorf("%w (dead-lettering failed: %w)", cause, err))
		return
	}
	if err := jm.Term(); err != nil {
		// Redelivered, it fails again and is dead-lettered again under the
		// same Nats-Msg-Id, which the dead-letter stream drops.
		c.logger.WarnContext(ctx, "events consumer: term after dead-lettering failed", "event_id", m.ID, "error", err)
	}
	c.deadLettered.Inc()
	c.logger.ErrorContext(ctx, "events consumer: event dead-lettered",
		"event_id", m.ID, "subject", m.Subject, "deliveries", m.Delivery,
		"dead_letter_subject", c.cfg.DeadLetterSubject, "error", cause)
}

// retry asks JetStream to deliver the message again after a delay that
// grows with its deliveries.
func (c *Consumer) retry(ctx context.Context, jm jetstream.Msg, m Message, cause error) {
	c.failed.Inc()
	delay := c.retryDelay(m.Delivery)
	c.logger.WarnContext(ctx, "events consumer: event failed, will retry",
		"event_id", m.ID, "subject", m.Subject, "delivery", m.Delivery,
		"max_deliver", c.cfg.MaxDeliver, "retry_in", delay, "error", cause)
	if err := jm.NakWithDelay(delay); err != nil {
		// Without the nak it comes back after its ack deadline instead.
		c.logger.WarnContext(ctx, "events consumer: nak failed", "event_id", m.ID, "error", err)
	}
}

func (c *Consumer) retryDelay(delivery uint64) time.Duration {
	limit := max(maxRetryDelay, c.cfg.RetryDelay)
	d := c.cfg.RetryDelay
	for i := uint64(1); i < delivery && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// deadLetter publishes the message, with its original headers, to the
// dead-letter subject and waits for the stream's ack.
func (c *Consumer) deadLetter(ctx context.Context, m Message, cause error) error {
	return c.publishDeadLetter(ctx, m, fmt.Sprintf(
		"consumer %s gave up after %d deliveries: %v", c.cfg.Durable, m.Delivery, cause), nil)
}

// publishDeadLetter publishes m to the dead-letter subject with reason and
// the extra headers, and waits for the stream's ack.
func (c *Consumer) publishDeadLetter(ctx context.Context, m Message, reason string, extra nats.Header) error {
	dl := nats.NewMsg(c.cfg.DeadLetterSubject)
	for k, v := range m.Header {
		if strings.HasPrefix(k, "Nats-Expected") {
			continue // would make the publish fail against the dead-letter stream
		}
		dl.Header[k] = append([]string(nil), v...)
	}
	dl.Header.Set(jetstream.MsgIDHeader, c.cfg.Durable+":"+m.ID)
	dl.Header.Set(HeaderEventID, m.ID)
	dl.Header.Set(HeaderOriginalSubject, m.Subject)
	dl.Header.Set(HeaderDeadLetterReason, headerValue(reason, maxDeadLetterReason))
	for k, v := range extra {
		dl.Header[k] = v
	}
	dl.Data = m.Data

	pctx, cancel := context.WithTimeout(ctx, deadLetterTimeout)
	defer cancel()
	if _, err := c.js.PublishMsg(pctx, dl); err != nil {
		return fmt.Errorf("publish to %s: %w", c.cfg.DeadLetterSubject, err)
	}
	return nil
}

// headerValue makes s a valid, bounded NATS header value (no line breaks).
func headerValue(s string, n int) string {
	s = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s)
	return truncate(s, n)
}

// watchLag refreshes the lag gauge from the consumer's info until ctx ends.
func (c *Consumer) watchLag(ctx context.Context) {
	for {
		if cons, err := c.js.Consumer(ctx, c.cfg.Stream, c.cfg.Durable); err == nil {
			info := cons.CachedInfo()
			c.lag.Set(float64(info.NumPending) + float64(info.NumAckPending))
		} else if ctx.Err() == nil {
			c.logger.DebugContext(ctx, "events consumer: read consumer info", "error", err)
		}
		if !sleep(ctx, c.lagInterval, nil) {
			return
		}
	}
}
