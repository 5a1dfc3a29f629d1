// Package loadgen generates load at a fixed arrival rate: the engine and its
// schedule, HDR latency statistics, the rpc, http and create-order
// scenarios (loopback targets only) and the progress line. slipway load and
// slipway chaos drive it.
package loadgen

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Schedule is the open model's timetable: request i is due at
// At(i) after the start, at a fixed rate, whatever happened to the requests
// before it. Offsets are computed from i, never accumulated, so they do not
// drift.
type Schedule struct {
	Rate     float64       // requests per second, > 0
	Duration time.Duration // no request is due at or after this offset
}

// At is the intended send offset of request i from the start of the run.
func (s Schedule) At(i int) time.Duration {
	if r := int64(s.Rate); float64(r) == s.Rate {
		// Integral rates, the common case, in exact integer arithmetic.
		return time.Duration(int64(i) * int64(time.Second) / r)
	}
	return time.Duration(math.Floor(float64(i) * float64(time.Second) / s.Rate))
}

// Len is the number of requests the schedule sends: every i with At(i) <
// Duration.
func (s Schedule) Len() int {
	if s.Rate <= 0 || s.Duration <= 0 {
		return 0
	}
	n := int(math.Ceil(s.Duration.Seconds() * s.Rate))
	// Float rounding can land one off either way; settle it with At itself.
	for n > 0 && s.At(n-1) >= s.Duration {
		n--
	}
	for s.At(n) < s.Duration {
		n++
	}
	return n
}

// Outcome is how one request ended.
type Outcome struct {
	Code       string // "OK" or a gRPC code name ("Unavailable"); REST statuses are mapped to one
	HTTPStatus int    // the HTTP status of a REST call; 0 over gRPC
	Message    string // the error, for the first example of each code
}

// Outcome codes beyond gRPC's.
const (
	CodeOK = "OK"
	// CodeNotSent is a request still waiting for a free slot when the run
	// hit its hard stop. It is counted, with the wait it had suffered so far,
	// because leaving it out would hide exactly the stall that delayed it.
	CodeNotSent = "NotSent"
)

// Target sends one request of a scenario. seq is the request's index in
// the schedule, unique within a run.
type Target interface {
	Do(ctx context.Context, seq int) Outcome
}

// TargetFunc adapts a function to Target.
type TargetFunc func(ctx context.Context, seq int) Outcome

// Do calls f.
func (f TargetFunc) Do(ctx context.Context, seq int) Outcome { return f(ctx, seq) }

// LateStart is how far behind its intended time a request may start
// before it counts as a late start.
const LateStart = time.Millisecond

// Engine runs a schedule against a target: an open-model load
// generator. Requests are due on the schedule; at most MaxInflight are in
// flight, and a request that finds them all busy waits for a slot, but its
// latency is still measured from its intended send time, so a stall of the
// server shows in the figures instead of silently slowing the generator
// down (no coordinated omission).
type Engine struct {
	Schedule    Schedule
	MaxInflight int
	Timeout     time.Duration // per request, from its actual start
	// Drain is how long after the last intended send time the run may go on,
	// sending the backlog and waiting for answers, before the hard stop.
	Drain    time.Duration
	Target   Target
	Recorder *Recorder
	// Observe, if set, also sees every outcome with its request's index and
	// latency (chaos splits the figures at the fault window with it).
	Observe func(seq int, latency time.Duration, out Outcome)
}

// RunInfo is what happened to the schedule.
type RunInfo struct {
	Start       time.Time // intended send time of request 0
	End         time.Time // when the last request ended
	Interrupted bool      // ctx was cancelled: the figures cover part of the schedule
	HardStopped bool      // the drain ran out with requests still waiting
}

// Run sends the schedule and returns when every request has ended, ctx is
// cancelled, or the hard stop (the schedule's duration plus Drain) passes.
func (e *Engine) Run(ctx context.Context) RunInfo {
	n := e.Schedule.Len()
	start := time.Now()
	e.Recorder.Begin(start, e.Schedule)
	info := RunInfo{Start: start}

	runCtx, cancel := context.WithDeadline(ctx, start.Add(e.Schedule.Duration+e.Drain))
	defer cancel()

	slots := make(chan struct{}, max(e.MaxInflight, 1))
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()

	i := 0
	for ; i < n; i++ {
		intended := start.Add(e.Schedule.At(i))
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-runCtx.Done():
			}
		}
		if runCtx.Err() != nil {
			break
		}
		capHit := false
		select {
		case slots <- struct{}{}:
		default:
			capHit = true
			select {
			case slots <- struct{}{}:
			case <-runCtx.Done():
			}
		}
		if runCtx.Err() != nil {
			break
		}
		actual := time.Now()
		e.Recorder.Sent(actual, actual.Sub(intended), capHit)
		wg.Add(1)
		go func(seq int, intended time.Time) {
			defer wg.Done()
			reqCtx, cancelReq := context.WithTimeout(runCtx, e.Timeout)
			out := e.Target.Do(reqCtx, seq)
			cancelReq()
			latency := time.Since(intended)
			e.Recorder.Record(seq, latency, out)
			if e.Observe != nil {
				e.Observe(seq, latency, out)
			}
			<-slots
		}(i, intended)
	}
	wg.Wait()
	info.End = time.Now()

	switch {
	case ctx.Err() != nil:
		info.Interrupted = true
	case i < n:
		// The hard stop passed with requests still waiting for a slot: count
		// them as failures that waited at least until now.
		info.HardStopped = true
		for ; i < n; i++ {
			e.Recorder.Record(i, info.End.Sub(start.Add(e.Schedule.At(i))), Outcome{
				Code:    CodeNotSent,
				Message: "still waiting for a free slot at the hard stop (duration + timeout)",
			})
		}
	}
	e.Recorder.Finish()
	return info
}

// counters are the live counts the progress line shows.
type counters struct {
	Sent, Done, Errors atomic.Int64
}
