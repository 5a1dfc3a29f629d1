package kafka

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/slipway-dev/slipway/platform/events/kafka/kafkatest"
)

// partitionsOf maps each existing topic to its partition count.
func partitionsOf(t *testing.T, cfg ClientConfig) map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	require.NoError(t, err)
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(testContext(t))
	require.NoError(t, err)
	out := map[string]int{}
	for name, d := range details {
		out[name] = len(d.Partitions)
	}
	return out
}

func TestEnsureTopicsCreatesTopicsAndDeadLetterTopics(t *testing.T) {
	_, seeds := kafkatest.NewCluster(t)
	cfg := ClientConfig{Brokers: seeds}
	specs := []TopicSpec{
		{Name: "slipway.order", Partitions: 3, ReplicationFactor: 1},
		{Name: "slipway.payment", Partitions: 2, ReplicationFactor: 1},
	}
	require.NoError(t, EnsureTopics(testContext(t), cfg, specs...))
	want := map[string]int{"slipway.order": 3, "slipway.order.dlq": 3, "slipway.payment": 2, "slipway.payment.dlq": 2}
	assert.Equal(t, want, partitionsOf(t, cfg))

	// Idempotent: the topics exist now, and that is fine.
	require.NoError(t, EnsureTopics(testContext(t), cfg, specs...))
	assert.Equal(t, want, partitionsOf(t, cfg))
}

func TestEnsureTopicsRefusesAnotherPartitionCount(t *testing.T) {
	_, cfg := newCluster(t, 3, "orders")
	err := EnsureTopics(testContext(t), cfg, TopicSpec{Name: "orders", Partitions: 6, ReplicationFactor: 1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "topic orders exists with 3 partitions, configuration asks for 6")
	assert.Equal(t, 3, partitionsOf(t, cfg)["orders"], "the topic is left as it was")
}

func TestEnsureTopicsRejectsBadSpecs(t *testing.T) {
	_, seeds := kafkatest.NewCluster(t)
	cfg := ClientConfig{Brokers: seeds}
	tests := []struct {
		name string
		spec TopicSpec
		want string
	}{
		{"no name", TopicSpec{Partitions: 1, ReplicationFactor: 1}, "empty topic name"},
		{"bad character", TopicSpec{Name: "orders/eu", Partitions: 1, ReplicationFactor: 1}, "only letters, digits"},
		{"dot", TopicSpec{Name: ".", Partitions: 1, ReplicationFactor: 1}, "not allowed"},
		{"too long", TopicSpec{Name: strings.Repeat("a", 250), Partitions: 1, ReplicationFactor: 1}, "longer than 249"},
		{"no partitions", TopicSpec{Name: "orders", ReplicationFactor: 1}, "partitions must be at least 1"},
		{"no replicas", TopicSpec{Name: "orders", Partitions: 1}, "replication factor must be at least 1"},
		{"more replicas than brokers", TopicSpec{Name: "orders", Partitions: 1, ReplicationFactor: 3}, "create topic orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := EnsureTopics(testContext(t), cfg, tt.spec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	assert.NotContains(t, partitionsOf(t, cfg), "orders", "no bad spec created a topic")
	require.Error(t, EnsureTopics(testContext(t), cfg), "no topics")
}
