package events

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events/natstest"
)

func TestConnect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("connects and checks ready until the server goes", func(t *testing.T) {
		t.Parallel()
		b := natstest.StartOpen(t)
		nc, js := connect(t, b.URL())
		require.NoError(t, Check(nc)(ctx))
		_, err := js.AccountInfo(ctx)
		require.NoError(t, err)

		b.Stop()
		require.Eventually(t, func() bool { return Check(nc)(ctx) != nil }, waitFor, tick)
		assert.ErrorContains(t, Check(nc)(ctx), "RECONNECTING")

		b.Start()
		require.Eventually(t, func() bool { return Check(nc)(ctx) == nil }, waitFor, tick,
			"the connection reconnects on its own")

		nc.Close()
		assert.ErrorContains(t, Check(nc)(ctx), "CLOSED")
		assert.Error(t, Check(nil)(ctx))
	})

	t.Run("fails when the server is unreachable", func(t *testing.T) {
		t.Parallel()
		_, _, err := Connect(ctx, "nats://user:secret@127.0.0.1:1", "test", nil)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "secret", "the password is redacted")
	})

	t.Run("fails when JetStream is not enabled", func(t *testing.T) {
		t.Parallel()
		_, _, err := Connect(ctx, natstest.StartOpen(t, natstest.WithoutJetStream()).URL(), "test", nil)
		assert.ErrorContains(t, err, "jetstream")
	})
}

func TestEnsureStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, js := connect(t, natstest.StartOpen(t).URL())

	require.NoError(t, EnsureStream(ctx, js, "ORDERS_T", []string{"t.order.>"}))
	s, err := js.Stream(ctx, "ORDERS_T")
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	assert.Equal(t, jetstream.FileStorage, cfg.Storage)
	assert.Equal(t, 2*time.Minute, cfg.Duplicates)
	assert.Equal(t, []string{"t.order.>"}, cfg.Subjects)

	// Again, with one more subject: an update, not an error.
	require.NoError(t, EnsureStream(ctx, js, "ORDERS_T", []string{"t.order.>", "t.refund.>"}))
	s, err = js.Stream(ctx, "ORDERS_T")
	require.NoError(t, err)
	assert.Equal(t, []string{"t.order.>", "t.refund.>"}, s.CachedInfo().Config.Subjects)

	assert.Error(t, EnsureStream(ctx, js, "", []string{"x"}))
	assert.Error(t, EnsureStream(ctx, js, "EMPTY", nil))
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                       "nats://127.0.0.1:4222",
		"nats://u:p@a:4222,nats://b:4222":             "nats://***@a:4222,nats://b:4222",
		"tls://token@a:4222":                          "tls://***@a:4222",
		"u:p@host:4222":                               "***@host:4222",
		"nats://u:p@a:4222,nats://u:p%40ss@b.io:4222": "nats://***@a:4222,nats://***@b.io:4222",
	} {
		assert.Equal(t, want, redactURL(in), in)
	}
}
