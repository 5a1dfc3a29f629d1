package domain_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
)

var (
	beans    = []domain.Item{{ProductID: "beans", Quantity: 2}}
	key      = "key-saga-0001"
	sagaID   = domain.OrderID(alice.Subject, key)
	errDisk  = errors.New("disk I/O error")
	errGone  = fmt.Errorf("payment service: %w", errkind.Unavailable)
	errStale = errors.New("authorization expired")
)

// reserveAny expects the order's stock reserved any number of times (it is
// idempotent by the order), at catalog prices, failing as an unreachable
// inventory does while down is set.
func (e env) reserveAny(down *atomic.Bool) {
	e.stock.EXPECT().Reserve(gomock.Any(), sagaID, beans).DoAndReturn(
		func(ctx context.Context, id string, items []domain.Item) (map[string]domain.Price, error) {
			if down != nil && down.Load() {
				return nil, fmt.Errorf("inventory: %w", errkind.Unavailable)
			}
			return reservedAt(ctx, id, items)
		}).AnyTimes()
}

func TestAPaidOrderIsPlacedAndCaptured(t *testing.T) {
	e := newEnv(t)
	e.stock.EXPECT().Reserve(gomock.Any(), sagaID, beans).DoAndReturn(reservedAt)
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "pm_card_visa")
	require.NoError(t, err)
	assert.Equal(t, domain.StatusPlaced, o.Status)
	assert.Equal(t, domain.PaymentCaptured, o.PaymentState)
	assert.Equal(t, "pm_card_visa", o.PaymentMethod)
	assert.Equal(t, o, e.stored(t, sagaID))
	assert.Equal(t, []string{"slipway.order.placed"}, e.outboxSubjects(t))
	assert.Equal(t, []string{sagaID}, e.pay.authorizeOrders)
	assert.Equal(t, 1, e.pay.count("Capture"))
	assert.Zero(t, e.pay.count("Void"))
	e.assertInvariants(t, o)
}

func TestADeclinedPaymentFailsTheOrderAndReleasesItsStock(t *testing.T) {
	e := newEnv(t)
	gomock.InOrder(
		e.stock.EXPECT().Reserve(gomock.Any(), sagaID, beans).DoAndReturn(reservedAt),
		e.stock.EXPECT().Release(gomock.Any(), sagaID).Return(nil),
	)
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "pm_card_chargeDeclined")
	require.NoError(t, err, "a decline is the order's outcome, not an error of the call")
	assert.Equal(t, domain.StatusFailed, o.Status)
	assert.Equal(t, domain.PaymentDeclined, o.PaymentState)
	assert.Contains(t, o.FailureReason, "your card was declined")
	assert.True(t, o.StockReleased)
	assert.Equal(t, o, e.stored(t, sagaID))
	assert.Equal(t, []string{"slipway.order.failed"}, e.outboxSubjects(t))
	assert.Zero(t, e.pay.count("Capture"))
	assert.Zero(t, e.pay.count("Void"), "nothing was authorized")
	e.assertInvariants(t, o)

	again, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "pm_card_chargeDeclined")
	require.NoError(t, err)
	assert.Equal(t, o, again, "the key answers the failed order, calling nothing")
	assert.Equal(t, 1, e.pay.count("Authorize"))
}

func TestATransientFailureIsRetriedWithTheSameOrder(t *testing.T) {
	e := newEnv(t)
	e.stock.EXPECT().Reserve(gomock.Any(), sagaID, beans).DoAndReturn(reservedAt)
	e.pay.fail("Authorize", 2, errGone)
	e.pay.fail("Capture", 1, context.DeadlineExceeded)
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "pm_card_transient")
	require.NoError(t, err)
	assert.Equal(t, domain.StatusPlaced, o.Status)
	assert.Equal(t, domain.PaymentCaptured, o.PaymentState)
	assert.Equal(t, []string{sagaID, sagaID, sagaID}, e.pay.authorizeOrders, "three attempts, one idempotency key")
	assert.Equal(t, 2, e.pay.count("Capture"))
	e.assertInvariants(t, o)
}

// A call whose answer is lost (it timed out, and had taken effect) is
// retried under the same order, and the payment service counts it once.
func TestAnUnknownOutcomeIsRetriedWithTheSameKey(t *testing.T) {
	e := newEnv(t)
	e.stock.EXPECT().Reserve(gomock.Any(), sagaID, beans).DoAndReturn(reservedAt)
	e.pay.land("Authorize", context.DeadlineExceeded)
	e.pay.land("Capture", context.DeadlineExceeded)
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "pm_card_timeout")
	require.NoError(t, err)
	assert.Equal(t, domain.PaymentCaptured, o.PaymentState)
	assert.Equal(t, []string{sagaID, sagaID}, e.pay.authorizeOrders)
	authorized, captured, _, _ := e.pay.effects(sagaID)
	assert.Equal(t, 1, authorized)
	assert.Equal(t, 1, captured)
	e.assertInvariants(t, o)
}

func TestAPaymentThatNeverAnswersFailsTheOrderAtItsDeadline(t *testing.T) {
	saga := testSaga()
	saga.Deadline, saga.SyncBudget = 400*time.Millisecond, 2*time.Second
	e := newEnvWith(t, saga)
	gomock.InOrder(
		e.stock.EXPECT().Reserve(gomock.Any(), sagaID, beans).DoAndReturn(reservedAt),
		e.stock.EXPECT().Release(gomock.Any(), sagaID).Return(nil),
	)
	e.pay.fail("Authorize", 1000, context.DeadlineExceeded)
	start := time.Now()
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "pm_card_timeout")
	require.NoError(t, err)
	assert.Less(t, time.Since(start), saga.SyncBudget, "it gave up at the deadline")
	assert.Equal(t, domain.StatusFailed, o.Status)
	assert.Equal(t, domain.PaymentVoided, o.PaymentState, "what may have been authorized is voided")
	assert.Contains(t, o.FailureReason, "payment not authorized before the order's deadline")
	assert.Greater(t, e.pay.count("Authorize"), 2, "retried with backoff until then")
	assert.Equal(t, 1, e.pay.count("Void"))
	assert.Equal(t, []string{"slipway.order.failed"}, e.outboxSubjects(t))
	e.assertInvariants(t, e.stored(t, sagaID))
}

func TestAPermanentPaymentFailureVoidsAndFails(t *testing.T) {
	e := newEnv(t)
	e.stock.EXPECT().Reserve(gomock.Any(), sagaID, beans).DoAndReturn(reservedAt)
	e.stock.EXPECT().Release(gomock.Any(), sagaID).Return(nil)
	e.pay.fail("Authorize", 1, errors.New("payment method unknown"))
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "pm_card_nope")
	require.NoError(t, err)
	assert.Equal(t, domain.StatusFailed, o.Status)
	assert.Equal(t, domain.PaymentVoided, o.PaymentState)
	assert.Equal(t, "payment failed: payment method unknown", o.FailureReason)
	assert.Equal(t, 1, e.pay.count("Authorize"), "a permanent failure is not retried")
	e.assertInvariants(t, o)
}

// When the request's budget ends with the payment still unanswered, the
// order is answered PENDING, and recovery finishes it.
func TestAnOrderStillInFlightIsAnsweredPendingAndRecovered(t *testing.T) {
	saga := testSaga()
	saga.SyncBudget = 300 * time.Millisecond
	e := newEnvWith(t, saga)
	e.reserveAny(nil)
	e.pay.fail("Authorize", 1000, errGone)
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "pm_card_transient")
	require.NoError(t, err)
	assert.Equal(t, domain.StatusPending, o.Status)
	assert.True(t, o.Priced(), "its stock is reserved and priced")
	assert.Empty(t, e.outboxSubjects(t))

	e.pay.mu.Lock()
	e.pay.script = map[string][]scripted{} // the payment service is back
	e.pay.mu.Unlock()
	resumed, err := e.service(t, e.real).Recover(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, resumed)
	done := e.stored(t, sagaID)
	assert.Equal(t, domain.StatusPlaced, done.Status)
	assert.Equal(t, domain.PaymentCaptured, done.PaymentState)
	assert.Equal(t, []string{"slipway.order.placed"}, e.outboxSubjects(t))
	e.assertInvariants(t, done)
	assert.Contains(t, e.logs.messages(), "order saga resumed")

	again, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "pm_card_transient")
	require.NoError(t, err)
	assert.Equal(t, done, again, "the key answers the order as it is now")
}

func TestCancelVoidsAnAuthorizationNotCaptured(t *testing.T) {
	e := newEnv(t)
	e.stock.EXPECT().Reserve(gomock.Any(), sagaID, beans).DoAndReturn(reservedAt)
	e.pay.fail("Capture", 1000, errGone) // placed, not captured
	saga := e.saga
	saga.SyncBudget = 300 * time.Millisecond
	e.saga = saga
	svc := e.service(t, e.real)
	o, err := svc.CreateOrder(t.Context(), alice, key, beans, "")
	require.NoError(t, err)
	require.Equal(t, domain.StatusPlaced, o.Status)
	require.Equal(t, domain.PaymentAuthorized, o.PaymentState)

	e.stock.EXPECT().Release(gomock.Any(), sagaID).Return(nil)
	got, err := svc.CancelOrder(t.Context(), alice, sagaID, "too slow")
	require.NoError(t, err)
	assert.Equal(t, domain.StatusCancelled, got.Status)
	assert.Equal(t, domain.PaymentVoided, got.PaymentState)
	assert.Equal(t, "too slow", got.CancelReason)
	assert.Equal(t, got, e.stored(t, sagaID))
	_, captured, voided, refunded := e.pay.effects(sagaID)
	assert.Equal(t, 1, voided)
	assert.Zero(t, captured)
	assert.Zero(t, refunded)
	assert.Equal(t, []string{"slipway.order.placed", "slipway.order.cancelled"}, e.outboxSubjects(t))

	resumed, err := svc.Recover(t.Context())
	require.NoError(t, err)
	assert.Zero(t, resumed, "nothing left to do: a cancelled order is never captured")
}

func TestCancelRefundsACapturedPayment(t *testing.T) {
	e := newEnv(t)
	o := e.place(t, alice, key, beans...)
	e.stock.EXPECT().Release(gomock.Any(), o.ID).Return(nil)
	got, err := e.svc.CancelOrder(t.Context(), alice, o.ID, "")
	require.NoError(t, err)
	assert.Equal(t, domain.PaymentRefunded, got.PaymentState)
	_, captured, voided, refunded := e.pay.effects(o.ID)
	assert.Equal(t, 1, captured)
	assert.Equal(t, 1, refunded)
	assert.Zero(t, voided)
}

// A cancel whose payment service does not answer stays begun; the call
// says so, and recovery (or the call again) finishes it.
func TestACancelInterruptedIsFinishedByRecovery(t *testing.T) {
	saga := testSaga()
	saga.SyncBudget = 300 * time.Millisecond
	e := newEnvWith(t, saga)
	o := e.place(t, alice, key, beans...)
	e.pay.fail("Refund", 1000, errGone)
	_, err := e.svc.CancelOrder(t.Context(), alice, o.ID, "gone")
	require.ErrorIs(t, err, errkind.Unavailable)
	begun := e.stored(t, o.ID)
	assert.Equal(t, domain.StatusPlaced, begun.Status)
	assert.True(t, begun.CancelRequested)

	_, err = e.svc.CancelOrder(t.Context(), bob, o.ID, "")
	require.ErrorIs(t, err, errkind.NotFound, "still only the owner's")

	e.pay.mu.Lock()
	e.pay.script = map[string][]scripted{}
	e.pay.mu.Unlock()
	e.stock.EXPECT().Release(gomock.Any(), o.ID).Return(nil)
	resumed, err := e.service(t, e.real).Recover(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, resumed)
	done := e.stored(t, o.ID)
	assert.Equal(t, domain.StatusCancelled, done.Status)
	assert.Equal(t, domain.PaymentRefunded, done.PaymentState)
	assert.Equal(t, "gone", done.CancelReason)
}

// A payment that can no longer be captured cancels the order, which voids
// the authorization and gives the stock back.
func TestAPaymentThatCannotBeCapturedCancelsTheOrder(t *testing.T) {
	e := newEnv(t)
	e.stock.EXPECT().Reserve(gomock.Any(), sagaID, beans).DoAndReturn(reservedAt)
	e.stock.EXPECT().Release(gomock.Any(), sagaID).Return(nil)
	e.pay.fail("Capture", 1, errStale)
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "")
	require.NoError(t, err)
	assert.Equal(t, domain.StatusCancelled, o.Status)
	assert.Equal(t, domain.PaymentVoided, o.PaymentState)
	assert.Equal(t, "payment capture failed: authorization expired", o.CancelReason)
	assert.Equal(t, []string{"slipway.order.placed", "slipway.order.cancelled"}, e.outboxSubjects(t))
}

// The crash tests stop the saga after each step (a store that fails, or a
// service that does not answer, where the process would have died) and let
// a fresh instance's Recover finish it. Whatever the step, the order ends
// PLACED and captured once, or FAILED with its stock released and nothing
// held on the card.
func TestACrashAfterAnyStepIsRecovered(t *testing.T) {
	tests := []struct {
		name   string
		method string // the payment method: decides the outcome
		crash  func(e env, inventoryDown *atomic.Bool)
		want   domain.Status
		// captures is how many Capture calls the order may take: one, or
		// two when the first one's outcome was never recorded (the second,
		// under the same key, captures nothing more).
		captures int
	}{
		{name: "after the order is created (inventory unanswered)", crash: func(_ env, inventoryDown *atomic.Bool) {
			inventoryDown.Store(true)
		}, want: domain.StatusPlaced},
		{name: "after the reserve, before the prices are stored", crash: func(e env, _ *atomic.Bool) {
			e.orders.failOn("Price", errDisk)
		}, want: domain.StatusPlaced},
		{name: "after the prices are stored, before the authorize", crash: func(e env, _ *atomic.Bool) {
			e.pay.fail("Authorize", 1000, errGone)
		}, want: domain.StatusPlaced},
		{name: "after the authorize, before the order is placed", crash: func(e env, _ *atomic.Bool) {
			e.orders.failOn("Place", errDisk)
		}, want: domain.StatusPlaced},
		{name: "after the order is placed, its answer lost", crash: func(e env, _ *atomic.Bool) {
			e.orders.loseOn("Place", errDisk)
		}, want: domain.StatusPlaced},
		{name: "after the capture, before it is recorded", crash: func(e env, _ *atomic.Bool) {
			e.orders.failOn("Captured", errDisk)
		}, want: domain.StatusPlaced, captures: 2},
		{name: "after a decline, before the order is failed", method: "pm_card_chargeDeclined", crash: func(e env, _ *atomic.Bool) {
			e.orders.failOn("Fail", errDisk)
		}, want: domain.StatusFailed},
		{name: "after the order is failed, before its stock is released", method: "pm_card_chargeDeclined", crash: func(e env, _ *atomic.Bool) {
			e.stock.EXPECT().Release(gomock.Any(), sagaID).Return(fmt.Errorf("inventory: %w", errkind.Unavailable))
		}, want: domain.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saga := testSaga()
			saga.SyncBudget = 60 * time.Millisecond
			e := newEnvWith(t, saga)
			var inventoryDown atomic.Bool
			tt.crash(e, &inventoryDown)
			e.reserveAny(&inventoryDown)
			_, _ = e.svc.CreateOrder(t.Context(), alice, key, beans, tt.method) // an error or not, the saga stopped
			stopped := e.stored(t, sagaID)
			finished := stopped.Status == tt.want && (stopped.PaymentState == domain.PaymentCaptured || stopped.StockReleased)
			require.False(t, finished, "the crash stopped the saga short of its end")

			// A fresh instance over the healed store and services.
			inventoryDown.Store(false)
			e.pay.mu.Lock()
			e.pay.script = map[string][]scripted{}
			e.pay.mu.Unlock()
			if tt.want == domain.StatusFailed {
				e.stock.EXPECT().Release(gomock.Any(), sagaID).Return(nil).AnyTimes()
			}
			resumed, err := e.service(t, e.real).Recover(t.Context())
			require.NoError(t, err)
			assert.Equal(t, 1, resumed)

			o := e.stored(t, sagaID)
			assert.Equal(t, tt.want, o.Status)
			switch tt.want {
			case domain.StatusPlaced:
				assert.Equal(t, domain.PaymentCaptured, o.PaymentState)
				assert.Equal(t, max(tt.captures, 1), e.pay.count("Capture"), "Capture calls")
				assert.Equal(t, []string{"slipway.order.placed"}, e.outboxSubjects(t), "one OrderPlaced")
			case domain.StatusFailed:
				assert.True(t, o.StockReleased)
				assert.Zero(t, e.pay.count("Capture"))
				assert.Equal(t, []string{"slipway.order.failed"}, e.outboxSubjects(t), "one OrderFailed")
			}
			e.assertInvariants(t, o)

			again, err := e.service(t, e.real).Recover(t.Context())
			require.NoError(t, err)
			assert.Zero(t, again, "nothing left to resume")
		})
	}
}

// Several instances recovering at once drive each order once: the lease
// keeps the others off, so the payment service sees one capture call.
func TestConcurrentRecoveriesDriveAnOrderOnce(t *testing.T) {
	saga := testSaga()
	saga.SyncBudget = 300 * time.Millisecond
	e := newEnvWith(t, saga)
	e.reserveAny(nil)
	e.pay.fail("Capture", 1000, errGone)
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "")
	require.NoError(t, err)
	require.Equal(t, domain.PaymentAuthorized, o.PaymentState)
	e.pay.mu.Lock()
	e.pay.script = map[string][]scripted{}
	captures := e.pay.calls["Capture"]
	e.pay.mu.Unlock()

	const n = 6
	var wg sync.WaitGroup
	total := make(chan int, n)
	for range n {
		svc := e.service(t, e.real)
		wg.Go(func() {
			resumed, err := svc.Recover(context.Background())
			assert.NoError(t, err)
			total <- resumed
		})
	}
	wg.Wait()
	close(total)
	sum := 0
	for r := range total {
		sum += r
	}
	assert.Equal(t, 1, sum, "one instance resumed it")
	assert.Equal(t, captures+1, e.pay.count("Capture"), "captured by one call")
	assert.Equal(t, domain.PaymentCaptured, e.stored(t, sagaID).PaymentState)
}

// Recover leaves alone what rested less than the grace period: the request
// that created it may still be driving it.
func TestRecoverWaitsForTheGracePeriod(t *testing.T) {
	saga := testSaga()
	saga.SyncBudget, saga.Grace = 40*time.Millisecond, time.Hour
	e := newEnvWith(t, saga)
	e.reserveAny(nil)
	e.pay.fail("Authorize", 1000, errGone)
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "")
	require.NoError(t, err)
	require.Equal(t, domain.StatusPending, o.Status)
	resumed, err := e.svc.Recover(t.Context())
	require.NoError(t, err)
	assert.Zero(t, resumed)
}

func TestRecoverReportsAStoreThatFails(t *testing.T) {
	saga := testSaga()
	saga.SyncBudget = 40 * time.Millisecond
	e := newEnvWith(t, saga)
	e.reserveAny(nil)
	e.orders.failOn("Price", errDisk)
	_, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "")
	require.ErrorIs(t, err, errDisk, "the caller learns the store failed")
	resumed, err := e.svc.Recover(t.Context())
	require.ErrorIs(t, err, errDisk)
	assert.Equal(t, 1, resumed)
	assert.Equal(t, domain.StatusPending, e.stored(t, sagaID).Status, "left as stored, for the next pass")
}

func TestTheSagaConfigIsValidated(t *testing.T) {
	bad := domain.DefaultSagaConfig()
	bad.RetryMax, bad.Batch = bad.RetryInitial/2, 0
	_, err := domain.NewOrderService(nil, nil, nil, nil, bad, nil)
	require.Error(t, err)
	assert.ErrorContains(t, err, "longest retry wait")
	assert.ErrorContains(t, err, "batch")
}

// An order resumed after its deadline is not authorized any more: what may
// have been authorized is voided, the order fails and its stock goes back.
func TestAnOrderResumedPastItsDeadlineFails(t *testing.T) {
	saga := testSaga()
	saga.Deadline, saga.SyncBudget = 400*time.Millisecond, 200*time.Millisecond
	e := newEnvWith(t, saga)
	e.reserveAny(nil)
	e.pay.land("Authorize", context.DeadlineExceeded) // it took effect; nobody heard
	e.pay.fail("Authorize", 1000, errGone)
	o, err := e.svc.CreateOrder(t.Context(), alice, key, beans, "")
	require.NoError(t, err)
	require.Equal(t, domain.StatusPending, o.Status)
	time.Sleep(saga.Deadline)

	e.pay.mu.Lock()
	e.pay.script = map[string][]scripted{}
	authorizeCalls := e.pay.calls["Authorize"]
	e.pay.mu.Unlock()
	e.stock.EXPECT().Release(gomock.Any(), sagaID).Return(nil)
	resumed, err := e.service(t, e.real).Recover(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, resumed)
	failed := e.stored(t, sagaID)
	assert.Equal(t, domain.StatusFailed, failed.Status)
	assert.Equal(t, domain.PaymentVoided, failed.PaymentState)
	assert.Equal(t, "payment not authorized before the order's deadline", failed.FailureReason)
	assert.True(t, failed.StockReleased)
	assert.Equal(t, authorizeCalls, e.pay.count("Authorize"), "not authorized again")
	_, _, voided, _ := e.pay.effects(sagaID)
	assert.Equal(t, 1, voided, "the authorization nobody heard of is voided")
	assert.Equal(t, []string{"slipway.order.failed"}, e.outboxSubjects(t))
	e.assertInvariants(t, failed)
}

// blockingPayments holds the Authorize of one order until released (a
// provider that does not answer it), and passes every other call on.
type blockingPayments struct {
	domain.Payments
	order   string
	release chan struct{}
}

func (b blockingPayments) Authorize(ctx context.Context, r domain.PaymentRequest) (domain.PaymentResult, error) {
	if r.OrderID == b.order {
		select {
		case <-b.release:
		case <-ctx.Done():
			return domain.PaymentResult{}, ctx.Err()
		}
	}
	return b.Payments.Authorize(ctx, r)
}

// One order whose payment does not answer must not hold up the recovery of
// the orders listed after it: Recover drives the orders it claims side by
// side.
func TestRecoveryIsNotHeldUpByOneSlowOrder(t *testing.T) {
	saga := testSaga()
	saga.SyncBudget = 100 * time.Millisecond
	e := newEnvWith(t, saga)
	e.stock.EXPECT().Reserve(gomock.Any(), gomock.Any(), beans).DoAndReturn(reservedAt).AnyTimes()
	e.pay.fail("Authorize", 1000, errGone)
	slow, err := e.svc.CreateOrder(t.Context(), alice, "slow-order-key", beans, "pm_card_visa")
	require.NoError(t, err)
	quick, err := e.svc.CreateOrder(t.Context(), alice, "quick-order-key", beans, "pm_card_visa")
	require.NoError(t, err)
	require.Equal(t, domain.StatusPending, slow.Status)
	require.Equal(t, domain.StatusPending, quick.Status)

	e.pay.mu.Lock()
	e.pay.script = map[string][]scripted{} // the payment service is back, but slow for one order
	e.pay.mu.Unlock()
	blocked := blockingPayments{Payments: e.mocked, order: slow.ID, release: make(chan struct{})}
	svc, err := domain.NewOrderService(e.real, e.stock, blocked, nil, e.saga, slog.New(slog.NewJSONHandler(e.logs, nil)))
	require.NoError(t, err)
	svc.SetClock(e.clock.now)

	done := make(chan error, 1)
	go func() {
		_, err := svc.Recover(t.Context())
		done <- err
	}()
	require.Eventually(t, func() bool { return e.stored(t, quick.ID).Status == domain.StatusPlaced }, 5*time.Second, 10*time.Millisecond,
		"the quick order waited behind the slow one")
	close(blocked.release)
	require.NoError(t, <-done)
	assert.Equal(t, domain.StatusPlaced, e.stored(t, slow.ID).Status)
}
