package domain

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrPaymentDeclined is what Payments errors wrap when the payment method
// was declined: permanent, and the order fails with the decline's reason.
var ErrPaymentDeclined = errors.New("payment declined")

// PaymentRequest is one authorization: the order's total on its user's
// payment method ("" is the payment service's default).
type PaymentRequest struct {
	OrderID string
	UserID  string
	Amount  Money
	Method  string
}

// PaymentResult is what an authorization answers.
type PaymentResult struct {
	PaymentID string
}

// SagaConfig bounds how the order saga calls other services and how it is
// recovered.
type SagaConfig struct {
	// Deadline is how long after its creation an order may stay PENDING:
	// past it, the saga stops retrying, voids whatever may have been
	// authorized and fails the order.
	Deadline time.Duration
	// SyncBudget is how long CreateOrder and CancelOrder drive the saga
	// before answering with the order as it stands; recovery does the rest.
	SyncBudget time.Duration
	// RetryInitial is the wait after the first transient failure of a call;
	// each next wait doubles, up to RetryMax.
	RetryInitial time.Duration
	// RetryMax is the longest wait between two attempts of a call.
	RetryMax time.Duration
	// Grace is how long an unfinished order must have rested before
	// Recover takes it up, so it does not race the request still driving it.
	Grace time.Duration
	// Lease is how long one Recover holds an order it drives; another
	// instance takes it up only after. It bounds the driving too.
	Lease time.Duration
	// Batch is how many orders one Recover drives at most.
	Batch int
}

// DefaultSagaConfig is the saga's configuration when none is given.
func DefaultSagaConfig() SagaConfig {
	return SagaConfig{
		Deadline:     10 * time.Second,
		SyncBudget:   3 * time.Second,
		RetryInitial: 100 * time.Millisecond,
		RetryMax:     2 * time.Second,
		Grace:        5 * time.Second,
		Lease:        30 * time.Second,
		Batch:        100,
	}
}

// Validate reports a configuration the saga cannot run with.
func (c SagaConfig) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"deadline", c.Deadline}, {"sync budget", c.SyncBudget}, {"initial retry wait", c.RetryInitial}, {"lease", c.Lease}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("saga %s %s: want more than 0", d.name, d.v))
		}
	}
	if c.RetryMax < c.RetryInitial {
		errs = append(errs, fmt.Errorf("saga longest retry wait %s: want at least the initial wait %s", c.RetryMax, c.RetryInitial))
	}
	if c.Grace < 0 {
		errs = append(errs, fmt.Errorf("saga recovery grace %s: want 0 or more", c.Grace))
	}
	if c.Batch < 1 {
		errs = append(errs, fmt.Errorf("saga recovery batch %d: want at least 1", c.Batch))
	}
	return errors.Join(errs...)
}

// transient reports whether a call to another service failed in a way a
// retry with the same idempotency key may mend.
func transient(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// retry calls op until it succeeds, fails permanently, or the next attempt
// would start after until, waiting RetryInitial, then twice as long each
// time up to RetryMax. Each attempt is bounded by until. It returns op's
// last error.
func (s *OrderService) retry(ctx context.Context, until time.Time, op func(ctx context.Context) error) error {
	wait := s.saga.RetryInitial
	for {
		left := until.Sub(s.now())
		if left <= 0 {
			return fmt.Errorf("no time left before %s: %w", until.Format(time.RFC3339Nano), context.DeadlineExceeded)
		}
		actx, cancel := context.WithTimeout(ctx, left)
		err := op(actx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		if until.Sub(s.now()) <= wait {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, s.saga.RetryMax)
	}
}
