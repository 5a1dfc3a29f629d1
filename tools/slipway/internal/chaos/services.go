package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/promscrape"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
)

// gatedServices are the services whose own RPCs the analysis gates, from
// two scrapes of their /metrics around the load, beside the load's figures:
// payment, which the load reaches only through order's saga, so its
// failures would otherwise hide behind order's retries. The success rate
// counts as deploy/promql/success_rate.promql does (a client's mistake is
// a success), as the release's AnalysisTemplate would for the service.
var gatedServices = []string{"payment"}

// seriesSagaResumed counts the orders order's recovery worker resumed.
const seriesSagaResumed = "slipway_order_saga_resumed_total"

// seriesProviderCalls counts the payment service's calls to its provider
// by operation and outcome.
const seriesProviderCalls = "slipway_payment_provider_calls_total"

// serviceFigures are one gated service's RPCs over the load.
type serviceFigures struct {
	Service     string  `json:"service"`
	Requests    float64 `json:"requests"`
	Errors      float64 `json:"errors"`
	SuccessRate float64 `json:"success_rate"`
	P99         float64 `json:"p99_ms"`
	Restarted   bool    `json:"restarted,omitempty"`
	// ProviderTransient is how many provider calls failed transiently
	// (payment only).
	ProviderTransient float64 `json:"provider_transient,omitempty"`
	Err               string  `json:"error,omitempty"` // the scrapes failed
}

// serviceScrapes are the first scrapes of the gated services, taken
// before the load.
type serviceScrapes map[string]promscrape.Snapshot

// scrapeGated scrapes every gated service; one that fails is left out, and
// its figures say so.
func (r *run) scrapeGated(ctx context.Context) serviceScrapes {
	snaps := serviceScrapes{}
	for _, svc := range gatedServices {
		if s, err := r.scrape(ctx, svc); err == nil {
			snaps[svc] = s
		}
	}
	return snaps
}

// serviceFigures compares the scrapes before the load with scrapes now.
func (r *run) serviceFigures(ctx context.Context, before serviceScrapes) []serviceFigures {
	var out []serviceFigures
	for _, svc := range gatedServices {
		f := serviceFigures{Service: svc}
		start, ok := before[svc]
		end, err := r.scrape(ctx, svc)
		switch {
		case !ok:
			f.Err = "could not scrape " + svc + "'s /metrics before the load"
		case err != nil:
			f.Err = fmt.Sprintf("could not scrape %s's /metrics after the load: %v", svc, err)
		default:
			f = figuresOf(svc, start, end)
		}
		out = append(out, f)
	}
	return out
}

// figuresOf derives a service's figures from two scrapes of its /metrics.
func figuresOf(svc string, start, end promscrape.Snapshot) serviceFigures {
	inst := promscrape.ComputeInstance(start, end)
	f := serviceFigures{Service: svc, Requests: inst.Requests, Errors: inst.Errors, Restarted: inst.Restarted}
	var m slo.Measurement
	promscrape.AggregateService(&m, svc, []promscrape.InstanceFigures{inst})
	if p99, ok := m.Values[slo.MetricP99][svc]; ok {
		f.P99 = p99 * 1000
	}
	if f.Requests > 0 {
		f.SuccessRate = 1 - f.Errors/f.Requests
	}
	transient := func(m model.Metric) bool { return m["outcome"] == "transient" }
	a, _ := promscrape.GaugeSum(start, seriesProviderCalls, transient)
	b, _ := promscrape.GaugeSum(end, seriesProviderCalls, transient)
	if inst.Restarted {
		a = 0
	}
	f.ProviderTransient = b - a
	return f
}

// serviceChecks gates each service's success rate at least its threshold
// (no request is a failure too: a service nobody called has not shown it
// works), and reports its p99 beside it.
func serviceChecks(t thresholds, figs []serviceFigures) []check {
	var checks []check
	for _, f := range figs {
		least := t.SuccessRate
		if v, ok := t.Services[f.Service]; ok {
			least = v
		}
		c := check{Metric: f.Service + " success rate (its /metrics)", Condition: fmt.Sprintf(">= %.2f%%", 100*least)}
		switch {
		case f.Err != "":
			c.Observed = f.Err
		case f.Requests == 0:
			c.Observed = "no request reached " + f.Service
		default:
			c.Observed = fmt.Sprintf("%.2f%% (%.0f of %.0f RPCs), p99 %sms", 100*f.SuccessRate, f.Requests-f.Errors, f.Requests, loadgen.FormatMS(f.P99))
			c.Passed = f.SuccessRate >= least
		}
		checks = append(checks, c)
	}
	return checks
}

// placedCheck gates the share of the acknowledged orders that ended PLACED
// once the sagas settled: an OK answer may carry a PENDING order that
// fails later, or a FAILED one, which the load's success rate cannot see.
func placedCheck(least float64, acked map[string]string, orders map[string]*order) check {
	c := check{Metric: "acknowledged orders PLACED", Condition: fmt.Sprintf(">= %.2f%%", 100*least)}
	if len(acked) == 0 {
		c.Observed = "no order acknowledged"
		return c
	}
	placed, byStatus := 0, map[string]int{}
	for id := range acked {
		status := "missing"
		if o := orders[id]; o != nil {
			status = o.Status
		}
		byStatus[status]++
		if status == "PLACED" {
			placed++
		}
	}
	rate := float64(placed) / float64(len(acked))
	c.Observed = fmt.Sprintf("%.2f%% (%d of %d", 100*rate, placed, len(acked))
	for _, s := range []string{"PENDING", "FAILED", "CANCELLED", "missing"} {
		if byStatus[s] > 0 {
			c.Observed += fmt.Sprintf(", %d %s", byStatus[s], s)
		}
	}
	c.Observed += ")"
	c.Passed = rate >= least
	return c
}

// envEvidence is the evidence that a fault set through an experiment's
// env (for the whole run) did something, by service and variable.
var envEvidence = map[string]map[string]func(v string, f serviceFigures) effect{
	"payment": {
		"SANDBOX_TRANSIENT_RATE": func(v string, f serviceFigures) effect {
			return effect{
				Fault:    "payment: sandbox provider fails " + v + " of its calls transiently",
				Evidence: "payment's provider calls failed transiently (" + seriesProviderCalls + `{outcome="transient"})`,
				Observed: fmt.Sprintf("%.0f transient provider call(s) during the load", f.ProviderTransient),
				Seen:     f.Err == "" && f.ProviderTransient > 0,
			}
		},
		"SANDBOX_LATENCY_P99": func(v string, f serviceFigures) effect {
			want, _ := time.ParseDuration(v)
			return effect{
				Fault:    "payment: sandbox provider's latency p99 " + v,
				Evidence: "payment's RPC p99 (its /metrics) at least a quarter of the provider's p99 (the sandbox's default p99 is 80 ms)",
				Observed: fmt.Sprintf("p99 %sms over %.0f RPCs", loadgen.FormatMS(f.P99), f.Requests),
				Seen:     f.Err == "" && f.P99 >= float64(want/4)/float64(time.Millisecond),
			}
		},
	},
}

// envFaults returns the env variables of exp that are faults (those with
// evidence), as "svc KEY=VALUE".
func (e *experiment) envFaults() []string {
	var out []string
	for _, svc := range gatedServices {
		for _, key := range slices.Sorted(maps.Keys(envEvidence[svc])) {
			if v, ok := e.Env[svc][key]; ok {
				out = append(out, svc+" "+key+"="+v)
			}
		}
	}
	return out
}

// envEffects is the evidence of each env fault of the experiment.
func (r *run) envEffects(figs []serviceFigures) []effect {
	var out []effect
	for _, f := range figs {
		for _, key := range slices.Sorted(maps.Keys(envEvidence[f.Service])) {
			if v, ok := r.exp.Env[f.Service][key]; ok {
				out = append(out, envEvidence[f.Service][key](v, f))
			}
		}
	}
	return out
}
