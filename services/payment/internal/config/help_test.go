package config_test

import (
	"testing"

	"github.com/slipway-dev/slipway/platform/config/configtest"
	"github.com/slipway-dev/slipway/services/payment/internal/config"
)

func TestEveryEnvVariableHasHelp(t *testing.T) {
	configtest.EveryEnvVarHasHelp(t, config.Default())
}
