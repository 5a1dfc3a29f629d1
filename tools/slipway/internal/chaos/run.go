package chaos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slipway-dev/slipway/tools/slipway/internal/faultproxy"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
)

// sample is one request's outcome, kept to split the figures at the
// fault window afterwards.
type sample struct {
	at      time.Duration // intended send offset from the start of the load
	latency time.Duration
	code    string
}

// event is one line of the run's timeline.
type event struct {
	AtSec float64 `json:"at_s"` // from the start of the load
	What  string  `json:"what"`
}

// run is one experiment in progress: the fleet, the timeline and what
// the faults found out.
type run struct {
	exp      *experiment
	fleet    *proxiedFleet
	progress func(format string, args ...any)
	start    time.Time

	mu      sync.Mutex
	events  []event
	errs    []string         // faults that could not be applied or reverted
	window  [2]time.Duration // first fault on, last fault off; window[1] 0 while open
	samples []sample
	resets  []resetMark
	rules   map[string][]grpcFault // active gRPC faults per service
	effects []effect               // evidence that each fault did something
	latency []latencyMark          // latency faults, judged after the load
	acked   map[string]string      // order id -> idempotency key of every acknowledged CreateOrder

	pgRestart *pgRestart    // the PostgreSQL restart in progress, if any
	outage    time.Duration // how long PostgreSQL refused connections, summed over its restarts
}

// resetMark is what a consumer reset left to check: the stream held
// Msgs messages when the consumer was deleted at At.
type resetMark struct {
	Stream, Consumer string
	Msgs             uint64
	LastSeq          uint64 // the stream's last sequence at the reset
	At               time.Time
}

func (r *run) event(format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	off := time.Since(r.start)
	r.mu.Lock()
	r.events = append(r.events, event{AtSec: roundSec(off), What: what})
	r.mu.Unlock()
	r.progress("t+%s %s", report.Seconds(off), what)
}

func (r *run) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.errs = append(r.errs, msg)
	r.mu.Unlock()
	r.event("ERROR %s", msg)
}

func roundSec(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// schedule runs every fault of the timeline: on at start+At, off For
// later. It returns once every fault is off, or ctx ends (faults still on
// are then switched off).
func (r *run) schedule(ctx context.Context) {
	for _, f := range r.exp.envFaults() {
		r.event("fault on for the whole run (env): %s", f)
	}
	var wg sync.WaitGroup
	for _, f := range r.exp.Faults {
		wg.Go(func() {
			if !sleepUntil(ctx, r.start.Add(f.At.D())) {
				return
			}
			r.mu.Lock()
			if r.window[0] == 0 || time.Since(r.start) < r.window[0] {
				r.window[0] = time.Since(r.start)
			}
			r.mu.Unlock()
			if err := r.apply(ctx, f); err != nil {
				r.fail("%s: %v", f.Describe(), err)
				return
			}
			w := r.watch(ctx, f)
			if f.ConsumerReset == nil {
				sleepUntil(ctx, r.start.Add(f.At.D()+f.For.D()))
				r.endWatch(w)
				// Reverting must happen even when the run is interrupted.
				if err := r.revert(context.WithoutCancel(ctx), f); err != nil {
					r.fail("ending %s: %v", f.Describe(), err)
				}
			}
			r.mu.Lock()
			r.window[1] = max(r.window[1], time.Since(r.start))
			r.mu.Unlock()
		})
	}
	wg.Wait()
}

// sleepUntil waits for t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *run) apply(ctx context.Context, f fault) error {
	switch {
	case f.GRPC != nil:
		if err := r.setGRPC(ctx, f.GRPC.Service, *f.GRPC, true); err != nil {
			return err
		}
		r.event("fault on: %s for %s", f.Describe(), f.For)
	case f.Network != nil:
		p := r.fleet.proxies[f.Network.Dependency]
		if p == nil {
			return fmt.Errorf("no proxy in front of %s", f.Network.Dependency)
		}
		n := f.Network
		if n.Partition != "" {
			if err := p.Partition(faultproxy.Mode(n.Partition)); err != nil {
				return err
			}
		}
		p.SetLatency(n.Latency.D())
		p.SetBandwidth(int64(n.Bandwidth))
		r.event("fault on: %s for %s (%d connection(s) open through the proxy)", f.Describe(), f.For, p.Stats().Active)
	case f.ConsumerReset != nil:
		mark, err := resetConsumer(ctx, r.fleet.natsURL, f.ConsumerReset.Stream, f.ConsumerReset.Consumer)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.resets = append(r.resets, mark)
		r.mu.Unlock()
		r.event("fault: deleted consumer %s on %s holding %d message(s) (last sequence %d): it must be recreated and redeliver them all", mark.Consumer, mark.Stream, mark.Msgs, mark.LastSeq)
		r.addEffect(effect{
			Fault: f.Describe(), Evidence: "the consumer existed and its stream held messages when it was deleted",
			Observed: fmt.Sprintf("deleted %s with %d message(s) in %s", mark.Consumer, mark.Msgs, mark.Stream), Seen: mark.Msgs > 0,
		})
	case f.Process != nil:
		e, err := r.fleet.Signal(f.Process.Service, f.Process.Signal)
		if err != nil {
			return err
		}
		r.event("fault on: %s sent to %s, which ended: %s; restart in %s", f.Process.Signal, e.Name, e.Describe(), f.For)
		eff := effect{
			Fault: f.Describe(), Evidence: "the process ended on the signal",
			Observed: fmt.Sprintf("%s ended: %s", e.Name, e.Describe()), Seen: true,
		}
		if f.Process.Signal == "SIGTERM" {
			// A graceful stop drains and exits 0 within the stop timeout;
			// anything else (killed after it, an error) is not graceful.
			eff.Evidence = "the process stopped gracefully on SIGTERM (exit 0 within the stop timeout)"
			eff.Seen = e.Clean()
		}
		r.addEffect(eff)
	case f.PostgresRestart != nil:
		return r.applyPGRestart(ctx, f)
	case f.RollingRestart != nil:
		return r.rollingRestart(ctx, f)
	}
	return nil
}

func (r *run) revert(ctx context.Context, f fault) error {
	switch {
	case f.GRPC != nil:
		if err := r.setGRPC(ctx, f.GRPC.Service, *f.GRPC, false); err != nil {
			return err
		}
		r.event("fault off: %s", f.Describe())
	case f.Network != nil:
		p := r.fleet.proxies[f.Network.Dependency]
		p.Heal()
		r.event("fault off: %s network healed", f.Network.Dependency)
	case f.Process != nil:
		began := time.Now()
		if err := r.fleet.Restart(ctx, f.Process.Service); err != nil {
			return err
		}
		name := f.Process.Service
		if s, ok := r.fleet.service(name); ok {
			name = s.Name // the instance, with replicas
		}
		r.event("fault off: %s restarted, SERVING after %s", name, report.Seconds(time.Since(began)))
	case f.PostgresRestart != nil:
		return r.revertPGRestart(ctx, f)
	}
	return nil
}

// setGRPC adds (on) or removes a gRPC fault of svc and sends the service's
// whole active rule set: PUT /admin/faults replaces the rules, DELETE
// clears them.
func (r *run) setGRPC(ctx context.Context, svc string, g grpcFault, on bool) error {
	r.mu.Lock()
	if r.rules == nil {
		r.rules = map[string][]grpcFault{}
	}
	if on {
		r.rules[svc] = append(r.rules[svc], g)
	} else if i := indexGRPC(r.rules[svc], g); i >= 0 {
		r.rules[svc] = append(r.rules[svc][:i:i], r.rules[svc][i+1:]...)
	}
	active := append([]grpcFault(nil), r.rules[svc]...)
	r.mu.Unlock()

	instances := r.fleet.instances(svc)
	if len(instances) == 0 {
		return fmt.Errorf("%s is not running", svc)
	}
	token, err := r.fleet.adminToken(ctx)
	if err != nil {
		return err
	}
	// Every instance injects the fault, as a fault of the service.
	for _, s := range instances {
		if err := putAdminFaults(ctx, s.HTTPDial, token, active); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	return nil
}

func indexGRPC(list []grpcFault, g grpcFault) int {
	for i, x := range list {
		if x == g {
			return i
		}
	}
	return -1
}

// resetConsumer deletes a durable consumer and notes how many messages its
// stream held, which the recreated consumer must deliver again.
func resetConsumer(ctx context.Context, natsURL, stream, consumer string) (resetMark, error) {
	mark := resetMark{Stream: stream, Consumer: consumer}
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		return mark, fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return mark, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return mark, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return mark, fmt.Errorf("stream %s: %w", stream, err)
	}
	if err := js.DeleteConsumer(ctx, stream, consumer); err != nil {
		return mark, fmt.Errorf("delete consumer %s on %s: %w", consumer, stream, err)
	}
	mark.Msgs, mark.LastSeq, mark.At = info.State.Msgs, info.State.LastSeq, time.Now()
	return mark, nil
}

// consumers are the durable consumers of the order stream that must
// catch up before the invariants are checked.
var consumers = []string{"notification", "inventory"}

// settle waits, up to the experiment's settle bound, until no order saga
// has a step left, order's outbox has nothing pending and every consumer
// of ORDERS has nothing pending or unacknowledged. It returns how long
// that took, or an error saying what had not caught up.
func (r *run) settle(ctx context.Context, stores stores, bound time.Duration) (time.Duration, error) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	nc, err := nats.Connect(r.fleet.natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		return 0, fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	for {
		last := r.lagging(ctx, stores, js)
		if last == "" {
			return time.Since(began), nil
		}
		if !sleepUntil(ctx, time.Now().Add(200*time.Millisecond)) {
			return time.Since(began), fmt.Errorf("not caught up within settle %s: %s", bound, last)
		}
	}
}

// lagging says what has not caught up yet, or "" when everything has.
func (r *run) lagging(ctx context.Context, stores stores, js jetstream.JetStream) string {
	// First the sagas, whose last steps enqueue events: orders with a step
	// left (the scan of order's recovery worker, which finishes them within
	// its interval and grace, and the payment deadline).
	unfinished, err := unfinishedSagas(ctx, stores.Order)
	if err != nil {
		return "order sagas: " + err.Error()
	}
	if unfinished > 0 {
		return fmt.Sprintf("order has %d saga(s) with a step left (PENDING, authorized but not captured, a cancel begun, or failed with stock held)", unfinished)
	}
	var pending int64
	if err := stores.Order.QueryRowContext(ctx, "SELECT count(*) FROM outbox WHERE sent_at IS NULL").Scan(&pending); err != nil {
		return "order outbox: " + err.Error()
	}
	if pending > 0 {
		return fmt.Sprintf("order outbox has %d unpublished event(s)", pending)
	}
	for _, name := range consumers {
		c, err := js.Consumer(ctx, "ORDERS", name)
		if err != nil {
			return fmt.Sprintf("consumer %s: %v", name, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return fmt.Sprintf("consumer %s: %v", name, err)
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Sprintf("consumer %s has %d pending and %d unacknowledged message(s)", name, info.NumPending, info.NumAckPending)
		}
	}
	return ""
}

// unfinishedSagas counts the orders whose saga has a step left: PENDING,
// PLACED and authorized but not captured, PLACED with a cancel begun, or
// FAILED with its stock still held (the scan of order's recovery worker).
func unfinishedSagas(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE status = 'PENDING'
		OR (status = 'PLACED' AND (payment_state = 'AUTHORIZED' OR cancel_requested))
		OR (status = 'FAILED' AND NOT stock_released)`).Scan(&n)
	return n, err
}

// checkResets checks that each reset consumer was recreated and delivered
// the whole stream again, from the start.
func (r *run) checkResets(ctx context.Context) []invariant {
	if len(r.resets) == 0 {
		return nil
	}
	inv := invariant{Name: "reset consumers redelivered the stream"}
	nc, err := nats.Connect(r.fleet.natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		inv.violate("connect to NATS: %v", err)
		return []invariant{inv.settle()}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		inv.violate("%v", err)
		return []invariant{inv.settle()}
	}
	for _, m := range r.resets {
		inv.Checked++
		c, err := js.Consumer(ctx, m.Stream, m.Consumer)
		if err != nil {
			inv.violate("consumer %s on %s was not recreated: %v", m.Consumer, m.Stream, err)
			continue
		}
		info, err := c.Info(ctx)
		switch {
		case err != nil:
			inv.violate("consumer %s: %v", m.Consumer, err)
		case info.Created.Before(m.At):
			inv.violate("consumer %s was created at %s, before the reset", m.Consumer, info.Created.Format(time.RFC3339Nano))
		case info.AckFloor.Stream < m.LastSeq:
			// Delivered.Consumer counts redeliveries too; the ack floor is
			// the stream sequence up to which every message was handled.
			inv.violate("consumer %s acknowledged the stream up to sequence %d since it was recreated, short of %d, the last sequence at the reset", m.Consumer, info.AckFloor.Stream, m.LastSeq)
		default:
			inv.Note = strings.TrimPrefix(inv.Note+fmt.Sprintf("; %s acknowledged up to stream sequence %d after the reset (the last was %d then, %d message(s))", m.Consumer, info.AckFloor.Stream, m.LastSeq, m.Msgs), "; ")
		}
	}
	return []invariant{inv.settle()}
}

// stream is the stream of order events the services create.
const stream = "ORDERS"

// freshBroker refuses a broker whose order stream already holds
// messages: the services would reuse the stream and its durable consumers,
// so a second run would see the first run's events (redelivered, counted
// against orders that are not in this run's databases).
func freshBroker(ctx context.Context, natsURL string) error {
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", report.RedactURL(natsURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s on %s: %w", stream, report.RedactURL(natsURL), err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s on %s: %w", stream, report.RedactURL(natsURL), err)
	}
	if info.State.Msgs > 0 {
		return fmt.Errorf("chaos needs a fresh broker: stream %s on %s holds %d message(s) from an earlier run, which its consumers would deliver again;"+
			" omit --nats-url (and NATS_URL) to use an embedded JetStream, or delete the stream", stream, report.RedactURL(natsURL), info.State.Msgs)
	}
	return nil
}
