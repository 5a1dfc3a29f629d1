package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracerName names the instrumentation scope of this package's spans.
const tracerName = "github.com/slipway-dev/slipway/platform/events/kafka"

// Consumer defaults.
const (
	defaultMaxAttempts    = 5
	defaultRetryDelay     = 100 * time.Millisecond
	maxRetryDelay         = 2 * time.Second
	defaultHandlerTimeout = 30 * time.Second
	defaultMaxPoll        = 100
	commitTimeout         = 10 * time.Second
	deadLetterTimeout     = 5 * time.Second
	pollErrorBackoff      = 250 * time.Millisecond
	maxReasonLen          = 1000
)

// Message is one record handed to a Handler. Attempt counts this consumer's
// attempts at it, from 1; a record redelivered after a crash or a rebalance
// starts at 1 again (the inbox, not the attempt, tells a repeat).
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Value     []byte
	Header    Header
	Attempt   int
}

// Handler applies one record. In the event port it runs the inbox
// transaction; a nil return means that transaction committed, and only then
// is the record's offset committed. ctx carries the consumer span, a child of
// the producer's trace, and ends after ConsumerConfig.HandlerTimeout.
type Handler func(ctx context.Context, m Message) error

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	ClientConfig
	// Group is the consumer group, shared by every replica of the service.
	Group string
	// Topics are the topics the group consumes.
	Topics []string
	// MaxAttempts is how many times the handler may fail on a record before
	// the record is dead-lettered to its DeadLetterTopic. Default 5.
	MaxAttempts int
	// RetryDelay is the wait after the first failure; it doubles with each
	// attempt, up to 2s. Default 100ms. The record's partition waits with it,
	// so that no later record of the same key overtakes it.
	RetryDelay time.Duration
	// HandlerTimeout bounds one handler call. Default 30s.
	HandlerTimeout time.Duration
	// MaxPollRecords bounds the records handled between two commits.
	// Default 100.
	MaxPollRecords int
}

// Consumer runs a Handler for each record of its topics as a member of a
// consumer group, at least once: a record's offset is committed only after
// the handler returned nil for it (or after it was dead-lettered), so a crash
// between the handler and the commit delivers the record again, to this
// member or another, and the handler's inbox absorbs the repeat.
//
// Records are handled one at a time, each partition in offset order. A
// failed handler is retried in place after a growing delay, holding its
// partition; after MaxAttempts failures the record goes to DeadLetterTopic
// with the reason and its origin in headers, and the partition moves on.
// Offsets are committed after each poll of at most MaxPollRecords records,
// and when partitions are revoked in a rebalance (BlockRebalanceOnPoll keeps
// a rebalance from cutting into a poll's records), so the next owner starts
// where this one stopped.
type Consumer struct {
	cfg    ConsumerConfig
	h      Handler
	logger *slog.Logger
	tracer trace.Tracer

	mu     sync.Mutex
	cancel context.CancelFunc
	// done holds, per partition, the last record handled but not yet
	// committed.
	done map[topicPartition]*kgo.Record
	// crashed makes the consumer stop as a killed process would: without
	// committing what it handled. Only tests set it, through crash.
	crashed atomic.Bool
}

type topicPartition struct {
	topic     string
	partition int32
}

// NewConsumer checks cfg, fills its defaults and returns a consumer; Run
// joins the group. logger and tp may be nil.
func NewConsumer(cfg ConsumerConfig, h Handler, logger *slog.Logger, tp trace.TracerProvider) (*Consumer, error) {
	if h == nil {
		return nil, errors.New("kafka: new consumer: a handler is required")
	}
	if cfg.Group == "" {
		return nil, errors.New("kafka: new consumer: a group is required")
	}
	if len(cfg.Topics) == 0 {
		return nil, fmt.Errorf("kafka: new consumer %s: no topics given", cfg.Group)
	}
	for _, t := range cfg.Topics {
		if err := validTopic(t); err != nil {
			return nil, fmt.Errorf("kafka: new consumer %s: %w", cfg.Group, err)
		}
	}
	if _, err := cfg.opts(); err != nil {
		return nil, fmt.Errorf("kafka: new consumer %s: %w", cfg.Group, err)
	}
	if cfg.MaxAttempts < 0 || cfg.RetryDelay < 0 || cfg.HandlerTimeout < 0 || cfg.MaxPollRecords < 0 {
		return nil, fmt.Errorf("kafka: new consumer %s: MaxAttempts, RetryDelay, HandlerTimeout and MaxPollRecords may not be negative", cfg.Group)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = defaultRetryDelay
	}
	if cfg.HandlerTimeout == 0 {
		cfg.HandlerTimeout = defaultHandlerTimeout
	}
	if cfg.MaxPollRecords == 0 {
		cfg.MaxPollRecords = defaultMaxPoll
	}
	cfg.Topics = append([]string(nil), cfg.Topics...)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &Consumer{
		cfg:    cfg,
		h:      h,
		logger: logger.With("consumer_group", cfg.Group),
		tracer: tp.Tracer(tracerName),
		done:   map[topicPartition]*kgo.Record{},
	}, nil
}

// clientOpts are the group member's settings. Offsets are committed by hand
// (DisableAutoCommit): kgo's autocommit would commit what was polled, not
// what was handled. A group with no committed offset starts at the earliest
// record, as a JetStream consumer with DeliverAll does.
func (c *Consumer) clientOpts() []kgo.Opt {
	opts, _ := c.cfg.opts() // checked by NewConsumer
	return append(append(opts, producerOpts()...),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.cfg.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
	)
}

// Run joins the group and handles records until ctx is done, then commits
// what it handled, leaves the group and returns nil. The record in hand when
// ctx ends is finished first (bounded by HandlerTimeout); one still waiting
// for a retry is left uncommitted for the next owner.
func (c *Consumer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()

	cl, err := kgo.NewClient(c.clientOpts()...)
	if err != nil {
		return fmt.Errorf("kafka: consumer %s: %w", c.cfg.Group, err)
	}
	defer func() {
		c.commit(cl, nil)
		cl.CloseAllowingRebalance() // leaves the group; revoked commits again
	}()
	for {
		fetches := cl.PollRecords(ctx, c.cfg.MaxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			c.commit(cl, nil)
			cl.AllowRebalance()
			return nil
		}
		var fetchErr bool
		fetches.EachError(func(topic string, partition int32, err error) {
			fetchErr = true
			c.logger.WarnContext(ctx, "kafka consumer: fetch failed", "topic", topic, "partition", partition, "error", err)
		})
		stopped := false
		for it := fetches.RecordIter(); !stopped && !it.Done(); {
			stopped = !c.handle(ctx, cl, it.Next())
		}
		c.commit(cl, nil)
		cl.AllowRebalance()
		if stopped {
			return nil
		}
		if fetchErr && fetches.NumRecords() == 0 && !sleep(ctx, pollErrorBackoff) {
			return nil
		}
	}
}

// handle runs the handler on r until it succeeds or r is dead-lettered, and
// marks r done. It returns false, leaving r undone, only when ctx ends first.
func (c *Consumer) handle(ctx context.Context, cl *kgo.Client, r *kgo.Record) bool {
	m := Message{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       string(r.Key),
		Value:     r.Value,
		Header:    headerOf(r.Headers),
	}
	// The record in hand is finished even when Run is stopping.
	sctx := traceContext.Extract(context.WithoutCancel(ctx), m.Header)
	sctx, span := c.tracer.Start(sctx, r.Topic+" process",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingSystemKafka,
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(r.Topic),
			semconv.MessagingConsumerGroupName(c.cfg.Group),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(int(r.Partition))),
			semconv.MessagingKafkaOffset(int(r.Offset)),
			semconv.MessagingKafkaMessageKey(m.Key),
			semconv.MessagingMessageBodySize(len(r.Value)),
		))
	defer span.End()

	var err error
	for m.Attempt = 1; ; m.Attempt++ {
		if err = c.callHandler(sctx, m); err == nil {
			span.SetAttributes(attribute.Int("slipway.kafka.attempts", m.Attempt))
			c.markDone(r)
			return true
		}
		span.RecordError(err)
		if m.Attempt >= c.cfg.MaxAttempts {
			break
		}
		delay := retryDelay(c.cfg.RetryDelay, m.Attempt)
		c.logger.WarnContext(sctx, "kafka consumer: handler failed, will retry",
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
			"attempt", m.Attempt, "max_attempts", c.cfg.MaxAttempts, "retry_in", delay, "error", err)
		if !sleep(ctx, delay) {
			span.SetStatus(codes.Error, "stopped before the record was handled")
			return false
		}
	}

	span.SetStatus(codes.Error, err.Error())
	reason := fmt.Sprintf("consumer group %s gave up after %d attempts: %v", c.cfg.Group, m.Attempt, err)
	for failures := 1; ; failures++ {
		dlErr := c.deadLetter(sctx, cl, r, reason)
		if dlErr == nil {
			c.logger.ErrorContext(sctx, "kafka consumer: record dead-lettered",
				"topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
				"dead_letter_topic", DeadLetterTopic(r.Topic), "error", err)
			c.markDone(r)
			return true
		}
		// The partition waits: skipping the record would lose it.
		delay := retryDelay(c.cfg.RetryDelay, failures)
		c.logger.ErrorContext(sctx, "kafka consumer: dead-lettering failed, will retry",
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "retry_in", delay, "error", dlErr)
		if !sleep(ctx, delay) {
			return false
		}
	}
}

// callHandler turns a handler panic into an error, so that one bad record
// cannot take the process down; the record is retried and dead-lettered.
func (c *Consumer) callHandler(ctx context.Context, m Message) (err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandlerTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			c.logger.ErrorContext(ctx, "kafka consumer: handler panicked",
				"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return c.h(ctx, m)
}

// deadLetter writes r, its key and headers, to its topic's dead-letter topic
// with the reason and its origin, and waits for the ack.
func (c *Consumer) deadLetter(ctx context.Context, cl *kgo.Client, r *kgo.Record, reason string) error {
	h := headerOf(r.Headers)
	h[HeaderDeadLetterReason] = truncate(reason, maxReasonLen)
	h[HeaderOriginalTopic] = r.Topic
	h[HeaderOriginalPartition] = strconv.Itoa(int(r.Partition))
	h[HeaderOriginalOffset] = strconv.FormatInt(r.Offset, 10)
	h[HeaderConsumerGroup] = c.cfg.Group
	dl := &kgo.Record{Topic: DeadLetterTopic(r.Topic), Key: r.Key, Value: r.Value, Headers: recordHeaders(h)}
	ctx, cancel := context.WithTimeout(ctx, deadLetterTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, dl).FirstErr(); err != nil {
		return fmt.Errorf("publish to %s: %w", dl.Topic, err)
	}
	return nil
}

// retryDelay is base doubled attempt-1 times, at most maxRetryDelay (or
// base, when that is larger), with up to a fifth of jitter.
func retryDelay(base time.Duration, attempt int) time.Duration {
	limit := max(maxRetryDelay, base)
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d - time.Duration(rand.Int64N(int64(d)/5+1)) //nolint:gosec // jitter needs no cryptographic randomness
}

// sleep waits for d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
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
