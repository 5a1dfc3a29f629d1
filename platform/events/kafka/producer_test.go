package kafka

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPublishWritesKeyValueAndHeaders(t *testing.T) {
	_, cfg := newCluster(t, 3, "orders")
	p := newPublisher(t, cfg)

	require.NoError(t, p.Publish(testContext(t), "orders", "order-1", []byte("placed"),
		Header{"Slipway-Event-Id": "e1", "Content-Type": "application/protobuf"}))

	recs := readTopic(t, cfg, "orders", 1)
	require.Len(t, recs, 1)
	assert.Equal(t, "order-1", string(recs[0].Key))
	assert.Equal(t, "placed", string(recs[0].Value))
	h := headerOf(recs[0].Headers)
	assert.Equal(t, "e1", h.Get("Slipway-Event-Id"))
	assert.Equal(t, "application/protobuf", h.Get("Content-Type"))
}

func TestPublishRejectsBadInput(t *testing.T) {
	_, cfg := newCluster(t, 1, "orders")
	p := newPublisher(t, cfg)
	tests := []struct {
		name, topic, key, want string
	}{
		{"no topic", "", "k", "empty topic name"},
		{"topic with a space", "my orders", "k", "only letters, digits"},
		{"no key", "orders", "", "an ordering key is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Publish(testContext(t), tt.topic, tt.key, []byte("v"), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// A publish returns only after the broker acknowledged the record: to a
// topic that does not exist nothing acknowledges it, and it fails.
func TestPublishFailsWithoutAnAck(t *testing.T) {
	_, cfg := newCluster(t, 1, "orders")
	p := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := p.Publish(ctx, "missing", "k", []byte("v"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "publish to missing")
}

// The produce requests on the wire are idempotent (a producer id and
// sequence numbers) and ask for acks from every in-sync replica.
func TestPublishIsIdempotentWithAcksAll(t *testing.T) {
	c, cfg := newCluster(t, 1, "orders")
	var (
		mu       sync.Mutex
		produces []*kmsg.ProduceRequest
	)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		produces = append(produces, req.(*kmsg.ProduceRequest))
		mu.Unlock()
		return nil, nil, false // observe only
	})
	p := newPublisher(t, cfg)
	publish(t, p, "orders", "order-1", "a", "b")

	id, _, err := p.cl.ProducerID(testContext(t))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, id, int64(0), "an idempotent producer has a producer id")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, produces)
	for _, req := range produces {
		assert.Equal(t, int16(-1), req.Acks, "acks=all")
		for _, topic := range req.Topics {
			for _, part := range topic.Partitions {
				var batch kmsg.RecordBatch
				require.NoError(t, batch.ReadFrom(part.Records))
				assert.Equal(t, id, batch.ProducerID, "each batch carries the producer id")
				assert.GreaterOrEqual(t, batch.FirstSequence, int32(0), "each batch carries a sequence number")
			}
		}
	}
}

func TestNewPublisherRejectsBadBrokers(t *testing.T) {
	for name, brokers := range map[string][]string{"none": nil, "empty": {"localhost:9092", " "}} {
		t.Run(name, func(t *testing.T) {
			_, err := NewPublisher(ClientConfig{Brokers: brokers})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "broker")
		})
	}
}
