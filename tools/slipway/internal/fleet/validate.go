package fleet

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Validate checks the options as dev's flags set them; its errors name the
// flag. dev and debug (which gives its service dev's addresses) call it.
func (o Options) Validate() error {
	for _, s := range o.Services {
		if !slices.ContainsFunc(workspace.Known, func(d workspace.Service) bool { return d.Name == s }) {
			return fmt.Errorf("unknown service %q in --services (known: %s)", s, strings.Join(workspace.Names(workspace.Known), ", "))
		}
	}
	running := o.Services
	if len(running) == 0 {
		running = workspace.Names(workspace.Known)
	}
	if err := CheckReplicas(o.Replicas, running); err != nil {
		return fmt.Errorf("--replicas: %w", err)
	}
	last := workspace.Known[len(workspace.Known)-1].GRPCPort - workspace.DefaultGRPCBase
	for _, n := range o.Replicas {
		last = max(last, workspace.Known[len(workspace.Known)-1].GRPCPort-workspace.DefaultGRPCBase+(n-1)*ReplicaPortStride)
	}
	for flag, base := range map[string]int{"--grpc-port-base": o.GRPCBase, "--http-port-base": o.HTTPBase} {
		if base < 1 || base+last > 65535 {
			return fmt.Errorf("%s %d: need 1..%d", flag, base, 65535-last)
		}
	}
	switch o.Color {
	case "", "auto", "always", "never":
	default:
		return fmt.Errorf("--color %q: want auto, always or never", o.Color)
	}
	if o.ConsolePort < 0 || o.ConsolePort > 65535 {
		return fmt.Errorf("--console-port %d: need 0..65535", o.ConsolePort)
	}
	if o.ConsoleMaxTraces < 0 || o.ConsoleMaxSpans < 0 || o.ConsoleMaxBytes < 0 {
		return errors.New("--console-max-traces, --console-max-spans and --console-max-bytes must not be negative")
	}
	if o.ReadyTimeout < 0 || o.StopTimeout < 0 || o.Debounce < 0 {
		return errors.New("timeouts must not be negative")
	}
	prefix := o.PostgresPrefix
	if prefix == "" {
		prefix = DefaultDatabasePrefix
	}
	return validatePostgres(o.Postgres, prefix)
}

// databasePrefixPattern keeps the names plain identifiers, so they need no
// quoting in a URL and read the same in psql.
var databasePrefixPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// validatePostgres checks --postgres and --postgres-prefix.
func validatePostgres(server, prefix string) error {
	if server == "" {
		return nil
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return fmt.Errorf("--postgres %q: want a server URL such as postgres://postgres@127.0.0.1:5432", report.RedactURL(server))
	}
	if !databasePrefixPattern.MatchString(prefix) {
		return fmt.Errorf("--postgres-prefix %q: want lower-case letters, digits and _", prefix)
	}
	return nil
}

// Endpoints are the addresses plan's services (and the console, when on)
// listen on, for workspace.CheckPortsFree.
func Endpoints(plan []Service, opts Options) []workspace.Endpoint {
	var eps []workspace.Endpoint
	for _, s := range plan {
		eps = append(eps, workspace.Endpoint{Service: s.Name, Kind: "gRPC", Addr: s.GRPCAddr}, workspace.Endpoint{Service: s.Name, Kind: "HTTP", Addr: s.HTTPAddr})
	}
	if opts.ConsolePort != 0 {
		eps = append(eps, workspace.Endpoint{Service: "console", Kind: "HTTP", Addr: ConsoleAddr(opts)})
	}
	return eps
}
