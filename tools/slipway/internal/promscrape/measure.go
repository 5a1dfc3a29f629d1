package promscrape

import (
	"context"
	"crypto/tls"
	"time"
)

// Options say what Measure and MeasurePrometheus measure.
type Options struct {
	Window     time.Duration // what the figures are measured over
	Timeout    time.Duration // per scrape or query
	Targets    []Target      // scrape mode: whose /metrics to read
	Prometheus string        // Prometheus mode: base URL of its HTTP API
	TLS        *tls.Config   // scrape mode: calls over https with this; nil is plaintext

	// Now stamps each scrape and Prometheus query; Wait spends the window
	// between the two scrapes.
	Now  func() time.Time
	Wait func(ctx context.Context, d time.Duration) error
}
