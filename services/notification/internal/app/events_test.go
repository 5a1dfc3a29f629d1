package app_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	apievents "github.com/slipway-dev/slipway/api/events"
	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/server/protocoltest"
	"github.com/slipway-dev/slipway/services/notification/internal/orderevents"
)

const (
	userA = "0198c0de-0000-7000-8000-00000000000a"
	userB = "0198c0de-0000-7000-8000-00000000000b"
)

func orderPlaced(eventID, orderID, userID string) *orderv1.OrderPlaced {
	return &orderv1.OrderPlaced{
		EventId: eventID, OrderId: orderID, UserId: userID,
		Items: []*orderv1.OrderItem{
			{ProductId: "kenya-nyeri-250g", Name: "Kenya Nyeri 250 g", Quantity: 1},
			{ProductId: "chemex-6-cup", Name: "Chemex 6 cup", Quantity: 1},
		},
		Total:      &moneyv1.Money{Currency: "USD", AmountMinor: 7990},
		OccurredAt: timestamppb.Now(),
	}
}

// list calls ListMyNotifications over p as token ("" for none) and returns
// the response, or nil and the call's code.
func (s *service) list(t *testing.T, p protocoltest.Protocol, token string, req *notificationv1.ListMyNotificationsRequest) (*notificationv1.ListMyNotificationsResponse, codes.Code) {
	t.Helper()
	r := protocoltest.Route{
		Procedure: notificationv1.NotificationService_ListMyNotifications_FullMethodName,
		Verb:      http.MethodGet,
		Path:      "/v1/notifications?" + protocoltest.PageQuery(req).Encode(),
	}
	c := protocoltest.Client{Protocol: p, Conn: s.conn, HTTPAddr: s.HTTPAddr}
	resp, failure := protocoltest.Invoke[notificationv1.ListMyNotificationsResponse](t, c, r, token, req)
	return resp, failure.Code
}

// notifications lists all of userID's notifications over gRPC.
func (s *service) notifications(t *testing.T, userID string) []*notificationv1.Notification {
	t.Helper()
	resp, code := s.list(t, protocoltest.GRPC, s.token(t, userID), &notificationv1.ListMyNotificationsRequest{PageSize: 100})
	require.Equal(t, codes.OK, code)
	return resp.GetNotifications()
}

// TestOrderEventsBecomeNotificationsExactlyOnce drives the consumer with
// real JetStream messages: each event becomes one notification for its
// user, whatever is published or delivered again, and each user sees only
// their own, alike over gRPC, REST and gRPC-Web.
func TestOrderEventsBecomeNotificationsExactlyOnce(t *testing.T) {
	s := start(t, nil)
	waitProcessed := func(t *testing.T, result string, n float64) {
		t.Helper()
		waitFor(t, strconv.FormatFloat(n, 'f', -1, 64)+" "+result+" messages", func() bool { return s.processed(t, result) >= n })
	}

	s.publish(t, apievents.SubjectOrderPlaced, "evt-a1", orderPlaced("evt-a1", "ord_a1", userA))
	waitProcessed(t, "ok", 1)
	got := s.notifications(t, userA)
	require.Len(t, got, 1)
	placedA := got[0]
	assert.Equal(t, notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_PLACED, placedA.GetKind())
	assert.Equal(t, "Order placed", placedA.GetTitle())
	assert.Equal(t, "Your order ord_a1 for 2 items totalling USD 79.90 is placed.", placedA.GetBody())
	assert.Equal(t, userA, placedA.GetUserId())
	assert.Equal(t, "ord_a1", placedA.GetOrderId())
	assert.Equal(t, "evt-a1", placedA.GetEventId())
	assert.Equal(t, notificationv1.DeliveryState_DELIVERY_STATE_NONE, placedA.GetDeliveryState(), "no webhook: in-app only")
	line, ok := s.Logs.Find("notification recorded")
	require.True(t, ok, "each notification is logged, for shops that ship logs to a notifier")
	assert.Equal(t, "Order placed", line["title"])

	s.publish(t, apievents.SubjectOrderPlaced, "evt-b1", orderPlaced("evt-b1", "ord_b1", userB))
	waitProcessed(t, "ok", 2)

	t.Run("the same event under a new message id adds nothing", func(t *testing.T) {
		s.publish(t, apievents.SubjectOrderPlaced, "evt-a1-published-again", orderPlaced("evt-a1", "ord_a1", userA))
		waitProcessed(t, "ok", 3)
		assert.Empty(t, cmp.Diff([]*notificationv1.Notification{placedA}, s.notifications(t, userA), protocmp.Transform()))
	})

	s.publish(t, apievents.SubjectOrderCancelled, "evt-a2", &orderv1.OrderCancelled{
		EventId: "evt-a2", OrderId: "ord_a1", UserId: userA,
		Items: []*orderv1.OrderItem{{ProductId: "chemex-6-cup", Quantity: 1}, {ProductId: "kenya-nyeri-250g", Quantity: 1}},
	})
	waitProcessed(t, "ok", 4)
	wantA := s.notifications(t, userA)
	require.Len(t, wantA, 2)
	assert.Equal(t, "Your order ord_a1 for 2 items is cancelled.", wantA[0].GetBody(), "newest first")
	assert.Empty(t, cmp.Diff(placedA, wantA[1], protocmp.Transform()))

	// An order that failed before it was priced: no items, no total.
	s.publish(t, apievents.SubjectOrderFailed, "evt-b2", &orderv1.OrderFailed{
		EventId: "evt-b2", OrderId: "ord_b2", UserId: userB, Reason: "payment declined: card_declined",
	})
	waitProcessed(t, "ok", 5)
	wantB := s.notifications(t, userB)
	require.Len(t, wantB, 2)
	assert.Equal(t, "Order failed", wantB[0].GetTitle())
	assert.Equal(t, "Your order ord_b2 failed and was not placed. Reason: payment declined: card_declined.", wantB[0].GetBody())
	assert.Equal(t, "ord_b2", wantB[0].GetOrderId())
	assert.Equal(t, "evt-b2", wantB[0].GetEventId())

	t.Run("redelivering everything adds nothing", func(t *testing.T) {
		require.NoError(t, s.js.DeleteConsumer(t.Context(), apievents.StreamOrders, orderevents.Durable))
		// The consumer recreates its durable, which delivers the stream from
		// the start: five messages, each already in the inbox.
		waitProcessed(t, "duplicate", 5)
		assert.Empty(t, cmp.Diff(wantA, s.notifications(t, userA), protocmp.Transform()))
		assert.Empty(t, cmp.Diff(wantB, s.notifications(t, userB), protocmp.Transform()))
		assert.Zero(t, s.processed(t, "error"))
	})

	for _, p := range protocoltest.Protocols {
		t.Run("over "+string(p)+" each user sees only their own", func(t *testing.T) {
			for _, u := range []struct {
				id   string
				want []*notificationv1.Notification
			}{{userA, wantA}, {userB, wantB}} {
				resp, code := s.list(t, p, s.token(t, u.id), &notificationv1.ListMyNotificationsRequest{})
				require.Equal(t, codes.OK, code)
				assert.Empty(t, cmp.Diff(u.want, resp.GetNotifications(), protocmp.Transform()), "user %s", u.id)
				for _, n := range resp.GetNotifications() {
					assert.Equal(t, u.id, n.GetUserId())
				}
			}

			first, code := s.list(t, p, s.token(t, userA), &notificationv1.ListMyNotificationsRequest{PageSize: 1})
			require.Equal(t, codes.OK, code)
			require.NotEmpty(t, first.GetNextPageToken())
			second, code := s.list(t, p, s.token(t, userA), &notificationv1.ListMyNotificationsRequest{PageSize: 1, PageToken: first.GetNextPageToken()})
			require.Equal(t, codes.OK, code)
			assert.Empty(t, cmp.Diff(wantA, append(first.GetNotifications(), second.GetNotifications()...), protocmp.Transform()), "pages")
			assert.Empty(t, second.GetNextPageToken())

			// User B following user A's page token still sees only B's.
			resp, code := s.list(t, p, s.token(t, userB), &notificationv1.ListMyNotificationsRequest{PageToken: first.GetNextPageToken()})
			require.Equal(t, codes.OK, code)
			for _, n := range resp.GetNotifications() {
				assert.Equal(t, userB, n.GetUserId())
			}

			_, code = s.list(t, p, "", &notificationv1.ListMyNotificationsRequest{})
			assert.Equal(t, codes.Unauthenticated, code, "no token")
			_, code = s.list(t, p, s.token(t, userA), &notificationv1.ListMyNotificationsRequest{PageSize: 101})
			assert.Equal(t, codes.InvalidArgument, code, "page_size above 100")
		})
	}
}

// closedPortURL is a webhook URL that carries a secret in its user info,
// path and query, as real webhook URLs do, and points at a port nothing
// listens on; and the secrets.
func closedPortURL(t *testing.T) (string, []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://hook-user:hook-pass-7f3a@" + addr + "/services/T0SECRET9/B0SECRET9?token=tok3n-c0ffee",
		[]string{"hook-pass-7f3a", "T0SECRET9", "B0SECRET9", "tok3n-c0ffee"}
}

// TestANotificationIsVisibleAtOnceWhateverTheWebhookDoes is the issue's
// reproduction: with NOTIFY_WEBHOOK_URL pointing at a closed port, an
// order's notification used to roll back with every failed send and not
// appear at all. Now it is listed within seconds, its delivery retried on
// its own until it is dead, and the webhook's secret is in no log line.
func TestANotificationIsVisibleAtOnceWhateverTheWebhookDoes(t *testing.T) {
	hook, secrets := closedPortURL(t)
	s := start(t, map[string]string{
		"NOTIFY_WEBHOOK_URL": hook, "NOTIFY_WEBHOOK_MAX_ATTEMPTS": "3",
		"NOTIFY_WEBHOOK_BACKOFF": "50ms", "NOTIFY_WEBHOOK_MAX_BACKOFF": "100ms",
	})

	published := time.Now()
	s.publish(t, apievents.SubjectOrderPlaced, "evt-a1", orderPlaced("evt-a1", "ord_a1", userA))
	var got []*notificationv1.Notification
	waitFor(t, "the notification to be listed", func() bool {
		got = s.notifications(t, userA)
		return len(got) == 1
	})
	assert.Less(t, time.Since(published), 5*time.Second, "visible within seconds")
	assert.Equal(t, "ord_a1", got[0].GetOrderId())
	assert.Equal(t, float64(1), s.processed(t, "ok"), "the event was handled the first time")

	waitFor(t, "the delivery to be given up", func() bool {
		got = s.notifications(t, userA)
		return got[0].GetDeliveryState() == notificationv1.DeliveryState_DELIVERY_STATE_FAILED
	})
	assert.Equal(t, float64(2), s.metric(t, `slipway_notification_delivery_attempts_total{result="failed"}`))
	assert.Equal(t, float64(1), s.metric(t, `slipway_notification_delivery_attempts_total{result="dead"}`))
	waitFor(t, "the dead gauge", func() bool { return s.metric(t, "slipway_notification_deliveries_dead") == 1 })
	assert.Zero(t, s.processed(t, "error"), "the consumer never saw the webhook fail")

	line, ok := s.Logs.Find("notification delivery failed for good")
	require.True(t, ok, "the dead letter is logged")
	assert.Contains(t, line["error"], "connection refused")
	logs := s.Logs.String()
	for _, secret := range secrets {
		assert.NotContains(t, logs, secret, "the webhook secret leaked into the logs")
	}
}

// TestAFailedDeliveryIsRetriedUntilDelivered: the webhook answers 503 once,
// then 204; the notification is listed at once, then DELIVERED, and the
// receiver got it twice under one Idempotency-Key.
func TestAFailedDeliveryIsRetriedUntilDelivered(t *testing.T) {
	var (
		mu    sync.Mutex
		posts []*http.Request
		body  [][]byte
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		posts, body = append(posts, r), append(body, b)
		if len(posts) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	s := start(t, map[string]string{"NOTIFY_WEBHOOK_URL": hook.URL + "/hook", "NOTIFY_WEBHOOK_BACKOFF": "50ms"})

	s.publish(t, apievents.SubjectOrderPlaced, "evt-a1", orderPlaced("evt-a1", "ord_a1", userA))
	var got []*notificationv1.Notification
	waitFor(t, "the notification delivered", func() bool {
		got = s.notifications(t, userA)
		return len(got) == 1 && got[0].GetDeliveryState() == notificationv1.DeliveryState_DELIVERY_STATE_DELIVERED
	})
	assert.Zero(t, s.processed(t, "error"), "the event was handled once, the retry came from the delivery queue")
	assert.Equal(t, float64(1), s.metric(t, `slipway_notification_delivery_attempts_total{result="sent"}`))
	assert.Equal(t, float64(1), s.metric(t, `slipway_notification_delivery_attempts_total{result="failed"}`))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, posts, 2)
	for _, p := range posts {
		assert.Equal(t, "evt-a1", p.Header.Get("Idempotency-Key"))
	}
	assert.Contains(t, string(body[1]), `"id":"`+got[0].GetId()+`"`, "the stored notification is the one sent")
}
