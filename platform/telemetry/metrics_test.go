package telemetry_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/telemetry"
)

func counter(help string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "slipway_test_total", Help: help}, []string{"k"})
}

func TestRegisterSharesTheCollectorAlreadyRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := telemetry.Register(reg, counter("one"))
	require.NoError(t, err)
	second, err := telemetry.Register(reg, counter("one"))
	require.NoError(t, err)

	second.WithLabelValues("a").Inc()
	assert.Same(t, first, second, "the second registration gets the first collector")
	assert.InDelta(t, 1, testutil.ToFloat64(first.WithLabelValues("a")), 0)
}

func TestRegisterRefusesAClashingDescriptor(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := telemetry.Register(reg, counter("one"))
	require.NoError(t, err)
	_, err = telemetry.Register(reg, counter("another help text"))
	assert.Error(t, err, "same name, different help: not the same metric")
}

func TestRegisterWithoutARegistryRegistersNothing(t *testing.T) {
	c := counter("one")
	got, err := telemetry.Register(nil, c)
	require.NoError(t, err)
	assert.Same(t, c, got)
}
