package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	apievents "github.com/slipway-dev/slipway/api/events"
	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/events"
)

// publish puts an order event on the ORDERS stream as the order service's
// relay does: protobuf payload, its type in a header, the event id as
// Nats-Msg-Id.
func (s *service) publish(t *testing.T, subject, eventID string, payload proto.Message) {
	t.Helper()
	nc, err := nats.Connect(s.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	// ORDERS is order's to create; the consumer waits for it.
	require.NoError(t, events.EnsureStream(t.Context(), js, apievents.StreamOrders, []string{apievents.SubjectsOrders}))
	data, err := proto.Marshal(payload)
	require.NoError(t, err)
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(events.HeaderEventType, string(proto.MessageName(payload)))
	msg.Header.Set(jetstream.MsgIDHeader, eventID)
	_, err = js.PublishMsg(t.Context(), msg)
	require.NoError(t, err)
}

// The running service consumes the order events: OrderPlaced commits the
// reservation, OrderCancelled gives its stock back.
func TestRunAppliesOrderEvents(t *testing.T) {
	s := start(t)
	ctx := s.as(t, auth.RoleService)
	items := []*inventoryv1.ReservationItem{{ProductId: "aeropress-go", Quantity: 3}}
	stock := func() int64 {
		resp, err := s.client.GetProduct(t.Context(), &inventoryv1.GetProductRequest{Id: "aeropress-go"})
		require.NoError(t, err)
		return resp.GetProduct().GetStock()
	}
	// status is the reservation's status as a repeated Reserve reports it.
	status := func() inventoryv1.ReservationStatus {
		resp, err := s.client.Reserve(ctx, &inventoryv1.ReserveRequest{OrderId: "order-1", Items: items})
		require.NoError(t, err)
		return resp.GetReservation().GetStatus()
	}
	before := stock()
	require.Equal(t, inventoryv1.ReservationStatus_RESERVATION_STATUS_RESERVED, status())
	require.Equal(t, before-3, stock())

	s.publish(t, apievents.SubjectOrderPlaced, "evt-placed-1", &orderv1.OrderPlaced{EventId: "evt-placed-1", OrderId: "order-1", UserId: "user-1"})
	require.Eventually(t, func() bool {
		return status() == inventoryv1.ReservationStatus_RESERVATION_STATUS_COMMITTED
	}, 10*time.Second, 20*time.Millisecond, "OrderPlaced commits the reservation\n%s", s.Logs)
	assert.Equal(t, before-3, stock(), "a commit keeps the stock taken")

	s.publish(t, apievents.SubjectOrderCancelled, "evt-cancelled-1", &orderv1.OrderCancelled{EventId: "evt-cancelled-1", OrderId: "order-1", UserId: "user-1"})
	require.Eventually(t, func() bool { return stock() == before }, 10*time.Second, 20*time.Millisecond,
		"OrderCancelled returns the committed stock\n%s", s.Logs)

	resp, err := http.Get("http://" + s.HTTPAddr + "/readyz")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Contains(t, string(body), "nats", "NATS is a readiness dependency")

	resp, err = http.Get("http://" + s.HTTPAddr + "/metrics")
	require.NoError(t, err)
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, metric := range []string{
		"slipway_inventory_reservations_expired_total",
		"slipway_inventory_commit_after_release_total",
		`slipway_consumer_processed_total{consumer="inventory",result="ok"} 2`,
	} {
		assert.True(t, strings.Contains(string(body), metric), "/metrics has %s", metric)
	}
}
