package events_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/platform/store"
)

// An event is written into the outbox in the same transaction as the
// change it reports (Enqueue), published by the relay once the broker has
// it, and handed to a consumer's handler inside a transaction that also
// records it in the inbox, so a redelivery is skipped.
func Example() {
	dir, err := os.MkdirTemp("", "events-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	broker, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	broker.Start()
	defer broker.Shutdown()
	if !broker.ReadyForConnections(10 * time.Second) {
		fmt.Println("broker not ready")
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "shop.db"), "example", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	nc, js, err := events.Connect(ctx, broker.ClientURL(), "example", logger)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	if err := errors.Join(events.EnsureSchema(ctx, db),
		events.EnsureStream(ctx, js, "SHOP", []string{"shop.>"})); err != nil {
		fmt.Println(err)
		return
	}

	// The producer: the change and its event commit together.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := events.Enqueue(ctx, tx, events.Envelope{ID: "evt-1", Subject: "shop.greeted", Payload: wrapperspb.String("hello")}); err != nil {
		fmt.Println(err)
		return
	}
	if err := tx.Commit(); err != nil {
		fmt.Println(err)
		return
	}
	relay, err := events.NewRelay(db, js, logger, prometheus.NewRegistry(), noop.NewTracerProvider())
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = relay.Run(ctx) }()

	// The consumer: its handler runs in the inbox's transaction.
	got := make(chan string, 1)
	consumer, err := events.NewConsumer(db, js, events.ConsumerConfig{Stream: "SHOP", Durable: "greeter", DeadLetterSubject: "shop.deadletter"},
		func(_ context.Context, _ *sql.Tx, m events.Message) error {
			var greeting wrapperspb.StringValue
			if err := m.Decode(&greeting); err != nil {
				return err
			}
			got <- m.ID + " " + m.Subject + " " + greeting.GetValue()
			return nil
		}, logger, prometheus.NewRegistry(), noop.NewTracerProvider())
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = consumer.Run(ctx) }()

	select {
	case line := <-got:
		fmt.Println(line)
	case <-ctx.Done():
		fmt.Println("no event:", ctx.Err())
	}
	// Output: evt-1 shop.greeted hello
}
