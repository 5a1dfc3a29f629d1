package client

import (
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The circuit breaker of every Dial, on gobreaker. It opens only when the
// peer is as good as gone: at least breakerMinAttempts attempts in the last
// breakerWindow and breakerFailureRatio of them UNAVAILABLE or
// DEADLINE_EXCEEDED. A peer that fails 40 % of calls (a chaos experiment, a
// bad instance behind round robin) is still worth calling with retries; one
// that fails 90 % is not, and calling it only adds load while it recovers.
const (
	breakerWindow       = 10 * time.Second
	breakerBuckets      = 10
	breakerMinAttempts  = 20
	breakerFailureRatio = 0.9
	breakerOpenFor      = 2 * time.Second
)

// openCircuitError is the UNAVAILABLE a call gets without reaching the peer
// while the circuit is open, or half-open with its probe out. The retry
// interceptor never retries it.
type openCircuitError struct{ peer string }

func (e *openCircuitError) Error() string { return e.GRPCStatus().Err().Error() }

// GRPCStatus makes the error an UNAVAILABLE status.
func (e *openCircuitError) GRPCStatus() *status.Status {
	return status.Newf(codes.Unavailable, "circuit to %s is open", e.peer)
}

// breaker is the rolling-window circuit breaker over the attempts of one
// connection. An attempt's outcome is filed when the attempt ends, as
// gobreaker's Execute files it: its two-step Allow would file it under the
// 1 s bucket in which the attempt started and drop it once that bucket had
// left the window, so a peer that hangs for longer than the window (a
// PEER_TIMEOUT of up to 1m) would never open the circuit.
type breaker struct {
	peer string
	cb   *gobreaker.CircuitBreaker[struct{}]
	// generation counts the state changes: an attempt admitted in an
	// earlier state has no say in this one.
	generation atomic.Uint64
	// probing holds the half-open state's one probe, which gobreaker
	// reserves only for a request that runs inside Execute.
	probing atomic.Bool
}

// newBreaker returns the breaker to peer; onState (may be nil) sees every
// state it enters, closed first. gobreaker's states are numbered as the
// state gauge is: 0 closed, 1 half-open, 2 open.
func newBreaker(peer string, onState func(gobreaker.State)) *breaker {
	if onState == nil {
		onState = func(gobreaker.State) {}
	}
	b := &breaker{peer: peer}
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         peer,
		MaxRequests:  1, // half-open: one probe, whose outcome closes or reopens
		Interval:     breakerWindow,
		BucketPeriod: breakerWindow / breakerBuckets,
		Timeout:      breakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			total := c.TotalSuccesses + c.TotalFailures
			return total >= breakerMinAttempts && float64(c.TotalFailures) >= breakerFailureRatio*float64(total)
		},
		// Any other answer, error or not, means the peer is up.
		IsSuccessful: func(err error) bool {
			code := status.Code(err)
			return code != codes.Unavailable && code != codes.DeadlineExceeded
		},
		// The caller gave up: no verdict, and a cancelled probe frees the
		// half-open slot for the next call.
		IsExcluded: func(err error) bool { return status.Code(err) == codes.Canceled },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			b.generation.Add(1)
			onState(to)
		},
	})
	onState(gobreaker.StateClosed)
	return b
}

// allow lets an attempt go to the peer and returns the func that records
// how it ended, or fails fast with openCircuitError.
func (b *breaker) allow() (done func(error), err error) {
	state := b.cb.State() // half-opens an open circuit whose timeout has passed
	generation := b.generation.Load()
	switch state {
	case gobreaker.StateOpen:
		return nil, &openCircuitError{peer: b.peer}
	case gobreaker.StateHalfOpen:
		if !b.probing.CompareAndSwap(false, true) {
			return nil, &openCircuitError{peer: b.peer}
		}
		return func(err error) {
			b.record(generation, err)
			b.probing.Store(false)
		}, nil
	}
	return func(err error) { b.record(generation, err) }, nil
}

// record files an attempt's outcome now, in the bucket of the second it
// ended, unless the circuit changed state while the attempt ran.
func (b *breaker) record(generation uint64, err error) {
	if b.generation.Load() != generation {
		return
	}
	// Execute refuses while open (the outcome is then moot) and runs the
	// func otherwise; its error is the outcome's own.
	_, _ = b.cb.Execute(func() (struct{}, error) { return struct{}{}, err })
}
