package chaos

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/promscrape"
)

const envOnlyExperiment = `
load:
  rate: 10
  duration: 30s
env:
  payment:
    SANDBOX_TRANSIENT_RATE: "0.4"
`

func TestEnvFaultsStandForFaults(t *testing.T) {
	exp, err := parseExperiment([]byte(envOnlyExperiment))
	require.NoError(t, err, "an env variable that is a fault is enough")
	assert.Equal(t, []string{"payment SANDBOX_TRANSIENT_RATE=0.4"}, exp.envFaults())
	th := exp.thresholds(thresholds{SuccessRate: 0.995})
	assert.InDelta(t, 0.995, th.Services["payment"], 0, "payment is gated at the SLO's rate unless the experiment says otherwise")

	_, err = parseExperiment([]byte("load: {rate: 10, duration: 30s}\nenv: {payment: {SANDBOX_LATENCY_MEDIAN: 1s}}\n"))
	assert.ErrorContains(t, err, "faults: missing: at least one fault", "an env variable with no evidence is no fault")

	_, err = parseExperiment([]byte(envOnlyExperiment + "analysis: {service_success_rate: {inventory: 0.5}, reason: r}\n"))
	assert.ErrorContains(t, err, "analysis.service_success_rate.inventory: not a gated service")
	_, err = parseExperiment([]byte(envOnlyExperiment + "analysis: {service_success_rate: {payment: 1.5}, placed_rate: 2, reason: r}\n"))
	assert.ErrorContains(t, err, "analysis.service_success_rate.payment: 1.5: want a fraction")
	assert.ErrorContains(t, err, "analysis.placed_rate: 2: want a fraction")

	exp, err = parseExperiment([]byte(envOnlyExperiment + "analysis: {service_success_rate: {payment: 0.5}, placed_rate: 0.9, reason: r}\n"))
	require.NoError(t, err)
	th = exp.thresholds(thresholds{SuccessRate: 0.995})
	assert.InDelta(t, 0.5, th.Services["payment"], 0)
	assert.InDelta(t, 0.9, th.placed(), 0)
}

func TestEnvEffects(t *testing.T) {
	exp, err := parseExperiment([]byte(envOnlyExperiment))
	require.NoError(t, err)
	exp.Env["payment"]["SANDBOX_LATENCY_P99"] = "2s"
	r := &run{exp: exp}

	effs := r.envEffects([]serviceFigures{{Service: "payment", Requests: 100, ProviderTransient: 37, P99: 1800}})
	require.Len(t, effs, 2, "one per env fault, in the order of their names")
	assert.True(t, effs[0].Seen, "%+v", effs[0])
	assert.Contains(t, effs[0].Observed, "1800ms", "latency: SANDBOX_LATENCY_P99 sorts first")
	assert.True(t, effs[1].Seen, "%+v", effs[1])
	assert.Equal(t, "37 transient provider call(s) during the load", effs[1].Observed)

	effs = r.envEffects([]serviceFigures{{Service: "payment", Requests: 100, P99: 80}})
	assert.False(t, effs[0].Seen, "a p99 of 80 ms is no 2 s tail")
	assert.False(t, effs[1].Seen, "no transient failure: the fault did nothing")
	effs = r.envEffects([]serviceFigures{{Service: "payment", Err: "could not scrape", ProviderTransient: 5, P99: 5000}})
	assert.False(t, effs[0].Seen, "no scrape, no evidence")
	assert.False(t, effs[1].Seen)
}

func TestServiceChecks(t *testing.T) {
	th := thresholds{SuccessRate: 0.995, Services: map[string]float64{"payment": 0.5}}
	tests := []struct {
		name     string
		fig      serviceFigures
		pass     bool
		observed string
	}{
		{"above its threshold", serviceFigures{Service: "payment", Requests: 100, Errors: 40, SuccessRate: 0.6, P99: 12}, true, "60.00% (60 of 100 RPCs), p99 12.0ms"},
		{"below its threshold", serviceFigures{Service: "payment", Requests: 100, Errors: 60, SuccessRate: 0.4}, false, "40.00% (40 of 100 RPCs)"},
		{"nobody called it", serviceFigures{Service: "payment"}, false, "no request reached payment"},
		{"its /metrics did not answer", serviceFigures{Service: "payment", Err: "could not scrape payment's /metrics after the load"}, false, "could not scrape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := serviceChecks(th, []serviceFigures{tt.fig})
			require.Len(t, checks, 1)
			assert.Equal(t, "payment success rate (its /metrics)", checks[0].Metric)
			assert.Equal(t, ">= 50.00%", checks[0].Condition)
			assert.Equal(t, tt.pass, checks[0].Passed)
			assert.Contains(t, checks[0].Observed, tt.observed)
		})
	}
	checks := serviceChecks(thresholds{SuccessRate: 0.995}, []serviceFigures{{Service: "payment", Requests: 1000, Errors: 6, SuccessRate: 0.994}})
	assert.Equal(t, ">= 99.50%", checks[0].Condition, "no override: the SLO's rate")
	assert.False(t, checks[0].Passed)
}

func TestPlacedCheck(t *testing.T) {
	orders := map[string]*order{"o1": {Status: "PLACED"}, "o2": {Status: "PLACED"}, "o3": {Status: "FAILED"}, "o4": {Status: "PLACED"}}
	acked := map[string]string{"o1": "k1", "o2": "k2", "o3": "k3", "o4": "k4"}
	c := placedCheck(0.995, acked, orders)
	assert.False(t, c.Passed, "an acknowledged order that failed is not a success")
	assert.Equal(t, "75.00% (3 of 4, 1 FAILED)", c.Observed)
	assert.True(t, placedCheck(0.75, acked, orders).Passed)

	acked["o5"] = "k5"
	c = placedCheck(0.5, acked, orders)
	assert.Equal(t, "60.00% (3 of 5, 1 FAILED, 1 missing)", c.Observed)

	c = placedCheck(0.5, map[string]string{}, orders)
	assert.False(t, c.Passed)
	assert.Equal(t, "no order acknowledged", c.Observed)
}

// TestFiguresFromMetrics reads a service's figures from two scrapes of a
// real /metrics endpoint: requests and errors by the success-rate query's
// codes, p99 from the histogram, transient provider calls.
func TestFiguresFromMetrics(t *testing.T) {
	var scrapes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := float64(scrapes.Add(1) - 1) // 0 before, 1 after
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, `# TYPE slipway_rpc_requests_total counter
slipway_rpc_requests_total{service="payment",rpc_service="slipway.payment.v1.PaymentService",rpc_method="AuthorizePayment",code="OK"} %g
slipway_rpc_requests_total{service="payment",rpc_service="slipway.payment.v1.PaymentService",rpc_method="AuthorizePayment",code="Unavailable"} %g
slipway_rpc_requests_total{service="payment",rpc_service="slipway.payment.v1.PaymentService",rpc_method="AuthorizePayment",code="FailedPrecondition"} %g
# TYPE slipway_rpc_duration_seconds histogram
slipway_rpc_duration_seconds_bucket{service="payment",rpc_service="slipway.payment.v1.PaymentService",le="0.1"} %g
slipway_rpc_duration_seconds_bucket{service="payment",rpc_service="slipway.payment.v1.PaymentService",le="1"} %g
slipway_rpc_duration_seconds_bucket{service="payment",rpc_service="slipway.payment.v1.PaymentService",le="+Inf"} %g
slipway_rpc_duration_seconds_sum{service="payment",rpc_service="slipway.payment.v1.PaymentService"} 1
slipway_rpc_duration_seconds_count{service="payment",rpc_service="slipway.payment.v1.PaymentService"} %g
# TYPE slipway_payment_provider_calls_total counter
slipway_payment_provider_calls_total{provider="sandbox",operation="authorize",outcome="transient"} %g
slipway_payment_provider_calls_total{provider="sandbox",operation="authorize",outcome="ok"} %g
`, 10+50*n, 5+30*n, 40*n, 15+100*n, 15+120*n, 15+120*n, 15+120*n, 2+28*n, 10+50*n)
	}))
	defer srv.Close()
	target := promscrape.Target{Service: "payment", URL: srv.URL}
	before, err := promscrape.ScrapeTarget(t.Context(), srv.Client(), target, time.Now)
	require.NoError(t, err)
	after, err := promscrape.ScrapeTarget(t.Context(), srv.Client(), target, time.Now)
	require.NoError(t, err)

	f := figuresOf("payment", before, after)
	assert.InDelta(t, 120, f.Requests, 0, "50 OK, 30 Unavailable, 40 FailedPrecondition during the load")
	assert.InDelta(t, 30, f.Errors, 0, "Unavailable is an error; a client's FailedPrecondition is not")
	assert.InDelta(t, 0.75, f.SuccessRate, 1e-9)
	assert.InDelta(t, 28, f.ProviderTransient, 0)
	assert.Greater(t, f.P99, 100.0, "a sixth of the calls took 0.1 to 1 s")
	assert.LessOrEqual(t, f.P99, 1000.0)
	assert.False(t, f.Restarted)
}
