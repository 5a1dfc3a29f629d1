package client_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"

	"github.com/slipway-dev/slipway/platform/client"
)

// A dashboard of retries and breakers shows zeros from the first scrape,
// not "no data" until the first failure.
func TestDialDeclaresThePeersSeriesAtZero(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	dial(t, "127.0.0.1:1", client.WithMetrics(reg), client.WithRetry(methodCheck))
	dial(t, "127.0.0.1:2", client.WithMetrics(reg))

	for _, peer := range []string{"127.0.0.1:1", "127.0.0.1:2"} {
		assert.Equal(t, 0.0, sample(t, reg, "slipway_client_circuit_state", map[string]string{"peer": peer}), "closed")
		assert.Equal(t, 0.0, sample(t, reg, "slipway_client_circuit_rejected_total", map[string]string{"peer": peer}))
	}
	for _, code := range []string{"Unavailable", "ResourceExhausted"} {
		assert.Equal(t, 0.0, sample(t, reg, "slipway_client_retries_total",
			map[string]string{"peer": "127.0.0.1:1", "method": methodCheck, "code": code}))
	}
	assert.Equal(t, -1.0, sample(t, reg, "slipway_client_retries_total", map[string]string{"peer": "127.0.0.1:2"}),
		"a connection that retries nothing has no retry series")
	assert.Equal(t, -1.0, sample(t, reg, "slipway_client_retries_total", map[string]string{"code": "Internal"}),
		"only codes that are retried")
}
