package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformconfig "github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/services/order/internal/config"
)

// TestEveryEnvVariableHasHelp keeps -help's DESCRIPTION column filled: every
// env-tagged field of the config, the service's own and the embedded ones,
// carries a help tag.
func TestEveryEnvVariableHasHelp(t *testing.T) {
	vars, err := platformconfig.EnvVars(config.Default())
	require.NoError(t, err)
	require.NotEmpty(t, vars)
	for _, v := range vars {
		assert.NotEmpty(t, v.Doc, "%s has no help tag", v.Name)
	}
}
