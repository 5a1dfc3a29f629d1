package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/slipway-dev/slipway/platform/events/kafka/kafkatest"
)

// waitFor bounds every wait in these tests.
const waitFor = 30 * time.Second

// newCluster starts kfake and creates topics (and their dead-letter topics)
// with partitions each through EnsureTopics.
func newCluster(t *testing.T, partitions int32, topics ...string) (*kfake.Cluster, ClientConfig) {
	t.Helper()
	c, seeds := kafkatest.NewCluster(t)
	cfg := ClientConfig{Brokers: seeds, ClientID: t.Name()}
	specs := make([]TopicSpec, len(topics))
	for i, name := range topics {
		specs[i] = TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: 1}
	}
	require.NoError(t, EnsureTopics(testContext(t), cfg, specs...))
	return c, cfg
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

func newPublisher(t *testing.T, cfg ClientConfig) *Publisher {
	t.Helper()
	p, err := NewPublisher(cfg)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// publish writes one record per value under key.
func publish(t *testing.T, p *Publisher, topic, key string, values ...string) {
	t.Helper()
	for _, v := range values {
		require.NoError(t, p.Publish(testContext(t), topic, key, []byte(v), nil))
	}
}

// consumerConfig is a group on cfg's cluster with fast retries.
func consumerConfig(cfg ClientConfig, group string, topics ...string) ConsumerConfig {
	return ConsumerConfig{
		ClientConfig: cfg,
		Group:        group,
		Topics:       topics,
		RetryDelay:   5 * time.Millisecond,
	}
}

// runner is a consumer running in the background.
type runner struct {
	stop func()
	done chan error
}

// start runs c until the returned runner's stop (also at cleanup).
func start(t *testing.T, c interface{ Run(context.Context) error }) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		r.stop()
		assert.NoError(t, <-r.done, "Run")
	})
	return r
}

// wait waits for Run to return and requires nil.
func (r *runner) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		require.NoError(t, err)
		r.done <- nil // for the cleanup
	case <-time.After(waitFor):
		t.Fatal("consumer did not stop")
	}
}

// handled records the messages a handler saw, in order.
type handled struct {
	mu   sync.Mutex
	msgs []Message
	more chan struct{}
}

func newHandled() *handled { return &handled{more: make(chan struct{}, 1)} }

func (h *handled) add(m Message) {
	h.mu.Lock()
	h.msgs = append(h.msgs, m)
	h.mu.Unlock()
	select {
	case h.more <- struct{}{}:
	default:
	}
}

func (h *handled) all() []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Message(nil), h.msgs...)
}

// waitUntil waits until ok holds for the messages handled so far.
func (h *handled) waitUntil(t *testing.T, what string, ok func([]Message) bool) []Message {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		if msgs := h.all(); ok(msgs) {
			return msgs
		}
		select {
		case <-h.more:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; handled %d messages", what, len(h.all()))
		}
	}
}

// values are the values of msgs, in order.
func values(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Value)
	}
	return out
}

// distinct counts the distinct values of msgs.
func distinct(msgs []Message) int {
	seen := map[string]bool{}
	for _, m := range msgs {
		seen[string(m.Value)] = true
	}
	return len(seen)
}

// numbered is "<prefix>-0" ... "<prefix>-<n-1>".
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// readTopic reads n records of topic from its start, outside any group.
func readTopic(t *testing.T, cfg ClientConfig, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumeTopics(topic))
	require.NoError(t, err)
	defer cl.Close()
	ctx := testContext(t)
	var out []*kgo.Record
	for len(out) < n {
		fetches := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of %d records of %s", len(out), n, topic)
		out = append(out, fetches.Records()...)
	}
	return out
}

// committed sums the offsets group committed on topic's partitions.
func committed(t *testing.T, cfg ClientConfig, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	require.NoError(t, err)
	defer cl.Close()
	offsets, err := kadm.NewClient(cl).FetchOffsets(testContext(t), group)
	require.NoError(t, err)
	require.NoError(t, offsets.Error())
	var sum int64
	offsets.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			sum += o.At
		}
	})
	return sum
}
