package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/slipway-dev/slipway/platform/config"
)

func TestStreamLimits(t *testing.T) {
	var b config.Base
	b.SetDefaults("user", 50051, 8081)
	assert.Equal(t, 256, b.Streams.GRPCMaxWatchStreams)

	for _, v := range []int{0, -1} {
		b.Streams.GRPCMaxWatchStreams = v
		err := b.Validate()
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), "GRPC_MAX_WATCH_STREAMS=")
			assert.Contains(t, err.Error(), "must be greater than 0")
		}
	}
}
