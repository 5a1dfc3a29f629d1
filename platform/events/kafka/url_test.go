package kafka

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events/kafka/kafkatest"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want URLConfig
	}{
		{"kafka://broker1:9093,broker2:9094/?partitions=6&replication=3&client_id=order", URLConfig{
			ClientConfig: ClientConfig{Brokers: []string{"broker1:9093", "broker2:9094"}, ClientID: "order"},
			Partitions:   6, ReplicationFactor: 3,
		}},
		{"kafka://broker1,broker2", URLConfig{
			ClientConfig: ClientConfig{Brokers: []string{"broker1:9092", "broker2:9092"}},
			Partitions:   3, ReplicationFactor: -1,
		}},
		{"kafka://[::1]:9092/", URLConfig{
			ClientConfig: ClientConfig{Brokers: []string{"[::1]:9092"}},
			Partitions:   3, ReplicationFactor: -1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := ParseURL(tt.url)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseURLRejectsBadURLs(t *testing.T) {
	tests := []struct{ url, want string }{
		{"nats://localhost:4222", `scheme "nats", want kafka`},
		{"kafka://user:secret@broker1:9092", "credentials are not supported"},
		{"kafka://broker1,,broker2", "empty broker address"},
		{"kafka:///", "empty broker address"},
		{"kafka://broker1/orders", `unexpected path "/orders"`},
		{"kafka://broker1?partitions=0", "partitions=\"0\""},
		{"kafka://broker1?partitions=many", "partitions=\"many\""},
		{"kafka://broker1?replication=0", "replication=\"0\""},
		{"kafka://broker1?acks=1", `unknown parameter "acks"`},
		{"kafka://broker1:port", "invalid port"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := ParseURL(tt.url)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "secret")
		})
	}
}

// The URL's defaults create a topic: -1 replication is the broker's own.
func TestURLConfigTopicWithTheBrokersReplication(t *testing.T) {
	_, seeds := kafkatest.NewCluster(t)
	cfg, err := ParseURL("kafka://" + seeds[0])
	require.NoError(t, err)
	require.NoError(t, EnsureTopics(testContext(t), cfg.ClientConfig, cfg.Topic("slipway.order")))
	assert.Equal(t, map[string]int{"slipway.order": 3, "slipway.order.dlq": 3}, partitionsOf(t, cfg.ClientConfig))
}
