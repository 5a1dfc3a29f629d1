package domain_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/errkind/errkindtest"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
	"github.com/slipway-dev/slipway/services/notification/internal/domain/mock"
)

var (
	now      = time.Date(2026, 3, 14, 15, 9, 26, 535897321, time.UTC)
	stamped  = now.Truncate(time.Microsecond)
	fixedID  = uuid.MustParse("019cf0a1-2b3c-7d4e-8f00-000000000001")
	errStore = fmt.Errorf("connection reset: %w", errkind.Unavailable)
	alice    = domain.Actor{UserID: "user-a", Role: "customer"}
)

// fixture is a NotificationService with a webhook channel over scripted
// ports, with a fixed clock and id.
type fixture struct {
	store *mock.MockNotificationStore
	tx    *mock.MockTx
	svc   *domain.NotificationService
}

// newFixture is a fixture that delivers by webhook, with setup, when not
// nil, run on it first: a table case scripts the store there.
func newFixture(t *testing.T, setup func(fixture)) fixture {
	t.Helper()
	f := newFixtureWith(t, domain.ChannelWebhook)
	if setup != nil {
		setup(f)
	}
	return f
}

func newFixtureWith(t *testing.T, channel domain.Channel) fixture {
	t.Helper()
	ctrl := gomock.NewController(t)
	f := fixture{store: mock.NewMockNotificationStore(ctrl), tx: mock.NewMockTx(ctrl)}
	f.svc = domain.NewNotificationService(f.store, channel)
	f.svc.SetClock(func() time.Time { return now })
	f.svc.SetIDs(func() (uuid.UUID, error) { return fixedID, nil })
	return f
}

func placed() domain.OrderPlaced {
	return domain.OrderPlaced{
		EventID: "evt-1", OrderID: "ord_1", UserID: "user-a",
		Items: []domain.OrderItem{{ProductID: "mug", Name: "Mug", Quantity: 1}, {ProductID: "tea", Name: "Tea", Quantity: 1}},
		Total: &domain.Money{AmountMinor: 7990, Currency: "USD"}, OccurredAt: now.Add(-time.Second),
	}
}

func cancelled() domain.OrderCancelled {
	return domain.OrderCancelled{
		EventID: "evt-2", OrderID: "ord_1", UserID: "user-a",
		Items:  []domain.OrderItem{{ProductID: "mug", Quantity: 3}},
		Reason: "changed my mind", OccurredAt: now.Add(-time.Second),
	}
}

func failed() domain.OrderFailed {
	return domain.OrderFailed{
		EventID: "evt-3", OrderID: "ord_1", UserID: "user-a",
		Items:  []domain.OrderItem{{ProductID: "mug", Quantity: 2}},
		Total:  &domain.Money{AmountMinor: 2400, Currency: "USD"},
		Reason: "payment declined: card_declined", OccurredAt: now.Add(-time.Second),
	}
}

// pending is n with its delivery queued.
func pending(n domain.Notification) domain.Notification {
	n.Delivery = domain.DeliveryPending
	return n
}

// want is the notification the service should record for an event.
func want(kind domain.Kind, eventID, title, body string) domain.Notification {
	return domain.Notification{
		ID: fixedID.String(), UserID: "user-a", OrderID: "ord_1", Kind: kind,
		Title: title, Body: body, EventID: eventID, CreatedAt: stamped,
	}
}

func TestHandleOrderPlaced(t *testing.T) {
	placedNote := want(domain.KindOrderPlaced, "evt-1", "Order placed", "Your order ord_1 for 2 items totalling USD 79.90 is placed.")
	tests := []struct {
		name      string
		event     func(e *domain.OrderPlaced)
		setup     func(f fixture)
		want      domain.Notification
		wantField string
		wantErr   error
	}{
		{
			name: "stores the notification, then queues its delivery",
			setup: func(f fixture) {
				gomock.InOrder(
					f.tx.EXPECT().CreateNotification(gomock.Any(), placedNote).Return(true, nil),
					f.tx.EXPECT().EnqueueDelivery(gomock.Any(), pending(placedNote)).Return(nil),
				)
			},
			want: pending(placedNote),
		},
		{
			name:  "one item is an item",
			event: func(e *domain.OrderPlaced) { e.Items = e.Items[:1] },
			setup: func(f fixture) {
				n := want(domain.KindOrderPlaced, "evt-1", "Order placed", "Your order ord_1 for 1 item totalling USD 79.90 is placed.")
				f.tx.EXPECT().CreateNotification(gomock.Any(), n).Return(true, nil)
				f.tx.EXPECT().EnqueueDelivery(gomock.Any(), pending(n)).Return(nil)
			},
			want: pending(want(domain.KindOrderPlaced, "evt-1", "Order placed", "Your order ord_1 for 1 item totalling USD 79.90 is placed.")),
		},
		{
			name: "a zero-decimal currency and no items",
			event: func(e *domain.OrderPlaced) {
				e.Items, e.Total = nil, &domain.Money{AmountMinor: 1200, Currency: "JPY"}
			},
			setup: func(f fixture) {
				f.tx.EXPECT().CreateNotification(gomock.Any(), gomock.Any()).Return(true, nil)
				f.tx.EXPECT().EnqueueDelivery(gomock.Any(), gomock.Any()).Return(nil)
			},
			want: pending(want(domain.KindOrderPlaced, "evt-1", "Order placed", "Your order ord_1 totalling JPY 1200 is placed.")),
		},
		{
			name:  "no total",
			event: func(e *domain.OrderPlaced) { e.Total = nil },
			setup: func(f fixture) {
				f.tx.EXPECT().CreateNotification(gomock.Any(), gomock.Any()).Return(true, nil)
				f.tx.EXPECT().EnqueueDelivery(gomock.Any(), gomock.Any()).Return(nil)
			},
			want: pending(want(domain.KindOrderPlaced, "evt-1", "Order placed", "Your order ord_1 for 2 items is placed.")),
		},
		{
			name: "an event already recorded queues nothing",
			setup: func(f fixture) {
				f.tx.EXPECT().CreateNotification(gomock.Any(), placedNote).Return(false, nil)
			},
			wantErr: domain.ErrAlreadyRecorded,
		},
		{
			name: "a failure to queue is returned, so the transaction rolls back",
			setup: func(f fixture) {
				f.tx.EXPECT().CreateNotification(gomock.Any(), placedNote).Return(true, nil)
				f.tx.EXPECT().EnqueueDelivery(gomock.Any(), pending(placedNote)).Return(errStore)
			},
			wantErr: errkind.Unavailable,
		},
		{
			name: "a store failure is returned and nothing is queued",
			setup: func(f fixture) {
				f.tx.EXPECT().CreateNotification(gomock.Any(), placedNote).Return(false, errStore)
			},
			wantErr: errkind.Unavailable,
		},
		{name: "event id is required", event: func(e *domain.OrderPlaced) { e.EventID = "" }, wantField: "event_id"},
		{name: "order id is required", event: func(e *domain.OrderPlaced) { e.OrderID = "" }, wantField: "order_id"},
		{name: "user id is required", event: func(e *domain.OrderPlaced) { e.UserID = "" }, wantField: "user_id"},
		{name: "an id is at most 128 bytes", event: func(e *domain.OrderPlaced) { e.OrderID = strings.Repeat("o", 129) }, wantField: "order_id"},
		{
			name:      "quantities are positive",
			event:     func(e *domain.OrderPlaced) { e.Items[1].Quantity = 0 },
			wantField: "items[1].quantity",
		},
		{
			name:      "the total has a currency code",
			event:     func(e *domain.OrderPlaced) { e.Total.Currency = "usd" },
			wantField: "total.currency",
		},
		{
			name:      "the total is not negative",
			event:     func(e *domain.OrderPlaced) { e.Total.AmountMinor = -1 },
			wantField: "total.amount_minor",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.setup)
			e := placed()
			if tt.event != nil {
				tt.event(&e)
			}
			got, err := f.svc.HandleOrderPlaced(t.Context(), f.tx, e)
			if errkindtest.WantSuccess(t, err, tt.wantField, tt.wantErr) {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestHandleOrderCancelled(t *testing.T) {
	tests := []struct {
		name      string
		event     func(e *domain.OrderCancelled)
		wantBody  string
		wantField string
	}{
		{name: "with a reason", wantBody: "Your order ord_1 for 3 items is cancelled. Reason: changed my mind."},
		{name: "without a reason", event: func(e *domain.OrderCancelled) { e.Reason = "" }, wantBody: "Your order ord_1 for 3 items is cancelled."},
		{
			name:     "a reason is one line without its own full stop",
			event:    func(e *domain.OrderCancelled) { e.Reason = "  out of\nbeans.\t" },
			wantBody: "Your order ord_1 for 3 items is cancelled. Reason: out of beans.",
		},
		{
			name:     "a long reason is shortened",
			event:    func(e *domain.OrderCancelled) { e.Reason = strings.Repeat("é", 300) },
			wantBody: "Your order ord_1 for 3 items is cancelled. Reason: " + strings.Repeat("é", 199) + "….",
		},
		{name: "without items", event: func(e *domain.OrderCancelled) { e.Items, e.Reason = nil, "" }, wantBody: "Your order ord_1 is cancelled."},
		{name: "user id is required", event: func(e *domain.OrderCancelled) { e.UserID = "" }, wantField: "user_id"},
		{name: "quantities are positive", event: func(e *domain.OrderCancelled) { e.Items[0].Quantity = -2 }, wantField: "items[0].quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			e := cancelled()
			if tt.event != nil {
				tt.event(&e)
			}
			n := want(domain.KindOrderCancelled, "evt-2", "Order cancelled", tt.wantBody)
			if tt.wantField == "" {
				gomock.InOrder(
					f.tx.EXPECT().CreateNotification(gomock.Any(), n).Return(true, nil),
					f.tx.EXPECT().EnqueueDelivery(gomock.Any(), pending(n)).Return(nil),
				)
			}
			got, err := f.svc.HandleOrderCancelled(t.Context(), f.tx, e)
			if tt.wantField != "" {
				errkindtest.AssertFieldError(t, err, tt.wantField)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, pending(n), got)
		})
	}

	t.Run("a failure to queue is returned", func(t *testing.T) {
		f := newFixture(t, nil)
		f.tx.EXPECT().CreateNotification(gomock.Any(), gomock.Any()).Return(true, nil)
		f.tx.EXPECT().EnqueueDelivery(gomock.Any(), gomock.Any()).Return(errStore)
		_, err := f.svc.HandleOrderCancelled(t.Context(), f.tx, cancelled())
		assert.ErrorIs(t, err, errkind.Unavailable)
	})
}

func TestHandleOrderFailed(t *testing.T) {
	tests := []struct {
		name      string
		event     func(e *domain.OrderFailed)
		wantBody  string
		wantField string
	}{
		{
			name:     "says why the order failed",
			wantBody: "Your order ord_1 for 2 items totalling USD 24.00 failed and was not placed. Reason: payment declined: card_declined.",
		},
		{
			name:     "failed before it was priced: no items, no total",
			event:    func(e *domain.OrderFailed) { e.Items, e.Total, e.Reason = nil, nil, "stock unavailable: product mug" },
			wantBody: "Your order ord_1 failed and was not placed. Reason: stock unavailable: product mug.",
		},
		{
			name:     "without a reason",
			event:    func(e *domain.OrderFailed) { e.Reason = " \n" },
			wantBody: "Your order ord_1 for 2 items totalling USD 24.00 failed and was not placed.",
		},
		{
			name:     "a long reason is shortened",
			event:    func(e *domain.OrderFailed) { e.Reason = strings.Repeat("x", 500) },
			wantBody: "Your order ord_1 for 2 items totalling USD 24.00 failed and was not placed. Reason: " + strings.Repeat("x", 199) + "….",
		},
		{name: "order id is required", event: func(e *domain.OrderFailed) { e.OrderID = "" }, wantField: "order_id"},
		{name: "quantities are positive", event: func(e *domain.OrderFailed) { e.Items[0].Quantity = 0 }, wantField: "items[0].quantity"},
		{name: "a total has a currency", event: func(e *domain.OrderFailed) { e.Total.Currency = "usd" }, wantField: "total.currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			e := failed()
			if tt.event != nil {
				tt.event(&e)
			}
			n := want(domain.KindOrderFailed, "evt-3", "Order failed", tt.wantBody)
			if tt.wantField == "" {
				gomock.InOrder(
					f.tx.EXPECT().CreateNotification(gomock.Any(), n).Return(true, nil),
					f.tx.EXPECT().EnqueueDelivery(gomock.Any(), pending(n)).Return(nil),
				)
			}
			got, err := f.svc.HandleOrderFailed(t.Context(), f.tx, e)
			if tt.wantField != "" {
				errkindtest.AssertFieldError(t, err, tt.wantField)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, pending(n), got)
		})
	}

	t.Run("an event that has its notification queues nothing", func(t *testing.T) {
		f := newFixture(t, nil)
		f.tx.EXPECT().CreateNotification(gomock.Any(), gomock.Any()).Return(false, nil)
		// No EnqueueDelivery: gomock fails the test on a call it does not expect.
		_, err := f.svc.HandleOrderFailed(t.Context(), f.tx, failed())
		assert.ErrorIs(t, err, domain.ErrAlreadyRecorded)
	})
}

func TestWithoutAChannelNothingIsQueued(t *testing.T) {
	f := newFixtureWith(t, domain.ChannelNone)
	n := want(domain.KindOrderPlaced, "evt-1", "Order placed", "Your order ord_1 for 2 items totalling USD 79.90 is placed.")
	f.tx.EXPECT().CreateNotification(gomock.Any(), n).Return(true, nil)
	// No EnqueueDelivery: gomock fails the test on a call it does not expect.
	got, err := f.svc.HandleOrderPlaced(t.Context(), f.tx, placed())
	require.NoError(t, err)
	n.Delivery = domain.DeliveryNone
	assert.Equal(t, n, got)
}

func TestEveryNotificationGetsItsOwnID(t *testing.T) {
	svc := domain.NewNotificationService(nil, domain.ChannelWebhook)
	var got []domain.Notification
	tx := recordingTx{into: &got}
	for i := range 3 {
		e := placed()
		e.EventID = fmt.Sprintf("evt-%d", i)
		_, err := svc.HandleOrderPlaced(t.Context(), tx, e)
		require.NoError(t, err)
	}
	require.Len(t, got, 3)
	for i, n := range got {
		id, err := uuid.Parse(n.ID)
		require.NoError(t, err)
		assert.Equal(t, uuid.Version(7), id.Version(), "a UUIDv7, so ids sort by time")
		if i > 0 {
			assert.Greater(t, n.ID, got[i-1].ID, "later notifications sort after earlier ones")
		}
	}
}

type recordingTx struct{ into *[]domain.Notification }

func (r recordingTx) CreateNotification(_ context.Context, n domain.Notification) (bool, error) {
	*r.into = append(*r.into, n)
	return true, nil
}

func (recordingTx) EnqueueDelivery(context.Context, domain.Notification) error { return nil }

func TestListMyNotifications(t *testing.T) {
	token := func(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("019cf0a1-2b3c-7d4e-8f00-%012d", n-i) // newest first
		}
		return out
	}
	notes := func(ids ...string) []domain.Notification {
		ns := make([]domain.Notification, len(ids))
		for i, id := range ids {
			ns[i] = domain.Notification{ID: id, UserID: "user-a", Kind: domain.KindOrderPlaced}
		}
		return ns
	}
	all := ids(21)

	tests := []struct {
		name      string
		actor     domain.Actor
		pageSize  int
		pageToken string
		setup     func(f fixture)
		wantIDs   []string
		wantNext  string
		wantField string
		wantErr   error
	}{
		{
			name:  "the default page size is 20 and a full page has a next token",
			actor: alice,
			setup: func(f fixture) {
				f.store.EXPECT().ListByUser(gomock.Any(), "user-a", "", 21).Return(notes(all...), nil)
			},
			wantIDs:  all[:20],
			wantNext: token(all[19]),
		},
		{
			name: "the last page has no next token", actor: alice, pageSize: 5,
			setup: func(f fixture) {
				f.store.EXPECT().ListByUser(gomock.Any(), "user-a", "", 6).Return(notes(all[:2]...), nil)
			},
			wantIDs: all[:2],
		},
		{
			name: "a page of exactly page size has no next token", actor: alice, pageSize: 2,
			setup: func(f fixture) {
				f.store.EXPECT().ListByUser(gomock.Any(), "user-a", "", 3).Return(notes(all[:2]...), nil)
			},
			wantIDs: all[:2],
		},
		{
			name: "a page size above the maximum is capped at 100", actor: alice, pageSize: 1000,
			setup: func(f fixture) {
				f.store.EXPECT().ListByUser(gomock.Any(), "user-a", "", 101).Return(nil, nil)
			},
		},
		{
			name: "the page token resumes below the last id", actor: alice, pageSize: 1, pageToken: token(all[3]),
			setup: func(f fixture) {
				f.store.EXPECT().ListByUser(gomock.Any(), "user-a", all[3], 2).Return(notes(all[4:6]...), nil)
			},
			wantIDs:  all[4:5],
			wantNext: token(all[4]),
		},
		{
			name: "the actor's id, not anyone else's, is listed", actor: domain.Actor{UserID: "user-b", Role: "admin"},
			setup: func(f fixture) {
				f.store.EXPECT().ListByUser(gomock.Any(), "user-b", "", 21).Return(nil, nil)
			},
		},
		{name: "a token that is not base64 is a field error", actor: alice, pageToken: "not base64!", wantField: "page_token"},
		{name: "a token that is not an id is a field error", actor: alice, pageToken: token("ord_1"), wantField: "page_token"},
		{name: "a negative page size is a field error", actor: alice, pageSize: -1, wantField: "page_size"},
		{name: "no user is unauthenticated", wantErr: domain.ErrUnauthenticated},
		{name: "a service has no notifications of its own", actor: domain.Actor{UserID: "order", Role: domain.RoleService}, wantErr: domain.ErrPermissionDenied},
		{
			name: "a service lists the user it acts for", actor: domain.Actor{UserID: "user-a", Role: domain.RoleService, OnBehalf: true},
			setup: func(f fixture) {
				f.store.EXPECT().ListByUser(gomock.Any(), "user-a", "", 21).Return(nil, nil)
			},
		},
		{
			name: "a store failure is returned", actor: alice,
			setup: func(f fixture) {
				f.store.EXPECT().ListByUser(gomock.Any(), "user-a", "", 21).Return(nil, errStore)
			},
			wantErr: errkind.Unavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.setup)
			page, err := f.svc.ListMyNotifications(t.Context(), tt.actor, tt.pageSize, tt.pageToken)
			if !errkindtest.WantSuccess(t, err, tt.wantField, tt.wantErr) {
				return
			}
			var got []string
			for _, n := range page.Notifications {
				got = append(got, n.ID)
			}
			assert.Equal(t, tt.wantIDs, got)
			assert.Equal(t, tt.wantNext, page.NextPageToken)
		})
	}
}

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		in   domain.Money
		want string
	}{
		{domain.Money{AmountMinor: 7990, Currency: "USD"}, "USD 79.90"},
		{domain.Money{AmountMinor: 5, Currency: "EUR"}, "EUR 0.05"},
		{domain.Money{AmountMinor: 0, Currency: "USD"}, "USD 0.00"},
		{domain.Money{AmountMinor: 1200, Currency: "JPY"}, "JPY 1200"},
		{domain.Money{AmountMinor: 1250, Currency: "KWD"}, "KWD 1.250"},
		{domain.Money{AmountMinor: -150, Currency: "USD"}, "USD -1.50"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, domain.FormatMoney(tt.in))
		})
	}
}
