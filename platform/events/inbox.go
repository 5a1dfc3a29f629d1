package events

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/slipway-dev/slipway/platform/store"
)

// DefaultInboxRetention is how long a consumer keeps an inbox row by
// default: far longer than the stream's duplicate window and than any
// redelivery of a message whose ack was lost.
const DefaultInboxRetention = 7 * 24 * time.Hour

// Inbox pruning tuning: one bounded DELETE per batch, so a large backlog
// never holds a long transaction (or SQLite's single writer) at once.
const (
	inboxPruneInterval   = time.Hour
	inboxPruneBatch      = 1000
	inboxPruneBatchPause = 20 * time.Millisecond
)

// CheckInboxRetention returns why d cannot be the inbox retention, or "".
// It must exceed the stream's duplicate window: see PruneInbox.
func CheckInboxRetention(d time.Duration) string {
	if d <= DuplicateWindow {
		return "want more than the stream's duplicate window (" + DuplicateWindow.String() + ")"
	}
	return ""
}

// PruneInbox returns a worker that deletes the consumer's inbox rows older
// than retention, at start and every hour, in batches of 1,000, counting
// them in slipway_inbox_pruned_total{consumer}.
//
// Why a pruned row cannot let an event take effect twice: an inbox row is
// only consulted when the same event id comes back. JetStream delivers a
// message again only while it is unacknowledged, within MaxDeliver
// deliveries spaced by AckWait or the retry delay (minutes in all); the
// relay publishes each event until JetStream acknowledges it, and a
// re-publish after a crash falls inside the stream's duplicate window
// (DuplicateWindow), which drops it. So a week-old id can only return if an
// operator deletes and recreates the durable consumer (a replay of the whole
// stream), and then the handlers' own idempotency (state transitions, unique
// event ids) is what remains.
func (c *Consumer) PruneInbox(retention time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		if reason := CheckInboxRetention(retention); reason != "" {
			return fmt.Errorf("events: prune inbox of %s: retention %s: %s", c.cfg.Durable, retention, reason)
		}
		for {
			if n, err := c.pruneInbox(ctx, retention); err != nil && !stopped(ctx) {
				c.logger.WarnContext(ctx, "events consumer: prune inbox", "error", err, "rows", n)
			} else if n > 0 {
				c.logger.InfoContext(ctx, "events consumer: pruned inbox", "rows", n, "retention", retention)
			}
			if !sleep(ctx, c.pruneInterval, nil) {
				return nil
			}
		}
	}
}

var inboxPruneSQL = map[store.Dialect]string{
	store.Postgres: `DELETE FROM inbox WHERE consumer = $1 AND event_id IN (
		SELECT event_id FROM inbox
		WHERE consumer = $1 AND processed_at < clock_timestamp() - make_interval(secs => $2)
		LIMIT $3)`,
	store.SQLite: `DELETE FROM inbox WHERE rowid IN (
		SELECT rowid FROM inbox
		WHERE consumer = $1 AND processed_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $2)
		LIMIT $3)`,
}

// pruneInbox deletes the consumer's rows processed longer than retention
// ago, one batch at a time, and reports how many it deleted.
func (c *Consumer) pruneInbox(ctx context.Context, retention time.Duration) (int64, error) {
	query, ok := inboxPruneSQL[c.db.Dialect]
	if !ok {
		return 0, fmt.Errorf("unsupported dialect %q", c.db.Dialect)
	}
	var age any = retention.Seconds()
	if c.db.Dialect == store.SQLite {
		age = "-" + strconv.FormatFloat(retention.Seconds(), 'f', 3, 64) + " seconds"
	}
	var total int64
	for {
		res, err := c.db.ExecContext(ctx, query, c.cfg.Durable, age, c.pruneBatch)
		if err != nil {
			return total, fmt.Errorf("delete inbox rows older than %s: %w", retention, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("delete inbox rows older than %s: %w", retention, err)
		}
		total += n
		c.inboxPruned.Add(float64(n))
		if n < int64(c.pruneBatch) || !sleep(ctx, inboxPruneBatchPause, nil) {
			return total, nil
		}
	}
}
