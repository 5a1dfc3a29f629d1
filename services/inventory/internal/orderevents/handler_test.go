package orderevents_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	apievents "github.com/slipway-dev/slipway/api/events"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/orderevents"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// logBuffer collects log lines; the consumer logs from its own goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one test's migrated database holding products a and b (10 units
// each), the inventory over it and the handler under test.
type env struct {
	db        *platformstore.DB
	store     *store.Store
	inventory *domain.InventoryService
	handler   *orderevents.Handler
	reg       *prometheus.Registry
	logs      *logBuffer
}

func newEnv(t *testing.T, d platformstore.Dialect) *env {
	t.Helper()
	db := storetest.Open(t, d)
	require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
	require.NoError(t, events.EnsureSchema(t.Context(), db))
	st := store.New(db)
	_, err := st.AddProducts(t.Context(),
		domain.Product{ID: "a", Name: "A", Price: domain.Money{AmountMinor: 100, Currency: "USD"}, Stock: 10, UpdatedAt: t0},
		domain.Product{ID: "b", Name: "B", Price: domain.Money{AmountMinor: 100, Currency: "USD"}, Stock: 10, UpdatedAt: t0},
	)
	require.NoError(t, err)
	e := &env{db: db, store: st, inventory: domain.NewInventoryService(st), reg: prometheus.NewRegistry(), logs: &logBuffer{}}
	e.handler, err = orderevents.NewHandler(e.inventory, st, slog.New(slog.NewJSONHandler(e.logs, nil)), e.reg)
	require.NoError(t, err)
	return e
}

func forEachDialect(t *testing.T, test func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) { test(t, newEnv(t, d)) })
	}
}

func (e *env) reserve(t *testing.T, orderID string, items ...domain.Item) {
	t.Helper()
	_, err := e.inventory.Reserve(t.Context(), orderID, items)
	require.NoError(t, err)
}

func (e *env) stock(t *testing.T, id string) int64 {
	t.Helper()
	p, err := e.store.GetProduct(t.Context(), id)
	require.NoError(t, err)
	return p.Stock
}

func (e *env) status(t *testing.T, orderID string) domain.ReservationStatus {
	t.Helper()
	var r domain.Reservation
	require.NoError(t, e.store.InTx(t.Context(), func(ctx context.Context, tx domain.Tx) error {
		var err error
		r, err = tx.GetReservation(ctx, orderID)
		return err
	}))
	return r.Status
}

func (e *env) commitsAfterRelease(t *testing.T) float64 {
	t.Helper()
	return e.counter(t, "slipway_inventory_commit_after_release_total", "", "")
}

// counter is the value of the counter name whose label has value ("" for
// a counter without labels); 0 when it has not been counted yet.
func (e *env) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// message is m as the consumer delivers it.
func message(t *testing.T, subject, id string, payload proto.Message) events.Message {
	t.Helper()
	data, err := proto.Marshal(payload)
	require.NoError(t, err)
	h := nats.Header{}
	h.Set(events.HeaderEventType, string(proto.MessageName(payload)))
	return events.Message{ID: id, Subject: subject, Data: data, Header: h, Delivery: 1}
}

func placed(t *testing.T, id, orderID string) events.Message {
	return message(t, apievents.SubjectOrderPlaced, id, &orderv1.OrderPlaced{EventId: id, OrderId: orderID, UserId: "u-1"})
}

func cancelled(t *testing.T, id, orderID string) events.Message {
	return message(t, apievents.SubjectOrderCancelled, id, &orderv1.OrderCancelled{EventId: id, OrderId: orderID, UserId: "u-1"})
}

func failed(t *testing.T, id, orderID string) events.Message {
	return message(t, apievents.SubjectOrderFailed, id, &orderv1.OrderFailed{
		EventId: id, OrderId: orderID, UserId: "u-1", Reason: "payment declined: card_declined",
	})
}

// handle runs the handler on m in a transaction of its own, as the
// consumer does, and returns its error (the transaction rolled back).
func (e *env) handle(t *testing.T, m events.Message) error {
	t.Helper()
	return e.db.InTx(t.Context(), func(tx *sql.Tx) error { return e.handler.Handle(t.Context(), tx, m) })
}

// The handler on its own, in the consumer's kind of transaction: what each
// event does to the inventory, and which events are errors to retry.
func TestHandle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		e.reserve(t, "o-1", domain.Item{ProductID: "a", Quantity: 3})
		e.reserve(t, "o-2", domain.Item{ProductID: "b", Quantity: 4})

		t.Run("OrderPlaced commits the reservation", func(t *testing.T) {
			require.NoError(t, e.handle(t, placed(t, "e-1", "o-1")))
			assert.Equal(t, domain.StatusCommitted, e.status(t, "o-1"))
			assert.Equal(t, int64(7), e.stock(t, "a"))
		})
		t.Run("OrderCancelled of a committed order returns its stock", func(t *testing.T) {
			require.NoError(t, e.handle(t, cancelled(t, "e-2", "o-1")))
			assert.Equal(t, domain.StatusReleased, e.status(t, "o-1"))
			assert.Equal(t, int64(10), e.stock(t, "a"))
		})
		t.Run("OrderPlaced after the release is acknowledged, warned about and counted", func(t *testing.T) {
			require.NoError(t, e.handle(t, placed(t, "e-3", "o-1")))
			assert.Equal(t, domain.StatusReleased, e.status(t, "o-1"), "stays released")
			assert.Equal(t, int64(10), e.stock(t, "a"), "its stock is not taken again")
			assert.Equal(t, float64(1), e.commitsAfterRelease(t))
			assert.Contains(t, e.logs.String(), `"level":"WARN"`)
			assert.Contains(t, e.logs.String(), `"order_id":"o-1"`)
		})
		t.Run("OrderCancelled of a held reservation returns its stock", func(t *testing.T) {
			require.NoError(t, e.handle(t, cancelled(t, "e-4", "o-2")))
			assert.Equal(t, int64(10), e.stock(t, "b"))
		})

		failures := []struct {
			name string
			m    events.Message
		}{
			{"OrderPlaced of an order never reserved", placed(t, "e-5", "nobody")},
			{"OrderPlaced without an order id", placed(t, "e-6", "")},
			{"a payload that is not protobuf", events.Message{ID: "e-7", Subject: apievents.SubjectOrderPlaced, Data: []byte{0xff, 0xff}}},
			{"a payload of another type", func() events.Message {
				m := cancelled(t, "e-8", "o-2")
				m.Subject = apievents.SubjectOrderPlaced
				return m
			}()},
			{"another subject", func() events.Message {
				m := placed(t, "e-9", "o-2")
				m.Subject = "slipway.order.shipped"
				return m
			}()},
		}
		for _, f := range failures {
			t.Run(f.name+" is an error, to be retried and dead-lettered", func(t *testing.T) {
				assert.Error(t, e.handle(t, f.m))
			})
		}
		assert.Equal(t, float64(1), e.commitsAfterRelease(t), "failures are not commits after release")
	})
}

// OrderFailed gives back what the failed order still holds, and is a no-op
// for whatever the order service's own Release (or an expiry) already did.
func TestHandleOrderFailed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		e.reserve(t, "o-1", domain.Item{ProductID: "a", Quantity: 3})
		e.reserve(t, "o-2", domain.Item{ProductID: "b", Quantity: 4})
		require.Equal(t, []int64{7, 6}, []int64{e.stock(t, "a"), e.stock(t, "b")})

		t.Run("a held reservation is released and its stock comes back", func(t *testing.T) {
			require.NoError(t, e.handle(t, failed(t, "e-1", "o-1")))
			assert.Equal(t, domain.StatusReleased, e.status(t, "o-1"))
			assert.Equal(t, int64(10), e.stock(t, "a"))
		})
		t.Run("the same failure again returns nothing twice", func(t *testing.T) {
			require.NoError(t, e.handle(t, failed(t, "e-1-again", "o-1")))
			assert.Equal(t, domain.StatusReleased, e.status(t, "o-1"))
			assert.Equal(t, int64(10), e.stock(t, "a"))
		})
		t.Run("a reservation the order service released already is left as it is", func(t *testing.T) {
			_, err := e.inventory.Release(t.Context(), "o-2")
			require.NoError(t, err)
			require.Equal(t, int64(10), e.stock(t, "b"))
			require.NoError(t, e.handle(t, failed(t, "e-2", "o-2")))
			assert.Equal(t, domain.StatusReleased, e.status(t, "o-2"))
			assert.Equal(t, int64(10), e.stock(t, "b"), "not put back twice")
		})
		t.Run("an order that failed before reserving is acknowledged and cannot reserve later", func(t *testing.T) {
			require.NoError(t, e.handle(t, failed(t, "e-3", "o-never")))
			assert.Equal(t, domain.StatusReleased, e.status(t, "o-never"), "a tombstone")
			_, err := e.inventory.Reserve(t.Context(), "o-never", []domain.Item{{ProductID: "a", Quantity: 1}})
			require.ErrorIs(t, err, domain.ErrFailedPrecondition)
			assert.Equal(t, []int64{10, 10}, []int64{e.stock(t, "a"), e.stock(t, "b")})
		})
		t.Run("a committed reservation keeps its stock, with a warning", func(t *testing.T) {
			e.reserve(t, "o-3", domain.Item{ProductID: "a", Quantity: 2})
			require.NoError(t, e.handle(t, placed(t, "e-4", "o-3")))
			require.NoError(t, e.handle(t, failed(t, "e-5", "o-3")))
			assert.Equal(t, domain.StatusCommitted, e.status(t, "o-3"))
			assert.Equal(t, int64(8), e.stock(t, "a"))
			assert.Contains(t, e.logs.String(), `"msg":"order failed after its reservation was committed; its stock stays taken"`)
		})
		t.Run("an OrderFailed without an order id is an error, to be retried and dead-lettered", func(t *testing.T) {
			assert.Error(t, e.handle(t, failed(t, "e-6", "")))
		})
		t.Run("a payload of another type is an error", func(t *testing.T) {
			m := placed(t, "e-7", "o-3")
			m.Subject = apievents.SubjectOrderFailed
			assert.ErrorContains(t, e.handle(t, m), "slipway.order.v1.OrderPlaced")
		})
		assert.Zero(t, e.commitsAfterRelease(t))
	})
}

// A failing effect rolls back with the consumer's transaction: nothing of
// the event stays behind, so its redelivery applies it in full.
func TestHandleUsesTheConsumersTransaction(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		e.reserve(t, "o-1", domain.Item{ProductID: "a", Quantity: 3})
		err := e.db.InTx(t.Context(), func(tx *sql.Tx) error {
			require.NoError(t, e.handler.Handle(t.Context(), tx, cancelled(t, "e-1", "o-1")))
			return assert.AnError // the inbox insert failed after the handler, say
		})
		require.ErrorIs(t, err, assert.AnError)
		assert.Equal(t, domain.StatusReserved, e.status(t, "o-1"))
		assert.Equal(t, int64(7), e.stock(t, "a"), "the release rolled back with the transaction")
	})
}

// consumer runs the platform's consumer with the handler until the test
// ends, against the broker at url, and returns a stop function.
func (e *env) consumer(t *testing.T, js jetstream.JetStream) (stop func()) {
	t.Helper()
	c, err := events.NewConsumer(e.db, js, events.ConsumerConfig{
		Stream: apievents.StreamOrders, Durable: orderevents.Durable, Subjects: orderevents.Subjects,
		RetryDelay: 10 * time.Millisecond,
	}, e.handler.Handle, slog.New(slog.NewJSONHandler(e.logs, nil)), e.reg, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the consumer did not stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

// processed is the consumer's count of messages finished with result.
func (e *env) processed(t *testing.T, result string) float64 {
	t.Helper()
	return e.counter(t, "slipway_consumer_processed_total", "result", result)
}

func publish(t *testing.T, js jetstream.JetStream, m events.Message) {
	t.Helper()
	msg := nats.NewMsg(m.Subject)
	msg.Data = m.Data
	msg.Header = m.Header
	msg.Header.Set(jetstream.MsgIDHeader, m.ID)
	_, err := js.PublishMsg(t.Context(), msg)
	require.NoError(t, err)
}

// Through a real JetStream consumer with its inbox: the events take effect,
// and delivering every one of them again (the consumer reset, as after a
// lost ack or an operator replay) has no second effect.
func TestRedeliveryHasNoSecondEffect(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		nc, err := nats.Connect(natstest.StartOpen(t).URL())
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		for name, subjects := range map[string]string{apievents.StreamOrders: apievents.SubjectsOrders, apievents.StreamDeadLetter: apievents.SubjectsDeadLetter} {
			require.NoError(t, events.EnsureStream(t.Context(), js, name, []string{subjects}))
		}

		e.reserve(t, "o-1", domain.Item{ProductID: "a", Quantity: 3})
		e.reserve(t, "o-2", domain.Item{ProductID: "b", Quantity: 4})
		e.reserve(t, "o-3", domain.Item{ProductID: "a", Quantity: 1})
		stop := e.consumer(t, js)
		publish(t, js, placed(t, "e-1", "o-1"))
		publish(t, js, placed(t, "e-2", "o-2"))
		publish(t, js, cancelled(t, "e-3", "o-2"))
		publish(t, js, failed(t, "e-4", "o-3"))
		require.Eventually(t, func() bool { return e.processed(t, "ok") == 4 }, 15*time.Second, 10*time.Millisecond, e.logs.String())
		assert.Equal(t, domain.StatusCommitted, e.status(t, "o-1"))
		assert.Equal(t, domain.StatusReleased, e.status(t, "o-2"))
		assert.Equal(t, domain.StatusReleased, e.status(t, "o-3"), "the consumer's filter takes OrderFailed")
		want := []int64{7, 10}
		assert.Equal(t, want, []int64{e.stock(t, "a"), e.stock(t, "b")})

		// Reset the durable consumer: JetStream delivers all four again.
		stop()
		require.NoError(t, js.DeleteConsumer(t.Context(), apievents.StreamOrders, orderevents.Durable))
		e.consumer(t, js)
		require.Eventually(t, func() bool { return e.processed(t, "duplicate") == 4 }, 15*time.Second, 10*time.Millisecond, e.logs.String())

		assert.Equal(t, float64(4), e.processed(t, "ok"), "no event took effect twice")
		assert.Equal(t, want, []int64{e.stock(t, "a"), e.stock(t, "b")})
		assert.Equal(t, domain.StatusReleased, e.status(t, "o-2"))
		assert.Equal(t, domain.StatusReleased, e.status(t, "o-3"))
		assert.Zero(t, e.commitsAfterRelease(t), "the replayed OrderPlaced of the cancelled order never reached the domain")
	})
}
