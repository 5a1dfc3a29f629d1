package client

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestBreakerCountsAttemptsWhenTheyEnd: 40 attempts that all hang and then
// fail open the circuit whether they hang 3 s or 15 s, longer than the 10 s
// window: an outcome is filed when the attempt ends, not in the bucket of
// the second it started, which has left the window by then.
func TestBreakerCountsAttemptsWhenTheyEnd(t *testing.T) {
	t.Parallel()
	for _, hang := range []time.Duration{3 * time.Second, 15 * time.Second, time.Minute} {
		t.Run(hang.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var state gobreaker.State
				b := newBreaker("slow", func(s gobreaker.State) { state = s })
				var wg sync.WaitGroup
				for range 40 {
					done, err := b.allow()
					if !assert.NoError(t, err) {
						return
					}
					wg.Go(func() {
						time.Sleep(hang)
						done(status.Error(codes.DeadlineExceeded, "peer hung"))
					})
				}
				wg.Wait()
				assert.Equal(t, gobreaker.StateOpen, state)
				_, err := b.allow()
				var open *openCircuitError
				assert.ErrorAs(t, err, &open, "an open circuit fails fast")
			})
		})
	}
}

// TestBreakerIgnoresAttemptsFromAnEarlierState: an attempt admitted while
// the circuit was closed and ending after it half-opened is not the probe:
// its failure neither reopens the circuit nor takes the probe's slot.
func TestBreakerIgnoresAttemptsFromAnEarlierState(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker("stale", nil)
		stale, err := b.allow()
		assert.NoError(t, err)
		for range breakerMinAttempts {
			done, err := b.allow()
			assert.NoError(t, err)
			done(status.Error(codes.Unavailable, "down"))
		}
		assert.Equal(t, gobreaker.StateOpen, b.cb.State())
		time.Sleep(breakerOpenFor + time.Nanosecond)

		probe, err := b.allow()
		assert.NoError(t, err, "half-open: one probe goes through")
		_, err = b.allow()
		assert.Error(t, err, "half-open with the probe out: fail fast")
		stale(status.Error(codes.Unavailable, "late"))
		assert.Equal(t, gobreaker.StateHalfOpen, b.cb.State(), "the stale failure decides nothing")
		probe(nil)
		assert.Equal(t, gobreaker.StateClosed, b.cb.State(), "the probe's success closes the circuit")
	})
}
