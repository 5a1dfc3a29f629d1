package sandbox

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLatencyDrawsHitTheirMedianAndP99(t *testing.T) {
	tests := []Latency{
		DefaultLatency,
		{Median: 5 * time.Millisecond, P99: 200 * time.Millisecond},
		{Median: 30 * time.Millisecond, P99: 30 * time.Millisecond},
	}
	for _, l := range tests {
		t.Run(l.Median.String()+"/"+l.P99.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			const n = 20000
			draws := make([]time.Duration, n)
			for i := range draws {
				draws[i] = l.sample(rng)
			}
			slices.Sort(draws)
			median, p99 := draws[n/2], draws[n*99/100]
			assert.InEpsilon(t, float64(l.Median), float64(median), 0.05, "median %s", median)
			assert.InEpsilon(t, float64(l.P99), float64(p99), 0.10, "p99 %s", p99)
			assert.LessOrEqual(t, draws[n-1], maxTailFactor*l.P99, "the tail is bounded")
		})
	}
}

func TestDefaultLatencyMostlyFallsBetween20And80ms(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 10000
	in := 0
	for range n {
		if d := DefaultLatency.sample(rng); d >= 20*time.Millisecond && d <= 80*time.Millisecond {
			in++
		}
	}
	assert.Greater(t, float64(in)/n, 0.97)
}

func TestZeroLatencyAnswersAtOnce(t *testing.T) {
	assert.Zero(t, Latency{}.sample(rand.New(rand.NewPCG(1, 1))))
}
