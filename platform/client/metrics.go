package client

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
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
	if m.retries, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_client_retries_total",
		Help: "Attempts retried by a peer client, by peer, full method and the code of the attempt that failed.",
	}, []string{"peer", "method", "code"})); err != nil {
		return nil, err
	}
	if m.circuit, err = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slipway_client_circuit_state",
		Help: "State of the circuit breaker to a peer: 0 closed, 1 half-open, 2 open.",
	}, []string{"peer"})); err != nil {
		return nil, err
	}
	if m.rejects, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_client_circuit_rejected_total",
		Help: "Calls failed fast with UNAVAILABLE because the circuit to the peer was open.",
	}, []string{"peer"})); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
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

func (m *clientMetrics) onCircuit(peer string) func(circuitState) {
	if m == nil {
		return nil
	}
	return func(s circuitState) { m.circuit.WithLabelValues(peer).Set(float64(s)) }
}
