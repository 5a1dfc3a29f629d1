// Package rpc serves slipway.notification.v1.NotificationService. Its
// handlers only translate: proto in, one domain call, proto out, the error
// mapped once by server.Status. Request shape is checked before them by the
// platform's validation interceptor (protovalidate); whose notifications are
// listed comes from the verified token, never from the request.
package rpc

import (
	"context"

	"github.com/google/wire"
	"google.golang.org/protobuf/types/known/timestamppb"

	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
)

// ProviderSet provides the Handler.
var ProviderSet = wire.NewSet(NewHandler)

// Policy says who may call each method: any signed-in person may list, and
// the domain lists only the caller's own notifications. No service is named,
// so no service may list them, for itself or on behalf of a user.
func Policy() auth.Policy {
	return auth.Policy{
		notificationv1.NotificationService_ListMyNotifications_FullMethodName: auth.Authenticated,
	}
}

// Handler implements notificationv1.NotificationServiceServer over the domain.
type Handler struct {
	notificationv1.UnimplementedNotificationServiceServer
	notifications *domain.NotificationService
}

var _ notificationv1.NotificationServiceServer = (*Handler)(nil)

// NewHandler returns the handler of the notification service.
func NewHandler(notifications *domain.NotificationService) *Handler {
	return &Handler{notifications: notifications}
}

// ListMyNotifications implements notificationv1.NotificationServiceServer.
func (h *Handler) ListMyNotifications(ctx context.Context, req *notificationv1.ListMyNotificationsRequest) (*notificationv1.ListMyNotificationsResponse, error) {
	page, err := h.notifications.ListMyNotifications(ctx, actor(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, server.Status(err)
	}
	resp := &notificationv1.ListMyNotificationsResponse{
		Notifications: make([]*notificationv1.Notification, len(page.Notifications)),
		NextPageToken: page.NextPageToken,
	}
	for i, n := range page.Notifications {
		resp.Notifications[i] = notificationProto(n)
	}
	return resp, nil
}

// actor is whom the call acts for, from the claims the auth hook verified:
// the token's subject, or the user a service names as acting for (the hook
// accepts that header from services only). The zero Actor when none.
func actor(ctx context.Context) domain.Actor {
	c, ok := auth.FromContext(ctx)
	if !ok {
		return domain.Actor{}
	}
	return domain.Actor{UserID: auth.Actor(c), Role: string(c.Role), OnBehalf: c.OnBehalfOf != ""}
}

var kindProto = map[domain.Kind]notificationv1.NotificationKind{
	domain.KindOrderPlaced:    notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_PLACED,
	domain.KindOrderCancelled: notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_CANCELLED,
	domain.KindOrderFailed:    notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_FAILED,
}

var deliveryProto = map[domain.DeliveryState]notificationv1.DeliveryState{
	domain.DeliveryNone:      notificationv1.DeliveryState_DELIVERY_STATE_NONE,
	domain.DeliveryPending:   notificationv1.DeliveryState_DELIVERY_STATE_PENDING,
	domain.DeliveryDelivered: notificationv1.DeliveryState_DELIVERY_STATE_DELIVERED,
	domain.DeliveryFailed:    notificationv1.DeliveryState_DELIVERY_STATE_FAILED,
}

func notificationProto(n domain.Notification) *notificationv1.Notification {
	return &notificationv1.Notification{
		Id:        n.ID,
		UserId:    n.UserID,
		OrderId:   n.OrderID,
		Kind:      kindProto[n.Kind],
		Title:     n.Title,
		Body:      n.Body,
		EventId:   n.EventID,
		CreatedAt: timestamppb.New(n.CreatedAt),
		// Delivery is the owner's own notification's state, never its error:
		// that is for operators, in the delivery row.
		DeliveryState: deliveryProto[n.Delivery],
	}
}
