package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
)

func TestStreamLimits(t *testing.T) {
	var b config.Base
	b.SetDefaults("user", 50051, 8081)
	assert.Equal(t, 256, b.Streams.GRPCMaxWatchStreams)

	env := map[string]string{"GRPC_MAX_WATCH_STREAMS": "32"}
	require.NoError(t, config.Load(&b, "", func(k string) string { return env[k] }))
	assert.Equal(t, 32, b.Streams.GRPCMaxWatchStreams)

	for _, v := range []string{"0", "-1"} {
		env["GRPC_MAX_WATCH_STREAMS"] = v
		err := config.Load(&b, "", func(k string) string { return env[k] })
		require.Error(t, err)
		assert.Contains(t, err.Error(), `config: GRPC_MAX_WATCH_STREAMS="`+v+`": must be greater than 0`)
	}
}
