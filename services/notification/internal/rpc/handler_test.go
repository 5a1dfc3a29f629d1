package rpc_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
	"github.com/slipway-dev/slipway/services/notification/internal/rpc"
	"github.com/slipway-dev/slipway/services/notification/internal/store"
)

var created = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// stored are the notifications in the handler's store: two of user-a (the
// cancellation is newer, and stored with no channel) and one of user-b; the
// first is queued for delivery.
var stored = []domain.Notification{
	{ID: "019cf0a1-0000-7000-8000-000000000001", UserID: "user-a", OrderID: "ord_1", Kind: domain.KindOrderPlaced,
		Title: "Order placed", Body: "Your order ord_1 for 1 item totalling USD 12.00 is placed.", EventID: "evt-1", CreatedAt: created},
	{ID: "019cf0a1-0000-7000-8000-000000000002", UserID: "user-b", OrderID: "ord_2", Kind: domain.KindOrderPlaced,
		Title: "Order placed", Body: "Your order ord_2 for 1 item totalling USD 4.50 is placed.", EventID: "evt-2", CreatedAt: created},
	{ID: "019cf0a1-0000-7000-8000-000000000003", UserID: "user-a", OrderID: "ord_1", Kind: domain.KindOrderCancelled,
		Title: "Order cancelled", Body: "Your order ord_1 for 1 item is cancelled.", EventID: "evt-3", CreatedAt: created.Add(time.Minute)},
}

// newHandler is the handler over the real domain and a fresh SQLite store
// holding stored.
func newHandler(t *testing.T) *rpc.Handler {
	t.Helper()
	db := storetest.Open(t, platformstore.SQLite)
	require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
	s := store.New(db)
	require.NoError(t, db.InTx(t.Context(), func(tx *sql.Tx) error {
		for _, n := range stored {
			if _, err := s.Tx(tx).CreateNotification(t.Context(), n); err != nil {
				return err
			}
		}
		return s.Tx(tx).EnqueueDelivery(t.Context(), stored[0])
	}))
	return rpc.NewHandler(domain.NewNotificationService(s, domain.ChannelNone))
}

func as(ctx context.Context, c auth.Claims) context.Context { return auth.WithClaims(ctx, c) }

func customer(id string) auth.Claims { return auth.Claims{Subject: id, Role: auth.RoleCustomer} }

func assertCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	require.True(t, ok, "want a gRPC status, got %v", err)
	assert.Equal(t, code, st.Code(), st.Message())
	return st
}

func TestListMyNotificationsTranslatesEveryField(t *testing.T) {
	h := newHandler(t)
	got, err := h.ListMyNotifications(as(t.Context(), customer("user-a")), &notificationv1.ListMyNotificationsRequest{})
	require.NoError(t, err)
	want := &notificationv1.ListMyNotificationsResponse{Notifications: []*notificationv1.Notification{
		{
			Id: stored[2].ID, UserId: "user-a", OrderId: "ord_1", Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_CANCELLED,
			Title: "Order cancelled", Body: stored[2].Body, EventId: "evt-3", CreatedAt: timestamppb.New(created.Add(time.Minute)),
			DeliveryState: notificationv1.DeliveryState_DELIVERY_STATE_NONE,
		},
		{
			Id: stored[0].ID, UserId: "user-a", OrderId: "ord_1", Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_PLACED,
			Title: "Order placed", Body: stored[0].Body, EventId: "evt-1", CreatedAt: timestamppb.New(created),
			DeliveryState: notificationv1.DeliveryState_DELIVERY_STATE_PENDING,
		},
	}}
	assert.Empty(t, cmp.Diff(want, got, protocmp.Transform()))
}

func TestListMyNotificationsIsForTheCallerOnly(t *testing.T) {
	h := newHandler(t)
	ids := func(resp *notificationv1.ListMyNotificationsResponse) []string {
		var out []string
		for _, n := range resp.GetNotifications() {
			out = append(out, n.GetId())
		}
		return out
	}
	tests := []struct {
		name    string
		claims  *auth.Claims
		wantIDs []string
		want    codes.Code
	}{
		{name: "user-a sees their own", claims: &auth.Claims{Subject: "user-a", Role: auth.RoleCustomer}, wantIDs: []string{stored[2].ID, stored[0].ID}},
		{name: "user-b sees only theirs", claims: &auth.Claims{Subject: "user-b", Role: auth.RoleCustomer}, wantIDs: []string{stored[1].ID}},
		{name: "an admin sees only their own", claims: &auth.Claims{Subject: "admin-1", Role: auth.RoleAdmin}},
		{name: "a service acting for user-b sees user-b's", claims: &auth.Claims{Subject: "order", Role: auth.RoleService, OnBehalfOf: "user-b"}, wantIDs: []string{stored[1].ID}},
		{name: "a service on its own is refused", claims: &auth.Claims{Subject: "order", Role: auth.RoleService}, want: codes.PermissionDenied},
		{name: "no claims is unauthenticated", want: codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.claims != nil {
				ctx = as(ctx, *tt.claims)
			}
			resp, err := h.ListMyNotifications(ctx, &notificationv1.ListMyNotificationsRequest{})
			if tt.want != codes.OK {
				assertCode(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantIDs, ids(resp))
		})
	}
}

func TestListMyNotificationsPages(t *testing.T) {
	h := newHandler(t)
	ctx := as(t.Context(), customer("user-a"))
	first, err := h.ListMyNotifications(ctx, &notificationv1.ListMyNotificationsRequest{PageSize: 1})
	require.NoError(t, err)
	require.Len(t, first.GetNotifications(), 1)
	assert.Equal(t, stored[2].ID, first.GetNotifications()[0].GetId())
	require.NotEmpty(t, first.GetNextPageToken())

	second, err := h.ListMyNotifications(ctx, &notificationv1.ListMyNotificationsRequest{PageSize: 1, PageToken: first.GetNextPageToken()})
	require.NoError(t, err)
	require.Len(t, second.GetNotifications(), 1)
	assert.Equal(t, stored[0].ID, second.GetNotifications()[0].GetId())
	assert.Empty(t, second.GetNextPageToken())

	_, err = h.ListMyNotifications(ctx, &notificationv1.ListMyNotificationsRequest{PageToken: "garbage!"})
	st := assertCode(t, err, codes.InvalidArgument)
	require.Len(t, st.Details(), 1)
	br, ok := st.Details()[0].(*errdetails.BadRequest)
	require.True(t, ok)
	assert.Equal(t, "page_token", br.GetFieldViolations()[0].GetField())
}

func TestPolicy(t *testing.T) {
	assert.Equal(t, auth.Policy{
		notificationv1.NotificationService_ListMyNotifications_FullMethodName: auth.Authenticated,
	}, rpc.Policy())
}
