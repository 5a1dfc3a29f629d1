package orderevents_test

import (
	"database/sql"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	apievents "github.com/slipway-dev/slipway/api/events"
	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/events"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
	"github.com/slipway-dev/slipway/services/notification/internal/orderevents"
	"github.com/slipway-dev/slipway/services/notification/internal/store"
)

// env is a handler over the real domain and a fresh SQLite store, with a
// webhook channel: each notification is queued for delivery.
type env struct {
	db      *platformstore.DB
	store   *store.Store
	handler *orderevents.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, domain.ChannelWebhook)
}

func newEnvWith(t *testing.T, channel domain.Channel) *env {
	t.Helper()
	db := storetest.Open(t, platformstore.SQLite)
	require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
	e := &env{db: db, store: store.New(db)}
	e.handler = orderevents.NewHandler(domain.NewNotificationService(e.store, channel), e.store, slog.New(slog.DiscardHandler))
	return e
}

// queued is the delivery row of notification id, failing the test when
// there is none.
func (e *env) queued(t *testing.T, id string) store.DeliveryRow {
	t.Helper()
	row, err := e.store.Delivery(t.Context(), id)
	require.NoError(t, err)
	return row
}

// deliver runs the handler on a message in a transaction, as the consumer
// does, and returns its error (the transaction rolled back on error).
func (e *env) deliver(t *testing.T, messageID, subject string, payload proto.Message) error {
	t.Helper()
	data, err := proto.Marshal(payload)
	require.NoError(t, err)
	return e.deliverRaw(t, events.Message{ID: messageID, Subject: subject, Data: data, Delivery: 1})
}

func (e *env) deliverRaw(t *testing.T, m events.Message) error {
	t.Helper()
	return e.db.InTx(t.Context(), func(tx *sql.Tx) error { return e.handler.Handle(t.Context(), tx, m) })
}

func (e *env) stored(t *testing.T, userID string) []domain.Notification {
	t.Helper()
	ns, err := e.store.ListByUser(t.Context(), userID, "", 100)
	require.NoError(t, err)
	return ns
}

func placed() *orderv1.OrderPlaced {
	return &orderv1.OrderPlaced{
		EventId: "evt-1", OrderId: "ord_1", UserId: "user-a",
		Items: []*orderv1.OrderItem{
			{ProductId: "mug", Name: "Mug", Quantity: 1},
			{ProductId: "tea", Name: "Tea", Quantity: 1},
		},
		Total:      &moneyv1.Money{Currency: "USD", AmountMinor: 7990},
		OccurredAt: timestamppb.New(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)),
	}
}

func TestOrderPlacedBecomesOneNotification(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.deliver(t, "evt-1", apievents.SubjectOrderPlaced, placed()))

	got := e.stored(t, "user-a")
	require.Len(t, got, 1)
	n := got[0]
	assert.Equal(t, domain.KindOrderPlaced, n.Kind)
	assert.Equal(t, "Order placed", n.Title)
	assert.Equal(t, "Your order ord_1 for 2 items totalling USD 79.90 is placed.", n.Body)
	assert.Equal(t, "evt-1", n.EventID)
	assert.Equal(t, "ord_1", n.OrderID)
	assert.Equal(t, domain.DeliveryPending, n.Delivery, "visible at once, its delivery queued")
	row := e.queued(t, n.ID)
	assert.Equal(t, domain.DeliveryPending, row.State)
	assert.Zero(t, row.Attempts)

	t.Run("the same event under another message id is acknowledged and changes nothing", func(t *testing.T) {
		require.NoError(t, e.deliver(t, "another-message-id", apievents.SubjectOrderPlaced, placed()))
		assert.Equal(t, []domain.Notification{n}, e.stored(t, "user-a"))
		assert.Equal(t, row, e.queued(t, n.ID), "not queued again")
	})
}

func TestWithoutAChannelNothingIsQueued(t *testing.T) {
	e := newEnvWith(t, domain.ChannelNone)
	require.NoError(t, e.deliver(t, "evt-1", apievents.SubjectOrderPlaced, placed()))
	got := e.stored(t, "user-a")
	require.Len(t, got, 1)
	assert.Equal(t, domain.DeliveryNone, got[0].Delivery)
	_, err := e.store.Delivery(t.Context(), got[0].ID)
	assert.ErrorIs(t, err, sql.ErrNoRows)
}

func TestOrderCancelledBecomesANotification(t *testing.T) {
	e := newEnv(t)
	err := e.deliver(t, "evt-2", apievents.SubjectOrderCancelled, &orderv1.OrderCancelled{
		EventId: "evt-2", OrderId: "ord_1", UserId: "user-a",
		Items:  []*orderv1.OrderItem{{ProductId: "mug", Quantity: 2}},
		Reason: "changed my mind",
	})
	require.NoError(t, err)
	got := e.stored(t, "user-a")
	require.Len(t, got, 1)
	assert.Equal(t, domain.KindOrderCancelled, got[0].Kind)
	assert.Equal(t, "Order cancelled", got[0].Title)
	assert.Equal(t, "Your order ord_1 for 2 items is cancelled. Reason: changed my mind.", got[0].Body)
}

func failed() *orderv1.OrderFailed {
	return &orderv1.OrderFailed{
		EventId: "evt-3", OrderId: "ord_1", UserId: "user-a",
		Items:  []*orderv1.OrderItem{{ProductId: "mug", Quantity: 2}},
		Total:  &moneyv1.Money{Currency: "USD", AmountMinor: 2400},
		Reason: "payment declined: card_declined (insufficient funds)",
	}
}

func TestOrderFailedBecomesOneNotification(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.deliver(t, "evt-3", apievents.SubjectOrderFailed, failed()))

	got := e.stored(t, "user-a")
	require.Len(t, got, 1)
	n := got[0]
	assert.Equal(t, domain.KindOrderFailed, n.Kind)
	assert.Equal(t, "Order failed", n.Title)
	assert.Equal(t, "Your order ord_1 for 2 items totalling USD 24.00 failed and was not placed. "+
		"Reason: payment declined: card_declined (insufficient funds).", n.Body)
	assert.Equal(t, "evt-3", n.EventID)
	assert.Equal(t, "ord_1", n.OrderID)
	assert.Equal(t, domain.DeliveryPending, n.Delivery, "queued for the webhook like every notification")
	row := e.queued(t, n.ID)
	assert.Equal(t, domain.DeliveryPending, row.State)

	t.Run("delivered again it is acknowledged and stores nothing", func(t *testing.T) {
		require.NoError(t, e.deliver(t, "evt-3", apievents.SubjectOrderFailed, failed()))
		require.NoError(t, e.deliver(t, "another-message-id", apievents.SubjectOrderFailed, failed()))
		assert.Equal(t, []domain.Notification{n}, e.stored(t, "user-a"))
		assert.Equal(t, row, e.queued(t, n.ID), "not queued again")
	})
	t.Run("an order that failed before it was priced", func(t *testing.T) {
		require.NoError(t, e.deliver(t, "evt-4", apievents.SubjectOrderFailed, &orderv1.OrderFailed{
			EventId: "evt-4", OrderId: "ord_2", UserId: "user-a", Reason: "stock unavailable",
		}))
		got := e.stored(t, "user-a")
		require.Len(t, got, 2)
		assert.Equal(t, "Your order ord_2 failed and was not placed. Reason: stock unavailable.", got[0].Body)
	})
}

func TestSubjectsAreTheOrderEventsItHandles(t *testing.T) {
	assert.ElementsMatch(t, []string{
		apievents.SubjectOrderPlaced, apievents.SubjectOrderCancelled, apievents.SubjectOrderFailed,
	}, orderevents.Subjects)
	for _, subject := range orderevents.Subjects {
		assert.Contains(t, apievents.Schemas, subject, "a subject with a schema the consumer checks")
	}
}

func TestEventsThatFailAreRolledBack(t *testing.T) {
	invalid := placed()
	invalid.UserId = ""
	tests := []struct {
		name    string
		message func(t *testing.T) events.Message
		wantErr string
	}{
		{
			name: "a payload that is not an OrderPlaced",
			message: func(*testing.T) events.Message {
				return events.Message{ID: "evt-1", Subject: apievents.SubjectOrderPlaced, Data: []byte("\xff\xff not protobuf")}
			},
			wantErr: "decode",
		},
		{
			name: "an invalid event",
			message: func(t *testing.T) events.Message {
				data, err := proto.Marshal(invalid)
				require.NoError(t, err)
				return events.Message{ID: "evt-1", Subject: apievents.SubjectOrderPlaced, Data: data}
			},
			wantErr: "user_id",
		},
		{
			name: "an OrderFailed without a user",
			message: func(t *testing.T) events.Message {
				f := failed()
				f.UserId = ""
				data, err := proto.Marshal(f)
				require.NoError(t, err)
				return events.Message{ID: "evt-1", Subject: apievents.SubjectOrderFailed, Data: data}
			},
			wantErr: "user_id",
		},
		{
			name: "a subject it does not handle",
			message: func(t *testing.T) events.Message {
				data, err := proto.Marshal(placed())
				require.NoError(t, err)
				return events.Message{ID: "evt-1", Subject: "slipway.order.shipped", Data: data}
			},
			wantErr: "slipway.order.shipped",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			err := e.deliverRaw(t, tt.message(t))
			assert.ErrorContains(t, err, tt.wantErr)
			assert.Empty(t, e.stored(t, "user-a"), "nothing stays stored")
			pending, _, err := e.store.Counts(t.Context())
			require.NoError(t, err)
			assert.Zero(t, pending, "nothing stays queued")

			require.NoError(t, e.deliver(t, "evt-1", apievents.SubjectOrderPlaced, placed()), "the event is handled when it comes again")
			assert.Len(t, e.stored(t, "user-a"), 1)
		})
	}
}
