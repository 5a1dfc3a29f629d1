// Package sender delivers notifications to users, implementing
// domain.Sender: LogSender writes a structured log line (the default, for
// development and for shops that ship logs to a notifier), WebhookSender
// posts JSON to a configured URL with bounded retries.
package sender

import (
	"context"
	"log/slog"

	"github.com/slipway-dev/slipway/services/notification/internal/domain"
)

// LogSender "sends" a notification by logging it, one structured line each.
type LogSender struct {
	logger *slog.Logger
}

var _ domain.Sender = (*LogSender)(nil)

// NewLogSender returns a LogSender writing to logger.
func NewLogSender(logger *slog.Logger) *LogSender { return &LogSender{logger: logger} }

// Send implements domain.Sender; it never fails.
func (s *LogSender) Send(ctx context.Context, n domain.Notification) error {
	s.logger.InfoContext(ctx, "notification sent",
		"notification_id", n.ID,
		"user_id", n.UserID,
		"order_id", n.OrderID,
		"kind", string(n.Kind),
		"title", n.Title,
		"event_id", n.EventID,
	)
	return nil
}
