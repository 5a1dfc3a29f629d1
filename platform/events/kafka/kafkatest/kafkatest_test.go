package kafkatest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/slipway-dev/slipway/platform/events/kafka/kafkatest"
)

func TestNewClusterServesTheKafkaProtocol(t *testing.T) {
	_, seeds := kafkatest.NewCluster(t, kfake.SeedTopics(2, "t"))
	require.NotEmpty(t, seeds)

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("t"))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr())
	fetches := cl.PollFetches(ctx)
	require.NoError(t, fetches.Err())
	require.Equal(t, 1, fetches.NumRecords())
	require.Equal(t, "v", string(fetches.Records()[0].Value))
}
