package kafka_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/slipway-dev/slipway/platform/events/kafka"
)

// Publish an order event under its order id and handle it in a consumer
// group; kfake stands in for the Kafka cluster.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := kafka.ClientConfig{Brokers: cluster.ListenAddrs()}

	if err := kafka.EnsureTopics(ctx, cfg, kafka.TopicSpec{Name: "slipway.order", Partitions: 3, ReplicationFactor: 1}); err != nil {
		panic(err)
	}
	pub, err := kafka.NewPublisher(cfg)
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, "slipway.order", "order-42", []byte("placed"),
		kafka.Header{"Slipway-Subject": "slipway.order.placed"}); err != nil {
		panic(err)
	}

	handled := make(chan kafka.Message, 1)
	cons, err := kafka.NewConsumer(kafka.ConsumerConfig{
		ClientConfig: cfg,
		Group:        "notification",
		Topics:       []string{"slipway.order"},
	}, func(_ context.Context, m kafka.Message) error {
		handled <- m // the inbox transaction runs here
		return nil
	}, nil, nil)
	if err != nil {
		panic(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(runCtx) }()

	var m kafka.Message
	select {
	case m = <-handled:
	case <-ctx.Done():
		panic("no event handled")
	}
	stop()
	if err := <-done; err != nil {
		panic(err)
	}
	fmt.Println(m.Key, string(m.Value), m.Header.Get("Slipway-Subject"))
	// Output: order-42 placed slipway.order.placed
}
