package client

import (
	"context"
	"time"
)

// WithJitter sets the backoff's random draw in [0, 1).
func WithJitter(f func() float64) Option { return func(o *options) { o.jitter = f } }

// WithSleep replaces the wait between attempts.
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(o *options) { o.sleep = f }
}
