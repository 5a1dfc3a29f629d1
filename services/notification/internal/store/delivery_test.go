package store_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/slipway-dev/slipway/services/notification/internal/domain"
	"github.com/slipway-dev/slipway/services/notification/internal/store"
)

// enqueue stores ns and queues each one's delivery, in one transaction, in
// ctx (whose span, if any, the rows keep).
func (e env) enqueue(t *testing.T, ctx context.Context, ns ...domain.Notification) {
	t.Helper()
	require.NoError(t, e.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, n := range ns {
			if _, err := e.store.Tx(tx).CreateNotification(ctx, n); err != nil {
				return err
			}
			if err := e.store.Tx(tx).EnqueueDelivery(ctx, n); err != nil {
				return err
			}
		}
		return nil
	}))
}

func (e env) claim(t *testing.T, now, leaseUntil time.Time, limit int) []domain.Delivery {
	t.Helper()
	ds, err := e.store.ClaimDue(t.Context(), now, leaseUntil, limit)
	require.NoError(t, err)
	return ds
}

func (e env) row(t *testing.T, id string) store.DeliveryRow {
	t.Helper()
	r, err := e.store.Delivery(t.Context(), id)
	require.NoError(t, err)
	return r
}

func claimedIDs(ds []domain.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Notification.ID)
	}
	return out
}

func TestEachNotificationIsListedWithItsDeliveryState(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		e.create(t, notification(1, "u-a"))                                                               // no channel
		e.enqueue(t, t.Context(), notification(2, "u-a"), notification(3, "u-a"), notification(4, "u-a")) // queued
		ds := e.claim(t, t0.Add(time.Hour), t0.Add(2*time.Hour), 10)
		require.Equal(t, []string{id(2), id(3), id(4)}, claimedIDs(ds))
		require.NoError(t, e.store.MarkDelivered(t.Context(), ds[1], t0.Add(time.Hour)))
		require.NoError(t, e.store.MarkFailed(t.Context(), ds[2], t0.Add(time.Hour), "webhook answered 410 Gone"))

		states := map[string]domain.DeliveryState{}
		for _, n := range e.list(t, "u-a", "", 10) {
			states[n.ID] = n.Delivery
		}
		assert.Equal(t, map[string]domain.DeliveryState{
			id(1): domain.DeliveryNone,
			id(2): domain.DeliveryPending, // claimed, not yet marked: still pending
			id(3): domain.DeliveryDelivered,
			id(4): domain.DeliveryFailed,
		}, states)
		pending, failed, err := e.store.Counts(t.Context())
		require.NoError(t, err)
		assert.Equal(t, [2]int64{1, 1}, [2]int64{pending, failed})
	})
}

func TestClaimDueTakesDueRowsAndLeasesThem(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
		})
		ctx := trace.ContextWithSpanContext(t.Context(), sc)
		// Due at their creation: t0+1s, t0+2s, t0+3s.
		e.enqueue(t, ctx, notification(1, "u-a"), notification(2, "u-b"), notification(3, "u-a"))

		assert.Empty(t, e.claim(t, t0, t0.Add(time.Minute), 10), "none due yet")

		first := e.claim(t, t0.Add(2*time.Second), t0.Add(time.Minute), 10)
		require.Equal(t, []string{id(1), id(2)}, claimedIDs(first), "the due ones, longest due first")
		want := notification(1, "u-a")
		want.Delivery = domain.DeliveryPending
		assert.Equal(t, want, first[0].Notification, "with the notification, every field")
		assert.Equal(t, 1, first[0].Attempt)
		assert.Contains(t, first[0].TraceContext["traceparent"], sc.TraceID().String(), "the event's trace")
		assert.Equal(t, 1, e.row(t, id(1)).Attempts, "the attempt is counted at the claim")

		assert.Equal(t, []string{id(3)}, claimedIDs(e.claim(t, t0.Add(30*time.Second), t0.Add(time.Hour), 10)),
			"leased rows are hidden from other claims")

		// The first claimer died without marking: at the end of the lease
		// its rows come back, their next attempt counted.
		again := e.claim(t, t0.Add(time.Minute), t0.Add(2*time.Minute), 1)
		require.Equal(t, []string{id(1)}, claimedIDs(again), "at most limit")
		assert.Equal(t, 2, again[0].Attempt)
	})
}

func TestMarksApplyOnlyToTheLatestClaim(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		e.enqueue(t, t.Context(), notification(1, "u-a"))
		stale := e.claim(t, t0.Add(time.Hour), t0.Add(time.Hour+time.Minute), 10)[0]
		current := e.claim(t, t0.Add(2*time.Hour), t0.Add(2*time.Hour+time.Minute), 10)[0]
		require.Equal(t, 2, current.Attempt)

		require.NoError(t, e.store.MarkDelivered(t.Context(), stale, t0.Add(2*time.Hour)))
		assert.Equal(t, domain.DeliveryPending, e.row(t, id(1)).State, "a claim whose lease ended changes nothing")

		next := t0.Add(3 * time.Hour).Truncate(time.Microsecond)
		long := strings.Repeat("é", 800) // 1600 bytes
		require.NoError(t, e.store.MarkRetry(t.Context(), current, next, long))
		r := e.row(t, id(1))
		assert.Equal(t, domain.DeliveryPending, r.State)
		assert.True(t, next.Equal(r.NextAttemptAt), "next attempt at %s, got %s", next, r.NextAttemptAt)
		assert.Equal(t, strings.Repeat("é", 500), r.LastError, "cut to 1000 bytes on a rune boundary")
		assert.Empty(t, e.claim(t, next.Add(-time.Second), next.Add(time.Minute), 10), "not due before its retry time")

		third := e.claim(t, next, next.Add(time.Minute), 10)[0]
		require.NoError(t, e.store.MarkFailed(t.Context(), third, next, "gave up"))
		r = e.row(t, id(1))
		assert.Equal(t, domain.DeliveryFailed, r.State)
		assert.Equal(t, "gave up", r.LastError)
		assert.Equal(t, 3, r.Attempts)
		assert.Empty(t, e.claim(t, next.Add(24*time.Hour), next.Add(25*time.Hour), 10), "a failed delivery is never claimed again")
	})
}

func TestConcurrentClaimsNeverShareARow(t *testing.T) {
	const rows, claimers = 40, 4
	forEachDialect(t, func(t *testing.T, e env) {
		var ns []domain.Notification
		for i := range rows {
			ns = append(ns, notification(i+1, "u-a"))
		}
		e.enqueue(t, t.Context(), ns...)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			got  []string
			errs []error
		)
		now := t0.Add(time.Hour)
		for range claimers {
			wg.Go(func() {
				for {
					ds, err := e.store.ClaimDue(context.Background(), now, now.Add(time.Hour), 3)
					mu.Lock()
					errs = append(errs, err)
					got = append(got, claimedIDs(ds)...)
					mu.Unlock()
					if err != nil || len(ds) == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		slices.Sort(got)
		want := ids(ns)
		slices.Sort(want)
		assert.Equal(t, want, got, "every row claimed exactly once")
	})
}

func TestQueuedDeliveryRollsBackWithTheNotification(t *testing.T) {
	errAbort := errors.New("abort")
	forEachDialect(t, func(t *testing.T, e env) {
		err := e.db.InTx(t.Context(), func(tx *sql.Tx) error {
			n := notification(1, "u-a")
			_, err := e.store.Tx(tx).CreateNotification(t.Context(), n)
			require.NoError(t, err)
			require.NoError(t, e.store.Tx(tx).EnqueueDelivery(t.Context(), n))
			return errAbort
		})
		require.ErrorIs(t, err, errAbort)
		pending, _, err := e.store.Counts(t.Context())
		require.NoError(t, err)
		assert.Zero(t, pending)
		_, err = e.store.Delivery(t.Context(), id(1))
		assert.ErrorIs(t, err, sql.ErrNoRows)
	})
}

// TestDueTimesCompareAtSubSecondPrecision guards SQLite, which keeps times
// as text: with every time in UTC, text order must be time order, with and
// without fractional seconds.
func TestDueTimesCompareAtSubSecondPrecision(t *testing.T) {
	whole := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	forEachDialect(t, func(t *testing.T, e env) {
		a, b := notification(1, "u-a"), notification(2, "u-a")
		a.CreatedAt, b.CreatedAt = whole, whole.Add(500*time.Millisecond)
		e.enqueue(t, t.Context(), a, b)
		lease := whole.Add(time.Hour)
		assert.Empty(t, e.claim(t, whole.Add(-time.Microsecond), lease, 10))
		assert.Equal(t, []string{id(1)}, claimedIDs(e.claim(t, whole, lease, 10)), "due at its exact time")
		assert.Empty(t, e.claim(t, whole.Add(450*time.Millisecond), lease, 10), ".45 s is before .5 s")
		assert.Equal(t, []string{id(2)}, claimedIDs(e.claim(t, whole.Add(500*time.Millisecond+time.Microsecond), lease, 10)))
	})
}
