package scaffold_test

import (
	"bytes"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"

	"github.com/slipway-dev/slipway/tools/slipway/internal/scaffold"
)

// repoRoot is the repository this test runs in: its services give the
// scaffold the dependencies of the new module.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	root, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", "..", "..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.work"))
	return root
}

var gadgets = scaffold.Service{Name: "gadgets", Resource: "Gadget", GRPCPort: 50061, HTTPPort: 8091}

func serviceFiles(t *testing.T, s scaffold.Service) map[string][]byte {
	t.Helper()
	files, err := scaffold.ServiceFiles(repoRoot(t), s)
	require.NoError(t, err)
	require.True(t, slices.IsSortedFunc(files, func(a, b scaffold.File) int { return strings.Compare(a.Path, b.Path) }), "sorted by path")
	byPath := make(map[string][]byte, len(files))
	for _, f := range files {
		require.NotContains(t, byPath, f.Path, "one file per path")
		byPath[f.Path] = f.Data
	}
	return byPath
}

func TestServiceFilesHaveTheServiceLayout(t *testing.T) {
	files := serviceFiles(t, gadgets)
	for _, p := range []string{
		"api/proto/slipway/gadgets/v1/gadgets.proto",
		"services/gadgets/README.md",
		"services/gadgets/go.mod",
		"services/gadgets/go.sum",
		"services/gadgets/cmd/gadgets/main.go",
		"services/gadgets/internal/app/run.go",
		"services/gadgets/internal/app/wire.go",
		"services/gadgets/internal/app/providers.go",
		"services/gadgets/internal/app/run_test.go",
		"services/gadgets/internal/app/protocols_test.go",
		"services/gadgets/internal/config/config.go",
		"services/gadgets/internal/config/help_test.go",
		"services/gadgets/internal/domain/ports.go",
		"services/gadgets/internal/domain/service.go",
		"services/gadgets/internal/domain/service_test.go",
		"services/gadgets/internal/domain/wire.go",
		"services/gadgets/internal/rpc/handler.go",
		"services/gadgets/internal/store/store.go",
		"services/gadgets/internal/store/store_test.go",
		"services/gadgets/internal/store/migrations/sqlite/0001_init.sql",
		"services/gadgets/internal/store/migrations/postgres/0001_init.sql",
	} {
		assert.Contains(t, files, p)
	}
	assert.NotContains(t, files, "services/gadgets/internal/app/wire_gen.go", "make gen writes it")
	for p := range files {
		assert.False(t, strings.HasSuffix(p, ".tmpl"), "%s keeps its template suffix", p)
		assert.NotContains(t, p, "NAME", "%s keeps the name placeholder", p)
	}
	assert.Equal(t, "package main\n", string(firstLine(files["services/gadgets/cmd/gadgets/main.go"], "package ")))
	assert.Contains(t, string(files["services/gadgets/cmd/gadgets/main.go"]), `os.Exit(server.Command("gadgets", app.Run))`)
	assert.Contains(t, string(files["services/gadgets/internal/app/wire.go"]), "//go:build wireinject")
	assert.Contains(t, string(files["services/gadgets/internal/app/providers.go"]), "openapi.Gadgets")
	assert.Contains(t, string(files["services/gadgets/internal/domain/ports.go"]),
		"//go:generate go tool mockgen -destination=mock/ports.go -package=mock -typed . GadgetStore")
	config := string(files["services/gadgets/internal/config/config.go"])
	assert.Contains(t, config, "DefaultGRPCPort = 50061")
	assert.Contains(t, config, "DefaultHTTPPort = 8091")
	for _, dialect := range []string{"sqlite", "postgres"} {
		sql := string(files["services/gadgets/internal/store/migrations/"+dialect+"/0001_init.sql"])
		assert.True(t, strings.HasPrefix(sql, "-- +goose Up\n"), dialect)
		assert.Contains(t, sql, "CREATE TABLE gadgets (")
	}
}

// firstLine is the first line of src that starts with prefix, with its newline.
func firstLine(src []byte, prefix string) []byte {
	for line := range bytes.Lines(src) {
		if bytes.HasPrefix(line, []byte(prefix)) {
			return line
		}
	}
	return nil
}

func TestGoFilesParseAndAreGofmtClean(t *testing.T) {
	for _, s := range []scaffold.Service{gadgets, {Name: "billing", Resource: "PaymentMethod", GRPCPort: 50070, HTTPPort: 8100}} {
		for p, src := range serviceFiles(t, s) {
			if path.Ext(p) != ".go" {
				continue
			}
			t.Run(s.Name+"/"+p, func(t *testing.T) {
				f, err := parser.ParseFile(token.NewFileSet(), p, src, parser.ParseComments)
				require.NoError(t, err)
				formatted, err := format.Source(src)
				require.NoError(t, err)
				assert.Equal(t, string(formatted), string(src), "gofmt would change it")

				// The package is named for its directory (main for cmd, _test for external tests).
				dir := path.Base(path.Dir(p))
				want := dir
				switch {
				case strings.Contains(p, "/cmd/"):
					want = "main"
				case strings.HasSuffix(p, "_test.go"):
					want = dir + "_test"
				}
				assert.Equal(t, want, f.Name.Name)

				// Go names are camel case whatever the resource: only the
				// generated proto names (Service_Method) hold an underscore.
				ast.Inspect(f, func(n ast.Node) bool {
					if id, ok := n.(*ast.Ident); ok && id != f.Name && id.Name != "_" && strings.Contains(id.Name, "_") {
						assert.Contains(t, id.Name, "Service_", "identifier %s", id.Name)
					}
					return true
				})
			})
		}
	}
}

func TestProtoDeclaresTheServiceAndItsRPCs(t *testing.T) {
	proto := string(serviceFiles(t, gadgets)["api/proto/slipway/gadgets/v1/gadgets.proto"])
	for _, want := range []string{
		"package slipway.gadgets.v1;",
		`option go_package = "github.com/slipway-dev/slipway/api/gen/go/slipway/gadgets/v1;gadgetsv1";`,
		"service GadgetsService {",
		"rpc CreateGadget(CreateGadgetRequest) returns (CreateGadgetResponse)",
		`post: "/v1/gadgets"`,
		"rpc GetGadget(GetGadgetRequest) returns (GetGadgetResponse)",
		`get: "/v1/gadgets/{id}"`,
		"rpc ListGadgets(ListGadgetsRequest) returns (ListGadgetsResponse)",
		`get: "/v1/gadgets"`,
		"message Gadget {",
		"int32 page_size = 1",
		"string page_token = 2",
		"(buf.validate.field).string.min_len = 1",
		"repeated Gadget gadgets = 1;",
	} {
		assert.Contains(t, proto, want)
	}
	assert.NotContains(t, proto, "{{", "every template action ran")

	plural := string(serviceFiles(t, scaffold.Service{Name: "crm", Resource: "Address", GRPCPort: 1, HTTPPort: 2})["api/proto/slipway/crm/v1/crm.proto"])
	assert.Contains(t, plural, "rpc ListAddresses(ListAddressesRequest) returns (ListAddressesResponse)")
	assert.Contains(t, plural, "repeated Address addresses = 1;")
}

func TestGoModRequiresWhatTheServicesUse(t *testing.T) {
	root := repoRoot(t)
	files := serviceFiles(t, gadgets)
	f, err := modfile.Parse("go.mod", files["services/gadgets/go.mod"], nil)
	require.NoError(t, err)
	assert.Equal(t, "github.com/slipway-dev/slipway/services/gadgets", f.Module.Mod.Path)

	inventory, err := os.ReadFile(filepath.Join(root, "services", "inventory", "go.mod"))
	require.NoError(t, err)
	want, err := modfile.Parse("go.mod", inventory, nil)
	require.NoError(t, err)
	assert.Equal(t, want.Go.Version, f.Go.Version, "the services' go line")

	direct := map[string]bool{}
	for _, r := range f.Require {
		if !r.Indirect {
			direct[r.Mod.Path] = true
		}
	}
	for _, p := range []string{"github.com/google/wire", "go.uber.org/mock", "github.com/slipway-dev/slipway/platform", "github.com/slipway-dev/slipway/api"} {
		assert.True(t, direct[p], "requires %s directly", p)
	}
	replaced := map[string]string{}
	for _, r := range f.Replace {
		replaced[r.Old.Path] = r.New.Path
	}
	assert.Equal(t, map[string]string{
		"github.com/slipway-dev/slipway/api":      "../../api",
		"github.com/slipway-dev/slipway/platform": "../../platform",
	}, replaced)

	sum := string(files["services/gadgets/go.sum"])
	userSum, err := os.ReadFile(filepath.Join(root, "services", "user", "go.sum"))
	require.NoError(t, err)
	for line := range strings.Lines(string(userSum)) {
		assert.Contains(t, sum, line, "go.sum holds every line of user's")
	}
}

func TestServiceFilesOfTwoServicesAreDisjoint(t *testing.T) {
	a := serviceFiles(t, gadgets)
	b := serviceFiles(t, scaffold.Service{Name: "sprockets", Resource: "Sprocket", GRPCPort: 50062, HTTPPort: 8092})
	for _, files := range []struct {
		name  string
		files map[string][]byte
	}{{"gadgets", a}, {"sprockets", b}} {
		for p := range files.files {
			assert.True(t, strings.HasPrefix(p, "services/"+files.name+"/") || strings.HasPrefix(p, "api/proto/slipway/"+files.name+"/"),
				"%s is outside the service's directories", p)
		}
	}
	for p := range a {
		assert.NotContains(t, b, p)
	}
}

func TestServiceFilesRefuses(t *testing.T) {
	root := repoRoot(t)
	tests := []struct {
		name    string
		s       scaffold.Service
		wantErr string
	}{
		{"an existing service", scaffold.Service{Name: "inventory", Resource: "Product", GRPCPort: 1, HTTPPort: 2}, `services/inventory exists: service "inventory" is taken`},
		{"a bad name", scaffold.Service{Name: "Gadgets", Resource: "Gadget", GRPCPort: 1, HTTPPort: 2}, "must start with a lower-case letter"},
		{"a resource that is not exported", scaffold.Service{Name: "gadgets", Resource: "gadget", GRPCPort: 1, HTTPPort: 2}, "must start with an upper-case letter"},
		{"a resource with a dash", scaffold.Service{Name: "gadgets", Resource: "Wid-get", GRPCPort: 1, HTTPPort: 2}, `has '-'`},
		{"a resource whose variable is a keyword", scaffold.Service{Name: "gadgets", Resource: "Type", GRPCPort: 1, HTTPPort: 2}, `the Go variable "type"`},
		{"a resource the code already uses", scaffold.Service{Name: "gadgets", Resource: "Actor", GRPCPort: 1, HTTPPort: 2}, "collides"},
		{"a port out of range", scaffold.Service{Name: "gadgets", Resource: "Gadget", GRPCPort: 70000, HTTPPort: 2}, "gRPC port 70000"},
		{"one port twice", scaffold.Service{Name: "gadgets", Resource: "Gadget", GRPCPort: 8091, HTTPPort: 8091}, "both 8091"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := scaffold.ServiceFiles(root, tt.s)
			assert.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, files)
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // "" means valid
	}{
		{"widgets", ""},
		{"payment2", ""},
		{"a", ""},
		{strings.Repeat("x", 20), ""},
		{"", "service name is empty"},
		{strings.Repeat("x", 21), "is 21 characters long: want at most 20"},
		{"Gadgets", `service name "Gadgets" must start with a lower-case letter`},
		{"2fa", `service name "2fa" must start with a lower-case letter`},
		{"my-service", `service name "my-service" has '-': want only lower-case letters and digits`},
		{"my_service", `has '_'`},
		{"wïdgets", `has 'ï'`},
		{"func", `service name "func" is a Go keyword`},
		{"type", "is a Go keyword"},
		{"string", `service name "string" is a predeclared Go identifier`},
		{"len", "is a predeclared Go identifier"},
		{"api", `service name "api" is reserved by the repository`},
		{"platform", "is reserved by the repository"},
		{"e2e", "is reserved by the repository"},
		{"tools", "is reserved by the repository"},
		{"web", "is reserved by the repository"},
		{"deploy", "is reserved by the repository"},
		{"docs", "is reserved by the repository"},
		{"money", "is reserved by the repository"},
		{"events", "is reserved by the repository"},
		{"common", "is reserved by the repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := scaffold.ValidateName(tt.name)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestDefaultResource(t *testing.T) {
	tests := map[string]string{
		"gadgets":  "Gadget",
		"payment":  "Payment",
		"address":  "Address",
		"payments": "Payment",
		"news2":    "News2",
		"s":        "S",
	}
	for name, want := range tests {
		assert.Equal(t, want, scaffold.DefaultResource(name), name)
	}
}
