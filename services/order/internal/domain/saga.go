package domain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The order saga. Each step reads nothing but the order as stored, calls
// one other service (idempotently by the order id) and stores its outcome
// as one guarded transition with its event, so whoever drives an order (the
// request that created it, or a Recover after a crash) resumes it from
// where it was stored:
//
//	PENDING, not priced      Reserve, then Price          (or FAILED)
//	PENDING, priced          Authorize, then Place         (or Void + FAILED)
//	PLACED, AUTHORIZED       Capture, then Captured        (or RequestCancel)
//	PLACED, cancel begun     Void or Refund, then Cancel
//	FAILED, stock held       Release, then Released

// maxReasonStored bounds the failure reason kept with an order.
const maxReasonStored = 500

// maxSteps bounds one drive: an order needs at most six steps, and a
// transition lost to another driver adds one more read.
const maxSteps = 16

// drive is one run of the saga over one order.
type drive struct {
	s *OrderService
	// rejected is why the order's stock could not be had (an unknown
	// product, too little stock, prices that cannot make a total):
	// CreateOrder answers it, as a problem with the request.
	rejected error
}

// advance takes o through its steps until it rests: a final state, a
// captured PLACED order, or a call that still fails transiently when ctx or
// the order's deadline ends. A store error stops it; the order stays as
// stored, for Recover.
func (d *drive) advance(ctx context.Context, o Order) (Order, error) {
	for range maxSteps {
		next, moved, err := d.step(ctx, o)
		if err != nil || !moved {
			return next, err
		}
		o = next
	}
	return o, nil
}

// step runs the step o is at; moved is false when o rests.
func (d *drive) step(ctx context.Context, o Order) (next Order, moved bool, err error) {
	switch {
	case ctx.Err() != nil:
		return o, false, nil //nolint:nilerr // out of time: the order rests as stored, for the next drive
	case o.Status == StatusPending && !o.Priced():
		return d.reserve(ctx, o)
	case o.Status == StatusPending:
		return d.authorize(ctx, o)
	case o.Status == StatusPlaced && o.CancelRequested:
		return d.giveBack(ctx, o)
	case o.Status == StatusPlaced && o.PaymentState == PaymentAuthorized:
		return d.capture(ctx, o)
	case o.Status == StatusFailed && !o.StockReleased:
		return d.release(ctx, o)
	}
	return o, false, nil
}

// deadline is when the PENDING order o gives up.
func (d *drive) deadline(o Order) time.Time { return o.CreatedAt.Add(d.s.saga.Deadline) }

// beforeDeadline reports whether retries that stopped at until stopped
// before the order's deadline: the caller's time ran out, not the order's,
// and a later drive may still succeed.
func (d *drive) beforeDeadline(o Order, until time.Time) bool {
	return until.Before(d.deadline(o)) && d.s.now().Before(d.deadline(o))
}

// until is the end of a call's retries: the order's deadline while it is
// PENDING, else SyncBudget from now (a capture or a refund has no deadline:
// what is not done by then is retried on a later drive), or ctx's end when
// sooner.
func (d *drive) until(ctx context.Context, o Order) time.Time {
	until := d.deadline(o)
	if o.Status != StatusPending {
		until = d.s.now().Add(d.s.saga.SyncBudget)
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); d.s.now().Add(left).Before(until) {
			until = d.s.now().Add(left)
		}
	}
	return until
}

// reserve holds the order's stock and stores its prices.
func (d *drive) reserve(ctx context.Context, o Order) (Order, bool, error) {
	if !d.s.now().Before(d.deadline(o)) {
		return d.fail(ctx, o, PaymentNone, "stock not reserved before the order's deadline")
	}
	merged, firstLine := canonical(o.Requested)
	var prices map[string]Price
	until := d.until(ctx, o)
	err := d.s.retry(ctx, until, func(ctx context.Context) error {
		var err error
		prices, err = d.s.stock.Reserve(ctx, o.ID, merged)
		return err
	})
	if err == nil {
		o.Items, o.Total, err = priceReserved(o.ID, merged, firstLine, prices)
		if err != nil {
			d.rejected = err
			return d.fail(ctx, o, PaymentNone, err.Error())
		}
		o.UpdatedAt = d.s.timestamp()
		ok, err := d.s.orders.Price(ctx, o)
		if err != nil {
			return o, false, fmt.Errorf("store the prices of order %s: %w", o.ID, err)
		}
		return d.moved(ctx, o, ok)
	}
	if ctx.Err() != nil || (transient(err) && d.beforeDeadline(o, until)) {
		return o, false, nil //nolint:nilerr // unanswered in time: the order rests PENDING, for the next drive
	}
	d.rejected = fmt.Errorf("reserve stock for order %s: %w", o.ID, err)
	if errors.Is(err, ErrNotFound) {
		if lineErr := d.s.unknownLine(ctx, merged, firstLine); lineErr != nil {
			d.rejected = lineErr
		}
	}
	return d.fail(ctx, o, PaymentNone, d.rejected.Error())
}

// authorize holds the order's total on its payment method and places the
// order. A decline fails it; a permanent failure, or the deadline passing
// with the outcome unknown, voids whatever may have been authorized first.
func (d *drive) authorize(ctx context.Context, o Order) (Order, bool, error) {
	if !d.s.now().Before(d.deadline(o)) {
		return d.abandon(ctx, o, "payment not authorized before the order's deadline")
	}
	var res PaymentResult
	until := d.until(ctx, o)
	err := d.s.retry(ctx, until, func(ctx context.Context) error {
		var err error
		res, err = d.s.payments.Authorize(ctx, PaymentRequest{OrderID: o.ID, UserID: o.UserID, Amount: o.Total, Method: o.PaymentMethod})
		return err
	})
	switch {
	case err == nil:
		return d.place(ctx, o, res)
	case errors.Is(err, ErrPaymentDeclined):
		return d.fail(ctx, o, PaymentDeclined, err.Error())
	case ctx.Err() != nil:
		return o, false, nil //nolint:nilerr // out of time: the order rests PENDING, for the next drive
	case transient(err) && d.beforeDeadline(o, until):
		d.s.logger.WarnContext(ctx, "payment not authorized yet; the order stays pending", "order_id", o.ID, "error", err.Error())
		return o, false, nil
	case transient(err):
		return d.abandon(ctx, o, "payment not authorized before the order's deadline: "+err.Error())
	}
	return d.abandon(ctx, o, "payment failed: "+err.Error())
}

// abandon voids the order's authorization, if any was made, and fails it.
// When the void fails the order stays PENDING, and the next drive, past
// the deadline, voids again.
func (d *drive) abandon(ctx context.Context, o Order, reason string) (Order, bool, error) {
	if err := d.s.payments.Void(ctx, o.ID); err != nil {
		d.s.logger.WarnContext(ctx, "void of an abandoned payment failed; retried later", "order_id", o.ID, "error", err.Error())
		return o, false, nil
	}
	return d.fail(ctx, o, PaymentVoided, reason)
}

// place moves the authorized order to PLACED with its OrderPlaced.
func (d *drive) place(ctx context.Context, o Order, res PaymentResult) (Order, bool, error) {
	now := d.s.timestamp()
	o.Status, o.PaymentState, o.PaymentID, o.UpdatedAt = StatusPlaced, PaymentAuthorized, res.PaymentID, now
	ok, err := d.s.orders.Place(ctx, OrderPlaced{EventID: newEventID(), Order: o, OccurredAt: now})
	if err != nil {
		return o, false, fmt.Errorf("place order %s: %w", o.ID, err)
	}
	if !ok {
		current, err := d.s.orders.Get(ctx, o.ID)
		if err != nil {
			return o, false, fmt.Errorf("read order %s moved by another driver: %w", o.ID, err)
		}
		if current.Status != StatusPlaced {
			// A recovery failed it meanwhile: this authorization must not stand.
			if err := d.s.payments.Void(ctx, o.ID); err != nil {
				d.s.logger.ErrorContext(ctx, "authorization of an order failed meanwhile not voided",
					"order_id", o.ID, "error", err.Error())
			}
		}
		return current, true, nil
	}
	d.s.logger.InfoContext(ctx, "order placed", "order_id", o.ID, "user_id", o.UserID,
		"total_minor", o.Total.AmountMinor, "currency", o.Total.Currency)
	return o, true, nil
}

// capture takes the placed order's payment. When it cannot be captured at
// all (the authorization expired, say) the order is cancelled, which voids
// it and gives the stock back.
func (d *drive) capture(ctx context.Context, o Order) (Order, bool, error) {
	err := d.s.retry(ctx, d.until(ctx, o), func(ctx context.Context) error {
		return d.s.payments.Capture(ctx, o.ID, o.Total)
	})
	if err == nil {
		at := d.s.timestamp()
		ok, err := d.s.orders.Captured(ctx, o.ID, at)
		if err != nil {
			return o, false, fmt.Errorf("record the capture of order %s: %w", o.ID, err)
		}
		o.PaymentState, o.UpdatedAt = PaymentCaptured, at
		return d.moved(ctx, o, ok)
	}
	if ctx.Err() != nil || transient(err) {
		d.s.logger.WarnContext(ctx, "payment not captured yet; retried later", "order_id", o.ID, "error", err.Error())
		return o, false, nil //nolint:nilerr // the order rests PLACED, for the next drive
	}
	d.s.logger.ErrorContext(ctx, "payment cannot be captured; cancelling the order", "order_id", o.ID, "error", err.Error())
	return d.requestCancel(ctx, o, truncate("payment capture failed: "+err.Error()))
}

// requestCancel marks the PLACED order as being cancelled.
func (d *drive) requestCancel(ctx context.Context, o Order, reason string) (Order, bool, error) {
	at := d.s.timestamp()
	ok, err := d.s.orders.RequestCancel(ctx, o.ID, reason, at)
	if err != nil {
		return o, false, fmt.Errorf("begin the cancel of order %s: %w", o.ID, err)
	}
	o.CancelRequested, o.CancelReason, o.UpdatedAt = true, reason, at
	return d.moved(ctx, o, ok)
}

// giveBack voids (authorized) or refunds (captured) the payment of an order
// being cancelled, then cancels it with its OrderCancelled, on which
// inventory restocks. A void that fails permanently is tried as a refund:
// the payment may have been captured by a driver that has not recorded it.
func (d *drive) giveBack(ctx context.Context, o Order) (Order, bool, error) {
	until := d.until(ctx, o)
	to := o.PaymentState
	var err error
	switch o.PaymentState {
	case PaymentAuthorized:
		to = PaymentVoided
		err = d.s.retry(ctx, until, func(ctx context.Context) error { return d.s.payments.Void(ctx, o.ID) })
		if err != nil && !transient(err) && ctx.Err() == nil {
			to = PaymentRefunded
			err = d.s.retry(ctx, until, func(ctx context.Context) error { return d.s.payments.Refund(ctx, o.ID, o.Total) })
		}
	case PaymentCaptured:
		to = PaymentRefunded
		err = d.s.retry(ctx, until, func(ctx context.Context) error { return d.s.payments.Refund(ctx, o.ID, o.Total) })
	}
	if err != nil {
		d.s.logger.WarnContext(ctx, "payment of an order being cancelled not given back yet; retried later",
			"order_id", o.ID, "payment_state", string(o.PaymentState), "error", err.Error())
		return o, false, nil
	}
	now := d.s.timestamp()
	c := o
	c.Status, c.PaymentState, c.UpdatedAt = StatusCancelled, to, now
	ok, err := d.s.orders.Cancel(ctx, OrderCancelled{EventID: newEventID(), Order: c, Reason: o.CancelReason, OccurredAt: now}, o.PaymentState)
	if err != nil {
		return o, false, fmt.Errorf("cancel order %s: %w", o.ID, err)
	}
	if !ok {
		return d.moved(ctx, c, false)
	}
	d.s.logger.InfoContext(ctx, "order cancelled", "order_id", o.ID, "user_id", o.UserID, "payment_state", string(to))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := d.s.stock.Release(rctx, o.ID); err != nil {
		d.s.logger.WarnContext(ctx, "release after cancel failed; inventory releases when it consumes OrderCancelled",
			"order_id", o.ID, "error", err.Error())
	}
	return c, true, nil
}

// fail moves the PENDING order to FAILED with its OrderFailed; the next
// step releases its stock.
func (d *drive) fail(ctx context.Context, o Order, payment PaymentState, reason string) (Order, bool, error) {
	now := d.s.timestamp()
	f := o
	f.Status, f.PaymentState, f.FailureReason, f.UpdatedAt = StatusFailed, payment, truncate(reason), now
	ok, err := d.s.orders.Fail(ctx, OrderFailed{EventID: newEventID(), Order: f, Reason: f.FailureReason, OccurredAt: now})
	if err != nil {
		return o, false, fmt.Errorf("fail order %s: %w", o.ID, err)
	}
	if ok {
		d.s.logger.WarnContext(ctx, "order failed", "order_id", o.ID, "user_id", o.UserID, "reason", f.FailureReason)
	}
	return d.moved(ctx, f, ok)
}

// release gives back the stock of a FAILED order and records it. Inventory
// also releases when it consumes OrderFailed; until this succeeds Recover
// tries again.
func (d *drive) release(ctx context.Context, o Order) (Order, bool, error) {
	if err := d.s.stock.Release(ctx, o.ID); err != nil {
		d.s.logger.WarnContext(ctx, "release of a failed order's stock failed; retried later", "order_id", o.ID, "error", err.Error())
		return o, false, nil
	}
	at := d.s.timestamp()
	ok, err := d.s.orders.Released(ctx, o.ID, at)
	if err != nil {
		return o, false, fmt.Errorf("record the release of order %s: %w", o.ID, err)
	}
	o.StockReleased, o.UpdatedAt = true, at
	return d.moved(ctx, o, ok)
}

// moved continues with o when its transition was stored, else with the
// order as another driver left it.
func (d *drive) moved(ctx context.Context, o Order, stored bool) (Order, bool, error) {
	if stored {
		return o, true, nil
	}
	current, err := d.s.orders.Get(ctx, o.ID)
	if err != nil {
		return o, false, fmt.Errorf("read order %s moved by another driver: %w", o.ID, err)
	}
	return current, true, nil
}

// canonical returns requested (merged, in the order of each product's
// first line) sorted by product id, as inventory takes it, and each
// product's line in requested.
func canonical(requested []Item) ([]Item, map[string]int) {
	firstLine := make(map[string]int, len(requested))
	for i, it := range requested {
		firstLine[it.ProductID] = i
	}
	merged := slices.Clone(requested)
	slices.SortFunc(merged, func(a, b Item) int { return strings.Compare(a.ProductID, b.ProductID) })
	return merged, firstLine
}

// inRequestOrder returns merged in the order of each product's first line.
func inRequestOrder(merged []Item, firstLine map[string]int) []Item {
	out := slices.Clone(merged)
	slices.SortFunc(out, func(a, b Item) int { return firstLine[a.ProductID] - firstLine[b.ProductID] })
	return out
}

// truncate cuts a reason to what is stored, on a rune boundary.
func truncate(reason string) string {
	if len(reason) <= maxReasonStored {
		return reason
	}
	cut := maxReasonStored
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}
