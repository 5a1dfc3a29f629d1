package events

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/store"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return k
}

func public(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// Only events signed by their subject's producer reach the handler: an
// unsigned event, another key, another producer, or a signed event moved to
// another subject, given another id or another payload, is dead-lettered
// with the reason. Events signed with a rotated-out key still listed pass.
func TestConsumerRejectsEventsThatFailAuthentication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := natstest.Shared(t)
	db := openDB(t, store.SQLite)
	_, js := connect(t, url)
	s := newStream(t, js)
	placed, cancelledSubj := s.subject("placed"), s.subject("cancelled")
	orderKey, oldOrderKey, attackerKey := newKey(t), newKey(t), newKey(t)

	var (
		mu      sync.Mutex
		handled []string
	)
	c, err := NewConsumer(db, js, ConsumerConfig{
		Stream: s.name, Durable: "verified", Subjects: []string{s.prefix + ".>"},
		DeadLetterSubject: s.dlPrefix + ".verified", RetryDelay: 20 * time.Millisecond,
		Producers:    map[string]string{placed: "order", cancelledSubj: "order"},
		ProducerKeys: map[string][]ed25519.PublicKey{"order": {public(orderKey), public(oldOrderKey)}},
	}, func(_ context.Context, _ *sql.Tx, m Message) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, m.ID)
		return nil
	}, testLogger(t), nil, nil)
	require.NoError(t, err)

	msg := func(id, subject string) *nats.Msg {
		m := nats.NewMsg(subject)
		m.Data = []byte("payload of " + id)
		m.Header.Set(HeaderEventType, "slipway.test.Event")
		m.Header.Set(jetstream.MsgIDHeader, id)
		return m
	}
	signedAt := func(id, subject string, at time.Time) *nats.Msg {
		m := msg(id, subject)
		if id == "" {
			m.Header.Del(jetstream.MsgIDHeader)
		}
		sign(m, "order", orderKey, at)
		return m
	}
	signed := func(id, subject, producer string, key ed25519.PrivateKey) *nats.Msg {
		m := msg(id, subject)
		sign(m, producer, key, time.Now())
		return m
	}
	// moved re-sends a signed message with one thing changed.
	moved := func(id string, change func(*nats.Msg)) *nats.Msg {
		m := signed(id, cancelledSubj, "order", orderKey)
		change(m)
		return m
	}
	bad := []struct {
		msg    *nats.Msg
		reason string
	}{
		{msg("unsigned", cancelledSubj), `Slipway-Producer is ""`},
		{signed("attacker", cancelledSubj, "order", attackerKey), "does not verify with any key of order"},
		{signed("inventory", cancelledSubj, "inventory", attackerKey), `Slipway-Producer is "inventory", want "order"`},
		{signed("no-producer", s.subject("refunded"), "order", orderKey), "has no known producer"},
		{moved("other-subject", func(m *nats.Msg) { m.Subject = placed }), "does not verify"},
		{moved("other-id", func(m *nats.Msg) { m.Header.Set(jetstream.MsgIDHeader, "other-id-2") }), "does not verify"},
		{moved("other-payload", func(m *nats.Msg) { m.Data = []byte("release everything") }), "does not verify"},
		{moved("other-type", func(m *nats.Msg) { m.Header.Set(HeaderEventType, "slipway.test.Other") }), "does not verify"},
		{moved("garbled", func(m *nats.Msg) { m.Header.Set(HeaderSignature, "!!") }), "not a base64 Ed25519 signature"},
		// A captured event replayed once the inbox (7 days) has pruned its id.
		{signedAt("replayed", cancelledSubj, time.Now().Add(-DefaultInboxRetention)), "older than 167h0m0s"},
		// Its time made fresh: the signature covers it.
		{moved("refreshed", func(m *nats.Msg) {
			m.Header.Set(HeaderSignedAt, time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano))
		}), "does not verify"},
		{moved("undated", func(m *nats.Msg) { m.Header.Del(HeaderSignedAt) }), `Slipway-Signed-At "" is not an RFC 3339 time`},
		{signedAt("future", cancelledSubj, time.Now().Add(time.Hour)), "in the future"},
		// Without an id the inbox could not tell a replay from a new event.
		{signedAt("", cancelledSubj, time.Now()), "no Nats-Msg-Id"},
	}
	for _, b := range bad {
		_, err := js.PublishMsg(ctx, b.msg)
		require.NoError(t, err)
	}
	// The producer's broker signs on publish.
	producer := signingJetStream{JetStream: js, producer: "order", key: orderKey}
	_, err = producer.PublishMsg(ctx, msg("valid", cancelledSubj))
	require.NoError(t, err)
	_, err = js.PublishMsg(ctx, signed("rotated", placed, "order", oldOrderKey))
	require.NoError(t, err)
	// A day old is well within the inbox retention.
	_, err = js.PublishMsg(ctx, signedAt("late", placed, time.Now().Add(-24*time.Hour)))
	require.NoError(t, err)
	run(t, c.Run)

	require.Eventually(t, func() bool { return counter(c.ok) == 3 }, waitFor, tick)
	mu.Lock()
	assert.Equal(t, []string{"valid", "rotated", "late"}, handled)
	mu.Unlock()
	assert.Equal(t, float64(len(bad)), counter(c.rejected))
	assert.Equal(t, 3, queryInt(t, db, "SELECT count(*) FROM inbox"), "rejected events leave no inbox row")
	dl := streamMsgs(t, js, s.dlName)
	require.Len(t, dl, len(bad))
	for i, b := range bad {
		assert.Equal(t, RejectedAuthentication, dl[i].Header.Get(HeaderRejection), b.reason)
		assert.Contains(t, dl[i].Header.Get(HeaderDeadLetterReason), "consumer verified rejected the event: authentication check failed: ")
		assert.Contains(t, dl[i].Header.Get(HeaderDeadLetterReason), b.reason)
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	got, err := ParseSigningKey(EncodeKey(k))
	require.NoError(t, err)
	assert.Equal(t, k, got)
	none, err := ParseSigningKey("")
	require.NoError(t, err)
	assert.Nil(t, none)
	for _, bad := range []string{"not base64!", EncodeKey(public(k))[:20]} {
		_, err := ParseSigningKey(bad)
		assert.Error(t, err, bad)
	}

	other := newKey(t)
	keys, err := ParseProducerKeys("order:" + EncodeKey(public(k)) + ", order:" + EncodeKey(public(other)))
	require.NoError(t, err)
	assert.Equal(t, []ed25519.PublicKey{public(k), public(other)}, keys["order"])
	for _, bad := range []string{",", "order", ":" + EncodeKey(public(k)), "order:abc"} {
		_, err := ParseProducerKeys(bad)
		assert.Error(t, err, bad)
		assert.NotEmpty(t, CheckProducerKeys(bad, "order"), bad)
	}
	assert.Empty(t, CheckProducerKeys("", "order"), "no keys: no check")
	assert.Empty(t, CheckProducerKeys("order:"+EncodeKey(public(k)), "order"))
	assert.Equal(t, `no key of producer "order"`, CheckProducerKeys("billing:"+EncodeKey(public(k)), "order"))
}
