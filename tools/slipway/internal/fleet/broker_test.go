package fleet

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apievents "github.com/slipway-dev/slipway/api/events"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
)

func TestEmbeddedBrokerKeepsStreamsAcrossRestarts(t *testing.T) {
	root := t.TempDir()
	b, err := StartBroker(root, "127.0.0.1", 0)
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

	b, err = StartBroker(root, "127.0.0.1", 0)
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
	peers := map[string]string{"user": "127.0.0.1:50051", "inventory": "127.0.0.1:50053", "payment": "127.0.0.1:50055"}
	env := map[string]string{}
	for _, v := range devDefaults("/repo", "order", "127.0.0.1:8081", peers, "s3cret") {
		env[v.Key] = v.Value
	}
	assert.Equal(t, "127.0.0.1:50053", env["INVENTORY_ADDR"])
	assert.Equal(t, "127.0.0.1:50055", env["PAYMENT_ADDR"])
	assert.Equal(t, "127.0.0.1:50051", env["USER_ADDR"])
	assert.Equal(t, "s3cret", env["SERVICE_ACCOUNT_PASSWORD"])
	assert.Equal(t, "order:s3cret", env["SERVICE_ACCOUNTS"], "the user service creates the account order logs in with")

	a, err := Secret()
	require.NoError(t, err)
	b, err := Secret()
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	assert.Len(t, a, 24)
}

// With service users, the dev broker refuses anonymous clients, gives each
// service only its own credentials, and lets only order publish order
// events.
func TestEmbeddedBrokerWithServiceUsers(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys", "events.key")
	b, err := StartBroker(t.TempDir(), "127.0.0.1", 0, WithServiceUsers(), WithEventSigning(keyFile))
	require.NoError(t, err)
	defer b.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	_, err = nats.Connect(b.URL())
	require.ErrorIs(t, err, nats.ErrAuthorization, "no anonymous clients")

	env := map[string][]string{}
	for _, svc := range []string{"user", "order", "inventory", "notification"} {
		env[svc] = b.Credentials([]string{"NATS_URL=" + b.URL()}, svc)
	}
	assert.Equal(t, []string{"NATS_URL=" + b.URL()}, env["user"], "the user service gets no NATS credentials")
	for svc, e := range env {
		for other, pw := range b.passwords {
			if other != svc {
				assert.NotContains(t, strings.Join(e, "\n"), pw, "%s gets no password of %s", svc, other)
			}
		}
	}

	as := func(svc string) (jetstream.JetStream, chan error) {
		user, _ := envvar.Lookup(env[svc], "NATS_USER")
		pw, _ := envvar.Lookup(env[svc], "NATS_PASSWORD")
		require.Equal(t, svc, user)
		errs := make(chan error, 8)
		nc, err := nats.Connect(b.URL(), nats.UserInfo(user, pw), nats.CustomInboxPrefix(apievents.InboxPrefix(user)),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
		require.NoError(t, err, svc)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		return js, errs
	}
	order, _ := as("order")
	_, err = order.CreateStream(ctx, jetstream.StreamConfig{Name: apievents.StreamOrders, Subjects: []string{apievents.SubjectsOrders}})
	require.NoError(t, err)
	_, err = order.Publish(ctx, apievents.SubjectOrderCancelled, []byte("from order"))
	require.NoError(t, err, "order publishes order events")

	inventory, errs := as("inventory")
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	_, err = inventory.Publish(pctx, apievents.SubjectOrderCancelled, []byte("forged"))
	pcancel()
	require.Error(t, err)
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, nats.ErrPermissionViolation)
	case <-time.After(5 * time.Second):
		t.Fatal("no permissions violation for a forged OrderCancelled")
	}

	// Order alone gets the event signing key; the consumers its public key.
	seed, ok := envvar.Lookup(env["order"], "EVENTS_SIGNING_KEY")
	require.True(t, ok)
	key, err := events.ParseSigningKey(seed)
	require.NoError(t, err)
	for _, svc := range []string{"inventory", "notification"} {
		keys, _ := envvar.Lookup(env[svc], "EVENTS_PRODUCER_KEYS")
		parsed, err := events.ParseProducerKeys(keys)
		require.NoError(t, err, svc)
		assert.Equal(t, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, parsed["order"], svc)
		assert.NotContains(t, strings.Join(env[svc], "\n"), seed, "%s never gets the private key", svc)
	}
	for _, k := range []string{"EVENTS_SIGNING_KEY", "EVENTS_PRODUCER_KEYS"} {
		_, ok := envvar.Lookup(env["user"], k)
		assert.False(t, ok, k)
	}
	info, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	// A new session makes new passwords and keeps the signing key.
	b2, err := StartBroker(t.TempDir(), "127.0.0.1", 0, WithServiceUsers(), WithEventSigning(keyFile))
	require.NoError(t, err)
	defer b2.Stop()
	assert.NotEqual(t, b.passwords["order"], b2.passwords["order"])
	assert.Equal(t, b.eventKey, b2.eventKey)
}

func TestEmbeddedBrokerRefusesABadEventKeyFile(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "events.key")
	require.NoError(t, os.WriteFile(keyFile, []byte("not a key"), 0o600))
	_, err := StartBroker(t.TempDir(), "127.0.0.1", 0, WithServiceUsers(), WithEventSigning(keyFile))
	require.Error(t, err)
	assert.ErrorContains(t, err, keyFile)
	assert.ErrorContains(t, err, "delete it to make a new one")
}
