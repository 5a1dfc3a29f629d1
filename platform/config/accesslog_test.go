package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
)

func TestAccessLog(t *testing.T) {
	var b config.Base
	b.SetDefaults("user", 50051, 8081)
	assert.Equal(t, config.AccessLog{AccessLogSample: 1, AccessLogSlow: 250 * time.Millisecond}, b.AccessLog,
		"by default every call is written")

	env := map[string]string{"ACCESS_LOG_SAMPLE": "0.05", "ACCESS_LOG_SLOW": "80ms"}
	require.NoError(t, config.Load(&b, "", func(k string) string { return env[k] }))
	assert.Equal(t, config.AccessLog{AccessLogSample: 0.05, AccessLogSlow: 80 * time.Millisecond}, b.AccessLog)

	env["ACCESS_LOG_SAMPLE"] = "0"
	require.NoError(t, config.Load(&b, "", func(k string) string { return env[k] }), "0 writes only failed and slow calls")
}

func TestAccessLogRefused(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"sample above 1", map[string]string{"ACCESS_LOG_SAMPLE": "1.5"},
			`config: ACCESS_LOG_SAMPLE="1.5": want a fraction from 0 to 1 (1 writes every call, 0.1 about one in ten)`},
		{"negative sample", map[string]string{"ACCESS_LOG_SAMPLE": "-0.1"},
			`config: ACCESS_LOG_SAMPLE="-0.1": want a fraction from 0 to 1`},
		{"NaN sample", map[string]string{"ACCESS_LOG_SAMPLE": "NaN"},
			`config: ACCESS_LOG_SAMPLE="NaN": want a fraction from 0 to 1`},
		{"sample not a number", map[string]string{"ACCESS_LOG_SAMPLE": "1/100"},
			`config: ACCESS_LOG_SAMPLE="1/100"`},
		{"zero slow", map[string]string{"ACCESS_LOG_SLOW": "0s"},
			`config: ACCESS_LOG_SLOW="0s": must be greater than 0`},
		{"negative slow", map[string]string{"ACCESS_LOG_SLOW": "-1s"},
			`config: ACCESS_LOG_SLOW="-1s": must be greater than 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b config.Base
			b.SetDefaults("user", 50051, 8081)
			err := config.Load(&b, "", func(k string) string { return tt.env[k] })
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
