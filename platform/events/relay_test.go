package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

// newRelay returns a fast relay with its own registry.
func newRelay(t testing.TB, db *store.DB, js jetstream.JetStream) (*Relay, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := NewRelay(db, js, testLogger(t), reg, nil)
	require.NoError(t, err)
	return fast(r), reg
}

// startRelay opens a database of dialect d and a stream on the broker at
// url, and runs a fast relay from the one to the other until the test ends;
// configure, when not nil, adjusts the relay before it runs.
func startRelay(t testing.TB, d store.Dialect, url string, configure func(*Relay)) (*store.DB, jetstream.JetStream, testStream, *Relay) {
	t.Helper()
	db := openDB(t, d)
	_, js := connect(t, url)
	s := newStream(t, js)
	r, _ := newRelay(t, db, js)
	if configure != nil {
		configure(r)
	}
	run(t, r.Run)
	return db, js, s, r
}

// sentCount counts the outbox rows marked sent.
func sentCount(t testing.TB, db *store.DB) int {
	t.Helper()
	return queryInt(t, db, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL")
}

func msgIDs(msgs []*jetstream.RawStreamMsg) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.Header.Get(jetstream.MsgIDHeader)
	}
	return ids
}

func TestRelay(t *testing.T) {
	t.Parallel()
	url := natstest.Shared(t)
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()

			t.Run("publishes in id order with Nats-Msg-Id and marks sent", func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db := openDB(t, d)
				_, js := connect(t, url)
				s := newStream(t, js)
				var want []string
				for i := range 7 {
					e := event(s, fmt.Sprintf("e%d", i))
					enqueue(ctx, t, db, e)
					want = append(want, e.ID)
				}
				r, reg := newRelay(t, db, js)
				r.batchSize = 3 // several full batches, each followed at once by the next
				run(t, r.Run)

				require.Eventually(t, func() bool { return sentCount(t, db) == 7 }, waitFor, tick)
				msgs := streamMsgs(t, js, s.name)
				require.Len(t, msgs, 7)
				assert.Equal(t, want, msgIDs(msgs))
				for i, m := range msgs {
					assert.Equal(t, s.subject("created"), m.Subject)
					assert.Equal(t, "google.protobuf.StringValue", m.Header.Get(HeaderEventType))
					assert.Equal(t, ContentTypeProtobuf, m.Header.Get(HeaderContentType))
					var p wrapperspb.StringValue
					require.NoError(t, proto.Unmarshal(m.Data, &p))
					assert.Equal(t, "payload of "+want[i], p.GetValue())
				}
				assert.Equal(t, 7, queryInt(t, db, "SELECT count(*) FROM outbox WHERE attempts = 1 AND last_error IS NULL"))
				assert.InDelta(t, 7, testutil.ToFloat64(r.published), 0)
				assert.InDelta(t, 0, testutil.ToFloat64(r.publishErrors), 0)
				require.Eventually(t, func() bool { return testutil.ToFloat64(r.pending) == 0 }, waitFor, tick)
				n, err := testutil.GatherAndCount(reg, "slipway_outbox_pending", "slipway_outbox_oldest_pending_age_seconds",
					"slipway_outbox_published_total", "slipway_outbox_publish_errors_total")
				require.NoError(t, err)
				assert.Equal(t, 4, n, "every metric is registered")
			})

			t.Run("Notify wakes an idle relay", func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db, _, s, r := startRelay(t, d, url, func(r *Relay) {
					r.pollInterval = time.Hour
					r.statsInterval = time.Hour
				})
				time.Sleep(50 * time.Millisecond) // let it go idle after its first, empty poll

				enqueue(ctx, t, db, event(s, "e1"))
				r.Notify()
				r.Notify() // never blocks
				require.Eventually(t, func() bool { return sentCount(t, db) == 1 }, 5*time.Second, tick,
					"published long before the hour-long poll")
			})

			t.Run("a rolled-back Enqueue publishes nothing", func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db, js, s, r := startRelay(t, d, url, nil)

				errAbort := errors.New("abort")
				require.ErrorIs(t, db.InTx(ctx, func(tx *sql.Tx) error {
					require.NoError(t, Enqueue(ctx, tx, event(s, "rolled-back")))
					return errAbort
				}), errAbort)
				enqueue(ctx, t, db, event(s, "committed"))
				r.Notify()

				require.Eventually(t, func() bool { return sentCount(t, db) == 1 }, waitFor, tick)
				assert.Equal(t, []string{"committed"}, msgIDs(streamMsgs(t, js, s.name)))
			})

			t.Run("a re-publish after a crash is dropped by the duplicate window", func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db, js, s, r := startRelay(t, d, url, nil)

				enqueue(ctx, t, db, event(s, "e1"))
				r.Notify()
				require.Eventually(t, func() bool { return sentCount(t, db) == 1 }, waitFor, tick)

				// The relay crashed after the ack but before the mark.
				_, err := db.ExecContext(ctx, "UPDATE outbox SET sent_at = NULL WHERE event_id = 'e1'")
				require.NoError(t, err)
				r.Notify()
				require.Eventually(t, func() bool {
					return queryInt(t, db, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL AND attempts = 2") == 1
				}, waitFor, tick)
				assert.InDelta(t, 2, testutil.ToFloat64(r.published), 0, "published twice")
				assert.Equal(t, uint64(1), streamCount(t, js, s.name), "stored once")
			})

			t.Run("a failed publish stays pending, is recorded, and keeps the order", func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db, js, s, r := startRelay(t, d, url, nil)

				// No stream captures this subject: JetStream refuses it.
				enqueue(ctx, t, db,
					Envelope{ID: "orphan", Subject: "t" + randomID() + ".nostream", Payload: wrapperspb.String("x")},
					event(s, "after"))
				r.Notify()
				require.Eventually(t, func() bool {
					return queryInt(t, db, "SELECT attempts FROM outbox WHERE event_id = 'orphan'") >= 2
				}, waitFor, tick, "retried with backoff")
				var lastError string
				require.NoError(t, db.QueryRowContext(ctx,
					"SELECT last_error FROM outbox WHERE event_id = 'orphan'").Scan(&lastError))
				assert.NotEmpty(t, lastError)
				assert.Equal(t, 0, sentCount(t, db), "the later event does not overtake the failing one")
				assert.Equal(t, 0, queryInt(t, db, "SELECT attempts FROM outbox WHERE event_id = 'after'"))
				assert.GreaterOrEqual(t, testutil.ToFloat64(r.publishErrors), 2.0)
				require.Eventually(t, func() bool { return testutil.ToFloat64(r.pending) == 2 }, waitFor, tick)
				assert.Positive(t, testutil.ToFloat64(r.oldestAge))

				// Once a stream takes the subject, both go out, in order.
				var subject string
				require.NoError(t, db.QueryRowContext(ctx,
					"SELECT subject FROM outbox WHERE event_id = 'orphan'").Scan(&subject))
				require.NoError(t, EnsureStream(ctx, js, s.name, []string{s.prefix + ".>", subject}))
				require.Eventually(t, func() bool { return sentCount(t, db) == 2 }, waitFor, tick)
				assert.Equal(t, []string{"orphan", "after"}, msgIDs(streamMsgs(t, js, s.name)))
			})

			t.Run("prunes rows sent before the retention", func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db := openDB(t, d)
				_, js := connect(t, url)
				r, _ := newRelay(t, db, js)
				for _, id := range []string{"old", "recent", "pending"} {
					enqueue(ctx, t, db, Envelope{ID: id, Subject: "s", Payload: wrapperspb.String(id)})
				}
				old := map[store.Dialect]string{
					store.Postgres: "now() - interval '8 days'",
					store.SQLite:   "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-8 days')",
				}[d]
				_, err := db.ExecContext(ctx, "UPDATE outbox SET sent_at = "+old+" WHERE event_id = 'old'")
				require.NoError(t, err)
				_, err = db.ExecContext(ctx, "UPDATE outbox SET sent_at = "+nowSQL[d]+" WHERE event_id = 'recent'")
				require.NoError(t, err)

				r.prune(ctx)
				rows, err := db.QueryContext(ctx, "SELECT event_id FROM outbox ORDER BY id")
				require.NoError(t, err)
				defer rows.Close()
				var left []string
				for rows.Next() {
					var id string
					require.NoError(t, rows.Scan(&id))
					left = append(left, id)
				}
				require.NoError(t, rows.Err())
				assert.Equal(t, []string{"recent", "pending"}, left)
			})
		})
	}
}

// TestRelayOutOfOrderCommit proves that a row which commits after a row with
// a higher id is still published: the relay reads the lowest unsent ids on
// every poll instead of continuing after the last id it sent.
func TestRelayOutOfOrderCommit(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			if d == store.SQLite {
				t.Skip("SQLite serialises writers (BEGIN IMMEDIATE): ids commit in id order")
			}
			ctx := context.Background()
			db, js, s, r := startRelay(t, d, natstest.Shared(t), nil)

			early, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer func() { _ = early.Rollback() }()
			require.NoError(t, Enqueue(ctx, early, event(s, "early")))
			late, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer func() { _ = late.Rollback() }()
			require.NoError(t, Enqueue(ctx, late, event(s, "late")))

			var earlyID, lateID int64
			require.NoError(t, early.QueryRowContext(ctx, "SELECT id FROM outbox WHERE event_id = 'early'").Scan(&earlyID))
			require.NoError(t, late.QueryRowContext(ctx, "SELECT id FROM outbox WHERE event_id = 'late'").Scan(&lateID))
			require.Less(t, earlyID, lateID)

			require.NoError(t, late.Commit()) // the higher id commits first ...
			r.Notify()
			require.Eventually(t, func() bool { return sentCount(t, db) == 1 }, waitFor, tick)
			assert.Equal(t, []string{"late"}, msgIDs(streamMsgs(t, js, s.name)))

			require.NoError(t, early.Commit()) // ... and the lower id is not skipped.
			r.Notify()
			require.Eventually(t, func() bool { return sentCount(t, db) == 2 }, waitFor, tick)
			assert.Equal(t, []string{"late", "early"}, msgIDs(streamMsgs(t, js, s.name)))
		})
	}
}

// TestRelayBrokerRestart stops the broker under a running relay: events
// committed meanwhile stay pending (and say so in the gauge) and go out once
// the broker is back with the same store.
func TestRelayBrokerRestart(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := natstest.StartOpen(t)
			db := openDB(t, d)
			nc, js := connect(t, b.URL())
			s := newStream(t, js)
			r, _ := newRelay(t, db, js)
			run(t, r.Run)
			// A consumer runs throughout, and picks up again after the restart.
			rec := &recorder{}
			c, err := NewConsumer(db, js, ConsumerConfig{
				Stream: s.name, Durable: "survivor", Subjects: []string{s.prefix + ".>"}, AckWait: 2 * time.Second,
			}, rec.handle, testLogger(t), prometheus.NewRegistry(), nil)
			require.NoError(t, err)
			c.minBackoff, c.maxBackoff = 10*time.Millisecond, 200*time.Millisecond
			run(t, c.Run)
			_, err = db.ExecContext(ctx, "CREATE TABLE effects (event_id TEXT PRIMARY KEY, delivery INTEGER NOT NULL)")
			require.NoError(t, err)

			enqueue(ctx, t, db, event(s, "before"))
			r.Notify()
			require.Eventually(t, func() bool { return sentCount(t, db) == 1 }, waitFor, tick)

			b.Stop()
			require.Eventually(t, func() bool { return Check(nc)(ctx) != nil }, waitFor, tick)
			enqueue(ctx, t, db, event(s, "during-1"), event(s, "during-2"))
			r.Notify()
			require.Eventually(t, func() bool {
				return testutil.ToFloat64(r.pending) == 2 && testutil.ToFloat64(r.publishErrors) > 0
			}, waitFor, tick)
			assert.Equal(t, 1, sentCount(t, db))
			assert.Equal(t, 1, queryInt(t, db,
				"SELECT count(*) FROM outbox WHERE event_id = 'during-1' AND attempts > 0 AND last_error IS NOT NULL"))

			b.Start()
			require.Eventually(t, func() bool { return sentCount(t, db) == 3 }, waitFor, tick)
			assert.Equal(t, []string{"before", "during-1", "during-2"}, msgIDs(streamMsgs(t, js, s.name)))
			require.Eventually(t, func() bool { return testutil.ToFloat64(r.pending) == 0 }, waitFor, tick)
			require.Eventually(t, func() bool { return testutil.ToFloat64(c.ok) == 3 }, waitFor, tick)
			assert.Equal(t, []string{"before#1", "during-1#1", "during-2#1"}, rec.Calls())
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	lo, hi := 100*time.Millisecond, 5*time.Second
	for failures, want := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		7: 5 * time.Second, 64: 5 * time.Second, 1000: 5 * time.Second,
	} {
		for range 20 {
			d := backoff(failures, lo, hi)
			assert.GreaterOrEqual(t, d, want/2, "failures=%d", failures)
			assert.LessOrEqual(t, d, want, "failures=%d", failures)
		}
	}
}
