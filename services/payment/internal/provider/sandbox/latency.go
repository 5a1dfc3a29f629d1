package sandbox

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Latency is how long the sandbox takes to answer: log-normally distributed
// (the shape of real network and service latency) with the given median
// and 99th percentile. The zero Latency answers at once; P99 equal to
// Median is a constant latency.
type Latency struct {
	Median time.Duration
	P99    time.Duration
}

// DefaultLatency is a nearby PSP's: a median of 40 ms and a p99 of 80 ms,
// so that most calls take between 20 and 80 ms.
var DefaultLatency = Latency{Median: 40 * time.Millisecond, P99: 80 * time.Millisecond}

// z99 is the standard normal's 99th percentile.
const z99 = 2.326347874

// maxTailFactor bounds a draw to this many p99s, so that one draw from the
// far tail cannot stall a test or a chaos run.
const maxTailFactor = 4

func (l Latency) validate() error {
	if l.Median < 0 || l.P99 < l.Median {
		return fmt.Errorf("sandbox: latency needs 0 <= median <= p99, got median %s, p99 %s", l.Median, l.P99)
	}
	return nil
}

// sample draws one latency with rng.
func (l Latency) sample(rng *rand.Rand) time.Duration {
	if l.Median <= 0 {
		return 0
	}
	sigma := math.Log(float64(l.P99)/float64(l.Median)) / z99
	d := time.Duration(float64(l.Median) * math.Exp(sigma*rng.NormFloat64()))
	return min(d, maxTailFactor*l.P99)
}

// sleep waits d, or until ctx ends; it reports whether it waited all of d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
