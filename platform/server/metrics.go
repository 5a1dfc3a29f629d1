package server

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

// rpcMetrics are the RED metrics of every RPC, whatever protocol carried it.
//
// Each call finds its series in a cache instead of asking the vectors
// (WithLabelValues hashes every label value on every call): per method,
// an array by protocol and code, filled as series are first used so
// /metrics shows only the series calls have touched, as before.
type rpcMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec

	// methods is a copy-on-write map[fullMethod]*methodMetrics: read with
	// one atomic load, replaced under mu when a method is first called.
	methods atomic.Pointer[map[string]*methodMetrics]
	mu      sync.Mutex
	// inFlightBy caches inFlight's series by protocol.
	inFlightBy [numProtocols]atomic.Pointer[gaugeRef]
}

// maxCachedMethods bounds the cache. The gRPC server only runs the chain
// for methods it serves, so this is far more than any service has; past
// it, calls ask the vectors as before.
const maxCachedMethods = 1024

// numCodes is how many gRPC codes there are (OK to Unauthenticated).
const numCodes = int(codes.Unauthenticated) + 1

// methodMetrics are the series of one method.
type methodMetrics struct {
	service, method string
	requests        [numProtocols][numCodes]atomic.Pointer[counterRef]
	duration        [numProtocols]atomic.Pointer[observerRef]
}

type (
	counterRef  struct{ prometheus.Counter }
	observerRef struct{ prometheus.Observer }
	gaugeRef    struct{ prometheus.Gauge }
)

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
	m.methods.Store(&map[string]*methodMetrics{})
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe counts one finished call and records its duration.
func (m *rpcMetrics) observe(fullMethod string, p protocol, code codes.Code, elapsed time.Duration) {
	mm := m.method(fullMethod)
	if mm == nil || int(code) >= numCodes {
		svc, method := splitMethod(fullMethod)
		m.requests.WithLabelValues(svc, method, code.String(), p.String()).Inc()
		m.duration.WithLabelValues(svc, method, p.String()).Observe(elapsed.Seconds())
		return
	}
	ref := mm.requests[p][code].Load()
	if ref == nil {
		ref = &counterRef{m.requests.WithLabelValues(mm.service, mm.method, code.String(), p.String())}
		mm.requests[p][code].Store(ref) // a racing call stores the same series
	}
	ref.Inc()
	obs := mm.duration[p].Load()
	if obs == nil {
		obs = &observerRef{m.duration.WithLabelValues(mm.service, mm.method, p.String())}
		mm.duration[p].Store(obs)
	}
	obs.Observe(elapsed.Seconds())
}

// inFlightOf is the in-flight gauge of protocol p.
func (m *rpcMetrics) inFlightOf(p protocol) prometheus.Gauge {
	ref := m.inFlightBy[p].Load()
	if ref == nil {
		ref = &gaugeRef{m.inFlight.WithLabelValues(p.String())}
		m.inFlightBy[p].Store(ref)
	}
	return ref
}

// method is the cached series of fullMethod, or nil once the cache is full.
func (m *rpcMetrics) method(fullMethod string) *methodMetrics {
	if mm, ok := (*m.methods.Load())[fullMethod]; ok {
		return mm
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.methods.Load()
	if mm, ok := old[fullMethod]; ok {
		return mm
	}
	if len(old) >= maxCachedMethods {
		return nil
	}
	svc, method := splitMethod(fullMethod)
	mm := &methodMetrics{service: svc, method: method}
	next := maps.Clone(old)
	next[fullMethod] = mm
	m.methods.Store(&next)
	return mm
}

// splitMethod turns "/pkg.Service/Method" into ("pkg.Service", "Method").
func splitMethod(fullMethod string) (string, string) {
	s := strings.TrimPrefix(fullMethod, "/")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "unknown", s
}
