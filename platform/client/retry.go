package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The retry policy of WithRetry. With the default 8 attempts a call fails
// only when all 8 do: at 40 % injected UNAVAILABLE that is 0.4^8 ≈ 0.07 %
// per call, and the whole backoff (at most 10+20+40+80+100·3 ms ≈ 0.45 s)
// fits well inside a 3 s deadline such as order's PEER_TIMEOUT.
const (
	defaultRetryAttempts = 8
	retryInitialBackoff  = 10 * time.Millisecond
	retryMaxBackoff      = 100 * time.Millisecond
)

// retrier is the unary interceptor that runs every attempt of a call
// through the breaker and retries the idempotent methods it was given.
type retrier struct {
	peer     string
	methods  map[string]bool
	attempts int
	breaker  *breaker
	metrics  *clientMetrics
	jitter   func() float64 // in [0, 1)
	sleep    func(context.Context, time.Duration) error
}

func (r *retrier) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	retryable := r.methods[method]
	shedRetried := false
	for attempt := 1; ; attempt++ {
		err := r.attempt(ctx, method, req, reply, cc, invoker, opts...)
		if err == nil || !retryable || attempt >= r.attempts || ctx.Err() != nil {
			return err
		}
		delay, ok := r.delay(err, attempt)
		if !ok {
			return err
		}
		if status.Code(err) == codes.ResourceExhausted {
			// A server shedding load gets one more try per call, not
			// eight: retries must not multiply the load it is refusing.
			if shedRetried {
				return err
			}
			shedRetried = true
		}
		if deadline, has := ctx.Deadline(); has && time.Until(deadline) <= delay {
			return err // the next attempt could not finish in time: the caller gets the real error, not a timeout
		}
		code := status.Code(err)
		r.metrics.retried(r.peer, method, code)
		trace.SpanFromContext(ctx).AddEvent("rpc.retry", trace.WithAttributes(
			attribute.String("rpc.method", method),
			attribute.Int("rpc.retry.attempt", attempt+1),
			attribute.String("rpc.retry.after_code", code.String()),
			attribute.Int64("rpc.retry.backoff_ms", delay.Milliseconds()),
		))
		if err := r.sleep(ctx, delay); err != nil {
			return status.FromContextError(err).Err()
		}
	}
}

// attempt makes one attempt through the breaker. Each attempt is its own
// RPC, so the tracing stats handler gives each its own client span.
func (r *retrier) attempt(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	done, err := r.breaker.allow()
	if err != nil {
		r.metrics.rejected(r.peer)
		return err
	}
	err = invoker(ctx, method, req, reply, cc, opts...)
	done(err)
	return err
}

// delay is how long to wait after the attempt-th attempt failed with err,
// and whether err may be retried at all: UNAVAILABLE after a jittered
// backoff, RESOURCE_EXHAUSTED only when the server said when to come back
// (RetryInfo), and then no sooner than that. An open circuit is never
// retried: failing fast is its point.
func (r *retrier) delay(err error, attempt int) (time.Duration, bool) {
	var open *openCircuitError
	if errors.As(err, &open) {
		return 0, false
	}
	st := status.Convert(err)
	backoff := r.backoff(attempt)
	switch st.Code() {
	case codes.Unavailable:
		return backoff, true
	case codes.ResourceExhausted:
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				return max(backoff, ri.GetRetryDelay().AsDuration()), true
			}
		}
	}
	return 0, false
}

// backoff is "full jitter" exponential backoff: a uniform draw below
// 10 ms · 2^(attempt-1), capped at 100 ms, so callers that failed together
// do not come back together.
func (r *retrier) backoff(attempt int) time.Duration {
	ceiling := retryMaxBackoff
	if attempt < 8 { // 10 ms · 2^7 is already past the cap
		ceiling = min(retryInitialBackoff<<(attempt-1), retryMaxBackoff)
	}
	return time.Duration(r.jitter() * float64(ceiling))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

var defaultJitter = rand.Float64
