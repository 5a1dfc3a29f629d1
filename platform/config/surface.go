package config

import (
	"net"
	"strconv"
	"time"
)

// Surface holds the settings of a service's operator surface (who may read
// /debug/config, /admin/* and pprof, and where) and the limits its servers
// put on every connection. Base embeds it inline, so its keys sit at the top
// level of the YAML file.
type Surface struct {
	// AdminAddr, when set, is a separate listener (host:port) for
	// /debug/config, /admin/* and /debug/pprof/* (and /metrics with
	// MetricsOnAdmin); they then leave the HTTP port. It should be loopback
	// (127.0.0.1:9090) or a pod-internal port no Service exposes: the
	// endpoints still demand an admin token, but a listener nobody outside
	// can reach is a second fence. Empty keeps them on the HTTP port.
	AdminAddr string `yaml:"admin_addr" env:"ADMIN_ADDR" help:"separate host:port (loopback) for /debug/config, /admin/* and pprof; empty: the HTTP port"`
	// MetricsOnAdmin moves /metrics to the admin listener (needs AdminAddr).
	// /metrics needs no token either way: Prometheus scrapes it.
	MetricsOnAdmin bool `yaml:"metrics_on_admin" env:"METRICS_ON_ADMIN" help:"serve /metrics on the admin listener (needs ADMIN_ADDR)"`
	// PprofEnabled serves net/http/pprof at /debug/pprof/ to admins. Off by
	// default: a profile shows code paths and can cost seconds of CPU.
	PprofEnabled bool `yaml:"pprof_enabled" env:"PPROF_ENABLED" help:"serve net/http/pprof at /debug/pprof/ to admins"`
	// GRPCReflection registers the gRPC reflection service (grpcurl,
	// Postman). It describes every method to anyone who can connect, so the
	// prod overlay turns it off.
	GRPCReflection bool `yaml:"grpc_reflection" env:"GRPC_REFLECTION" help:"register gRPC reflection (grpcurl, Postman); the prod overlay turns it off"`
	// FingerprintKey is the HMAC key of the secret fingerprints shown in
	// /debug/config and compared by slipway drift. Give every instance of a
	// deployment the same key, so their fingerprints compare; when empty, a
	// random key is drawn per process and fingerprints differ between
	// instances.
	FingerprintKey string `yaml:"config_fingerprint_key" env:"CONFIG_FINGERPRINT_KEY" secret:"true" help:"HMAC key of secret fingerprints in /debug/config and drift; the same on every instance"`

	// HTTPReadTimeout bounds reading one HTTP request, body included, so a
	// client that trickles its body (slowloris) is cut off. Streaming RPCs
	// are exempt once their headers are read.
	HTTPReadTimeout time.Duration `yaml:"http_read_timeout" env:"HTTP_READ_TIMEOUT" help:"bound on reading one HTTP request, body included (slowloris)"`
	// HTTPWriteTimeout bounds handling and answering one HTTP request.
	// Streaming RPCs are exempt. It must exceed RPCMaxTimeout, or slow but
	// allowed unary calls would be cut before their deadline.
	HTTPWriteTimeout time.Duration `yaml:"http_write_timeout" env:"HTTP_WRITE_TIMEOUT" help:"bound on handling and answering one HTTP request; must exceed RPC_MAX_TIMEOUT"`
	// RPCMaxTimeout caps the deadline of a unary RPC: a client deadline
	// further away is shortened to it, so no caller can pin a slot for an
	// hour. Streams keep their deadline.
	RPCMaxTimeout time.Duration `yaml:"rpc_max_timeout" env:"RPC_MAX_TIMEOUT" help:"cap on a unary RPC's deadline; a client deadline further away is shortened to it"`
	// GRPCMaxConcurrentStreams is how many streams one HTTP/2 connection
	// may have open at once, on the gRPC port and the HTTP port (h2c). The
	// in-process connection that carries REST shares it.
	GRPCMaxConcurrentStreams uint32 `yaml:"grpc_max_concurrent_streams" env:"GRPC_MAX_CONCURRENT_STREAMS" help:"streams one HTTP/2 connection may have open at once"`
	// GRPCKeepaliveMinTime is the shortest interval between client pings the
	// server accepts; a client that pings faster (or pings with no stream
	// open) is sent GOAWAY.
	GRPCKeepaliveMinTime time.Duration `yaml:"grpc_keepalive_min_time" env:"GRPC_KEEPALIVE_MIN_TIME" help:"shortest interval between client pings the server accepts; faster gets GOAWAY"`
	// GRPCMaxConnectionIdle closes a connection that had no stream for this
	// long; 0 never does.
	GRPCMaxConnectionIdle time.Duration `yaml:"grpc_max_connection_idle" env:"GRPC_MAX_CONNECTION_IDLE" help:"close a connection that had no stream for this long; 0 never does"`
	// GRPCMaxConnectionAge sends GOAWAY to a connection this old, so clients
	// reconnect and load spreads over new instances; 0 never does.
	GRPCMaxConnectionAge time.Duration `yaml:"grpc_max_connection_age" env:"GRPC_MAX_CONNECTION_AGE" help:"send GOAWAY to a connection this old, so load spreads to new instances; 0 never does"`
	// GRPCMaxConnectionAgeGrace is how long the streams of a connection past
	// GRPCMaxConnectionAge may still run before it is closed.
	GRPCMaxConnectionAgeGrace time.Duration `yaml:"grpc_max_connection_age_grace" env:"GRPC_MAX_CONNECTION_AGE_GRACE" help:"how long the streams of a connection past GRPC_MAX_CONNECTION_AGE may still run"`
	// GRPCWatchStreamsPerConn is how many health Watch and reflection
	// streams one connection may hold open at once; the next is refused with
	// RESOURCE_EXHAUSTED. These streams live long and are never shed.
	GRPCWatchStreamsPerConn int `yaml:"grpc_watch_streams_per_conn" env:"GRPC_WATCH_STREAMS_PER_CONN" help:"health Watch and reflection streams one connection may hold open at once"`
	// HealthCheckInterval is how often the dependency checks run in the
	// background; /readyz and gRPC health serve the last result, so probes
	// never reach the dependencies themselves.
	HealthCheckInterval time.Duration `yaml:"health_check_interval" env:"HEALTH_CHECK_INTERVAL" help:"how often the dependency checks behind /readyz and gRPC health run"`
}

// setDefaults sets the defaults of the surface and the transport limits.
func (s *Surface) setDefaults() {
	s.AdminAddr = ""
	s.MetricsOnAdmin = false
	s.PprofEnabled = false
	s.GRPCReflection = true
	s.FingerprintKey = ""
	s.HTTPReadTimeout = 30 * time.Second
	s.HTTPWriteTimeout = 90 * time.Second
	s.RPCMaxTimeout = 60 * time.Second
	s.GRPCMaxConcurrentStreams = 1024
	s.GRPCKeepaliveMinTime = 10 * time.Second
	s.GRPCMaxConnectionIdle = 15 * time.Minute
	s.GRPCMaxConnectionAge = 30 * time.Minute
	s.GRPCMaxConnectionAgeGrace = time.Minute
	s.GRPCWatchStreamsPerConn = 8
	s.HealthCheckInterval = 5 * time.Second
}

// validate reports every problem with the surface settings through bad.
func (s *Surface) validate(bad func(key, value, reason string)) {
	if s.AdminAddr != "" && !isHostPort(s.AdminAddr) {
		bad("ADMIN_ADDR", s.AdminAddr, "want host:port, e.g. 127.0.0.1:9090")
	}
	if s.MetricsOnAdmin && s.AdminAddr == "" {
		bad("METRICS_ON_ADMIN", "true", "needs ADMIN_ADDR: there is no admin listener to move /metrics to")
	}
	if len(s.FingerprintKey) > 0 && len(s.FingerprintKey) < 16 {
		// The value is a secret: its length is all an error may say of it.
		bad("CONFIG_FINGERPRINT_KEY", "<"+strconv.Itoa(len(s.FingerprintKey))+" bytes>", "too short: want at least 16 random bytes (e.g. openssl rand -hex 32)")
	}
	checkDurations(bad, time.Nanosecond, "must be greater than 0",
		durationKey{"HTTP_READ_TIMEOUT", s.HTTPReadTimeout},
		durationKey{"HTTP_WRITE_TIMEOUT", s.HTTPWriteTimeout},
		durationKey{"RPC_MAX_TIMEOUT", s.RPCMaxTimeout},
		durationKey{"HEALTH_CHECK_INTERVAL", s.HealthCheckInterval},
	)
	checkDurations(bad, 0, "must not be negative (0 turns it off)",
		durationKey{"GRPC_KEEPALIVE_MIN_TIME", s.GRPCKeepaliveMinTime},
		durationKey{"GRPC_MAX_CONNECTION_IDLE", s.GRPCMaxConnectionIdle},
		durationKey{"GRPC_MAX_CONNECTION_AGE", s.GRPCMaxConnectionAge},
		durationKey{"GRPC_MAX_CONNECTION_AGE_GRACE", s.GRPCMaxConnectionAgeGrace},
	)
	if s.HTTPWriteTimeout > 0 && s.RPCMaxTimeout > 0 && s.HTTPWriteTimeout <= s.RPCMaxTimeout {
		bad("HTTP_WRITE_TIMEOUT", s.HTTPWriteTimeout.String(),
			"must exceed RPC_MAX_TIMEOUT ("+s.RPCMaxTimeout.String()+"), or REST answers of calls still within their deadline are cut")
	}
	if s.GRPCMaxConcurrentStreams == 0 {
		bad("GRPC_MAX_CONCURRENT_STREAMS", "0", "must be greater than 0")
	}
	if s.GRPCWatchStreamsPerConn <= 0 {
		bad("GRPC_WATCH_STREAMS_PER_CONN", strconv.Itoa(s.GRPCWatchStreamsPerConn), "must be greater than 0")
	}
}

// AdminLoopback reports whether AdminAddr binds loopback only. An admin
// listener on another address is allowed (a pod port no Service exposes)
// but the server warns about it at start.
func (s *Surface) AdminLoopback() bool {
	host, _, err := net.SplitHostPort(s.AdminAddr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
