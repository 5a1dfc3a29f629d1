package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlanDev(t *testing.T) {
	defs := []workspace.Service{workspace.Known[0], workspace.Known[2]} // user, inventory
	tests := []struct {
		name                      string
		opts                      Options
		invGRPC, invHTTP, invDial string
		jwks                      string
	}{
		{
			name:    "defaults",
			opts:    Options{},
			invGRPC: "127.0.0.1:50053", invHTTP: "127.0.0.1:8083", invDial: "127.0.0.1:8083",
			jwks: "http://127.0.0.1:8081/.well-known/jwks.json",
		},
		{
			name:    "moved bases on every interface",
			opts:    Options{Host: "0.0.0.0", GRPCBase: 6000, HTTPBase: 7000},
			invGRPC: "0.0.0.0:6002", invHTTP: "0.0.0.0:7002", invDial: "127.0.0.1:7002",
			jwks: "http://127.0.0.1:7000/.well-known/jwks.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Environ = []string{"PATH=/bin"}
			plan, err := Plan("/ws", defs, opts.WithDefaults())
			require.NoError(t, err)
			require.Len(t, plan, 2)
			inv := plan[1]
			assert.Equal(t, "inventory", inv.Name)
			assert.Equal(t, tt.invGRPC, inv.GRPCAddr)
			assert.Equal(t, tt.invHTTP, inv.HTTPAddr)
			assert.Equal(t, "http://"+tt.invDial+"/docs", inv.DocsURL())
			assert.Equal(t, filepath.Join("/ws", ".slipway", "bin", "inventory"), inv.Binary)

			want := map[string]string{
				"GRPC_ADDR":     tt.invGRPC,
				"HTTP_ADDR":     tt.invHTTP,
				"DATABASE_URL":  "sqlite:///ws/.slipway/data/inventory.db",
				"DRAIN_DELAY":   "0s",
				"AUTH_JWKS_URL": tt.jwks,
				"PATH":          "/bin",
			}
			for k, v := range want {
				got, _ := envvar.Lookup(inv.Env, k)
				assert.Equal(t, v, got, k)
			}
			assert.Equal(t, "/ws/.slipway/keys/user-ed25519.pem", EnvValue(plan[0].Env, "AUTH_SIGNING_KEY_FILE"), "user signs")
			assert.Equal(t, "slipway-admin", EnvValue(plan[0].Env, "ADMIN_PASSWORD"), "user seeds the admin")
		})
	}
}

// order's peers are dialled at the ports the registry gives them, moved
// with the bases, whether or not they run in the same session.
func TestPlanDevGivesOrderItsPeersAddresses(t *testing.T) {
	var order workspace.Service
	for _, d := range workspace.Known {
		if d.Name == "order" {
			order = d
		}
	}
	require.Equal(t, "order", order.Name, "order is registered")
	tests := []struct {
		name string
		opts Options
		want map[string]string
	}{
		{
			name: "defaults",
			want: map[string]string{"USER_ADDR": "127.0.0.1:50051", "INVENTORY_ADDR": "127.0.0.1:50053", "PAYMENT_ADDR": "127.0.0.1:50055"},
		},
		{
			name: "moved bases on every interface",
			opts: Options{Host: "0.0.0.0", GRPCBase: 6000, HTTPBase: 7000},
			want: map[string]string{"USER_ADDR": "127.0.0.1:6000", "INVENTORY_ADDR": "127.0.0.1:6002", "PAYMENT_ADDR": "127.0.0.1:6004"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Environ = []string{"PATH=/bin"}
			plan, err := Plan("/ws", []workspace.Service{order}, opts.WithDefaults())
			require.NoError(t, err)
			require.Len(t, plan, 1)
			for k, v := range tt.want {
				assert.Equal(t, v, EnvValue(plan[0].Env, k), k)
			}
		})
	}

	// The parent environment still overrides a peer, as for any default.
	plan, err := Plan("/ws", []workspace.Service{order}, Options{Environ: []string{"PAYMENT_ADDR=10.0.0.5:50055"}}.WithDefaults())
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.5:50055", EnvValue(plan[0].Env, "PAYMENT_ADDR"))
}

func TestServiceDatabaseURL(t *testing.T) {
	got, err := ServiceDatabaseURL("postgres://postgres:pw@127.0.0.1:5432/postgres?sslmode=disable", "slipway_", "order")
	require.NoError(t, err)
	assert.Equal(t, "postgres://postgres:pw@127.0.0.1:5432/slipway_order?sslmode=disable", got)
}

func TestBuildServices(t *testing.T) {
	ok := "package main\n\nfunc main() {}\n"
	root := clitest.GoWorkspace(t, map[string]string{"user": ok, "inventory": ok})
	var out clitest.SyncBuffer

	results, err := BuildServices(t.Context(), root, []string{"user", "inventory"}, os.Environ(), NewConsole(&out, false))
	require.NoError(t, err, out.String())
	require.Len(t, results, 2)
	for _, r := range results {
		assert.FileExists(t, workspace.BinaryPath(root, r.Service))
		assert.Positive(t, r.Took)
		assert.Contains(t, out.String(), "built "+r.Service+" in ")
	}
}

func TestPlanDevWiresTheConsole(t *testing.T) {
	unset := "<unset>"
	tests := []struct {
		name   string
		opts   Options
		parent []string
		want   map[string]string
	}{
		{
			name: "console on, nothing set: CORS for the console, traces to the console",
			opts: Options{ConsolePort: 8080},
			want: map[string]string{
				"CORS_ALLOWED_ORIGINS":               "http://localhost:8080,http://127.0.0.1:8080",
				"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://127.0.0.1:8080",
				"OTEL_EXPORTER_OTLP_PROTOCOL":        "http/protobuf",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
				"OTEL_TRACES_SAMPLER":                "parentbased_always_on",
				"OTEL_BSP_SCHEDULE_DELAY":            "200",
			},
		},
		{
			name:   "the parent's CORS origins are kept and the console's added; its sampler wins",
			opts:   Options{ConsolePort: 9000},
			parent: []string{"CORS_ALLOWED_ORIGINS=https://shop.example", "OTEL_TRACES_SAMPLER=traceidratio"},
			want: map[string]string{
				"CORS_ALLOWED_ORIGINS":        "https://shop.example,http://localhost:9000,http://127.0.0.1:9000",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9000",
				"OTEL_TRACES_SAMPLER":         "traceidratio",
			},
		},
		{
			name:   "an origin the parent already allows is not repeated",
			opts:   Options{ConsolePort: 8080},
			parent: []string{"CORS_ALLOWED_ORIGINS=http://127.0.0.1:8080/, http://localhost:5173,"},
			want:   map[string]string{"CORS_ALLOWED_ORIGINS": "http://127.0.0.1:8080/,http://localhost:5173,http://localhost:8080"},
		},
		{
			name:   "a service's own origins get the console's too",
			opts:   Options{ConsolePort: 8080},
			parent: []string{"CORS_ALLOWED_ORIGINS=https://a.example", "SLIPWAY_USER_CORS_ALLOWED_ORIGINS=https://user.example", "SLIPWAY_INVENTORY_CORS_ALLOWED_ORIGINS=https://inv.example"},
			want:   map[string]string{"CORS_ALLOWED_ORIGINS": "https://{svc}.example,http://localhost:8080,http://127.0.0.1:8080"},
		},
		{
			name:   "an empty parent value is unset",
			opts:   Options{ConsolePort: 8080},
			parent: []string{"CORS_ALLOWED_ORIGINS="},
			want:   map[string]string{"CORS_ALLOWED_ORIGINS": "http://localhost:8080,http://127.0.0.1:8080"},
		},
		{
			name:   "console off: the parent's origins as they are",
			opts:   Options{},
			parent: []string{"CORS_ALLOWED_ORIGINS=https://shop.example"},
			want:   map[string]string{"CORS_ALLOWED_ORIGINS": "https://shop.example"},
		},
		{
			name:   "a collector in the environment keeps the traces",
			opts:   Options{ConsolePort: 8080},
			parent: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"},
			want: map[string]string{
				"CORS_ALLOWED_ORIGINS":               "http://localhost:8080,http://127.0.0.1:8080",
				"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://localhost:4317",
				"OTEL_EXPORTER_OTLP_PROTOCOL":        "grpc",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": unset,
				"OTEL_TRACES_SAMPLER":                unset,
				"OTEL_BSP_SCHEDULE_DELAY":            unset,
			},
		},
		{
			name:   "a traces endpoint alone is a collector too",
			opts:   Options{ConsolePort: 8080},
			parent: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://jaeger:4318/v1/traces"},
			want: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": unset,
				"OTEL_EXPORTER_OTLP_PROTOCOL": unset,
			},
		},
		{
			name: "on every interface: the loopback origins; the dial address is loopback",
			opts: Options{ConsolePort: 8080, Host: "0.0.0.0"},
			want: map[string]string{
				"CORS_ALLOWED_ORIGINS":        "http://localhost:8080,http://127.0.0.1:8080",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:8080",
			},
		},
		{
			name: "on a LAN address: that origin as well",
			opts: Options{ConsolePort: 8080, Host: "192.168.1.5"},
			want: map[string]string{
				"CORS_ALLOWED_ORIGINS":        "http://localhost:8080,http://127.0.0.1:8080,http://192.168.1.5:8080",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://192.168.1.5:8080",
			},
		},
		{
			name: "console off: the services' own defaults",
			opts: Options{},
			want: map[string]string{
				"CORS_ALLOWED_ORIGINS":        unset,
				"OTEL_EXPORTER_OTLP_ENDPOINT": unset,
				"OTEL_EXPORTER_OTLP_PROTOCOL": unset,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Environ = append([]string{"PATH=/bin"}, tt.parent...)
			plan, err := Plan("/ws", []workspace.Service{workspace.Known[0], workspace.Known[2]}, opts.WithDefaults())
			require.NoError(t, err)
			for _, svc := range plan {
				for k, v := range tt.want {
					got, ok := envvar.Lookup(svc.Env, k)
					if !ok {
						got = unset
					}
					v = strings.ReplaceAll(v, "{svc}", map[string]string{"user": "user", "inventory": "inv"}[svc.Name])
					assert.Equal(t, v, got, "%s: %s", svc.Name, k)
				}
			}
		})
	}
}

func TestPlanDevTLS(t *testing.T) {
	opts := Options{Environ: []string{"PATH=/bin", "TLS_CERT_FILE=/elsewhere/cert.pem"}, TLS: true, ConsolePort: 8080}.WithDefaults()
	plan, err := Plan("/ws", workspace.Known, opts)
	require.NoError(t, err)
	for _, s := range plan {
		t.Run(s.Name, func(t *testing.T) {
			want := map[string]string{
				"TLS_CERT_FILE":                  "/ws/.slipway/tls/" + s.Name + ".pem",
				"TLS_KEY_FILE":                   "/ws/.slipway/tls/" + s.Name + "-key.pem",
				"TLS_CA_FILE":                    "/ws/.slipway/tls/ca.pem",
				"TLS_TRUST_DOMAIN":               "slipway.local",
				"AUTH_JWKS_URL":                  "https://127.0.0.1:8081/.well-known/jwks.json",
				"OTEL_EXPORTER_OTLP_ENDPOINT":    "https://127.0.0.1:8080",
				"OTEL_EXPORTER_OTLP_CERTIFICATE": "/ws/.slipway/tls/ca.pem",
				"CORS_ALLOWED_ORIGINS":           "https://localhost:8080,https://127.0.0.1:8080",
			}
			for k, v := range want {
				assert.Equal(t, v, EnvValue(s.Env, k), k)
			}
			assert.Equal(t, "https://"+s.HTTPDial+"/docs", s.DocsURL())
		})
	}
	plain, err := Plan("/ws", workspace.Known[:1], Options{Environ: []string{"PATH=/bin"}, ConsolePort: 8080}.WithDefaults())
	require.NoError(t, err)
	for _, k := range []string{"TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE", "OTEL_EXPORTER_OTLP_CERTIFICATE"} {
		_, set := envvar.Lookup(plain[0].Env, k)
		assert.False(t, set, "plaintext dev sets no %s", k)
	}
	assert.Equal(t, "http://127.0.0.1:8081/.well-known/jwks.json", EnvValue(plain[0].Env, "AUTH_JWKS_URL"))
}
