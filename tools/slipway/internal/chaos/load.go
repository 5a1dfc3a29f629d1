package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
)

// load runs the create-order load with the faults on their timeline and
// returns the whole run's figures; the samples stay in r for the window.
func (r *run) load(ctx context.Context, o Options) (loadFigures, error) {
	exp := r.exp
	lo := r.loadOptions(o.Stderr)
	if err := lo.Validate(); err != nil {
		return loadFigures{}, err
	}
	sched := loadgen.Schedule{Rate: lo.Rate, Duration: lo.Duration}
	planned := sched.Len()
	built, err := loadgen.Build(ctx, lo, planned)
	if err != nil {
		return loadFigures{}, fmt.Errorf("prepare the load: %w", err)
	}
	defer built.Close()
	r.follow(built.Target)
	bgCtx, stopBG := context.WithCancel(ctx)
	defer stopBG()
	go built.Background(bgCtx)

	r.samples = make([]sample, 0, planned)
	var samplesMu = &r.mu
	rec := loadgen.NewRecorder()
	engine := &loadgen.Engine{
		Schedule: sched, MaxInflight: lo.MaxInflight, Timeout: lo.Timeout, Drain: lo.Timeout,
		Target: built.Target, Recorder: rec,
		Observe: func(seq int, latency time.Duration, out loadgen.Outcome) {
			samplesMu.Lock()
			r.samples = append(r.samples, sample{at: sched.At(seq), latency: latency, code: out.Code})
			samplesMu.Unlock()
		},
	}
	what := requestName(exp.Load)
	r.progress("load: %d × %s at %s/s for %s (%d users)", planned, what, loadgen.FormatRate(lo.Rate), lo.Duration, lo.Users)
	progCtx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	prog := loadgen.NewProgress(o.Stderr, lo.Duration, planned)
	go prog.Run(progCtx, rec)

	r.start = time.Now()
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		r.schedule(ctx)
	}()
	info := engine.Run(ctx)
	stopProgress()
	prog.Wait(true)
	<-faultsDone

	sum := rec.Summary(info)
	t := sum.Totals
	f := loadFigures{
		Request: requestName(exp.Load), Rate: lo.Rate, DurationSec: lo.Duration.Seconds(), Planned: t.Planned,
		Requests: t.Completed, OK: t.OK, Errors: t.Errors,
		P50: sum.Latency.P50, P99: sum.Latency.P99, Max: sum.Latency.Max, Codes: sum.Errors,
	}
	if t.Completed > 0 {
		f.SuccessRate = float64(t.OK) / float64(t.Completed)
	}
	if info.Interrupted {
		return f, errors.New("interrupted during the load")
	}
	return f, nil
}

// loadOptions is the experiment's create-order load against the fleet, as
// the admin the fleet seeded.
func (r *run) loadOptions(stderr io.Writer) loadgen.Options {
	exp := r.exp
	order, _ := r.fleet.service("order")
	email, password := r.fleet.adminCredentials()
	return loadgen.Options{
		Scenario: loadgen.ScenarioOrder, Rate: exp.Load.Rate, Duration: exp.Load.Duration.D(),
		MaxInflight: exp.Load.MaxInflight, Timeout: exp.Load.Timeout.D(), Users: exp.Load.Users,
		// A service with replicas is dialled at every instance, balanced.
		Protocol: "grpc", UserAddr: r.fleet.dial("user"), OrderAddr: r.fleet.dial("order"), InventoryAddr: r.fleet.dial("inventory"),
		NotificationAddr: r.fleet.dial("notification"), OrderHTTPAddr: order.HTTPDial, Restock: true,
		Stderr: stderr, Environ: []string{"ADMIN_EMAIL=" + email, "ADMIN_PASSWORD=" + password},
	}.WithDefaults()
}

// follow sets the experiment's lookups and retries on the create-order
// scenario and records every order it acknowledges in r.acked.
func (r *run) follow(target loadgen.Target) {
	sc, ok := target.(*loadgen.OrderScenario)
	if !ok {
		return
	}
	sc.UserLookups = r.exp.Load.UserLookups
	if r.exp.Load.RetryEvery != nil {
		sc.RetryEvery = *r.exp.Load.RetryEvery
	}
	r.acked = map[string]string{}
	sc.OnOrder = func(id, key string) {
		r.mu.Lock()
		r.acked[id] = key
		r.mu.Unlock()
	}
}

// requestName says what one request of the load is.
func requestName(l loadSpec) string {
	what := "CreateOrder"
	if l.UserLookups {
		what = "GetMe, then CreateOrder"
	}
	if l.RetryEvery != nil && *l.RetryEvery > 0 {
		what += fmt.Sprintf(" (every %d. retried with its idempotency key)", *l.RetryEvery)
	}
	return what
}
