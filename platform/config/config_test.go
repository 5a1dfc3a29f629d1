package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
)

// testConfig has the shape of a service config: Base inline plus its own
// keys, a secret and a nested mapping.
type testConfig struct {
	config.Base `yaml:",inline"`
	APIKey      string   `yaml:"api_key" env:"API_KEY" secret:"true"`
	Ratio       float64  `yaml:"ratio" env:"RATIO"`
	Tags        []string `yaml:"tags" env:"TAGS"`
	Cache       struct {
		TTL  time.Duration `yaml:"ttl" env:"CACHE_TTL"`
		Size int           `yaml:"size"`
	} `yaml:"cache"`
}

func newTestConfig() *testConfig {
	c := &testConfig{Ratio: 0.5}
	c.SetDefaults("order", 50052, 8082)
	c.Cache.TTL = time.Minute
	c.Cache.Size = 100
	return c
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		check func(t *testing.T, c *testConfig)
	}{
		{
			name: "defaults when nothing is given",
			check: func(t *testing.T, c *testConfig) {
				assert.Equal(t, ":50052", c.GRPCAddr)
				assert.Equal(t, 5*time.Second, c.DrainDelay)
				assert.Equal(t, []string{"http://localhost:8080"}, c.CORSOrigins)
				assert.InDelta(t, 0.5, c.Ratio, 0)
				assert.Equal(t, time.Minute, c.Cache.TTL)
			},
		},
		{
			name: "file overrides defaults and keeps the rest",
			file: "grpc_addr: 127.0.0.1:9000\ndrain_delay: 1s\nratio: 0.25\ntags: [a, b]\ncache:\n  ttl: 2m\n",
			check: func(t *testing.T, c *testConfig) {
				assert.Equal(t, "127.0.0.1:9000", c.GRPCAddr)
				assert.Equal(t, time.Second, c.DrainDelay)
				assert.InDelta(t, 0.25, c.Ratio, 0)
				assert.Equal(t, []string{"a", "b"}, c.Tags)
				assert.Equal(t, 2*time.Minute, c.Cache.TTL)
				assert.Equal(t, 100, c.Cache.Size, "keys absent from the file keep their default")
				assert.Equal(t, ":8082", c.HTTPAddr)
			},
		},
		{
			name: "env overrides file",
			file: "grpc_addr: 127.0.0.1:9000\ndrain_delay: 1s\ncache:\n  ttl: 2m\n",
			env: map[string]string{
				"GRPC_ADDR":              "127.0.0.1:9001",
				"DRAIN_DELAY":            "0s",
				"CACHE_TTL":              "3m",
				"GRPC_MAX_MESSAGE_BYTES": "1024",
				"FAULTS_ENABLED":         "true",
			},
			check: func(t *testing.T, c *testConfig) {
				assert.Equal(t, "127.0.0.1:9001", c.GRPCAddr)
				assert.Equal(t, time.Duration(0), c.DrainDelay)
				assert.Equal(t, 3*time.Minute, c.Cache.TTL)
				assert.Equal(t, 1024, c.MaxMessageBytes)
				assert.True(t, c.FaultsEnabled)
			},
		},
		{
			name: "env list is comma separated",
			file: "cors_allowed_origins: [http://a.example]\n",
			env:  map[string]string{"CORS_ALLOWED_ORIGINS": "https://a.example, https://b.example:8443,", "TAGS": "x"},
			check: func(t *testing.T, c *testConfig) {
				assert.Equal(t, []string{"https://a.example", "https://b.example:8443"}, c.CORSOrigins)
				assert.Equal(t, []string{"x"}, c.Tags)
			},
		},
		{
			name: "empty env value counts as unset",
			file: "log_level: debug\n",
			env:  map[string]string{"LOG_LEVEL": ""},
			check: func(t *testing.T, c *testConfig) {
				assert.Equal(t, "debug", c.LogLevel)
			},
		},
		{
			name: "empty file keeps defaults",
			file: "# nothing set here\n",
			check: func(t *testing.T, c *testConfig) {
				assert.Equal(t, ":50052", c.GRPCAddr)
			},
		},
		{
			name: "null in file clears a value",
			file: "tags: ~\napi_key:\n",
			check: func(t *testing.T, c *testConfig) {
				assert.Empty(t, c.Tags)
				assert.Empty(t, c.APIKey)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestConfig()
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			require.NoError(t, config.Load(c, path, env(tt.env)))
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		wantErr string
		hidden  string // must not appear in the error
	}{
		{
			name:    "unknown key in file",
			file:    "grpc_adr: :1\n",
			wantErr: `config.yaml:1: unknown key "grpc_adr"`,
		},
		{
			name:    "unknown nested key in file",
			file:    "cache:\n  ttl: 1m\n  sise: 3\n",
			wantErr: `config.yaml:3: unknown key "cache.sise"`,
		},
		{
			name:    "repeated key in file",
			file:    "ratio: 1\nratio: 2\n",
			wantErr: `key "ratio" repeated (first on line 1)`,
		},
		{
			name:    "bad duration in env",
			env:     map[string]string{"DRAIN_DELAY": "abc"},
			wantErr: `config: DRAIN_DELAY="abc": not a duration`,
		},
		{
			name:    "bad duration in file names key, value and line",
			file:    "log_level: info\n\ndrain_delay: abc\n",
			wantErr: `config: drain_delay="abc" (`,
		},
		{
			name:    "bad nested value in file",
			file:    "cache:\n  size: lots\n",
			wantErr: `config: cache.size="lots"`,
		},
		{
			name:    "bad bool in env",
			env:     map[string]string{"FAULTS_ENABLED": "maybe"},
			wantErr: `config: FAULTS_ENABLED="maybe": not a bool`,
		},
		{
			name:    "bad int in env",
			env:     map[string]string{"GRPC_MAX_MESSAGE_BYTES": "4MB"},
			wantErr: `config: GRPC_MAX_MESSAGE_BYTES="4MB": not an integer`,
		},
		{
			name:    "bad float in env",
			env:     map[string]string{"RATIO": "half"},
			wantErr: `config: RATIO="half": not a number`,
		},
		{
			name:    "scalar where a list is wanted",
			file:    "tags: a\n",
			wantErr: `config: tags="a"`,
		},
		{
			name:    "mapping where a value is wanted",
			file:    "ratio:\n  a: 1\n",
			wantErr: `want a single value`,
		},
		{
			name:    "validation runs after loading",
			env:     map[string]string{"GRPC_ADDR": "nope"},
			wantErr: `config: GRPC_ADDR="nope": want host:port`,
		},
		{
			name:    "database password is masked in validation errors",
			env:     map[string]string{"DATABASE_URL": "mysql://root:hunter2@db/shop"},
			wantErr: `config: DATABASE_URL="mysql://root:xxxxx@db/shop"`,
			hidden:  "hunter2",
		},
		{
			name:    "malformed yaml",
			file:    "grpc_addr: [\n",
			wantErr: "config.yaml: yaml:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestConfig()
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			err := config.Load(c, path, env(tt.env))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			if tt.hidden != "" {
				assert.NotContains(t, err.Error(), tt.hidden)
			}
		})
	}

	t.Run("value errors are *config.Error", func(t *testing.T) {
		err := config.Load(newTestConfig(), "", env(map[string]string{"SHUTDOWN_TIMEOUT": "soon"}))
		var cerr *config.Error
		require.ErrorAs(t, err, &cerr)
		assert.Equal(t, config.Error{Key: "SHUTDOWN_TIMEOUT", Value: "soon", Reason: "not a duration"}, *cerr)
	})
	t.Run("secret is redacted in errors", func(t *testing.T) {
		var c struct {
			PIN int `yaml:"pin" env:"PIN" secret:"true"`
		}
		err := config.Load(&c, "", env(map[string]string{"PIN": "hunter2"}))
		require.Error(t, err)
		assert.Contains(t, err.Error(), `config: PIN="<secret>"`)
		assert.NotContains(t, err.Error(), "hunter2")

		err = config.Load(&c, writeFile(t, "pin: hunter2\n"), nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `config: pin="<secret>"`)
		assert.NotContains(t, err.Error(), "hunter2")
	})
	t.Run("missing file", func(t *testing.T) {
		err := config.Load(newTestConfig(), filepath.Join(t.TempDir(), "absent.yaml"), nil)
		require.Error(t, err)
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("not a pointer to a struct", func(t *testing.T) {
		err := config.Load(*newTestConfig(), "", nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "non-nil pointer to a struct")
	})
	t.Run("unsupported field type", func(t *testing.T) {
		var c struct {
			Ch chan int `yaml:"ch"`
		}
		err := config.Load(&c, "", nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "unsupported type chan int")
	})
	t.Run("two fields with one env name", func(t *testing.T) {
		var c struct {
			A string `yaml:"a" env:"SAME"`
			B string `yaml:"b" env:"SAME"`
		}
		err := config.Load(&c, "", nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "both use env SAME")
	})
}

// validatingConfig overrides Base.Validate, as a service with its own rules does.
type validatingConfig struct {
	config.Base `yaml:",inline"`
	Workers     int `yaml:"workers" env:"WORKERS"`
}

func (c *validatingConfig) Validate() error {
	err := c.Base.Validate()
	if c.Workers < 1 {
		err = errors.Join(err, &config.Error{Key: "WORKERS", Value: "0", Reason: "must be at least 1"})
	}
	return err
}

func TestLoadCallsServiceValidate(t *testing.T) {
	c := &validatingConfig{}
	c.SetDefaults("inventory", 50053, 8083)
	err := config.Load(c, "", env(map[string]string{"HTTP_ADDR": "x"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `config: WORKERS="0": must be at least 1`)
	assert.Contains(t, err.Error(), `config: HTTP_ADDR="x": want host:port`)

	c = &validatingConfig{}
	c.SetDefaults("inventory", 50053, 8083)
	require.NoError(t, config.Load(c, "", env(map[string]string{"WORKERS": "2"})))
	assert.Equal(t, 2, c.Workers)
}
