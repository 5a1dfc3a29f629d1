package events

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

func TestCheckInboxRetention(t *testing.T) {
	t.Parallel()
	assert.Empty(t, CheckInboxRetention(DefaultInboxRetention))
	assert.Empty(t, CheckInboxRetention(DuplicateWindow+time.Second))
	assert.Contains(t, CheckInboxRetention(DuplicateWindow), "duplicate window (2m0s)")
	assert.NotEmpty(t, CheckInboxRetention(0))
	assert.NotEmpty(t, CheckInboxRetention(-time.Hour))
}

// insertInbox adds an inbox row processed age ago.
func insertInbox(t *testing.T, db *store.DB, consumer, id string, age time.Duration) {
	t.Helper()
	query := "INSERT INTO inbox (consumer, event_id, processed_at) VALUES ($1, $2, clock_timestamp() - make_interval(secs => $3))"
	var arg any = age.Seconds()
	if db.Dialect == store.SQLite {
		query = "INSERT INTO inbox (consumer, event_id, processed_at) VALUES ($1, $2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $3))"
		arg = "-" + strconv.FormatFloat(age.Seconds(), 'f', 3, 64) + " seconds"
	}
	_, err := db.ExecContext(context.Background(), query, consumer, id, arg)
	require.NoError(t, err)
}

// Pruning deletes the consumer's rows older than the retention, in
// batches, and keeps recent rows and other consumers' rows.
func TestPruneInbox(t *testing.T) {
	t.Parallel()
	url := natstest.Shared(t)
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := openDB(t, d)
			_, js := connect(t, url)
			c, err := NewConsumer(db, js, ConsumerConfig{Stream: "S", Durable: "pruned"}, func(context.Context, *sql.Tx, Message) error { return nil }, testLogger(t), prometheus.NewRegistry(), nil)
			require.NoError(t, err)
			c.pruneBatch = 10

			const retention = 7 * 24 * time.Hour
			for i := range 25 {
				insertInbox(t, db, "pruned", "old-"+strconv.Itoa(i), retention+time.Duration(i+1)*time.Hour)
			}
			keep := map[string]time.Duration{"fresh": 0, "an-hour": time.Hour, "almost-a-week": retention - time.Minute}
			for id, age := range keep {
				insertInbox(t, db, "pruned", id, age)
			}
			for i := range 5 {
				insertInbox(t, db, "other", "old-"+strconv.Itoa(i), 2*retention)
			}

			n, err := c.pruneInbox(ctx, retention)
			require.NoError(t, err)
			assert.Equal(t, int64(25), n)
			assert.Equal(t, float64(25), counter(c.inboxPruned))
			assert.Equal(t, 3, queryInt(t, db, "SELECT count(*) FROM inbox WHERE consumer = 'pruned'"))
			for id := range keep {
				assert.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM inbox WHERE consumer = 'pruned' AND event_id = $1", id), id)
			}
			assert.Equal(t, 5, queryInt(t, db, "SELECT count(*) FROM inbox WHERE consumer = 'other'"), "another consumer's rows are its own")

			// The worker prunes at start.
			insertInbox(t, db, "pruned", "late", retention+time.Hour)
			run(t, c.PruneInbox(retention))
			require.Eventually(t, func() bool {
				return queryInt(t, db, "SELECT count(*) FROM inbox WHERE consumer = 'pruned' AND event_id = 'late'") == 0
			}, waitFor, tick)
			assert.Equal(t, 3, queryInt(t, db, "SELECT count(*) FROM inbox WHERE consumer = 'pruned'"))

			err = c.PruneInbox(DuplicateWindow)(ctx)
			assert.ErrorContains(t, err, "duplicate window", "a retention inside the duplicate window is refused")
		})
	}
}
