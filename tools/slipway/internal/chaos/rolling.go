package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// rollingRestart restarts every instance of a service, one after another,
// as an orchestrator rolls a deployment out: SIGTERM, a graceful exit,
// a start, SERVING, and only then the next instance. The fault lasts as
// long as the restarts take.
type rollingRestart struct {
	Service string `yaml:"service"`
	// MinReady is how long a restarted instance serves before the next is
	// stopped, as a Deployment's minReadySeconds: long enough for clients
	// to have it back in their rotation (they reconnect with a backoff).
	MinReady duration `yaml:"min_ready"`
}

// maxMinReady bounds min_ready.
const maxMinReady = time.Minute

// minRollingReplicas: restarting the only instance is an outage, not a
// rollout; a rolling restart needs another instance to serve meanwhile.
const minRollingReplicas = 2

// validateRolling checks a rolling restart: a known service that the
// experiment runs as at least two instances, and no for.
func (e *experiment) validateRolling(field string, f fault, bad func(field, format string, args ...any)) {
	rr := f.RollingRestart
	if _, ok := serviceAPI[rr.Service]; !ok {
		bad(field+".rolling_restart.service", "%q: want one of %s", rr.Service, strings.Join(workspace.Names(workspace.Known), ", "))
		return
	}
	if n := e.Replicas[rr.Service]; n < minRollingReplicas {
		bad(field+".rolling_restart.service", "%s runs as %d instance(s): a rolling restart needs replicas: {%s: %d} or more (the others serve while one restarts)",
			rr.Service, max(n, 1), rr.Service, minRollingReplicas)
	}
	if f.For != 0 {
		bad(field+".for", "a rolling restart lasts as long as its restarts take: leave out for")
	}
	if rr.MinReady.D() > maxMinReady {
		bad(field+".rolling_restart.min_ready", "%s: at most %s", rr.MinReady, maxMinReady)
	}
}

// rollingRestart stops each instance of the service with SIGTERM, waits for
// its exit, starts it again and waits until it is SERVING and then
// min_ready, then goes on to the next. Each graceful exit (0 within the stop timeout) and each return
// to SERVING is the fault's evidence.
func (r *run) rollingRestart(ctx context.Context, f fault) error {
	svc := f.RollingRestart.Service
	instances := r.fleet.instances(svc)
	r.event("fault on: rolling restart of %s's %d instances, one at a time", svc, len(instances))
	var graceful, back []string
	var failed []string
	for i, s := range instances {
		began := time.Now()
		e, err := r.fleet.Signal(s.Name, "SIGTERM")
		if err != nil {
			return err
		}
		if e.Clean() {
			graceful = append(graceful, s.Name)
		} else {
			failed = append(failed, s.Name+" "+e.Describe())
		}
		if err := r.fleet.Restart(context.WithoutCancel(ctx), s.Name); err != nil {
			return err
		}
		back = append(back, s.Name)
		r.event("%s stopped (%s) and SERVING again after %s", s.Name, e.Describe(), report.Seconds(time.Since(began)))
		if i < len(instances)-1 && !sleepUntil(ctx, time.Now().Add(f.RollingRestart.MinReady.D())) {
			return ctx.Err()
		}
	}
	observed := fmt.Sprintf("%d of %d instance(s) stopped gracefully and SERVING again", len(graceful), len(instances))
	if len(failed) > 0 {
		observed += "; not graceful: " + strings.Join(failed, ", ")
	}
	r.addEffect(effect{
		Fault:    f.Describe(),
		Evidence: "every instance stopped gracefully on SIGTERM (exit 0 within the stop timeout) and answered SERVING again before the next was stopped",
		Observed: observed,
		Seen:     len(graceful) == len(instances) && len(back) == len(instances),
	})
	return nil
}
