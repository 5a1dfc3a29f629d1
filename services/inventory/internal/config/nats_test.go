package config_test

import (
	"testing"

	"github.com/slipway-dev/slipway/platform/config/configtest"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/services/inventory/internal/config"
)

func TestConsumerSettings(t *testing.T) {
	configtest.ConsumerSettings(t, "inventory", func(getenv func(string) string) (events.ConsumerSettings, error) {
		c, err := config.Load("", getenv)
		if err != nil {
			return events.ConsumerSettings{}, err
		}
		return c.ConsumerSettings, nil
	})
}
