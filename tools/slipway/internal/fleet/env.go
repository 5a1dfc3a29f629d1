package fleet

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// TracesExternal reports whether the parent environment sends traces to a
// collector of its own; then dev leaves the OTLP settings alone.
func TracesExternal(environ []string) bool {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if v, _ := envvar.Lookup(environ, k); v != "" {
			return true
		}
	}
	return false
}

// ConsoleAddr is the console's listen address.
func ConsoleAddr(opts Options) string {
	return net.JoinHostPort(opts.Host, strconv.Itoa(opts.ConsolePort))
}

// ConsoleOrigins are the browser origins the console is reached at: the
// services must allow them for cross-origin calls (CORS).
func ConsoleOrigins(opts Options) []string {
	port, scheme := strconv.Itoa(opts.ConsolePort), opts.HTTPScheme()+"://"
	origins := []string{scheme + net.JoinHostPort("localhost", port), scheme + net.JoinHostPort("127.0.0.1", port)}
	switch opts.Host {
	case "", "0.0.0.0", "::", "127.0.0.1", "localhost":
	default:
		origins = append(origins, scheme+net.JoinHostPort(opts.Host, port))
	}
	return origins
}

// consoleEnv is the part of every service's environment that the console
// needs, as defaults (used when the parent leaves a variable unset) and
// fixed values. With the console off it is empty. CORS_ALLOWED_ORIGINS is
// not here: withConsoleOrigins adds to whatever the service gets.
//
// Unless the parent names a collector, the services export traces to the
// console (OTLP/HTTP, the only protocol it receives, hence fixed), sample
// every request that no caller decided about, and flush every 200 ms
// instead of 5 s so a request shows up in the console at once.
func consoleEnv(opts Options) (defaults, fixed []envvar.Var, err error) {
	if opts.ConsolePort == 0 || TracesExternal(opts.Environ) {
		return nil, nil, nil
	}
	dial, err := workspace.DialAddr(ConsoleAddr(opts))
	if err != nil {
		return nil, nil, err
	}
	defaults = []envvar.Var{
		{Key: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: opts.HTTPScheme() + "://" + dial},
		{Key: "OTEL_TRACES_SAMPLER", Value: "parentbased_always_on"},
		{Key: "OTEL_BSP_SCHEDULE_DELAY", Value: "200"},
	}
	fixed = []envvar.Var{
		{Key: "OTEL_EXPORTER_OTLP_PROTOCOL", Value: "http/protobuf"},
		{Key: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Value: "http/protobuf"},
	}
	return defaults, fixed, nil
}

// CORSVar is the services' list of allowed browser origins (platform/config).
const CORSVar = "CORS_ALLOWED_ORIGINS"

// withConsoleOrigins returns a service's environment with the console's
// origins added to its CORS_ALLOWED_ORIGINS (after the origins it already
// has, each once), so the console's pages may call the service whatever
// else the parent allows. With the console off, env is unchanged.
func withConsoleOrigins(env []string, opts Options) []string {
	if opts.ConsolePort == 0 {
		return env
	}
	current, _ := envvar.Lookup(env, CORSVar)
	return envvar.Set(env, CORSVar, strings.Join(MergeOrigins(current, ConsoleOrigins(opts)), ","))
}

// MergeOrigins appends add to the comma-separated list, leaving out empty
// entries and any origin already there.
func MergeOrigins(list string, add []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range append(strings.Split(list, ","), add...) {
		o = strings.TrimSpace(o)
		if key := strings.TrimRight(o, "/"); o != "" && !seen[key] {
			seen[key] = true
			out = append(out, o)
		}
	}
	return out
}

// tlsEnv is what dev --tls sets for svc whatever the parent says: its own
// certificate and key, the authority, and the authority for the OTLP
// exporter, which sends traces to the console over https.
func tlsEnv(root, svc string) []envvar.Var {
	cert, key := workspace.TLSFiles(root, svc)
	ca := filepath.Join(workspace.TLSDir(root), devcert.CAFile)
	return []envvar.Var{
		{Key: "TLS_CERT_FILE", Value: cert},
		{Key: "TLS_KEY_FILE", Value: key},
		{Key: "TLS_CA_FILE", Value: ca},
		{Key: "TLS_TRUST_DOMAIN", Value: devcert.DefaultTrustDomain},
		{Key: "OTEL_EXPORTER_OTLP_CERTIFICATE", Value: ca},
	}
}

// HTTPScheme is the scheme of the services' and the console's HTTP ports.
func (o Options) HTTPScheme() string {
	if o.TLS {
		return "https"
	}
	return "http"
}

// DefaultDatabasePrefix names each service's database under --postgres
// (slipway_user, ...), as deploy/compose does.
const DefaultDatabasePrefix = "slipway_"

// ServiceDatabaseURL is the URL of svc's database on the server: the
// server URL with the database name in its path.
func ServiceDatabaseURL(server, prefix, svc string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("--postgres: %w", err)
	}
	u.Path = "/" + prefix + svc
	u.RawPath = ""
	return u.String(), nil
}
