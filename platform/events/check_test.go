package events

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

// Events that reach the consumer but fail the schema check are
// dead-lettered at once with the reason, never handled and never recorded
// in the inbox; a valid event behind them is handled.
func TestConsumerRejectsEventsThatFailTheSchemaCheck(t *testing.T) {
	t.Parallel()
	url := natstest.Shared(t)
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			testSchemaCheck(t, d, url)
		})
	}
}

func testSchemaCheck(t *testing.T, d store.Dialect, url string) {
	ctx := context.Background()
	db := openDB(t, d)
	_, js := connect(t, url)
	s := newStream(t, js)
	placed, cancelledSubj := s.subject("placed"), s.subject("cancelled")

	var (
		mu      sync.Mutex
		handled []string
	)
	c, err := NewConsumer(db, js, ConsumerConfig{
		Stream: s.name, Durable: "checked", Subjects: []string{s.prefix + ".>"},
		DeadLetterSubject: s.dlPrefix + ".checked", MaxDeliver: 3, RetryDelay: 20 * time.Millisecond,
		Schemas: map[string]proto.Message{placed: (*orderv1.OrderPlaced)(nil), cancelledSubj: (*orderv1.OrderCancelled)(nil)},
	}, func(_ context.Context, _ *sql.Tx, m Message) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, m.ID)
		return nil
	}, testLogger(t), nil, nil)
	require.NoError(t, err)

	valid := &orderv1.OrderPlaced{EventId: "e", OrderId: "o-1", UserId: "u-1"}
	msg := func(id, subject string, payload proto.Message, edit func(*nats.Msg)) *nats.Msg {
		data, err := proto.Marshal(payload)
		require.NoError(t, err)
		m := nats.NewMsg(subject)
		m.Data = data
		m.Header.Set(HeaderContentType, ContentTypeProtobuf)
		m.Header.Set(HeaderEventType, string(proto.MessageName(payload)))
		m.Header.Set(jetstream.MsgIDHeader, id)
		if edit != nil {
			edit(m)
		}
		return m
	}
	bad := []struct {
		msg    *nats.Msg
		reason string
	}{
		{msg("unknown-subject", s.subject("refunded"), valid, nil), `subject "` + s.subject("refunded") + `" carries no event`},
		{msg("wrong-type", cancelledSubj, valid, nil), `is "slipway.order.v1.OrderPlaced", want "slipway.order.v1.OrderCancelled"`},
		{msg("no-type", placed, valid, func(m *nats.Msg) { m.Header.Del(HeaderEventType) }), `Slipway-Event-Type is ""`},
		{msg("json", placed, valid, func(m *nats.Msg) { m.Header.Set(HeaderContentType, "application/json") }), `Content-Type is "application/json"`},
		{msg("garbage", placed, valid, func(m *nats.Msg) { m.Data = []byte{0xff, 0xff, 0xff} }), "payload is not a slipway.order.v1.OrderPlaced"},
		{msg("no-order", placed, &orderv1.OrderPlaced{EventId: "e", UserId: "u-1"}, nil), "order_id"},
	}
	for _, b := range bad {
		_, err := js.PublishMsg(ctx, b.msg)
		require.NoError(t, err)
	}
	_, err = js.PublishMsg(ctx, msg("valid", placed, valid, nil))
	require.NoError(t, err)
	run(t, c.Run)

	require.Eventually(t, func() bool { return counter(c.ok) == 1 }, waitFor, tick)
	mu.Lock()
	assert.Equal(t, []string{"valid"}, handled, "only the valid event reached the handler")
	mu.Unlock()
	assert.Equal(t, float64(len(bad)), counter(c.rejected))
	assert.Zero(t, counter(c.failed), "a rejected event is not retried")
	assert.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM inbox"), "rejected events leave no inbox row")

	dl := streamMsgs(t, js, s.dlName)
	require.Len(t, dl, len(bad))
	for i, b := range bad {
		id := b.msg.Header.Get(jetstream.MsgIDHeader)
		assert.Equal(t, id, dl[i].Header.Get(HeaderEventID))
		assert.Equal(t, b.msg.Subject, dl[i].Header.Get(HeaderOriginalSubject))
		assert.Equal(t, RejectedSchema, dl[i].Header.Get(HeaderRejection), id)
		assert.Contains(t, dl[i].Header.Get(HeaderDeadLetterReason), "consumer checked rejected the event: schema check failed: ", id)
		assert.Contains(t, dl[i].Header.Get(HeaderDeadLetterReason), b.reason, id)
		assert.Equal(t, b.msg.Data, dl[i].Data, "the payload is kept for inspection")
	}
}
