package cost

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testPrices is testdata/prices.yaml: one cloud, "test", on-demand 0.04 a
// vCPU-hour and 0.005 a GiB-hour, spot 0.01 and 0.001, 730 hours a month.
func testPrices(t *testing.T) *Prices {
	t.Helper()
	p, err := LoadPrices(filepath.Join("testdata", "prices.yaml"))
	require.NoError(t, err)
	return p
}

func fixtureOverlay(t *testing.T) *Overlay {
	t.Helper()
	o, err := RenderOverlay(filepath.Join("testdata", "overlays", "fixture"))
	require.NoError(t, err)
	return o
}

// The fixture priced by hand:
//
//	api     2 pods x (0.6 x 0.04 + 1.125 x 0.005) = 2 x 0.029625 an hour, x 730 = 43.2525 on-demand
//	        2 pods x (0.6 x 0.01 + 1.125 x 0.001) = 2 x 0.007125 an hour, x 730 = 10.4025 spot
//	worker  1-4 pods x (1 x 0.04 + 0.5 x 0.005) = 0.0425 an hour: 31.025-124.1 on-demand
//	        1-4 pods x (1 x 0.01 + 0.5 x 0.001) = 0.0105 an hour: 7.665-30.66 spot
//	batch   0 pods: nothing
func TestMonthlyCostByHand(t *testing.T) {
	got := MonthlyCost(fixtureOverlay(t), testPrices(t), []string{"test"})
	want := []struct {
		service                                   string
		odMin, odMax, spotMin, spotMax, savingPct float64
	}{
		{"api", 43.2525, 43.2525, 10.4025, 10.4025, 100 * (1 - 0.007125/0.029625)},
		{"worker", 31.025, 124.1, 7.665, 30.66, 100 * (1 - 0.0105/0.0425)},
		{"batch", 0, 0, 0, 0, 0},
	}
	require.Len(t, got.Services, len(want))
	for i, w := range want {
		t.Run(w.service, func(t *testing.T) {
			s := got.Services[i]
			assert.Equal(t, w.service, s.Service)
			require.Len(t, s.Monthly, 1)
			c := s.Monthly[0]
			assert.Equal(t, "test", c.Cloud)
			assert.InDelta(t, w.odMin, c.OnDemandMin, 1e-9)
			assert.InDelta(t, w.odMax, c.OnDemandMax, 1e-9)
			assert.InDelta(t, w.spotMin, c.SpotMin, 1e-9)
			assert.InDelta(t, w.spotMax, c.SpotMax, 1e-9)
			assert.InDelta(t, w.odMax-w.spotMax, c.SavingMax, 1e-9)
			assert.InDelta(t, w.savingPct, c.SavingPct, 1e-9)
		})
	}
	require.Len(t, got.Total, 1)
	total := got.Total[0]
	assert.InDelta(t, 74.2775, total.OnDemandMin, 1e-9)
	assert.InDelta(t, 167.3525, total.OnDemandMax, 1e-9)
	assert.InDelta(t, 18.0675, total.SpotMin, 1e-9)
	assert.InDelta(t, 41.0625, total.SpotMax, 1e-9)
	assert.InDelta(t, 56.21, total.SavingMin, 1e-9)
	assert.InDelta(t, 126.29, total.SavingMax, 1e-9)
}

// fixtureMeasurement is testdata/load-report.json: an hour, 2,000 orders;
// api 0.5 cores and 2 GiB, worker 2 cores and 0.25 GiB, and ghost, which
// the fixture overlay does not run, 0.01 cores and 0.1 GiB.
func fixtureMeasurement() Measurement {
	return Measurement{Seconds: 3600, Orders: 2000, Services: []Usage{
		{Service: "api", CPUSeconds: 1800, MemGiB: 2},
		{Service: "worker", CPUSeconds: 7200, MemGiB: 0.25},
		{Service: "ghost", CPUSeconds: 36, MemGiB: 0.1},
	}}
}

func TestAllocationsByHand(t *testing.T) {
	m := fixtureMeasurement()
	measured := m.Measured()
	assert.InDelta(t, 2.51, measured.CPUHours, 1e-9, "(1800 + 7200 + 36) / 3600")
	assert.InDelta(t, 2.35, measured.GiBHours, 1e-9, "(2 + 0.25 + 0.1) x 1 h")

	// max(request x min replicas, usage) per service and resource:
	//   api    CPU max(0.6 x 2, 0.5) = 1.2    memory max(1.125 x 2, 2) = 2.25
	//   worker CPU max(1 x 1, 2) = 2          memory max(0.5, 0.25) = 0.5
	//   batch  0 replicas, unused: 0
	//   ghost  not in the overlay: its usage, 0.01 and 0.1
	atReq := m.AtRequests(fixtureOverlay(t))
	assert.InDelta(t, 3.21, atReq.CPUHours, 1e-9)
	assert.InDelta(t, 2.85, atReq.GiBHours, 1e-9)

	t.Run("a service the overlay runs but the measurement missed is charged its requests", func(t *testing.T) {
		m := Measurement{Seconds: 1800, Orders: 1}
		a := m.AtRequests(fixtureOverlay(t))
		assert.InDelta(t, (1.2+1)*0.5, a.CPUHours, 1e-9)
		assert.InDelta(t, (2.25+0.5)*0.5, a.GiBHours, 1e-9)
	})

	per := PerThousandOrders(measured, atReq, m.Orders, testPrices(t), []string{"test"})
	require.Len(t, per, 1)
	// (2.51 x 0.04 + 2.35 x 0.005) / 2000 x 1000, and so on.
	assert.InDelta(t, 0.056075, per[0].MeasuredOnDemand, 1e-12)
	assert.InDelta(t, 0.013725, per[0].MeasuredSpot, 1e-12)
	assert.InDelta(t, 0.071325, per[0].RequestsOnDemand, 1e-12)
	assert.InDelta(t, 0.017475, per[0].RequestsSpot, 1e-12)
}
