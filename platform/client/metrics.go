package client

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"google.golang.org/grpc/codes"

	"github.com/slipway-dev/slipway/platform/telemetry"
)

// clientMetrics are the resilience metrics of the connections dialled with
// one registry. A nil *clientMetrics records nothing.
type clientMetrics struct {
	retries *prometheus.CounterVec
	circuit *prometheus.GaugeVec
	rejects *prometheus.CounterVec
}

// newClientMetrics registers the metrics with reg, or reuses those an
// earlier Dial registered there: a service dials several peers.
func newClientMetrics(reg prometheus.Registerer) (*clientMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &clientMetrics{}
	var err error
	if m.retries, err = telemetry.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_client_retries_total",
		Help: "Attempts retried by a peer client, by peer, full method and the code of the attempt that failed.",
	}, []string{"peer", "method", "code"})); err != nil {
		return nil, err
	}
	if m.circuit, err = telemetry.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slipway_client_circuit_state",
		Help: "State of the circuit breaker to a peer: 0 closed, 1 half-open, 2 open.",
	}, []string{"peer"})); err != nil {
		return nil, err
	}
	if m.rejects, err = telemetry.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_client_circuit_rejected_total",
		Help: "Calls failed fast with UNAVAILABLE because the circuit to the peer was open.",
	}, []string{"peer"})); err != nil {
		return nil, err
	}
	return m, nil
}

// retryCodes are the codes after which an attempt may be retried (see
// retrier.delay).
var retryCodes = []codes.Code{codes.Unavailable, codes.ResourceExhausted}

// declare creates the series of a peer at zero, so that a dashboard shows
// "no retries, circuit closed" from the first scrape instead of no data
// until the first failure.
func (m *clientMetrics) declare(peer string, retried map[string]bool) {
	if m == nil {
		return
	}
	m.circuit.WithLabelValues(peer) // a new gauge is 0: closed
	m.rejects.WithLabelValues(peer)
	for method := range retried {
		for _, code := range retryCodes {
			m.retries.WithLabelValues(peer, method, code.String())
		}
	}
}

func (m *clientMetrics) retried(peer, method string, code codes.Code) {
	if m != nil {
		m.retries.WithLabelValues(peer, method, code.String()).Inc()
	}
}

func (m *clientMetrics) rejected(peer string) {
	if m != nil {
		m.rejects.WithLabelValues(peer).Inc()
	}
}

func (m *clientMetrics) onCircuit(peer string) func(gobreaker.State) {
	if m == nil {
		return nil
	}
	return func(s gobreaker.State) { m.circuit.WithLabelValues(peer).Set(float64(s)) }
}
