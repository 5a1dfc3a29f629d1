package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	apievents "github.com/slipway-dev/slipway/api/events"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/platform/events/natstest"
)

// eventsCluster starts the shop against a NATS server whose only clients
// are the services, each as its own NATS user with the permissions of
// events.Accesses, and only its own credentials in its environment; order
// signs its events with key and the consumers verify them: the broker as
// `slipway dev` and a production deployment run it. extraEnv goes to every
// service, after its own; c.env[svc] is the service's own (its NATS
// credentials and event key), for a test that scans for secrets.
func eventsCluster(t *testing.T, key ed25519.PrivateKey, extraEnv ...string) (*cluster, *natstest.Broker) {
	t.Helper()
	b := natstest.Start(t)
	c := &cluster{
		t: t, nats: b.Server, dbs: newDatabases(t), otlp: startOTLPReceiver(t),
		env: map[string][]string{}, procs: map[string]*process{},
		secret: randomHex(t, 12), keyFile: filepath.Join(t.TempDir(), "user-ed25519.pem"),
	}
	t.Cleanup(c.stopAll)
	for _, svc := range services {
		var own []string
		if pw, ok := b.Passwords[svc]; ok {
			own = []string{"NATS_USER=" + svc, "NATS_PASSWORD=" + pw}
		}
		switch svc {
		case apievents.ServiceOrder:
			own = append(own, "EVENTS_SIGNING_KEY="+events.EncodeKey(key))
		case apievents.ServiceInventory, apievents.ServiceNotification:
			own = append(own, "EVENTS_PRODUCER_KEYS=order:"+events.EncodeKey(key.Public().(ed25519.PublicKey)))
		}
		c.env[svc] = own
		c.extra = append(slices.Clone(own), extraEnv...)
		c.start(svc)
	}
	c.extra = extraEnv
	return c, b
}

// eventsForger is an attacker's NATS client: it connects as user (no
// credentials when user is "") and reports the server's permission
// violations.
type eventsForger struct {
	js   jetstream.JetStream
	errs chan error
}

func eventsDial(t *testing.T, b *natstest.Broker, user string) (*eventsForger, error) {
	t.Helper()
	f := &eventsForger{errs: make(chan error, 16)}
	opts := []nats.Option{nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case f.errs <- err:
		default:
		}
	})}
	if user != "" {
		opts = append(opts, nats.UserInfo(user, b.Passwords[user]), nats.CustomInboxPrefix(apievents.InboxPrefix(user)))
	}
	nc, err := nats.Connect(b.URL(), opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	f.js, err = jetstream.New(nc)
	require.NoError(t, err)
	return f, nil
}

// eventsCancel is an OrderCancelled exactly as order's relay would publish it.
func eventsCancel(t *testing.T, e *orderv1.OrderCancelled) *nats.Msg {
	t.Helper()
	data, err := proto.Marshal(e)
	require.NoError(t, err)
	m := nats.NewMsg(apievents.SubjectOrderCancelled)
	m.Data = data
	m.Header.Set(events.HeaderContentType, events.ContentTypeProtobuf)
	m.Header.Set(events.HeaderEventType, string(proto.MessageName(e)))
	m.Header.Set(jetstream.MsgIDHeader, e.GetEventId())
	return m
}

// A forged NATS publish of OrderCancelled for another user's order is
// refused by the broker, whoever the attacker connects as. With order's
// stolen NATS password the forgery reaches the stream but carries no
// signature of order, and an event order signed that breaks the schema
// fails the consumers' schema check: both are dead-lettered with the
// reason. The order stays PLACED, its stock stays taken, and its owner gets
// no cancellation notice.
func TestSecurityForgedOrderEventsAreRefused(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	c, b := eventsCluster(t, key)
	defer c.dumpOnFailure()
	ctx := context.Background()
	s := c.shop(t, "grpc")
	victimID, victim := customer(t, s, "victim")
	product := stocked(t, s, 3)
	before := product.GetStock()
	order, err := s.CreateOrder(ctx, victim, "victim-"+randomHex(t, 4), &orderv1.LineItem{ProductId: product.GetId(), Quantity: 2})
	require.NoError(t, err)
	require.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, order.GetStatus())
	notificationsFor(t, s, victim, order.GetId(), 1) // the authenticated event flow works

	forged := func(name string) *orderv1.OrderCancelled {
		return &orderv1.OrderCancelled{EventId: "forged-" + name + "-" + randomHex(t, 4), OrderId: order.GetId(), UserId: victimID, Reason: "forged"}
	}

	t.Run("without credentials the attacker cannot connect", func(t *testing.T) {
		_, err := eventsDial(t, b, "")
		require.ErrorIs(t, err, nats.ErrAuthorization)
	})
	for _, user := range []string{apievents.ServiceInventory, apievents.ServiceNotification} {
		t.Run("with "+user+"'s credentials the publish is refused", func(t *testing.T) {
			f, err := eventsDial(t, b, user)
			require.NoError(t, err)
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = f.js.PublishMsg(pctx, eventsCancel(t, forged(user)))
			cancel()
			require.Error(t, err, "no stream acknowledged the forgery")
			select {
			case err := <-f.errs:
				assert.ErrorIs(t, err, nats.ErrPermissionViolation)
				assert.ErrorContains(t, err, apievents.SubjectOrderCancelled)
			case <-time.After(5 * time.Second):
				t.Fatal("the server reported no permissions violation")
			}
		})
	}

	// With order's stolen NATS password the forgery reaches the stream, but
	// unsigned: both consumers reject it as unauthenticated.
	thief, err := eventsDial(t, b, apievents.ServiceOrder)
	require.NoError(t, err)
	stolen := forged("stolen-password")
	msg := eventsCancel(t, stolen)
	msg.Header.Set(events.HeaderProducer, apievents.ServiceOrder) // claiming is not proving
	_, err = thief.js.PublishMsg(ctx, msg)
	require.NoError(t, err, "the broker takes it: the password is order's")

	// Signed by order (a bug in order) but without a user id, the event
	// breaks OrderCancelled's rules: both consumers reject it by schema.
	signer, closeSigner, err := events.OpenBroker(ctx, events.BrokerConfig{
		URL: b.URL(), Name: apievents.ServiceOrder, User: apievents.ServiceOrder, Password: b.Passwords[apievents.ServiceOrder], SigningKey: key,
	}, nil)
	require.NoError(t, err)
	defer closeSigner()
	invalid := forged("invalid")
	invalid.UserId = ""
	_, err = signer.JS.PublishMsg(ctx, eventsCancel(t, invalid))
	require.NoError(t, err)

	// A later order's notification shows the consumers have read past
	// everything published before it.
	_, other := customer(t, s, "bystander")
	later, err := s.CreateOrder(ctx, other, "later-"+randomHex(t, 4), &orderv1.LineItem{ProductId: product.GetId(), Quantity: 1})
	require.NoError(t, err)
	notificationsFor(t, s, other, later.GetId(), 1)
	admin, err := eventsDial(t, b, natstest.Admin)
	require.NoError(t, err)
	var rejected map[string]nats.Header
	assert.Eventually(t, func() bool {
		rejected = eventsDeadLetters(ctx, t, admin.js)
		return len(rejected) == 4
	}, 20*time.Second, 50*time.Millisecond, "both consumers dead-letter both events")

	got, err := s.GetOrder(ctx, victim, order.GetId())
	require.NoError(t, err)
	assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, got.GetStatus(), "the order stays placed")
	assert.Equal(t, before-3, stockOf(t, s, product.GetId()), "no stock came back: 2 for the victim, 1 for the later order")
	all := notificationsFor(t, s, victim, order.GetId(), 1)
	assert.Len(t, all, 1, "the victim got no cancellation notice")

	for _, durable := range []string{apievents.ServiceInventory, apievents.ServiceNotification} {
		if h := rejected[apievents.DeadLetterSubject(durable)+" "+stolen.GetEventId()]; assert.NotNil(t, h, durable) {
			assert.Equal(t, events.RejectedAuthentication, h.Get(events.HeaderRejection))
			assert.Contains(t, h.Get(events.HeaderDeadLetterReason), "no Slipway-Signature")
		}
		if h := rejected[apievents.DeadLetterSubject(durable)+" "+invalid.GetEventId()]; assert.NotNil(t, h, durable) {
			assert.Equal(t, events.RejectedSchema, h.Get(events.HeaderRejection))
			assert.Contains(t, h.Get(events.HeaderDeadLetterReason), "user_id")
		}
	}
}

// eventsDeadLetters returns the headers of every dead letter, by
// "<subject> <event id>".
func eventsDeadLetters(ctx context.Context, t *testing.T, js jetstream.JetStream) map[string]nats.Header {
	t.Helper()
	out := map[string]nats.Header{}
	st, err := js.Stream(ctx, apievents.StreamDeadLetter)
	if err != nil {
		return out
	}
	info, err := st.Info(ctx)
	require.NoError(t, err)
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(t, err)
		out[m.Subject+" "+m.Header.Get(events.HeaderEventID)] = m.Header
	}
	return out
}
