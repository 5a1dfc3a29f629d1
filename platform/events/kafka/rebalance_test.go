package kafka

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// failCommits makes the cluster refuse every offset commit while on is set.
func failCommits(c interface {
	ControlKey(int16, func(kmsg.Request) (kmsg.Response, error, bool))
	KeepControl()
}, on *atomic.Bool) {
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !on.Load() {
			return nil, nil, false
		}
		creq := req.(*kmsg.OffsetCommitRequest)
		resp := creq.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range creq.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

// When a rebalance revokes partitions, the member commits what it handled
// on them, so the next owner starts after it. Here the commits after each
// poll fail, so only the commit on revoke can keep the new member from
// handling those records again.
func TestRevokedPartitionsCommitWhatWasHandled(t *testing.T) {
	const first = 60
	c, cfg := newCluster(t, 6, "orders")
	var refuse atomic.Bool
	refuse.Store(true)
	failCommits(c, &refuse)
	p := newPublisher(t, cfg)
	keyOf := func(i int) string { return fmt.Sprintf("order-%d", i%30) }
	for i, v := range numbered("before", first) {
		publish(t, p, "orders", keyOf(i), v)
	}

	got := newHandled()
	var byB atomic.Int64
	member := func(b bool) *Consumer {
		cons, err := NewConsumer(consumerConfig(cfg, "billing", "orders"), func(_ context.Context, m Message) error {
			if b {
				byB.Add(1)
			}
			got.add(m)
			return nil
		}, nil, nil)
		require.NoError(t, err)
		return cons
	}
	start(t, member(false))
	got.waitUntil(t, "the first records", func(m []Message) bool { return len(m) == first })
	require.Equal(t, int64(0), committed(t, cfg, "billing", "orders"), "the commits after the poll were refused")

	refuse.Store(false)
	start(t, member(true))
	_, err := c.WaitGroupStable(testContext(t), "billing", 2)
	require.NoError(t, err)
	after := numbered("after", 30)
	for i, v := range after {
		publish(t, p, "orders", keyOf(i), v)
	}
	msgs := got.waitUntil(t, "the later records", func(m []Message) bool { return distinct(m) == first+len(after) })
	assert.Positive(t, byB.Load(), "the second member took partitions")
	assert.Equal(t, first+len(after), len(msgs), "no record handled before the rebalance was handled again")
}

// The member's client commits only by hand and writes idempotently.
func TestConsumerClientSettings(t *testing.T) {
	c, err := NewConsumer(consumerConfig(ClientConfig{Brokers: []string{"localhost:1"}}, "billing", "orders"),
		func(context.Context, Message) error { return nil }, nil, nil)
	require.NoError(t, err)
	cl, err := kgo.NewClient(c.clientOpts()...)
	require.NoError(t, err)
	defer cl.Close()
	assert.Equal(t, true, cl.OptValue(kgo.DisableAutoCommit), "autocommit would commit polled, not handled, offsets")
	assert.Equal(t, true, cl.OptValue(kgo.BlockRebalanceOnPoll))
	assert.Equal(t, false, cl.OptValue(kgo.DisableIdempotentWrite))
}
