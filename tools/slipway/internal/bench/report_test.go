package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReloadToolSummarize(t *testing.T) {
	tool := reloadTool{Samples: []reloadSample{
		{TotalMS: 900, BuildMS: 600, StopMS: 20, ReadyMS: 100},
		{TotalMS: 700, BuildMS: 500, StopMS: 10, ReadyMS: 80},
		{TotalMS: 1200, BuildMS: 800, StopMS: 30, ReadyMS: 120},
	}}
	tool.summarize()
	assert.InDelta(t, 900, tool.MedianMS, 0.01)
	assert.InDelta(t, 700, tool.MinMS, 0.01)
	assert.InDelta(t, 1200, tool.MaxMS, 0.01)
	assert.InDelta(t, 600, tool.BuildMedianMS, 0.01)
	assert.InDelta(t, 20, tool.StopMedianMS, 0.01)
	assert.InDelta(t, 100, tool.ReadyMedianMS, 0.01)

	empty := reloadTool{Tool: "air"}
	empty.summarize()
	assert.Zero(t, empty.MedianMS, "no samples, no summary")
}

// The reload table compares the tools, names a failed one, and judges
// slipway dev's median against the goals.
func TestReloadTable(t *testing.T) {
	rep := reloadReport{Service: "inventory", Change: "handler.go", Call: "GET /v1/products/x", Tools: []reloadTool{
		{Tool: "slipway dev", Setup: "debounce 100ms", Samples: make([]reloadSample, 3), MedianMS: 800, MinMS: 700, MaxMS: 950, BuildMedianMS: 600, StopMedianMS: 15, ReadyMedianMS: 90},
		{Tool: "air v1.62.0", Setup: "delay 100ms", Samples: make([]reloadSample, 3), MedianMS: 2000, MinMS: 1800, MaxMS: 2500, BuildMedianMS: 1500, ReadyMedianMS: 300},
	}}
	table := reloadTable(rep)
	assert.Regexp(t, `slipway dev\s+3\s+0\.80s\s+0\.70s\s+0\.95s\s+0\.60s\s+0\.01s\s+0\.09s`, table)
	assert.Regexp(t, `air v1\.62\.0\s+3\s+2\.00s\s+1\.80s\s+2\.50s\s+1\.50s\s+-\s+0\.30s`, table, "air has no stop of its own")
	assert.Contains(t, table, "air v1.62.0 takes 2.50x the time of slipway dev (medians)")
	assert.Contains(t, table, "goal: median <= 1.00s (seed asks <= 10.00s); slipway dev: 0.80s, target met")
	assert.NotContains(t, table, "failed")

	rep.Tools[0].MedianMS = 1500
	rep.Tools[1] = reloadTool{Tool: "air v1.62.0", Error: "edit 1: did not show the change"}
	table = reloadTable(rep)
	assert.Regexp(t, `air v1\.62\.0\s+0\s+-\s+-`, table)
	assert.Contains(t, table, "air v1.62.0 failed: edit 1: did not show the change")
	assert.NotContains(t, table, "takes", "no comparison with a tool that measured nothing")
	assert.Contains(t, table, "slipway dev: 1.50s, seed goal met, target missed")
}

func TestStartupTable(t *testing.T) {
	rep := startupReport{Transports: []string{"plaintext", "tls"}, Skipped: []string{"postgres: --no-postgres"}, Results: []startupResult{
		{Service: "user", Database: "sqlite", Transport: "plaintext", Samples: []float64{90, 80}, MedianMS: 85, MinMS: 80, P90MS: 90, MaxMS: 90, FirstMS: 90, SelfMedianMS: 70, IdleRSSMB: 30.5, IdleAnonMB: 12.25, IdleSeconds: 2},
		{Service: "user", Database: "sqlite", Transport: "tls", Samples: []float64{400, 380}, MedianMS: 390, MinMS: 380, P90MS: 400, MaxMS: 400, FirstMS: 400, SelfMedianMS: 360, VsPlaintext: 4.588},
	}}
	table := startupTable(rep)
	assert.Regexp(t, `user\s+sqlite\s+plaintext\s+2\s+85\.0ms\s+80\.0ms\s+90\.0ms\s+90\.0ms\s+90\.0ms\s+70\.0ms\s+30\.5MB\s+12\.2MB\s+-`, table)
	assert.Contains(t, table, "IDLE RSS: VmRSS of the last start after 2s SERVING")
	assert.Contains(t, table, "transports interleaved start by start")
	assert.Contains(t, table, "skipped: postgres: --no-postgres")
	assert.Contains(t, table, "slowest median: user on sqlite over tls, 390.0ms: seed goal met, target missed")

	quiet := startupTable(startupReport{Transports: []string{"plaintext"}})
	assert.NotContains(t, quiet, "goal:", "no result, no verdict")
	assert.NotContains(t, quiet, "IDLE RSS:")
	assert.NotContains(t, quiet, "interleaved")
}

func TestMbText(t *testing.T) {
	assert.Equal(t, "-", mbText(0))
	assert.Equal(t, "12.5MB", mbText(12.5))
	require.Equal(t, 1.0, mbFloat(1<<20))
	assert.Equal(t, 0.5, mbFloat(1<<19))
}
