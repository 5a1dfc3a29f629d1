package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
)

func TestDBPoolDefaults(t *testing.T) {
	var b config.Base
	b.SetDefaults("order", 50052, 8082)
	assert.Equal(t, config.DBPool{
		MaxConns:         10,
		MinConns:         0,
		MaxConnLifetime:  30 * time.Minute,
		MaxConnIdleTime:  5 * time.Minute,
		StatementTimeout: 5 * time.Second,
	}, b.DB)
	assert.Less(t, b.DB.StatementTimeout, b.RPCTimeout, "the database cancels a runaway statement before the client gives up")
}

func TestDBPoolFromEnvironment(t *testing.T) {
	var b config.Base
	b.SetDefaults("order", 50052, 8082)
	env := map[string]string{
		"DB_MAX_CONNS": "4", "DB_MIN_CONNS": "2", "DB_MAX_CONN_LIFETIME": "1h",
		"DB_MAX_CONN_IDLE_TIME": "30s", "DB_STATEMENT_TIMEOUT": "0",
	}
	require.NoError(t, config.Load(&b, "", func(k string) string { return env[k] }))
	assert.Equal(t, config.DBPool{MaxConns: 4, MinConns: 2, MaxConnLifetime: time.Hour, MaxConnIdleTime: 30 * time.Second}, b.DB)
}

func TestDBPoolValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(p *config.DBPool)
		wantErr []string
	}{
		{name: "everything off", mutate: func(p *config.DBPool) { p.MaxConnLifetime, p.MaxConnIdleTime, p.StatementTimeout = 0, 0, 0 }},
		{name: "min equals max", mutate: func(p *config.DBPool) { p.MinConns = p.MaxConns }},
		{name: "no connections", mutate: func(p *config.DBPool) { p.MaxConns = 0 },
			wantErr: []string{`config: DB_MAX_CONNS="0": must be at least 1`}},
		{name: "min above max", mutate: func(p *config.DBPool) { p.MinConns = 11 },
			wantErr: []string{`config: DB_MIN_CONNS="11": must be from 0 to DB_MAX_CONNS (10)`}},
		{name: "negative min", mutate: func(p *config.DBPool) { p.MinConns = -1 },
			wantErr: []string{`config: DB_MIN_CONNS="-1": must be from 0 to DB_MAX_CONNS (10)`}},
		{name: "negative durations", mutate: func(p *config.DBPool) {
			p.MaxConnLifetime, p.MaxConnIdleTime, p.StatementTimeout = -1, -time.Second, -time.Minute
		},
			wantErr: []string{
				`config: DB_MAX_CONN_LIFETIME="-1ns": must not be negative (0 turns it off)`,
				`config: DB_MAX_CONN_IDLE_TIME="-1s": must not be negative (0 turns it off)`,
				`config: DB_STATEMENT_TIMEOUT="-1m0s": must not be negative (0 turns it off)`,
			}},
		{name: "sub-millisecond statement timeout", mutate: func(p *config.DBPool) { p.StatementTimeout = 500 * time.Microsecond },
			wantErr: []string{`config: DB_STATEMENT_TIMEOUT="500µs": must be at least 1ms (PostgreSQL counts milliseconds), or 0 to turn it off`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b config.Base
			b.SetDefaults("order", 50052, 8082)
			tt.mutate(&b.DB)
			err := b.Validate()
			if len(tt.wantErr) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}
