package events

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	apievents "github.com/slipway-dev/slipway/api/events"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

// refusedWithin is how long a test waits for the server's permissions
// violation: the refused request itself gets no answer and times out.
const refusedWithin = time.Second

// client is a raw connection as one NATS user that records the server's
// asynchronous errors, where permission violations arrive.
type client struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	errs chan error
}

func dialAs(t *testing.T, b *natstest.Broker, user string) *client {
	t.Helper()
	c := &client{errs: make(chan error, 64)}
	nc, err := nats.Connect(b.URL(),
		nats.UserInfo(user, b.Passwords[user]),
		nats.CustomInboxPrefix(apievents.InboxPrefix(user)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case c.errs <- err:
			default:
			}
		}))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	c.nc = nc
	c.js, err = jetstream.New(nc)
	require.NoError(t, err)
	return c
}

// refused asserts that the server refused the last operation with a
// permissions violation naming subject, and that op failed.
func (c *client) refused(t *testing.T, op error, subject string) {
	t.Helper()
	assert.Error(t, op, "the operation must fail")
	select {
	case err := <-c.errs:
		assert.ErrorIs(t, err, nats.ErrPermissionViolation)
		assert.ErrorContains(t, err, subject)
	case <-time.After(5 * time.Second):
		t.Errorf("no permissions violation for %s (operation error: %v)", subject, op)
	}
}

// orderEvent is a message exactly as order's relay publishes an
// OrderCancelled, so that only the broker's permissions can stop it.
func orderEvent(t *testing.T, subject, id string, payload proto.Message) *nats.Msg {
	t.Helper()
	data, err := proto.Marshal(payload)
	require.NoError(t, err)
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(HeaderContentType, ContentTypeProtobuf)
	m.Header.Set(HeaderEventType, string(proto.MessageName(payload)))
	m.Header.Set(jetstream.MsgIDHeader, id)
	return m
}

func cancelled(id, orderID string) *orderv1.OrderCancelled {
	return &orderv1.OrderCancelled{EventId: id, OrderId: orderID, UserId: "victim"}
}

// openAs opens the broker as the service's provider does: order signs
// with orderKey, the consumers verify with its public key.
func openAs(t *testing.T, b *natstest.Broker, user string, orderKey ed25519.PrivateKey) *Broker {
	t.Helper()
	cfg := BrokerConfig{URL: b.URL(), Name: user, User: user, Password: b.Passwords[user]}
	orders := Stream{Name: apievents.StreamOrders, Subjects: apievents.SubjectsOrders}
	if user == apievents.ServiceOrder {
		cfg.Owns = []Stream{orders}
		cfg.SigningKey = orderKey
	} else {
		cfg.Reads = []Stream{{Name: apievents.StreamDeadLetter, Subjects: apievents.SubjectsDeadLetter}}
		cfg.ProducerKeys = map[string][]ed25519.PublicKey{apievents.ServiceOrder: {public(orderKey)}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	br, closeBroker, err := OpenBroker(ctx, cfg, testLogger(t))
	require.NoError(t, err, "%s opens the broker with its own permissions", user)
	t.Cleanup(closeBroker)
	return br
}

// The broker lets each service do what its role needs and refuses
// everything else, at the server: a forged OrderCancelled from a consumer's
// credentials never reaches the stream.
func TestBrokerPermissions(t *testing.T) {
	t.Parallel()
	b := natstest.Start(t)
	ctx := context.Background()
	// A consumer may start before order, but only order defines ORDERS: a
	// consumer that could would choose its retention (work-queue retention
	// would delete each event once the first consumer acked it).
	key := newKey(t)
	openAs(t, b, apievents.ServiceInventory, key)
	t.Run("a consumer cannot define ORDERS", func(t *testing.T) {
		inventory := dialAs(t, b, apievents.ServiceInventory)
		c, cancel := context.WithTimeout(ctx, refusedWithin)
		_, err := inventory.js.CreateStream(c, jetstream.StreamConfig{
			Name: apievents.StreamOrders, Subjects: []string{apievents.SubjectsOrders}, Retention: jetstream.WorkQueuePolicy,
		})
		cancel()
		inventory.refused(t, err, "$JS.API.STREAM.CREATE.ORDERS")
		_, err = dialAs(t, b, natstest.Admin).js.Stream(ctx, apievents.StreamOrders)
		require.ErrorIs(t, err, jetstream.ErrStreamNotFound, "starting a consumer first does not create ORDERS")
	})
	openAs(t, b, apievents.ServiceOrder, key)
	openAs(t, b, apievents.ServiceNotification, key)

	publish := func(c *client, subject, id string) error {
		pctx, cancel := context.WithTimeout(ctx, refusedWithin)
		defer cancel()
		_, err := c.js.PublishMsg(pctx, orderEvent(t, subject, id, cancelled(id, "order-of-victim")))
		return err
	}
	order := dialAs(t, b, apievents.ServiceOrder)
	inventory := dialAs(t, b, apievents.ServiceInventory)
	notification := dialAs(t, b, apievents.ServiceNotification)

	t.Run("order publishes order events", func(t *testing.T) {
		require.NoError(t, publish(order, apievents.SubjectOrderCancelled, "legit-1"))
		require.NoError(t, publish(order, apievents.SubjectOrderPlaced, "legit-2"))
	})
	for _, tt := range []struct {
		name    string
		c       *client
		subject string
	}{
		{"inventory may not publish OrderCancelled", inventory, apievents.SubjectOrderCancelled},
		{"notification may not publish OrderCancelled", notification, apievents.SubjectOrderCancelled},
		{"notification may not publish OrderPlaced", notification, apievents.SubjectOrderPlaced},
		{"inventory may not dead-letter as notification", inventory, apievents.DeadLetterSubject(apievents.ServiceNotification)},
		{"order may not dead-letter", order, apievents.DeadLetterSubject(apievents.ServiceInventory)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.refused(t, publish(tt.c, tt.subject, "forged-"+tt.subject), tt.subject)
		})
	}
	t.Run("a consumer dead-letters as itself", func(t *testing.T) {
		require.NoError(t, publish(inventory, apievents.DeadLetterSubject(apievents.ServiceInventory), "dl-1"))
	})

	t.Run("no credentials, or a wrong password, cannot connect", func(t *testing.T) {
		_, err := nats.Connect(b.URL())
		assert.ErrorIs(t, err, nats.ErrAuthorization)
		_, err = nats.Connect(b.URL(), nats.UserInfo(apievents.ServiceOrder, b.Passwords[apievents.ServiceInventory]))
		assert.ErrorIs(t, err, nats.ErrAuthorization)
		_, _, err = Connect(ctx, b.URL(), "anonymous", nil)
		assert.ErrorContains(t, err, "Authorization Violation")
	})

	t.Run("a consumer cannot change the stream or another's consumer", func(t *testing.T) {
		short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, refusedWithin) }
		c, cancel := short()
		_, err := inventory.js.UpdateStream(c, jetstream.StreamConfig{Name: apievents.StreamOrders, Subjects: []string{"slipway.nothing"}})
		cancel()
		inventory.refused(t, err, "$JS.API.STREAM.UPDATE.ORDERS")

		c, cancel = short()
		err = inventory.js.DeleteStream(c, apievents.StreamOrders)
		cancel()
		inventory.refused(t, err, "$JS.API.STREAM.DELETE.ORDERS")

		c, cancel = short()
		_, err = inventory.js.CreateOrUpdateConsumer(c, apievents.StreamOrders, jetstream.ConsumerConfig{Durable: apievents.ServiceNotification})
		cancel()
		inventory.refused(t, err, "$JS.API.CONSUMER.CREATE.ORDERS.notification")

		c, cancel = short()
		_, err = notification.js.UpdateStream(c, jetstream.StreamConfig{Name: apievents.StreamDeadLetter, Subjects: []string{apievents.SubjectsDeadLetter}, MaxAge: time.Second})
		cancel()
		notification.refused(t, err, "$JS.API.STREAM.UPDATE.DEADLETTER")

		c, cancel = short()
		_, err = inventory.js.Stream(c, apievents.StreamDeadLetter)
		cancel()
		require.NoError(t, err, "it may look at the dead-letter stream it writes to")
	})

	t.Run("no service reads the raw subjects or another's inbox", func(t *testing.T) {
		for _, tt := range []struct {
			subject string
			c       *client
		}{
			{"slipway.order.>", notification},
			{apievents.InboxPrefix("order") + ".>", inventory},
		} {
			subject, c := tt.subject, tt.c
			got := make(chan *nats.Msg, 8)
			sub, err := c.nc.ChanSubscribe(subject, got)
			require.NoError(t, err)
			require.NoError(t, c.nc.Flush())
			c.refused(t, errors.New("subscribed"), subject)
			require.NoError(t, publish(order, apievents.SubjectOrderPlaced, "watched-"+subject))
			select {
			case m := <-got:
				t.Errorf("%s received %s", subject, m.Subject)
			case <-time.After(200 * time.Millisecond):
			}
			_ = sub.Unsubscribe()
		}
	})

	t.Run("the stream holds only what order published", func(t *testing.T) {
		var ids []string
		for _, m := range streamMsgs(t, dialAs(t, b, natstest.Admin).js, apievents.StreamOrders) {
			ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
		}
		assert.Equal(t, []string{"legit-1", "legit-2", "watched-slipway.order.>", "watched-_INBOX.order.>"}, ids)
	})
}

// A consumer and its producer run end to end with nothing but their own
// permissions: order's relay publishes, inventory's consumer pulls, acks,
// reads its lag and dead-letters. Forged events from the consumers' own
// credentials never take effect.
func TestConsumerWithPermissions(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			testConsumerWithPermissions(t, d)
		})
	}
}

func testConsumerWithPermissions(t *testing.T, d store.Dialect) {
	b := natstest.Start(t)
	ctx := context.Background()
	key := newKey(t)
	inv := openAs(t, b, apievents.ServiceInventory, key)
	ord := openAs(t, b, apievents.ServiceOrder, key)

	db := openDB(t, d)
	var (
		mu      sync.Mutex
		handled []string
	)
	c, err := NewConsumer(db, inv.JS, ConsumerConfig{
		Stream: apievents.StreamOrders, Durable: apievents.ServiceInventory,
		Subjects: []string{apievents.SubjectOrderPlaced, apievents.SubjectOrderCancelled},
		Schemas:  apievents.Schemas, MaxDeliver: 2, RetryDelay: 20 * time.Millisecond,
		Producers: apievents.Producers, ProducerKeys: inv.ProducerKeys,
	}, func(_ context.Context, _ *sql.Tx, m Message) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, m.ID)
		return nil
	}, testLogger(t), nil, nil)
	require.NoError(t, err)
	c.lagInterval = 20 * time.Millisecond
	run(t, c.Run)

	// Forgeries first: had one reached the stream, it would be handled
	// before the legitimate event below.
	for _, user := range []string{apievents.ServiceInventory, apievents.ServiceNotification} {
		forger := dialAs(t, b, user)
		pctx, cancel := context.WithTimeout(ctx, refusedWithin)
		_, err := forger.js.PublishMsg(pctx, orderEvent(t, apievents.SubjectOrderCancelled, "forged-by-"+user, cancelled("forged-by-"+user, "order-of-victim")))
		cancel()
		forger.refused(t, err, apievents.SubjectOrderCancelled)
	}

	orderDB := openDB(t, d)
	relay, _ := newRelay(t, orderDB, ord.JS)
	run(t, relay.Run)
	enqueue(ctx, t, orderDB, Envelope{ID: "legit", Subject: apievents.SubjectOrderCancelled, Payload: cancelled("legit", "order-1")})
	// An event that passes the broker (order's credentials) but not the
	// schema check: rejected and dead-lettered as inventory.
	enqueue(ctx, t, orderDB, Envelope{ID: "no-order-id", Subject: apievents.SubjectOrderCancelled, Payload: cancelled("no-order-id", "")})
	relay.Notify()

	require.Eventually(t, func() bool { return counter(c.rejected) == 1 }, waitFor, tick)
	mu.Lock()
	assert.Equal(t, []string{"legit"}, handled, "only order's valid event reached the handler")
	mu.Unlock()
	assert.Equal(t, float64(1), counter(c.ok))
	require.Eventually(t, func() bool {
		info, err := inv.JS.Consumer(ctx, apievents.StreamOrders, apievents.ServiceInventory)
		return err == nil && info.CachedInfo().NumAckPending == 0 && info.CachedInfo().NumPending == 0
	}, waitFor, tick, "both events were acknowledged or terminated")
	dl := streamMsgs(t, dialAs(t, b, natstest.Admin).js, apievents.StreamDeadLetter)
	require.Len(t, dl, 1)
	assert.Equal(t, "no-order-id", dl[0].Header.Get(HeaderEventID))
	assert.Equal(t, RejectedSchema, dl[0].Header.Get(HeaderRejection))
	assert.Contains(t, dl[0].Header.Get(HeaderDeadLetterReason), "order_id")
}
