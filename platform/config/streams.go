package config

import "strconv"

// StreamLimits bounds the long-lived platform streams (health Watch and
// reflection) across the whole process. They are public, exempt from load
// shedding and can live for hours, so the per-connection bound
// (GRPC_WATCH_STREAMS_PER_CONN) alone lets many connections pile them up.
type StreamLimits struct {
	// GRPCMaxWatchStreams is how many health Watch and reflection streams
	// the process holds open at once, over the gRPC and HTTP ports
	// together; the next is refused with RESOURCE_EXHAUSTED.
	GRPCMaxWatchStreams int `yaml:"grpc_max_watch_streams" env:"GRPC_MAX_WATCH_STREAMS" help:"health Watch and reflection streams open at once across the process (both ports)"`
}

// setDefaults sets the stream limits' defaults: 256 is far more than the
// probes and watchers one instance has (kubelet, a mesh, a few grpcurl
// sessions), and a few hundred idle streams cost a few MB.
func (s *StreamLimits) setDefaults() {
	s.GRPCMaxWatchStreams = 256
}

// validate reports every unusable stream limit through bad.
func (s *StreamLimits) validate(bad func(key, value, reason string)) {
	if s.GRPCMaxWatchStreams <= 0 {
		bad("GRPC_MAX_WATCH_STREAMS", strconv.Itoa(s.GRPCMaxWatchStreams), "must be greater than 0")
	}
}
