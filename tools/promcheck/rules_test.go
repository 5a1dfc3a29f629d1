package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeRules(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "r.yml")
	require.NoError(t, os.WriteFile(f, []byte(body), 0o600))
	return f
}

func TestReadRules(t *testing.T) {
	f := writeRules(t, `
groups:
  - name: g
    rules:
      - record: slipway:x:rate5m
        expr: sum(rate(x[5m]))
      - alert: XHigh
        expr: slipway:x:rate5m > 1
        for: 5m
`)
	rules, err := ReadRules(f)
	require.NoError(t, err)
	require.Len(t, rules, 2)
	assert.Equal(t, "slipway:x:rate5m", rules[0].Name())
	assert.Equal(t, "g", rules[0].Group)
	assert.Equal(t, "XHigh", rules[1].Name())
	assert.Equal(t, f, rules[1].File)
}

func TestReadRulesRejectsMalformedRules(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"both record and alert", "groups: [{name: g, rules: [{record: a, alert: b, expr: up}]}]", "exactly one of record and alert"},
		{"neither", "groups: [{name: g, rules: [{expr: up}]}]", "exactly one of record and alert"},
		{"no expr", "groups: [{name: g, rules: [{record: a}]}]", "no expr"},
		{"not YAML", "groups: [", "r.yml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadRules(writeRules(t, tt.body))
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestHistoryNeeded(t *testing.T) {
	tests := []struct {
		expr    string
		want    time.Duration
		wantErr bool
	}{
		{"up", 0, false},
		{"rate(x[5m]) / rate(x[3d])", 0, false},
		{"max_over_time(rate(x[1m])[3d:5m])", 0, false},
		{"x offset 1d - x", 24 * time.Hour, false},
		{"rate(x[5m] offset 1h) / rate(x[5m] offset 30m)", time.Hour, false},
		{"rate(x[5m] offset 5q)", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := HistoryNeeded(tt.expr)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
