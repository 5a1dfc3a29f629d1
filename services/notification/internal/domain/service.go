package domain

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Paging limits of ListMyNotifications.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Limits on what an event may carry, so a faulty producer cannot store
// nonsense; a reason that is too long is shortened, not refused.
const (
	maxIDLen     = 128
	maxReasonLen = 200 // runes shown in a body
)

// currencyPattern is an ISO 4217 code.
var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// NotificationService turns order events into notifications, queues them
// for delivery through the external channel and lists them for their owner.
type NotificationService struct {
	store   NotificationStore
	channel Channel
	now     func() time.Time
	newID   func() (uuid.UUID, error)
}

// NewNotificationService returns the service over its store; channel says
// whether notifications are also queued for an external channel.
func NewNotificationService(store NotificationStore, channel Channel) *NotificationService {
	return &NotificationService{store: store, channel: channel, now: time.Now, newID: uuid.NewV7}
}

// HandleOrderPlaced records the "Order placed" notification of e in tx and
// queues its delivery. See record for what a duplicate does.
func (s *NotificationService) HandleOrderPlaced(ctx context.Context, tx Tx, e OrderPlaced) (Notification, error) {
	if err := validateEvent(e.EventID, e.OrderID, e.UserID, e.Items); err != nil {
		return Notification{}, fmt.Errorf("order placed event %q: %w", e.EventID, err)
	}
	if e.Total != nil {
		if err := validateMoney("total", *e.Total); err != nil {
			return Notification{}, fmt.Errorf("order placed event %q: %w", e.EventID, err)
		}
	}
	return s.record(ctx, tx, e.EventID, e.UserID, e.OrderID, KindOrderPlaced, "Order placed", placedBody(e))
}

// HandleOrderCancelled records the "Order cancelled" notification of e in
// tx and queues its delivery. See record for what a duplicate does.
func (s *NotificationService) HandleOrderCancelled(ctx context.Context, tx Tx, e OrderCancelled) (Notification, error) {
	if err := validateEvent(e.EventID, e.OrderID, e.UserID, e.Items); err != nil {
		return Notification{}, fmt.Errorf("order cancelled event %q: %w", e.EventID, err)
	}
	return s.record(ctx, tx, e.EventID, e.UserID, e.OrderID, KindOrderCancelled, "Order cancelled", cancelledBody(e))
}

// HandleOrderFailed records the "Order failed" notification of e, which
// tells the user why, in tx and queues its delivery. See record for what a
// duplicate does.
func (s *NotificationService) HandleOrderFailed(ctx context.Context, tx Tx, e OrderFailed) (Notification, error) {
	if err := validateEvent(e.EventID, e.OrderID, e.UserID, e.Items); err != nil {
		return Notification{}, fmt.Errorf("order failed event %q: %w", e.EventID, err)
	}
	if e.Total != nil {
		if err := validateMoney("total", *e.Total); err != nil {
			return Notification{}, fmt.Errorf("order failed event %q: %w", e.EventID, err)
		}
	}
	return s.record(ctx, tx, e.EventID, e.UserID, e.OrderID, KindOrderFailed, "Order failed", failedBody(e))
}

// record stores the notification of one event and, when there is an
// external channel, queues its delivery, both inside the event's
// transaction. Nothing is sent here: the delivery worker sends from the
// queue after the commit, so the notification is visible to its owner at
// once whatever the channel does, and a channel that is down holds back
// neither the event stream nor other notifications. An event that already
// has its notification changes nothing, queues nothing and returns
// ErrAlreadyRecorded with the notification composed for it (the stored one
// keeps its own id and time).
func (s *NotificationService) record(ctx context.Context, tx Tx, eventID, userID, orderID string, kind Kind, title, body string) (Notification, error) {
	id, err := s.newID()
	if err != nil {
		return Notification{}, fmt.Errorf("new notification id: %w", err)
	}
	n := Notification{
		ID:      id.String(),
		UserID:  userID,
		OrderID: orderID,
		Kind:    kind,
		Title:   title,
		Body:    body,
		EventID: eventID,
		// Microseconds: what PostgreSQL keeps, so a stored notification reads back equal.
		CreatedAt: s.now().UTC().Truncate(time.Microsecond),
	}
	created, err := tx.CreateNotification(ctx, n)
	if err != nil {
		return Notification{}, fmt.Errorf("store notification of event %q: %w", eventID, err)
	}
	if !created {
		return n, fmt.Errorf("notification of event %q: %w", eventID, ErrAlreadyRecorded)
	}
	n.Delivery = DeliveryNone
	if s.channel != ChannelNone {
		n.Delivery = DeliveryPending
		if err := tx.EnqueueDelivery(ctx, n); err != nil {
			return Notification{}, fmt.Errorf("queue delivery of notification %s of event %q: %w", n.ID, eventID, err)
		}
	}
	return n, nil
}

// ListMyNotifications pages through the actor's own notifications, newest
// first. pageSize 0 means DefaultPageSize and anything above MaxPageSize is
// capped; pageToken is the NextPageToken of the previous page, "" for the
// first. A service may list a user's notifications only on their behalf:
// it has none of its own (PermissionDenied).
func (s *NotificationService) ListMyNotifications(ctx context.Context, actor Actor, pageSize int, pageToken string) (Page, error) {
	switch {
	case actor.UserID == "":
		return Page{}, fmt.Errorf("list notifications: no authenticated user: %w", ErrUnauthenticated)
	case actor.Role == RoleService && !actor.OnBehalf:
		return Page{}, fmt.Errorf("list notifications: a service has no notifications of its own: %w", ErrPermissionDenied)
	}
	switch {
	case pageSize < 0:
		return Page{}, errkind.Field("page_size", "must not be negative")
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	beforeID, err := decodePageToken(pageToken)
	if err != nil {
		return Page{}, err
	}
	// One extra row tells whether another page follows without a count query.
	ns, err := s.store.ListByUser(ctx, actor.UserID, beforeID, pageSize+1)
	if err != nil {
		return Page{}, fmt.Errorf("list notifications of user %s: %w", actor.UserID, err)
	}
	page := Page{Notifications: ns}
	if len(ns) > pageSize {
		page.Notifications = ns[:pageSize]
		page.NextPageToken = encodePageToken(page.Notifications[pageSize-1].ID)
	}
	return page, nil
}

// encodePageToken makes the opaque token that resumes a listing below id.
func encodePageToken(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

func decodePageToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", errkind.Field("page_token", "not a next_page_token from a previous page")
	}
	id, err := uuid.Parse(string(raw))
	if err != nil {
		return "", errkind.Field("page_token", "not a next_page_token from a previous page")
	}
	return id.String(), nil
}

// validateEvent checks what every order event must carry.
func validateEvent(eventID, orderID, userID string, items []OrderItem) error {
	for _, f := range []struct{ name, value string }{
		{"event_id", eventID}, {"order_id", orderID}, {"user_id", userID},
	} {
		if f.value == "" || len(f.value) > maxIDLen || !utf8.ValidString(f.value) {
			return errkind.Field(f.name, fmt.Sprintf("must have 1 to %d bytes of UTF-8", maxIDLen))
		}
	}
	for i, it := range items {
		if it.Quantity <= 0 {
			return errkind.Field(fmt.Sprintf("items[%d].quantity", i), "must be positive")
		}
	}
	return nil
}

func validateMoney(field string, m Money) error {
	if !currencyPattern.MatchString(m.Currency) {
		return errkind.Field(field+".currency", "must be an ISO 4217 code such as USD")
	}
	if m.AmountMinor < 0 {
		return errkind.Field(field+".amount_minor", "must not be negative")
	}
	return nil
}

// placedBody is, for example, "Your order ord_1 for 2 items totalling USD
// 79.90 is placed."; parts the event lacks are left out.
func placedBody(e OrderPlaced) string {
	var b strings.Builder
	b.WriteString("Your order " + e.OrderID)
	if n := itemCount(e.Items); n > 0 {
		b.WriteString(" for " + items(n))
	}
	if e.Total != nil {
		b.WriteString(" totalling " + FormatMoney(*e.Total))
	}
	b.WriteString(" is placed.")
	return b.String()
}

// cancelledBody is, for example, "Your order ord_1 for 2 items is
// cancelled. Reason: out of beans."
func cancelledBody(e OrderCancelled) string {
	var b strings.Builder
	b.WriteString("Your order " + e.OrderID)
	if n := itemCount(e.Items); n > 0 {
		b.WriteString(" for " + items(n))
	}
	b.WriteString(" is cancelled.")
	if reason := cleanReason(e.Reason); reason != "" {
		b.WriteString(" Reason: " + reason + ".")
	}
	return b.String()
}

// failedBody is, for example, "Your order ord_1 for 2 items totalling USD
// 79.90 failed and was not placed. Reason: payment declined: card_declined."
func failedBody(e OrderFailed) string {
	var b strings.Builder
	b.WriteString("Your order " + e.OrderID)
	if n := itemCount(e.Items); n > 0 {
		b.WriteString(" for " + items(n))
	}
	if e.Total != nil {
		b.WriteString(" totalling " + FormatMoney(*e.Total))
	}
	b.WriteString(" failed and was not placed.")
	if reason := cleanReason(e.Reason); reason != "" {
		b.WriteString(" Reason: " + reason + ".")
	}
	return b.String()
}

func itemCount(items []OrderItem) int64 {
	var n int64
	for _, it := range items {
		n += it.Quantity
	}
	return n
}

func items(n int64) string {
	if n == 1 {
		return "1 item"
	}
	return fmt.Sprintf("%d items", n)
}

// cleanReason makes a free-text reason fit one sentence of a body: one
// line, no trailing full stop, at most maxReasonLen runes.
func cleanReason(reason string) string {
	reason = strings.Join(strings.Fields(strings.ToValidUTF8(reason, "")), " ")
	reason = strings.TrimRight(reason, ".")
	if utf8.RuneCountInString(reason) > maxReasonLen {
		reason = string([]rune(reason)[:maxReasonLen-1]) + "…"
	}
	return reason
}

// minorDigits are the ISO 4217 currencies whose minor unit is not a
// hundredth; every other currency has two decimals.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// FormatMoney writes m as its currency code and the amount in major units
// with the currency's decimals: "USD 79.90", "JPY 1200", "KWD 1.250".
func FormatMoney(m Money) string {
	digits, ok := minorDigits[m.Currency]
	if !ok {
		digits = 2
	}
	sign, amount := "", m.AmountMinor
	if amount < 0 {
		sign, amount = "-", -amount
	}
	if digits == 0 {
		return fmt.Sprintf("%s %s%d", m.Currency, sign, amount)
	}
	unit := int64(1)
	for range digits {
		unit *= 10
	}
	return fmt.Sprintf("%s %s%d.%0*d", m.Currency, sign, amount/unit, digits, amount%unit)
}
