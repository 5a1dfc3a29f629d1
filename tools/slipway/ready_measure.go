package main

import (
	"context"
	"crypto/tls"
	"time"
)

// measureOptions say what measureScrape and measurePrometheus measure.
type measureOptions struct {
	Window     time.Duration // what the figures are measured over
	Timeout    time.Duration // per scrape or query
	Targets    []readyTarget // scrape mode: whose /metrics to read
	Prometheus string        // Prometheus mode: base URL of its HTTP API
	TLS        *tls.Config   // scrape mode: calls over https with this; nil is plaintext

	// Now stamps each scrape and Prometheus query; Wait spends the window
	// between the two scrapes.
	Now  func() time.Time
	Wait func(ctx context.Context, d time.Duration) error
}
