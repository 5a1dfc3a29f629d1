package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// minShedRetryAfter is the least wait a shed RPC is told to keep: a slot
// frees when a running RPC ends, which takes at least a few milliseconds,
// so an earlier retry would most likely be shed again.
const minShedRetryAfter = 50 * time.Millisecond

// limiter bounds the RPCs handled at once. An RPC that finds every slot
// taken waits up to queueTimeout for one and is then shed with a
// ResourceExhausted that says when to retry, instead of piling up behind
// the others and timing out later at a greater cost to everyone.
type limiter struct {
	slots        chan struct{}
	queueTimeout time.Duration
	retryAfter   time.Duration
	shed         *prometheus.CounterVec
}

func newLimiter(reg prometheus.Registerer, service string, maxInflight int, queueTimeout time.Duration) (*limiter, error) {
	if maxInflight <= 0 {
		return nil, fmt.Errorf("max in-flight RPCs %d: must be greater than 0", maxInflight)
	}
	l := &limiter{
		slots:        make(chan struct{}, maxInflight),
		queueTimeout: max(queueTimeout, 0),
		retryAfter:   max(queueTimeout, minShedRetryAfter),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "slipway_rpc_shed_total",
			Help:        "RPCs refused with RESOURCE_EXHAUSTED because max_inflight RPCs were running and no slot freed within shed_queue_timeout.",
			ConstLabels: prometheus.Labels{"service": service},
		}, []string{"method"}),
	}
	if err := reg.Register(l.shed); err != nil {
		return nil, err
	}
	return l, nil
}

// declare creates the shed counter of every method of desc at zero, so a
// dashboard shows "nothing shed" from the first scrape instead of no data
// until the first overload.
func (l *limiter) declare(desc *grpc.ServiceDesc) {
	for _, m := range desc.Methods {
		if name := "/" + desc.ServiceName + "/" + m.MethodName; !exemptFromShedding(name) {
			l.shed.WithLabelValues(name)
		}
	}
	for _, st := range desc.Streams {
		if name := "/" + desc.ServiceName + "/" + st.StreamName; !exemptFromShedding(name) {
			l.shed.WithLabelValues(name)
		}
	}
}

// acquire takes a slot for fullMethod (held: the caller must release it),
// or returns a RetryAfter error when none freed in time. Health checks and
// reflection are exempt: an overloaded instance must still answer its
// probes truthfully, and shedding them would take it out of rotation. Their
// long-lived streams (Watch, reflection) are bounded instead, per
// connection and per process (acquireWatchStream), and over HTTP must send
// their request within the read timeout (liftStreamingDeadlines).
func (l *limiter) acquire(ctx context.Context, fullMethod string) (held bool, err error) {
	if exemptFromShedding(fullMethod) {
		return false, nil
	}
	select {
	case l.slots <- struct{}{}:
		return true, nil
	default:
	}
	if l.queueTimeout > 0 {
		t := time.NewTimer(l.queueTimeout)
		defer t.Stop()
		select {
		case l.slots <- struct{}{}:
			return true, nil
		case <-ctx.Done():
			return false, fmt.Errorf("waiting for a free slot: %w", ctx.Err())
		case <-t.C:
		}
	}
	l.shed.WithLabelValues(fullMethod).Inc()
	return false, errkind.RetryAfter(fmt.Sprintf("server busy: %d RPCs in flight", cap(l.slots)), l.retryAfter)
}

// release frees a slot acquire took.
func (l *limiter) release() { <-l.slots }

func exemptFromShedding(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") || strings.HasPrefix(fullMethod, "/grpc.reflection.")
}
