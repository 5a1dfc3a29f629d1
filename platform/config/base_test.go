package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
)

func TestSetDefaults(t *testing.T) {
	var b config.Base
	b.SetDefaults("user", 50051, 8081)
	assert.Equal(t, config.Base{
		Service:         "user",
		GRPCAddr:        ":50051",
		HTTPAddr:        ":8081",
		DatabaseURL:     "sqlite://.slipway/data/user.db",
		LogLevel:        "info",
		DrainDelay:      5 * time.Second,
		ShutdownTimeout: 20 * time.Second,
		MaxMessageBytes: 4 << 20,
		RPCTimeout:      10 * time.Second,
		JWKSURL:         "http://127.0.0.1:8081/.well-known/jwks.json",
		CORSOrigins:     []string{"http://localhost:8080"},
		Discovery:       "static",

		MaxInflight:       512,
		ShedQueueTimeout:  100 * time.Millisecond,
		PeerRetryAttempts: 8,
		TLS:               b.TLS,       // TestTLSDefaults checks it
		Surface:           b.Surface,   // TestSurfaceDefaults checks it
		DB:                b.DB,        // TestDBPoolDefaults checks it
		Streams:           b.Streams,   // TestStreamLimits checks it
		AccessLog:         b.AccessLog, // TestAccessLog checks it
	}, b)
	assert.NoError(t, b.Validate(), "the defaults must be valid")
}

func TestBaseValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(b *config.Base)
		wantErr []string // each a full "config: KEY=value: reason" line, or empty for valid
	}{
		{name: "port 0 for tests", mutate: func(b *config.Base) { b.GRPCAddr, b.HTTPAddr = "127.0.0.1:0", ":0" }},
		{name: "postgres url", mutate: func(b *config.Base) { b.DatabaseURL = "postgres://u:p@db:5432/shop?sslmode=disable" }},
		{name: "postgresql url", mutate: func(b *config.Base) { b.DatabaseURL = "postgresql://db/shop" }},
		{name: "absolute sqlite path", mutate: func(b *config.Base) { b.DatabaseURL = "sqlite:///var/lib/slipway/user.db" }},
		{name: "zero durations", mutate: func(b *config.Base) { b.DrainDelay, b.ShutdownTimeout, b.RPCTimeout = 0, 0, 0 }},
		{name: "https origins with port", mutate: func(b *config.Base) { b.CORSOrigins = []string{"https://shop.example.com", "http://127.0.0.1:3000"} }},
		{name: "no jwks url", mutate: func(b *config.Base) { b.JWKSURL = "" }},
		{name: "etcd discovery", mutate: func(b *config.Base) {
			b.Discovery, b.AdvertiseAddr = "etcd://etcd-0:2379,etcd-1:2379", "10.0.0.7:50051"
		}},
		{
			name:    "discovery scheme",
			mutate:  func(b *config.Base) { b.Discovery = "consul://c:8500" },
			wantErr: []string{`config: DISCOVERY="consul://c:8500": want "static" or "etcd://host:port[,host:port...]"`},
		},
		{
			name:    "unspecified advertise host",
			mutate:  func(b *config.Base) { b.AdvertiseAddr = "0.0.0.0:50051" },
			wantErr: []string{`config: ADVERTISE_ADDR="0.0.0.0:50051": want host:port with a host peers can dial`},
		},
		{
			name:    "grpc addr without port",
			mutate:  func(b *config.Base) { b.GRPCAddr = "nope" },
			wantErr: []string{`config: GRPC_ADDR="nope": want host:port`},
		},
		{
			name:    "http addr with bad port",
			mutate:  func(b *config.Base) { b.HTTPAddr = ":99999" },
			wantErr: []string{`config: HTTP_ADDR=":99999": want host:port`},
		},
		{
			name:    "unknown database scheme",
			mutate:  func(b *config.Base) { b.DatabaseURL = "mysql://db/shop" },
			wantErr: []string{`config: DATABASE_URL="mysql://db/shop": want sqlite://<path> or postgres://...`},
		},
		{
			name:    "sqlite without path",
			mutate:  func(b *config.Base) { b.DatabaseURL = "sqlite://" },
			wantErr: []string{`config: DATABASE_URL="sqlite://"`},
		},
		{
			name:    "log level",
			mutate:  func(b *config.Base) { b.LogLevel = "loud" },
			wantErr: []string{`config: LOG_LEVEL="loud": want debug, info, warn or error`},
		},
		{
			name:    "negative durations",
			mutate:  func(b *config.Base) { b.DrainDelay, b.RPCTimeout = -time.Second, -time.Millisecond },
			wantErr: []string{`config: DRAIN_DELAY="-1s": must not be negative`, `config: RPC_DEFAULT_TIMEOUT="-1ms": must not be negative`},
		},
		{
			name:    "max message bytes",
			mutate:  func(b *config.Base) { b.MaxMessageBytes = 0 },
			wantErr: []string{`config: GRPC_MAX_MESSAGE_BYTES="0": must be greater than 0`},
		},
		{name: "a single peer attempt", mutate: func(b *config.Base) { b.PeerRetryAttempts, b.ShedQueueTimeout = 1, 0 }},
		{
			name:   "load shedding and peer retries",
			mutate: func(b *config.Base) { b.MaxInflight, b.ShedQueueTimeout, b.PeerRetryAttempts = 0, -time.Millisecond, 0 },
			wantErr: []string{
				`config: MAX_INFLIGHT="0": must be greater than 0`,
				`config: SHED_QUEUE_TIMEOUT="-1ms": must not be negative`,
				`config: PEER_RETRY_ATTEMPTS="0": must be at least 1 (1 means no retries)`,
			},
		},
		{
			name:    "jwks url not absolute",
			mutate:  func(b *config.Base) { b.JWKSURL = "/jwks.json" },
			wantErr: []string{`config: AUTH_JWKS_URL="/jwks.json": want an absolute http(s) URL`},
		},
		{
			name:    "wildcard origin",
			mutate:  func(b *config.Base) { b.CORSOrigins = []string{"*"} },
			wantErr: []string{`config: CORS_ALLOWED_ORIGINS="*": wildcard origins are not allowed`},
		},
		{
			name:    "wildcard subdomain origin",
			mutate:  func(b *config.Base) { b.CORSOrigins = []string{"https://*.example.com"} },
			wantErr: []string{`config: CORS_ALLOWED_ORIGINS="https://*.example.com": wildcard`},
		},
		{
			name: "origins must be bare http(s) origins",
			mutate: func(b *config.Base) {
				b.CORSOrigins = []string{"localhost:8080", "ftp://x.example", "https://x.example/app", "https://x.example/"}
			},
			wantErr: []string{
				`config: CORS_ALLOWED_ORIGINS="localhost:8080": want an absolute http(s) origin`,
				`config: CORS_ALLOWED_ORIGINS="ftp://x.example": want an absolute http(s) origin`,
				`config: CORS_ALLOWED_ORIGINS="https://x.example/app": want an absolute http(s) origin`,
				`config: CORS_ALLOWED_ORIGINS="https://x.example/": want an absolute http(s) origin`,
			},
		},
		{
			name: "all problems reported at once",
			mutate: func(b *config.Base) {
				b.GRPCAddr, b.LogLevel = "", "x"
			},
			wantErr: []string{`config: GRPC_ADDR="": want host:port`, `config: LOG_LEVEL="x"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b config.Base
			b.SetDefaults("order", 50052, 8082)
			tt.mutate(&b)
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

// REDIS_URL is optional; when set it must be a redis:// or rediss:// URL,
// and a bad one is reported with its password masked.
func TestBaseValidateRedisURL(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		wantErr string // the full message, or "" for valid
	}{
		{name: "unset keeps caches in memory", url: ""},
		{name: "redis", url: "redis://127.0.0.1:6379"},
		{name: "redis with db and password", url: "redis://:s3cret@redis:6379/2"},
		{name: "tls", url: "rediss://default:s3cret@cache.example.com:6380/0"},
		{name: "other scheme", url: "http://redis:6379", wantErr: `config: REDIS_URL="http://redis:6379": want redis://host:port[/db] or rediss://host:port[/db]`},
		{name: "no host", url: "redis:///0", wantErr: `config: REDIS_URL="redis:///0": want redis://`},
		{name: "db not a number", url: "redis://redis:6379/cache", wantErr: `config: REDIS_URL="redis://redis:6379/cache": want redis://`},
		{name: "password masked", url: "redis://u:hunter2@redis:6379/x", wantErr: `config: REDIS_URL="redis://u:xxxxx@redis:6379/x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b config.Base
			b.SetDefaults("user", 50051, 8081)
			b.RedisURL = tt.url
			err := b.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

// The Redis URL is shown, in /debug/config and the config hash, with its
// password masked, as the database URL is.
func TestRedactedRedisURL(t *testing.T) {
	var b config.Base
	b.SetDefaults("order", 50052, 8082)
	b.RedisURL = "redis://default:hunter2@redis:6379/0"
	got := config.Redacted(&b)
	assert.Equal(t, "redis://default:xxxxx@redis:6379/0", got["redis_url"])

	b.RedisURL = ""
	assert.Empty(t, config.Redacted(&b)["redis_url"], "unset stays empty")
}
