package server

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// rpcMetrics are the RED metrics of every RPC, whatever protocol carried it.
type rpcMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

func newRPCMetrics(reg prometheus.Registerer, service string) (*rpcMetrics, error) {
	constLabels := prometheus.Labels{"service": service}
	m := &rpcMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "slipway_rpc_requests_total",
			Help:        "RPCs handled, by method, status code and protocol (grpc, grpc-web, connect, rest).",
			ConstLabels: constLabels,
		}, []string{"rpc_service", "rpc_method", "code", "protocol"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "slipway_rpc_duration_seconds",
			Help:        "Time from receiving an RPC to sending its response, by method and protocol.",
			ConstLabels: constLabels,
			Buckets:     []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .32, .5, 1, 2.5, 5, 10},
		}, []string{"rpc_service", "rpc_method", "protocol"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name:        "slipway_rpc_in_flight",
			Help:        "RPCs being handled now.",
			ConstLabels: constLabels,
		}, []string{"protocol"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// splitMethod turns "/pkg.Service/Method" into ("pkg.Service", "Method").
func splitMethod(fullMethod string) (string, string) {
	s := strings.TrimPrefix(fullMethod, "/")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "unknown", s
}
