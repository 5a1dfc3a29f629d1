package client

import (
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The circuit breaker of every Dial. It opens only when the peer is as good
// as gone: at least breakerMinAttempts attempts in the last breakerWindow and
// breakerFailureRatio of them UNAVAILABLE or DEADLINE_EXCEEDED. A peer that
// fails 40 % of calls (a chaos experiment, a bad instance behind round robin)
// is still worth calling with retries; one that fails 90 % is not, and
// calling it only adds load while it recovers.
const (
	breakerWindow       = 10 * time.Second
	breakerBuckets      = 10
	breakerMinAttempts  = 20
	breakerFailureRatio = 0.9
	breakerOpenFor      = 2 * time.Second
)

// circuitState is where a breaker is; its value is the state gauge's.
type circuitState int

const (
	circuitClosed   circuitState = 0 // calls go through and are counted
	circuitHalfOpen circuitState = 1 // one probe goes through; the rest fail fast
	circuitOpen     circuitState = 2 // every call fails fast
)

func (s circuitState) String() string {
	switch s {
	case circuitClosed:
		return "closed"
	case circuitHalfOpen:
		return "half-open"
	case circuitOpen:
		return "open"
	}
	return fmt.Sprintf("circuitState(%d)", int(s))
}

// openCircuitError is the UNAVAILABLE a call gets without reaching the peer
// while the circuit is open. The retry interceptor never retries it.
type openCircuitError struct{ peer string }

func (e *openCircuitError) Error() string { return e.GRPCStatus().Err().Error() }

// GRPCStatus makes the error an UNAVAILABLE status.
func (e *openCircuitError) GRPCStatus() *status.Status {
	return status.Newf(codes.Unavailable, "circuit to %s is open", e.peer)
}

// bucket counts the attempts that ended in one slice of the window.
type bucket struct {
	slot           int64 // which slice of time: now / (window / buckets)
	total, failing int
}

// breaker is a rolling-window circuit breaker over the attempts of one
// connection.
type breaker struct {
	peer    string
	now     func() time.Time
	onState func(circuitState)

	mu       sync.Mutex
	state    circuitState
	openedAt time.Time
	probing  bool // a half-open probe is in flight
	buckets  [breakerBuckets]bucket
}

func newBreaker(peer string, now func() time.Time, onState func(circuitState)) *breaker {
	if now == nil {
		now = time.Now
	}
	if onState == nil {
		onState = func(circuitState) {}
	}
	b := &breaker{peer: peer, now: now, onState: onState}
	onState(circuitClosed)
	return b
}

// allow says whether an attempt may go to the peer now; probe is true for
// the one attempt let through to test a half-open circuit.
func (b *breaker) allow() (probe bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case circuitClosed:
		return false, nil
	case circuitOpen:
		if b.now().Sub(b.openedAt) < breakerOpenFor {
			return false, &openCircuitError{peer: b.peer}
		}
		b.setState(circuitHalfOpen)
	}
	if b.probing {
		return false, &openCircuitError{peer: b.peer}
	}
	b.probing = true
	return true, nil
}

// done records how an attempt allow let through ended.
func (b *breaker) done(probe bool, err error) {
	code := status.Code(err)
	failing := code == codes.Unavailable || code == codes.DeadlineExceeded
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
		switch {
		case code == codes.Canceled: // the caller gave up: no verdict; the next call probes
		case failing:
			b.openedAt = b.now()
			b.setState(circuitOpen)
		default:
			b.buckets = [breakerBuckets]bucket{}
			b.setState(circuitClosed)
		}
		return
	}
	if code == codes.Canceled || b.state != circuitClosed {
		return
	}
	b.record(failing)
	total, failed := b.counts()
	if total >= breakerMinAttempts && float64(failed) >= breakerFailureRatio*float64(total) {
		b.openedAt = b.now()
		b.setState(circuitOpen)
	}
}

func (b *breaker) setState(s circuitState) {
	if b.state != s {
		b.state = s
		b.onState(s)
	}
}

func (b *breaker) slot() int64 {
	return b.now().UnixNano() / int64(breakerWindow/breakerBuckets)
}

func (b *breaker) record(failing bool) {
	slot := b.slot()
	bk := &b.buckets[slot%breakerBuckets]
	if bk.slot != slot {
		*bk = bucket{slot: slot}
	}
	bk.total++
	if failing {
		bk.failing++
	}
}

// counts sums the buckets still inside the window.
func (b *breaker) counts() (total, failing int) {
	now := b.slot()
	for _, bk := range b.buckets {
		if now-bk.slot < breakerBuckets {
			total += bk.total
			failing += bk.failing
		}
	}
	return total, failing
}
