package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmbeddedBrokerKeepsStreamsAcrossRestarts(t *testing.T) {
	root := t.TempDir()
	b, err := startBroker(root, "127.0.0.1", 0)
	require.NoError(t, err)
	assert.Regexp(t, `^nats://127\.0\.0\.1:\d+$`, b.URL())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(b.URL())
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"slipway.order.>"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "slipway.order.placed", []byte("1"))
	require.NoError(t, err)
	nc.Close()
	b.Stop()

	b, err = startBroker(root, "127.0.0.1", 0)
	require.NoError(t, err)
	defer b.Stop()
	nc, err = nats.Connect(b.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err = jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(ctx, "ORDERS")
	require.NoError(t, err, "the stream survives a restart of dev")
	info, err := s.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), info.State.Msgs)
}

func TestDevDefaultsGiveOrderItsPeersAndAServiceAccount(t *testing.T) {
	peers := map[string]string{"user": "127.0.0.1:50051", "inventory": "127.0.0.1:50053"}
	env := map[string]string{}
	for _, v := range devDefaults("/repo", "order", "127.0.0.1:8081", peers, "s3cret") {
		env[v.Key] = v.Value
	}
	assert.Equal(t, "127.0.0.1:50053", env["INVENTORY_ADDR"])
	assert.Equal(t, "127.0.0.1:50051", env["USER_ADDR"])
	assert.Equal(t, "s3cret", env["SERVICE_ACCOUNT_PASSWORD"])
	assert.Equal(t, "order:s3cret", env["SERVICE_ACCOUNTS"], "the user service creates the account order logs in with")

	a, err := devSecret()
	require.NoError(t, err)
	b, err := devSecret()
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	assert.Len(t, a, 24)
}
