package load

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
)

func TestGateOf(t *testing.T) {
	g, err := gateOf(nil, loadgen.Totals{ErrorRate: 1})
	assert.Nil(t, g, "no --max-error-rate: no gate")
	assert.NoError(t, err)

	limit := 0.01
	g, err = gateOf(&limit, loadgen.Totals{ErrorRate: 0.01, Errors: 1, Completed: 100})
	require.NotNil(t, g)
	assert.True(t, g.Passed, "the limit itself passes")
	assert.NoError(t, err)

	g, err = gateOf(&limit, loadgen.Totals{ErrorRate: 0.02, Errors: 2, Completed: 100})
	require.NotNil(t, g)
	assert.False(t, g.Passed)
	assert.Equal(t, 0.01, g.MaxErrorRate)
	assert.EqualError(t, err, "error rate 2.00% (2 of 100) is above --max-error-rate 1.00%")
}
