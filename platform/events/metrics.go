package events

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is the wait before retry number failures (1, 2, ...): it doubles
// from lo up to hi, with "equal jitter" (half fixed, half random) so that
// instances that failed together do not retry together.
func backoff(failures int, lo, hi time.Duration) time.Duration {
	d := hi
	if shift := failures - 1; shift < 30 {
		d = min(lo<<max(shift, 0), hi)
	}
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2) //nolint:gosec // retry jitter needs no cryptographic randomness
}

// sleep waits for d, or until wake has a value (when wake is not nil), or
// until ctx is done; it reports false in the last case.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

// stopped reports whether ctx is done: Run methods then return nil, whatever
// the interrupted step returned.
func stopped(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}
