package config

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// Base holds the keys every service has. Services embed it inline in their
// own config struct, so its keys sit at the top level of the YAML file.
type Base struct {
	// Service is the service name; set by the service, not configurable.
	Service string `yaml:"-"`
	// GRPCAddr is the host:port the native gRPC server listens on.
	GRPCAddr string `yaml:"grpc_addr" env:"GRPC_ADDR" help:"host:port the native gRPC server listens on"`
	// HTTPAddr is the host:port of the HTTP server (REST, gRPC-Web,
	// Connect, metrics, health).
	HTTPAddr string `yaml:"http_addr" env:"HTTP_ADDR" help:"host:port of the HTTP server (REST, gRPC-Web, Connect, metrics, health)"`
	// DatabaseURL picks the store: sqlite://path or postgres://...
	DatabaseURL string `yaml:"database_url" env:"DATABASE_URL" redact:"url" help:"the store: sqlite://<path> or postgres://user@host:5432/db"`
	// RedisURL, when set, puts caches and rate limits in Redis
	// (redis://[user:password@]host:port[/db] or rediss:// for TLS), shared
	// by every instance; empty keeps them in memory, per instance.
	RedisURL string `yaml:"redis_url" env:"REDIS_URL" redact:"url" help:"redis:// or rediss:// URL for caches and rate limits shared by instances; empty: in memory"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level" env:"LOG_LEVEL" help:"debug, info, warn or error"`
	// DrainDelay is how long the service keeps serving after it reports
	// NOT_SERVING, so load balancers stop routing to it first.
	DrainDelay time.Duration `yaml:"drain_delay" env:"DRAIN_DELAY" help:"how long to keep serving after NOT_SERVING, so load balancers stop routing here first"`
	// ShutdownTimeout bounds the graceful stop before connections are cut.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" env:"SHUTDOWN_TIMEOUT" help:"bound on the graceful stop before connections are cut"`
	// MaxMessageBytes is the largest gRPC message received or sent.
	MaxMessageBytes int `yaml:"max_message_bytes" env:"GRPC_MAX_MESSAGE_BYTES" help:"largest gRPC message received or sent, in bytes"`
	// RPCTimeout is the deadline given to an RPC that arrives without one.
	RPCTimeout time.Duration `yaml:"rpc_timeout" env:"RPC_DEFAULT_TIMEOUT" help:"per-RPC deadline when the caller sets none"`
	// JWKSURL is where tokens' public keys are fetched from.
	JWKSURL string `yaml:"jwks_url" env:"AUTH_JWKS_URL" help:"http(s) URL of the public keys (JWKS) tokens are checked with"`
	// CORSOrigins are the browser origins allowed to call the HTTP API.
	CORSOrigins []string `yaml:"cors_allowed_origins" env:"CORS_ALLOWED_ORIGINS" help:"browser origins allowed to call the HTTP API, comma separated; never *"`
	// FaultsEnabled turns on fault injection; off in production.
	FaultsEnabled bool `yaml:"faults_enabled" env:"FAULTS_ENABLED" help:"allow fault rules through /admin/faults (chaos experiments); never in production"`
	// Discovery is how peers are found and how this instance announces
	// itself: "static" (peer addresses from config) or
	// "etcd://host:2379[,host:2379]" (leases and the etcd gRPC resolver).
	Discovery string `yaml:"discovery" env:"DISCOVERY" help:"how peers are found: static (addresses from config) or etcd://host:2379[,host:2379]"`
	// AdvertiseAddr is the gRPC address registered in etcd, the one peers
	// dial (in Kubernetes, the pod IP and port). When empty, the bound
	// address is registered with an unspecified host replaced by the host name.
	AdvertiseAddr string `yaml:"advertise_addr" env:"ADVERTISE_ADDR" help:"gRPC host:port registered in etcd for peers to dial; empty: the bound address"`
	// MaxInflight is how many RPCs the service handles at once; more wait
	// up to ShedQueueTimeout for a slot and are then shed (ResourceExhausted
	// with RetryInfo, HTTP 429 with Retry-After). Health checks and
	// reflection are never shed.
	MaxInflight int `yaml:"max_inflight" env:"MAX_INFLIGHT" help:"RPCs handled at once per instance; more wait, then are shed (health never is)"`
	// ShedQueueTimeout is how long an RPC waits for a slot when MaxInflight
	// are running before it is shed; 0 sheds at once.
	ShedQueueTimeout time.Duration `yaml:"shed_queue_timeout" env:"SHED_QUEUE_TIMEOUT" help:"how long an RPC waits for a slot before it is shed (RESOURCE_EXHAUSTED); 0 sheds at once"`
	// PeerRetryAttempts is how many attempts in all a call to a peer gets
	// for the idempotent methods it retries; 1 means no retries.
	PeerRetryAttempts int `yaml:"peer_retry_attempts" env:"PEER_RETRY_ATTEMPTS" help:"attempts in all for a peer call to an idempotent method; 1 means no retries"`
	// TLS is the transport security of both listeners and of calls to peers (tls.go).
	TLS TLS `yaml:",inline"`
	// Surface is the operator surface and the transport limits (surface.go).
	Surface Surface `yaml:",inline"`
	// DB is the database pool and statement timeout (store.go).
	DB DBPool `yaml:",inline"`
	// Streams bounds the health Watch and reflection streams of the process (streams.go).
	Streams StreamLimits `yaml:",inline"`
	// AccessLog is how much the access log writes (accesslog.go).
	AccessLog AccessLog `yaml:",inline"`
}

// Common returns the Base itself, so any config struct that embeds Base
// gives the platform its common keys (server.Config).
func (b *Base) Common() *Base { return b }

// SetDefaults sets every field to its default for the named service
// listening on grpcPort and httpPort. The defaults run on a laptop with
// nothing installed: SQLite under .slipway/data and the user service's JWKS.
func (b *Base) SetDefaults(service string, grpcPort, httpPort int) {
	b.Service = service
	b.GRPCAddr = ":" + strconv.Itoa(grpcPort)
	b.HTTPAddr = ":" + strconv.Itoa(httpPort)
	b.DatabaseURL = "sqlite://.slipway/data/" + service + ".db"
	b.LogLevel = "info"
	b.DrainDelay = 5 * time.Second
	b.ShutdownTimeout = 20 * time.Second
	b.MaxMessageBytes = 4 << 20
	b.RPCTimeout = 10 * time.Second
	b.JWKSURL = "http://127.0.0.1:8081/.well-known/jwks.json"
	b.CORSOrigins = []string{"http://localhost:8080"}
	b.FaultsEnabled = false
	b.Discovery = "static"
	b.AdvertiseAddr = ""
	b.MaxInflight = 512
	b.ShedQueueTimeout = 100 * time.Millisecond
	b.PeerRetryAttempts = 8
	b.TLS.setDefaults()
	b.Surface.setDefaults()
	b.DB.setDefaults()
	b.Streams.setDefaults()
	b.AccessLog.setDefaults()
}

// durationKey is a duration setting: its environment variable and value.
type durationKey struct {
	key   string
	value time.Duration
}

// checkDurations reports through bad, with reason, each of settings whose
// value is below least.
func checkDurations(bad func(key, value, reason string), least time.Duration, reason string, settings ...durationKey) {
	for _, d := range settings {
		if d.value < least {
			bad(d.key, d.value.String(), reason)
		}
	}
}

// Validate checks every key and reports all problems at once, each naming
// the environment variable and the value, e.g.
// config: GRPC_ADDR="nope": want host:port.
func (b *Base) Validate() error {
	var errs []error
	bad := func(key, value, reason string) {
		errs = append(errs, &Error{Key: key, Value: value, Reason: reason})
	}
	for _, a := range []struct{ key, value string }{
		{"GRPC_ADDR", b.GRPCAddr},
		{"HTTP_ADDR", b.HTTPAddr},
	} {
		if !isHostPort(a.value) {
			bad(a.key, a.value, "want host:port")
		}
	}
	if !isDatabaseURL(b.DatabaseURL) {
		bad("DATABASE_URL", redact.URL(b.DatabaseURL), "want sqlite://<path> or postgres://...")
	}
	if b.RedisURL != "" && !isRedisURL(b.RedisURL) {
		bad("REDIS_URL", redact.URL(b.RedisURL), "want redis://host:port[/db] or rediss://host:port[/db]")
	}
	if _, err := telemetry.ParseLevel(b.LogLevel); err != nil {
		bad("LOG_LEVEL", b.LogLevel, "want debug, info, warn or error")
	}
	checkDurations(bad, 0, "must not be negative",
		durationKey{"DRAIN_DELAY", b.DrainDelay},
		durationKey{"SHUTDOWN_TIMEOUT", b.ShutdownTimeout},
		durationKey{"RPC_DEFAULT_TIMEOUT", b.RPCTimeout},
		durationKey{"SHED_QUEUE_TIMEOUT", b.ShedQueueTimeout},
	)
	if b.MaxMessageBytes <= 0 {
		bad("GRPC_MAX_MESSAGE_BYTES", strconv.Itoa(b.MaxMessageBytes), "must be greater than 0")
	}
	if b.MaxInflight <= 0 {
		bad("MAX_INFLIGHT", strconv.Itoa(b.MaxInflight), "must be greater than 0")
	}
	if b.PeerRetryAttempts < 1 {
		bad("PEER_RETRY_ATTEMPTS", strconv.Itoa(b.PeerRetryAttempts), "must be at least 1 (1 means no retries)")
	}
	b.TLS.validate(b.JWKSURL, bad)
	b.DB.validate(bad)
	if b.JWKSURL != "" && !isHTTPURL(b.JWKSURL) {
		bad("AUTH_JWKS_URL", b.JWKSURL, "want an absolute http(s) URL")
	}
	for _, o := range b.CORSOrigins {
		if reason := checkOrigin(o); reason != "" {
			bad("CORS_ALLOWED_ORIGINS", o, reason)
		}
	}
	if !isDiscovery(b.Discovery) {
		bad("DISCOVERY", b.Discovery, `want "static" or "etcd://host:port[,host:port...]"`)
	}
	if b.AdvertiseAddr != "" && !isDialable(b.AdvertiseAddr) {
		bad("ADVERTISE_ADDR", b.AdvertiseAddr, "want host:port with a host peers can dial")
	}
	b.Surface.validate(bad)
	b.Streams.validate(bad)
	b.AccessLog.validate(bad)
	return errors.Join(errs...)
}

// isDialable is host:port with a host a peer can reach: not empty, and not
// an unspecified address such as 0.0.0.0 or [::].
func isDialable(s string) bool {
	host, _, err := net.SplitHostPort(s)
	if err != nil || !isHostPort(s) || host == "" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsUnspecified()
}

// isDiscovery accepts what platform/discovery.ParseDiscovery understands;
// that parser gives the detailed error at start.
func isDiscovery(s string) bool {
	if s == "" || s == "static" {
		return true
	}
	hosts, ok := strings.CutPrefix(s, "etcd://")
	if !ok || hosts == "" {
		return false
	}
	for _, h := range strings.Split(hosts, ",") {
		if !isHostPort(h) {
			return false
		}
	}
	return true
}

func isHostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n <= 65535
}

func isDatabaseURL(s string) bool {
	if path, ok := strings.CutPrefix(s, "sqlite://"); ok {
		path, _, _ = strings.Cut(path, "?")
		return path != ""
	}
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return false
	}
	_, err := url.Parse(s)
	return err == nil
}

// isRedisURL accepts the redis:// and rediss:// URLs go-redis parses: a
// host, and a path that is empty or a database number.
func isRedisURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Hostname() == "" {
		return false
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if _, err := strconv.ParseUint(db, 10, 8); err != nil {
			return false
		}
	}
	return true
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// checkOrigin returns why o is not a CORS origin, or "". A wildcard is
// refused because the API takes bearer tokens from browsers: any site could
// then call it with a user's token.
func checkOrigin(o string) string {
	if strings.Contains(o, "*") {
		return "wildcard origins are not allowed; list each origin"
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "want an absolute http(s) origin: scheme://host[:port], no path"
	}
	return ""
}
