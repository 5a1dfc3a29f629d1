// Package saga runs the order saga's recovery worker: on an interval, it
// resumes the orders whose saga stopped half way (the instance driving it
// crashed, or a payment was still unanswered when CreateOrder's budget ran
// out) and drives each from the step it was stored at, to PLACED and
// captured, FAILED with its stock released, or CANCELLED. Every instance
// runs one; the store's leases and guarded transitions keep two instances
// from driving one order.
package saga

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Recoverer resumes the unfinished orders and reports how many it resumed
// (domain.OrderService).
type Recoverer interface {
	Recover(ctx context.Context) (int, error)
}

// Worker calls a Recoverer on an interval.
type Worker struct {
	orders   Recoverer
	interval time.Duration
	logger   *slog.Logger
	resumed  prometheus.Counter
	failures prometheus.Counter
}

// New returns a worker that recovers every interval, with its metrics
// registered on reg.
func New(orders Recoverer, interval time.Duration, logger *slog.Logger, reg prometheus.Registerer) (*Worker, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("saga recovery: interval %s is not positive", interval)
	}
	w := &Worker{
		orders:   orders,
		interval: interval,
		logger:   logger,
		resumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_order_saga_resumed_total",
			Help: "Orders whose saga the recovery worker resumed after it stopped half way (a crash, a payment still in flight).",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_order_saga_recovery_failures_total",
			Help: "Recovery passes that could not resume every unfinished order; they are retried on the next pass.",
		}),
	}
	for _, c := range []prometheus.Collector{w.resumed, w.failures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register saga recovery metrics: %w", err)
		}
	}
	return w, nil
}

// MaxPasses is how many recovery passes may run at once. A pass drives
// each order it claims for up to the order's lease, so a pass held up by an
// order whose payment does not answer must not keep the orders that become
// resumable meanwhile waiting for it: the next tick starts another pass,
// which skips the orders the first one holds (their leases).
const MaxPasses = 4

// Run starts a pass at once and then every interval until ctx ends, with at
// most MaxPasses running, and returns nil once the running passes have
// ended. A failed pass is logged and counted, never returned: the next one
// retries, and a lost database already takes the instance out of rotation
// through its readiness check.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	var passes sync.WaitGroup
	defer passes.Wait()
	slots := make(chan struct{}, MaxPasses)
	for {
		select {
		case slots <- struct{}{}:
			passes.Add(1)
			go func() {
				defer passes.Done()
				defer func() { <-slots }()
				w.Recover(ctx)
			}()
		default: // MaxPasses are running: the next tick tries again
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Recover resumes what is unfinished now and reports how many orders it
// resumed.
func (w *Worker) Recover(ctx context.Context) int {
	n, err := w.orders.Recover(ctx)
	w.resumed.Add(float64(n))
	if n > 0 {
		w.logger.InfoContext(ctx, "unfinished orders resumed", "count", n)
	}
	if err != nil && ctx.Err() == nil { // an error while stopping is no failure
		w.failures.Inc()
		w.logger.ErrorContext(ctx, "saga recovery failed", "resumed", n, "error", err.Error())
	}
	return n
}
