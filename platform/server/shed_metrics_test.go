package server_test

import (
	"net/http"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A dashboard of shed calls shows zeros from the first scrape, not "no
// data" until the first overload: every method that can be shed has its
// series at 0 before any call; health checks, never shed, have none.
func TestShedCountersStartAtZeroForEveryMethod(t *testing.T) {
	h := start(t, nil)
	resp, err := http.Get(h.baseURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)

	shed := map[string]float64{}
	for _, m := range families["slipway_rpc_shed_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "method" {
				shed[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	value, ok := shed["/slipway.inventory.v1.InventoryService/GetProduct"]
	require.True(t, ok, "no series for GetProduct before any call: %v", shed)
	assert.Zero(t, value)
	for method := range shed {
		assert.NotContains(t, method, "grpc.health.v1.Health", "health checks are never shed")
	}
}
