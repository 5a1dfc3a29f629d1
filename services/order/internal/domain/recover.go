package domain

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// recoverInFlight bounds how many claimed orders one Recover drives at once:
// each may wait on a slow payment for up to its lease, and one such order
// must not hold up the others behind it.
const recoverInFlight = 8

// Recover drives forward the orders whose saga has a step left and that
// have rested for longer than SagaConfig.Grace: PENDING ones (a crash, or
// a payment still unanswered when CreateOrder's budget ran out), PLACED ones
// not yet captured or whose cancel began, FAILED ones whose stock is still
// held. Each is driven from the step it was stored at, under a lease
// (Claim), so several instances may recover at once: a lease keeps two off
// one order, and every transition is guarded besides. It returns how many
// orders it resumed, and the errors of those it could not.
func (s *OrderService) Recover(ctx context.Context) (int, error) {
	now := s.timestamp()
	stuck, err := s.orders.Unfinished(ctx, now.Add(-s.saga.Grace), s.saga.Batch)
	if err != nil {
		return 0, fmt.Errorf("find unfinished orders: %w", err)
	}
	var (
		mu      sync.Mutex
		errs    []error
		wg      sync.WaitGroup
		slots   = make(chan struct{}, recoverInFlight)
		resumed int
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	for _, o := range stuck {
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		at := s.timestamp()
		claimed, err := s.orders.Claim(ctx, o.ID, at, at.Add(s.saga.Lease))
		if err != nil || !claimed {
			<-slots
			if err != nil {
				fail(fmt.Errorf("claim order %s: %w", o.ID, err))
			}
			continue // !claimed: another instance drives it
		}
		resumed++
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			defer func() { <-slots }()
			if err := s.resume(ctx, id); err != nil {
				fail(err)
			}
		}(o.ID)
	}
	wg.Wait()
	return resumed, errors.Join(errs...)
}

// resume drives one claimed order for at most its lease.
func (s *OrderService) resume(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.saga.Lease)
	defer cancel()
	o, err := s.orders.Get(ctx, id) // as stored now, not as listed
	if err != nil {
		return fmt.Errorf("read order %s to resume: %w", id, err)
	}
	d := &drive{s: s}
	after, err := d.advance(ctx, o)
	s.logger.InfoContext(ctx, "order saga resumed", "order_id", id,
		"from_status", string(o.Status), "from_payment", string(o.PaymentState),
		"status", string(after.Status), "payment", string(after.PaymentState))
	if err != nil {
		return fmt.Errorf("resume order %s: %w", id, err)
	}
	return nil
}
