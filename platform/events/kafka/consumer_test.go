package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestConsumerHandsOverPublishedRecords(t *testing.T) {
	_, cfg := newCluster(t, 3, "orders")
	p := newPublisher(t, cfg)
	got := newHandled()
	c, err := NewConsumer(consumerConfig(cfg, "billing", "orders"), func(_ context.Context, m Message) error {
		got.add(m)
		return nil
	}, nil, nil)
	require.NoError(t, err)
	start(t, c)

	require.NoError(t, p.Publish(testContext(t), "orders", "order-1", []byte("placed"), Header{"Slipway-Event-Id": "e1"}))
	msgs := got.waitUntil(t, "the record", func(m []Message) bool { return len(m) == 1 })
	m := msgs[0]
	assert.Equal(t, "orders", m.Topic)
	assert.Equal(t, "order-1", m.Key)
	assert.Equal(t, "placed", string(m.Value))
	assert.Equal(t, "e1", m.Header.Get("Slipway-Event-Id"))
	assert.Equal(t, int64(0), m.Offset)
	assert.Equal(t, 1, m.Attempt)
}

// Records of one key arrive in publish order, all from one partition, while
// the keys spread over the topic's partitions.
func TestConsumerKeepsOrderPerKey(t *testing.T) {
	const keys, perKey = 10, 25
	_, cfg := newCluster(t, 3, "orders")
	p := newPublisher(t, cfg)
	for i := range perKey { // interleaved: order-0 #0, order-1 #0, ..., order-0 #1, ...
		for k := range keys {
			publish(t, p, "orders", fmt.Sprintf("order-%d", k), strconv.Itoa(i))
		}
	}
	got := newHandled()
	c, err := NewConsumer(consumerConfig(cfg, "billing", "orders"), func(_ context.Context, m Message) error {
		got.add(m)
		return nil
	}, nil, nil)
	require.NoError(t, err)
	start(t, c)
	msgs := got.waitUntil(t, "every record", func(m []Message) bool { return len(m) == keys*perKey })

	partitionOf := map[string]int32{}
	next := map[string]int{}
	partitions := map[int32]bool{}
	for _, m := range msgs {
		if p, ok := partitionOf[m.Key]; ok {
			assert.Equal(t, p, m.Partition, "key %s moved partitions", m.Key)
		}
		partitionOf[m.Key] = m.Partition
		partitions[m.Partition] = true
		assert.Equal(t, strconv.Itoa(next[m.Key]), string(m.Value), "key %s out of order", m.Key)
		next[m.Key]++
	}
	assert.Len(t, next, keys)
	assert.Len(t, partitions, 3, "the keys use every partition")
}

// The order of handling and committing decides whether a crash loses a
// record. Each variant's handler crashes the consumer on its first attempt
// at "b", before the handler's transaction commits; a second member of the
// group then takes over. Committing after the handler redelivers "b";
// committing before it (the weakened variant) has already moved the group
// past "b", which is lost.
func TestCrashBeforeTheHandlerCommits(t *testing.T) {
	tests := []struct {
		name          string
		newConsumer   func(ConsumerConfig, Handler) (crashable, error)
		wantRedeliver bool
	}{
		{"commit after the handler", func(cfg ConsumerConfig, h Handler) (crashable, error) {
			return NewConsumer(cfg, h, nil, nil)
		}, true},
		{"weakened: commit before the handler", func(cfg ConsumerConfig, h Handler) (crashable, error) {
			return newCommitFirstConsumer(cfg, h), nil
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cfg := newCluster(t, 1, "orders")
			p := newPublisher(t, cfg)
			publish(t, p, "orders", "order-1", "a", "b", "c")

			applied := newHandled() // what the handler's transaction committed
			var first crashable
			first, err := tt.newConsumer(consumerConfig(cfg, "billing", "orders"), func(_ context.Context, m Message) error {
				if string(m.Value) == "b" {
					first.crash()
					return errors.New("process killed")
				}
				applied.add(m)
				return nil
			})
			require.NoError(t, err)
			start(t, first).wait(t)
			assert.Equal(t, []string{"a"}, values(applied.all()))

			second, err := tt.newConsumer(consumerConfig(cfg, "billing", "orders"), func(_ context.Context, m Message) error {
				applied.add(m)
				return nil
			})
			require.NoError(t, err)
			start(t, second)
			msgs := applied.waitUntil(t, "c", func(m []Message) bool { return len(m) > 0 && string(m[len(m)-1].Value) == "c" })
			assert.Equal(t, tt.wantRedeliver, slices.Contains(values(msgs), "b"), "b handled after the crash: %q", values(msgs))
			if !tt.wantRedeliver {
				assert.Equal(t, []string{"a", "c"}, values(msgs), "the weakened variant loses b")
			}
		})
	}
}

// A crash after the handler's transaction committed but before the offset
// commit delivers the record again: the inbox, not the offset, makes it
// take effect once.
func TestCrashAfterTheHandlerBeforeTheCommitRedelivers(t *testing.T) {
	_, cfg := newCluster(t, 1, "orders")
	p := newPublisher(t, cfg)
	publish(t, p, "orders", "order-1", "a")

	got := newHandled()
	var first *Consumer
	first, err := NewConsumer(consumerConfig(cfg, "billing", "orders"), func(_ context.Context, m Message) error {
		got.add(m)
		first.crash() // the process dies once the handler has returned
		return nil
	}, nil, nil)
	require.NoError(t, err)
	start(t, first).wait(t)
	assert.Equal(t, int64(0), committed(t, cfg, "billing", "orders"), "the crash committed nothing")

	second, err := NewConsumer(consumerConfig(cfg, "billing", "orders"), func(_ context.Context, m Message) error {
		got.add(m)
		return nil
	}, nil, nil)
	require.NoError(t, err)
	start(t, second)
	msgs := got.waitUntil(t, "the redelivery", func(m []Message) bool { return len(m) == 2 })
	assert.Equal(t, []string{"a", "a"}, values(msgs))
	assert.Equal(t, msgs[0].Offset, msgs[1].Offset)
}

// What a member handled and committed is not delivered to the next one.
func TestCommittedRecordsAreNotDeliveredAgain(t *testing.T) {
	_, cfg := newCluster(t, 3, "orders")
	p := newPublisher(t, cfg)
	for i := range 30 {
		publish(t, p, "orders", fmt.Sprintf("order-%d", i%7), fmt.Sprintf("first-%d", i))
	}
	got := newHandled()
	h := func(_ context.Context, m Message) error { got.add(m); return nil }
	first, err := NewConsumer(consumerConfig(cfg, "billing", "orders"), h, nil, nil)
	require.NoError(t, err)
	r := start(t, first)
	got.waitUntil(t, "the first records", func(m []Message) bool { return len(m) == 30 })
	r.stop()
	r.wait(t)
	assert.Equal(t, int64(30), committed(t, cfg, "billing", "orders"))

	second, err := NewConsumer(consumerConfig(cfg, "billing", "orders"), h, nil, nil)
	require.NoError(t, err)
	start(t, second)
	publish(t, p, "orders", "order-1", "after-restart")
	msgs := got.waitUntil(t, "the new record", func(m []Message) bool { return len(m) >= 31 })
	assert.Equal(t, 31, len(msgs), "only the new record after the restart")
	assert.Equal(t, "after-restart", string(msgs[len(msgs)-1].Value))
}

// Two members share the group's partitions: a member joins while records
// flow, then the first leaves; every record is handled, none is lost.
func TestRebalanceLosesNoRecord(t *testing.T) {
	const total = 300
	c, cfg := newCluster(t, 6, "orders")
	p := newPublisher(t, cfg)
	got := newHandled()
	var byA, byB atomic.Int64
	member := func(n *atomic.Int64) *Consumer {
		cons, err := NewConsumer(consumerConfig(cfg, "billing", "orders"), func(_ context.Context, m Message) error {
			n.Add(1)
			got.add(m)
			return nil
		}, nil, nil)
		require.NoError(t, err)
		return cons
	}
	all := numbered("r", total)
	publishRange := func(from, to int) {
		for i := from; i < to; i++ {
			publish(t, p, "orders", fmt.Sprintf("order-%d", i%40), all[i])
		}
	}

	a := start(t, member(&byA))
	publishRange(0, 100)
	got.waitUntil(t, "the first records", func(m []Message) bool { return distinct(m) >= 50 })
	start(t, member(&byB))
	_, err := c.WaitGroupStable(testContext(t), "billing", 2)
	require.NoError(t, err)
	publishRange(100, 200)
	got.waitUntil(t, "the second records", func(m []Message) bool { return distinct(m) >= 200 })
	a.stop() // A leaves; its partitions are revoked and go to B
	publishRange(200, total)
	a.wait(t)

	msgs := got.waitUntil(t, "every record", func(m []Message) bool { return distinct(m) == total })
	assert.Positive(t, byA.Load())
	assert.Positive(t, byB.Load())
	assert.Equal(t, total, len(msgs), "a clean hand-over commits what was handled, so nothing is handled twice")
	assert.Equal(t, int64(total), committed(t, cfg, "billing", "orders"))
}

func TestConsumerDeadLettersAfterMaxAttempts(t *testing.T) {
	_, cfg := newCluster(t, 1, "orders")
	p := newPublisher(t, cfg)
	require.NoError(t, p.Publish(testContext(t), "orders", "order-1", []byte("poison"), Header{"Slipway-Event-Id": "e1"}))
	publish(t, p, "orders", "order-1", "next")

	got := newHandled()
	ccfg := consumerConfig(cfg, "billing", "orders")
	ccfg.MaxAttempts = 3
	c, err := NewConsumer(ccfg, func(_ context.Context, m Message) error {
		got.add(m)
		if string(m.Value) == "poison" {
			return errors.New("no such product")
		}
		return nil
	}, nil, nil)
	require.NoError(t, err)
	r := start(t, c)
	msgs := got.waitUntil(t, "the record after the poison", func(m []Message) bool { return len(m) == 4 })
	assert.Equal(t, []string{"poison", "poison", "poison", "next"}, values(msgs), "retried in place, then the partition moves on")
	for i, m := range msgs[:3] {
		assert.Equal(t, i+1, m.Attempt)
	}

	dl := readTopic(t, cfg, "orders.dlq", 1)
	require.Len(t, dl, 1)
	assert.Equal(t, "order-1", string(dl[0].Key))
	assert.Equal(t, "poison", string(dl[0].Value))
	h := headerOf(dl[0].Headers)
	assert.Equal(t, "consumer group billing gave up after 3 attempts: no such product", h.Get(HeaderDeadLetterReason))
	assert.Equal(t, "orders", h.Get(HeaderOriginalTopic))
	assert.Equal(t, "0", h.Get(HeaderOriginalPartition))
	assert.Equal(t, "0", h.Get(HeaderOriginalOffset))
	assert.Equal(t, "billing", h.Get(HeaderConsumerGroup))
	assert.Equal(t, "e1", h.Get("Slipway-Event-Id"), "the original headers travel along")

	r.stop()
	r.wait(t)
	assert.Equal(t, int64(2), committed(t, cfg, "billing", "orders"), "the dead-lettered record is committed too")
}

// A panicking handler is a failed attempt, retried, not a crash.
func TestConsumerRetriesAPanickingHandler(t *testing.T) {
	_, cfg := newCluster(t, 1, "orders")
	publish(t, newPublisher(t, cfg), "orders", "order-1", "a")
	got := newHandled()
	c, err := NewConsumer(consumerConfig(cfg, "billing", "orders"), func(_ context.Context, m Message) error {
		got.add(m)
		if m.Attempt == 1 {
			panic("nil map")
		}
		return nil
	}, nil, nil)
	require.NoError(t, err)
	start(t, c)
	msgs := got.waitUntil(t, "the retry", func(m []Message) bool { return len(m) == 2 })
	assert.Equal(t, []int{1, 2}, []int{msgs[0].Attempt, msgs[1].Attempt})
}

// The handler's context continues the publisher's trace, in a consumer span
// whose parent is the publishing span.
func TestTraceContextTravelsInHeaders(t *testing.T) {
	_, cfg := newCluster(t, 1, "orders")
	p := newPublisher(t, cfg)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	ctx, producer := tp.Tracer("test").Start(testContext(t), "place order")
	require.NoError(t, p.Publish(ctx, "orders", "order-1", []byte("placed"),
		Header{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})) // stale: replaced
	producer.End()

	got := make(chan trace.SpanContext, 1)
	c, err := NewConsumer(consumerConfig(cfg, "billing", "orders"), func(ctx context.Context, _ Message) error {
		got <- trace.SpanContextFromContext(ctx)
		return nil
	}, nil, tp)
	require.NoError(t, err)
	start(t, c)
	var sc trace.SpanContext
	select {
	case sc = <-got:
	case <-testContext(t).Done():
		t.Fatal("no record handled")
	}
	assert.Equal(t, producer.SpanContext().TraceID(), sc.TraceID())

	require.Eventually(t, func() bool { return len(spans.Ended()) >= 2 }, waitFor, 10*time.Millisecond)
	var consumerSpan sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == "orders process" {
			consumerSpan = s
		}
	}
	require.NotNil(t, consumerSpan)
	assert.Equal(t, trace.SpanKindConsumer, consumerSpan.SpanKind())
	assert.Equal(t, producer.SpanContext().SpanID(), consumerSpan.Parent().SpanID())
	assert.Equal(t, sc.SpanID(), consumerSpan.SpanContext().SpanID())
}

func TestNewConsumerRejectsBadConfig(t *testing.T) {
	ok := ConsumerConfig{ClientConfig: ClientConfig{Brokers: []string{"localhost:9092"}}, Group: "billing", Topics: []string{"orders"}}
	h := func(context.Context, Message) error { return nil }
	tests := []struct {
		name   string
		change func(*ConsumerConfig)
		h      Handler
		want   string
	}{
		{"no handler", func(*ConsumerConfig) {}, nil, "a handler is required"},
		{"no group", func(c *ConsumerConfig) { c.Group = "" }, h, "a group is required"},
		{"no topics", func(c *ConsumerConfig) { c.Topics = nil }, h, "no topics given"},
		{"bad topic", func(c *ConsumerConfig) { c.Topics = []string{"orders*"} }, h, "only letters, digits"},
		{"no brokers", func(c *ConsumerConfig) { c.Brokers = nil }, h, "no brokers given"},
		{"negative attempts", func(c *ConsumerConfig) { c.MaxAttempts = -1 }, h, "may not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			_, err := NewConsumer(cfg, tt.h, nil, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	c, err := NewConsumer(ok, h, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, defaultMaxAttempts, c.cfg.MaxAttempts)
	assert.Equal(t, defaultMaxPoll, c.cfg.MaxPollRecords)
}

func TestRetryDelayDoublesUpToTheLimit(t *testing.T) {
	tests := []struct {
		base    int64 // ms
		attempt int
		want    int64 // ms, before up to a fifth of jitter
	}{
		{100, 1, 100},
		{100, 2, 200},
		{100, 4, 800},
		{100, 10, 2000},
		{5000, 3, 5000}, // a base above the limit is the limit
	}
	for _, tt := range tests {
		d := retryDelay(msDuration(tt.base), tt.attempt)
		assert.LessOrEqual(t, d, msDuration(tt.want), "attempt %d", tt.attempt)
		assert.GreaterOrEqual(t, d, msDuration(tt.want)*4/5, "attempt %d", tt.attempt)
	}
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
