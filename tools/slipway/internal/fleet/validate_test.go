package fleet

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDevValidatesConsoleFlags(t *testing.T) {
	for _, o := range []Options{{ConsolePort: -1}, {ConsolePort: 70000}, {ConsoleMaxSpans: -5}, {ConsoleMaxBytes: -1}} {
		o = o.WithDefaults()
		assert.Error(t, o.Validate(), "%+v", o)
	}
	ok := Options{ConsolePort: 8080, ConsoleMaxTraces: 10, ConsoleMaxSpans: 100}.WithDefaults()
	assert.NoError(t, ok.Validate())
}

// Every rule of Validate names the flag that broke it.
func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // "" when valid
	}{
		{name: "defaults", opts: Options{}},
		{name: "known services", opts: Options{Services: []string{"user", "notification"}}},
		{name: "unknown service", opts: Options{Services: []string{"user", "billing"}}, want: `unknown service "billing" in --services (known: ` + knownNames() + `)`},
		{name: "gRPC base below 1", opts: Options{GRPCBase: -1}, want: fmt.Sprintf("--grpc-port-base -1: need 1..%d", maxBase)},
		{name: "gRPC base too high for every service", opts: Options{GRPCBase: maxBase + 1}, want: fmt.Sprintf("--grpc-port-base %d: need 1..%d", maxBase+1, maxBase)},
		{name: "highest gRPC base that fits", opts: Options{GRPCBase: maxBase}},
		{name: "HTTP base too high", opts: Options{HTTPBase: 65534}, want: "--http-port-base 65534"},
		{name: "colour", opts: Options{Color: "sometimes"}, want: `--color "sometimes": want auto, always or never`},
		{name: "console port", opts: Options{ConsolePort: 65536}, want: "--console-port 65536: need 0..65535"},
		{name: "console off", opts: Options{ConsolePort: 0}},
		{name: "negative max traces", opts: Options{ConsoleMaxTraces: -1}, want: "must not be negative"},
		{name: "negative ready timeout", opts: Options{ReadyTimeout: -time.Second}, want: "timeouts must not be negative"},
		{name: "negative debounce", opts: Options{Debounce: -time.Millisecond}, want: "timeouts must not be negative"},
		{name: "postgres server", opts: Options{Postgres: "postgresql://postgres@127.0.0.1:5432"}},
		{name: "postgres without host", opts: Options{Postgres: "postgres:///slipway"}, want: "want a server URL"},
		{name: "not postgres", opts: Options{Postgres: "mysql://root@127.0.0.1"}, want: `--postgres "mysql://root@127.0.0.1"`},
		{name: "postgres password is redacted", opts: Options{Postgres: "mysql://root:hunter2@db"}, want: "xxxxx"},
		{name: "default prefix", opts: Options{Postgres: "postgres://db", PostgresPrefix: ""}},
		{name: "bad prefix", opts: Options{Postgres: "postgres://db", PostgresPrefix: "Slipway-"}, want: `--postgres-prefix "Slipway-": want lower-case letters, digits and _`},
		{name: "prefix ignored without postgres", opts: Options{PostgresPrefix: "Slipway-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.GRPCBase == 0 {
				opts.GRPCBase = workspace.DefaultGRPCBase
			}
			if opts.HTTPBase == 0 {
				opts.HTTPBase = workspace.DefaultHTTPBase
			}
			err := opts.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestEndpoints(t *testing.T) {
	plan := []Service{
		{Name: "user", GRPCAddr: "127.0.0.1:50051", HTTPAddr: "127.0.0.1:8081"},
		{Name: "order", GRPCAddr: "127.0.0.1:50052", HTTPAddr: "127.0.0.1:8082"},
	}
	want := []workspace.Endpoint{
		{Service: "user", Kind: "gRPC", Addr: "127.0.0.1:50051"}, {Service: "user", Kind: "HTTP", Addr: "127.0.0.1:8081"},
		{Service: "order", Kind: "gRPC", Addr: "127.0.0.1:50052"}, {Service: "order", Kind: "HTTP", Addr: "127.0.0.1:8082"},
	}
	assert.Equal(t, want, Endpoints(plan, Options{}), "console off: the services only")

	withConsole := Endpoints(plan, Options{Host: "127.0.0.1", ConsolePort: 8080})
	require.Len(t, withConsole, 5)
	assert.Equal(t, workspace.Endpoint{Service: "console", Kind: "HTTP", Addr: "127.0.0.1:8080"}, withConsole[4])
}

// maxBase is the highest port base at which the registry's last service
// still has a port.
var maxBase = 65535 - (workspace.Known[len(workspace.Known)-1].GRPCPort - workspace.DefaultGRPCBase)

// knownNames lists the registry's services as the error message does.
func knownNames() string {
	names := make([]string, len(workspace.Known))
	for i, s := range workspace.Known {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
