// Package sweeper runs the inventory's reservation sweeper: on an interval,
// it releases the reservations whose TTL passed without their order
// committing them, so stock held for an order that never completed comes
// back. Every instance runs one; the domain's guarded release makes
// concurrent sweeps return each reservation's stock exactly once.
package sweeper

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Expirer releases expired reservations and reports how many it released
// (domain.InventoryService).
type Expirer interface {
	ExpireReservations(ctx context.Context) (int, error)
}

// Sweeper calls an Expirer on an interval.
type Sweeper struct {
	inventory Expirer
	interval  time.Duration
	logger    *slog.Logger
	expired   prometheus.Counter
	failures  prometheus.Counter
}

// New returns a sweeper that sweeps every interval, with its metrics
// registered on reg.
func New(inventory Expirer, interval time.Duration, logger *slog.Logger, reg prometheus.Registerer) (*Sweeper, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("reservation sweeper: interval %s is not positive", interval)
	}
	s := &Sweeper{
		inventory: inventory,
		interval:  interval,
		logger:    logger,
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_inventory_reservations_expired_total",
			Help: "Reservations released by the sweeper because their TTL passed before their order committed them.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_inventory_reservation_sweep_failures_total",
			Help: "Sweeps that could not release every expired reservation; they are retried on the next sweep.",
		}),
	}
	for _, c := range []prometheus.Collector{s.expired, s.failures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register reservation sweeper metrics: %w", err)
		}
	}
	return s, nil
}

// Run sweeps at once and then every interval until ctx ends, and returns
// nil then. A failed sweep is logged and counted, never returned: the next
// one retries, and a lost database already takes the instance out of
// rotation through its readiness check.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.Sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep releases what has expired now and reports how many it released.
func (s *Sweeper) Sweep(ctx context.Context) int {
	n, err := s.inventory.ExpireReservations(ctx)
	s.expired.Add(float64(n))
	if n > 0 {
		s.logger.InfoContext(ctx, "expired reservations released", "count", n)
	}
	if err != nil && ctx.Err() == nil { // an error while stopping is no failure
		s.failures.Inc()
		s.logger.ErrorContext(ctx, "reservation sweep failed", "released", n, "error", err)
	}
	return n
}
