package envvar

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestChildEnv(t *testing.T) {
	defaults := []Var{
		{"DATABASE_URL", "sqlite:///ws/.slipway/data/inventory.db"},
		{"DRAIN_DELAY", "0s"},
	}
	fixed := []Var{{"GRPC_ADDR", "127.0.0.1:50053"}}

	tests := []struct {
		name   string
		parent []string
		want   map[string]string
	}{
		{
			name:   "dev defaults fill what the parent leaves unset",
			parent: []string{"PATH=/bin"},
			want: map[string]string{
				"PATH":         "/bin",
				"DATABASE_URL": "sqlite:///ws/.slipway/data/inventory.db",
				"DRAIN_DELAY":  "0s",
				"GRPC_ADDR":    "127.0.0.1:50053",
			},
		},
		{
			name:   "the parent overrides a dev default",
			parent: []string{"DATABASE_URL=postgres://dev@localhost/slipway"},
			want: map[string]string{
				"DATABASE_URL": "postgres://dev@localhost/slipway",
				"DRAIN_DELAY":  "0s",
			},
		},
		{
			name:   "an empty parent value counts as unset",
			parent: []string{"DRAIN_DELAY="},
			want:   map[string]string{"DRAIN_DELAY": "0s"},
		},
		{
			name:   "a service-scoped variable wins for its service",
			parent: []string{"DATABASE_URL=postgres://shared", "SLIPWAY_INVENTORY_DATABASE_URL=postgres://inventory", "SLIPWAY_INVENTORY_LOG_LEVEL=debug"},
			want: map[string]string{
				"DATABASE_URL": "postgres://inventory",
				"LOG_LEVEL":    "debug",
			},
		},
		{
			name:   "another service's scoped variable does not apply",
			parent: []string{"SLIPWAY_USER_DATABASE_URL=postgres://user", "SLIPWAY_USER_LOG_LEVEL=debug"},
			want: map[string]string{
				"DATABASE_URL": "sqlite:///ws/.slipway/data/inventory.db",
				"LOG_LEVEL":    "",
			},
		},
		{
			name:   "listen addresses always come from slipway",
			parent: []string{"GRPC_ADDR=:9999", "SLIPWAY_INVENTORY_GRPC_ADDR=:9998"},
			want:   map[string]string{"GRPC_ADDR": "127.0.0.1:50053"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := ForService(tt.parent, "inventory", defaults, fixed)
			for k, want := range tt.want {
				got, _ := Lookup(env, k)
				assert.Equal(t, want, got, k)
			}
			seen := map[string]bool{}
			for _, kv := range env {
				k, _, _ := strings.Cut(kv, "=")
				assert.False(t, seen[k], "%s appears once", k)
				seen[k] = true
			}
		})
	}
}

func TestChildEnvLeavesParentUntouched(t *testing.T) {
	parent := []string{"A=1", "DRAIN_DELAY=5s"}
	_ = ForService(parent, "user", []Var{{"DRAIN_DELAY", "0s"}}, []Var{{"A", "2"}})
	assert.Equal(t, []string{"A=1", "DRAIN_DELAY=5s"}, parent)
}

func TestLookupEnvLastWins(t *testing.T) {
	v, ok := Lookup([]string{"A=1", "B=x=y", "A=2"}, "A")
	assert.True(t, ok)
	assert.Equal(t, "2", v)
	v, ok = Lookup([]string{"B=x=y"}, "B")
	assert.True(t, ok)
	assert.Equal(t, "x=y", v)
	_, ok = Lookup([]string{"AB=1"}, "A")
	assert.False(t, ok)
}
