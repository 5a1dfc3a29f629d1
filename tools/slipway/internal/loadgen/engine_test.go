package loadgen

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestScheduleIsExact(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		duration time.Duration
		len      int
		at       map[int]time.Duration // spot checks besides the formula
	}{
		{name: "50/s", rate: 50, duration: 20 * time.Second, len: 1000,
			at: map[int]time.Duration{0: 0, 1: 20 * time.Millisecond, 999: 19980 * time.Millisecond}},
		{name: "3/s does not drift", rate: 3, duration: 2 * time.Second, len: 6,
			at: map[int]time.Duration{1: 333333333, 2: 666666666, 3: time.Second, 5: 1666666666}},
		{name: "half a request a second", rate: 0.5, duration: 5 * time.Second, len: 3,
			at: map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second}},
		{name: "2.5/s", rate: 2.5, duration: 2 * time.Second, len: 5,
			at: map[int]time.Duration{1: 400 * time.Millisecond, 4: 1600 * time.Millisecond}},
		{name: "the caps: 5000/s for 10m", rate: 5000, duration: 10 * time.Minute, len: 3000000,
			at: map[int]time.Duration{1: 200 * time.Microsecond, 2999999: 10*time.Minute - 200*time.Microsecond}},
		{name: "duration shorter than one interval", rate: 1, duration: 10 * time.Millisecond, len: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Schedule{Rate: tt.rate, Duration: tt.duration}
			require.Equal(t, tt.len, s.Len())
			for i, want := range tt.at {
				assert.Equal(t, want, s.At(i), "At(%d)", i)
			}
			// Every offset is i/rate seconds, rounded down to the nanosecond,
			// inside the duration; the next one is not.
			for i := range min(s.Len(), 10000) {
				want := time.Duration(float64(i) * 1e9 / tt.rate)
				assert.InDelta(t, float64(want), float64(s.At(i)), 1, "At(%d)", i)
				require.Less(t, s.At(i), tt.duration)
			}
			assert.GreaterOrEqual(t, s.At(s.Len()), tt.duration)
		})
	}
}

// sleepTarget is a fake server: each call takes service(seq) unless
// ctx ends first.
func sleepTarget(service func(seq int) time.Duration) TargetFunc {
	return func(ctx context.Context, seq int) Outcome {
		select {
		case <-time.After(service(seq)):
			return Outcome{Code: CodeOK}
		case <-ctx.Done():
			return Outcome{Code: "DeadlineExceeded", Message: ctx.Err().Error()}
		}
	}
}

// TestEngineNoCoordinatedOmission runs the engine on a fake clock
// (synctest) against a server that stalls once: the requests queued behind
// the stall must carry the wait from their intended send time. A closed-model
// tool would time them from their actual start and report 1 ms.
func TestEngineNoCoordinatedOmission(t *testing.T) {
	const (
		rate    = 100 // every 10 ms
		stall   = 500 * time.Millisecond
		service = time.Millisecond
	)
	sched := Schedule{Rate: rate, Duration: 2 * time.Second}
	serviceOf := func(seq int) time.Duration {
		if seq == 0 {
			return stall
		}
		return service
	}

	// What must happen, worked out by hand: one slot, so request k starts
	// when it is due or when k-1 ends, whichever is later.
	want, wantLag := NewHistogram(), NewHistogram()
	var wantLate int64
	var prevEnd time.Duration
	for k := range sched.Len() {
		due := sched.At(k)
		start := max(due, prevEnd)
		if start > due {
			wantLate++
			require.NoError(t, wantLag.RecordValue(Micros(start-due)))
		}
		prevEnd = start + serviceOf(k)
		require.NoError(t, want.RecordValue(Micros(prevEnd-due)))
	}

	synctest.Test(t, func(t *testing.T) {
		rec := NewRecorder()
		e := &Engine{Schedule: sched, MaxInflight: 1, Timeout: 10 * time.Second, Drain: 10 * time.Second,
			Target: sleepTarget(serviceOf), Recorder: rec}
		info := e.Run(t.Context())
		require.False(t, info.Interrupted)
		require.False(t, info.HardStopped)
		sum := rec.Summary(info)

		assert.Equal(t, int64(200), sum.Totals.Completed)
		assert.Equal(t, int64(0), sum.Totals.Errors)
		assert.Equal(t, wantLate, sum.Totals.LateStarts, "requests that waited for the slot")
		assert.Equal(t, wantLate, sum.Totals.CapHits)
		// How late they started: the generator's own delay, reported apart.
		assert.Equal(t, Millis(wantLag.ValueAtQuantile(50)), sum.Totals.LateStartLag.P50)
		assert.Equal(t, min(Millis(wantLag.ValueAtQuantile(99)), sum.Totals.MaxStartLag), sum.Totals.LateStartLag.P99)
		assert.InDelta(t, wantLag.Mean()/1000, sum.Totals.LateStartLag.Mean, 0.001)
		assert.Equal(t, 490.0, sum.Totals.MaxStartLag, "request 1 was due at 10 ms and started at 500 ms")
		for _, q := range []float64{50, 90, 99, 99.9} {
			// HDR's bucket tops, capped at the exact maximum.
			assert.Equal(t, min(Millis(want.ValueAtQuantile(q)), 500), msOf(sum, q), "p%v", q)
		}
		assert.Equal(t, 500.0, sum.Latency.Max, "the stalled request itself")
		// The figures a coordinated-omission tool would get wrong.
		assert.GreaterOrEqual(t, sum.Latency.P99, 480.0, "p99 includes the queueing behind the stall")
		assert.GreaterOrEqual(t, sum.Latency.P90, 300.0)
		// The stall is charted in the second the queued requests were due.
		assert.GreaterOrEqual(t, sum.Timeline[0].P99, 480.0)
		assert.Equal(t, 1.0, sum.Timeline[1].P99, "the second after the stall is back to the service time")
		assert.Equal(t, int64(100), sum.Timeline[0].Count)
		assert.InDelta(t, 100, sum.Totals.AchievedRate, 1)
	})
}

func msOf(s Summary, q float64) float64 {
	switch q {
	case 50:
		return s.Latency.P50
	case 90:
		return s.Latency.P90
	case 99:
		return s.Latency.P99
	}
	return s.Latency.P999
}

// TestEngineHardStop: a server that never answers cannot hold the run
// past duration + drain, and the requests that never got a slot are counted
// as NotSent with the wait they suffered, not left out.
func TestEngineHardStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := NewRecorder()
		e := &Engine{
			Schedule:    Schedule{Rate: 10, Duration: time.Second},
			MaxInflight: 1, Timeout: 2 * time.Second, Drain: 2 * time.Second,
			Target:   sleepTarget(func(int) time.Duration { return time.Hour }),
			Recorder: rec,
		}
		start := time.Now()
		info := e.Run(t.Context())
		assert.Equal(t, 3*time.Second, time.Since(start), "duration + drain")
		assert.True(t, info.HardStopped)

		sum := rec.Summary(info)
		assert.Equal(t, int64(10), sum.Totals.Completed)
		assert.Equal(t, int64(10), sum.Totals.Errors)
		assert.Equal(t, []ErrorCount{
			{Code: CodeNotSent, Count: 8, Example: "still waiting for a free slot at the hard stop (duration + timeout)"},
			{Code: "DeadlineExceeded", Count: 2, Example: "context deadline exceeded"},
		}, sum.Errors)
		// Request 0 timed out at 2 s; request 1, due at 0.1 s, got the slot
		// then and was cut at the hard stop.
		assert.Equal(t, 2900.0, sum.Latency.Max)
		assert.GreaterOrEqual(t, sum.Latency.P50, 2000.0)
	})
}

func TestEngineInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 450*time.Millisecond)
		defer cancel()
		rec := NewRecorder()
		var calls atomic.Int64
		e := &Engine{
			Schedule: Schedule{Rate: 10, Duration: 10 * time.Second}, MaxInflight: 5,
			Timeout: time.Second, Drain: time.Second, Recorder: rec,
			Target: TargetFunc(func(context.Context, int) Outcome { calls.Add(1); return Outcome{Code: CodeOK} }),
		}
		info := e.Run(ctx)
		assert.True(t, info.Interrupted)
		assert.Equal(t, int64(5), calls.Load(), "due at 0, 100, 200, 300 and 400 ms")
		assert.Equal(t, int64(5), rec.Summary(info).Totals.Completed)
	})
}

func TestProgressPlainLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		rec := NewRecorder()
		rec.Begin(time.Now(), Schedule{Rate: 10, Duration: 5 * time.Second})
		rec.Sent(time.Now(), 0, false)
		rec.Sent(time.Now(), 0, false)
		rec.Record(0, 4*time.Millisecond, Outcome{Code: CodeOK})

		p := NewProgress(&out, 5*time.Second, 50)
		require.False(t, p.TTY, "a buffer is not a terminal")
		ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
		defer cancel()
		go p.Run(ctx, rec)
		p.Wait(true)

		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		require.Len(t, lines, 2, "one line a second: %q", out.String())
		assert.NotContains(t, out.String(), "\r", "no carriage returns outside a terminal")
		assert.Equal(t, "load    1s/5s  sent 2/50  done 1  in flight 1  errors 0  p99 (last 1s) 4.00ms", lines[0])
		assert.Contains(t, lines[1], "p99 (last 1s) -", "nothing ended in the second window")
	})
}

// The setup waits out the user service's login limits as the server asks
// (RetryInfo), and gives up on any other error at once.
func TestPastLimits(t *testing.T) {
	limited, err := status.New(codes.ResourceExhausted, "too many attempts").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(30 * time.Millisecond)})
	require.NoError(t, err)
	calls := 0
	start := time.Now()
	err = pastLimits(t.Context(), func() error {
		if calls++; calls < 3 {
			return limited.Err()
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
	assert.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond, "it waited the RetryInfo delay each time")

	calls = 0
	err = pastLimits(t.Context(), func() error { calls++; return status.Error(codes.InvalidArgument, "bad") })
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	assert.Equal(t, 1, calls, "no retry of other errors")
}
