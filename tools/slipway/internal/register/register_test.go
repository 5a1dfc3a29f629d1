package register_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"

	"github.com/slipway-dev/slipway/tools/slipway/internal/register"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// planned are the files Workspace edits, and the compose override it reads.
var planned = []string{
	workspace.RegistryFile, register.GoWork, register.LaunchFile,
	register.DevcontainerFile, register.ClientsFile,
}

const composeOverride = "deploy/compose/docker-compose.override.yml"

// copyRoot copies the repository's files that Workspace reads into a
// temporary root, after edit (if any) changes one of them.
func copyRoot(t *testing.T, edit func(path, text string) string) string {
	t.Helper()
	real, err := workspace.FindRoot(".")
	require.NoError(t, err)
	root := t.TempDir()
	for _, p := range append(slices.Clone(planned), composeOverride) {
		data, err := os.ReadFile(filepath.Join(real, filepath.FromSlash(p)))
		require.NoError(t, err)
		text := string(data)
		if edit != nil {
			text = edit(p, text)
		}
		dst := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		require.NoError(t, os.WriteFile(dst, []byte(text), 0o644))
	}
	return root
}

func read(t *testing.T, root, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
	require.NoError(t, err)
	return string(data)
}

// assertKept checks that old survives in new: new is old with text
// inserted, except for the lines changed (lines of old not expected whole).
func assertKept(t *testing.T, old, new string, changed ...string) {
	t.Helper()
	nl := strings.Split(new, "\n")
	j := 0
	for _, l := range strings.Split(old, "\n") {
		if slices.ContainsFunc(changed, func(c string) bool { return strings.Contains(l, c) }) {
			continue
		}
		for j < len(nl) && nl[j] != l {
			j++
		}
		if !assert.Less(t, j, len(nl), "line %q of the old file is gone or moved", l) {
			return
		}
		j++
	}
}

// gadgets is the service registered: its ports are far above the
// registry's, so the test holds as services are added.
var gadgets = workspace.Service{Name: "gadgets", GRPCPort: 50099, HTTPPort: 8099}

func plan(t *testing.T, root string) map[string]string {
	t.Helper()
	edits, err := register.Workspace(root, gadgets)
	require.NoError(t, err)
	got := map[string]string{}
	for _, e := range edits {
		assert.False(t, e.New, "%s exists: it is edited, not created", e.Path)
		got[e.Path] = string(e.Data)
	}
	require.ElementsMatch(t, planned, slices.Collect(maps.Keys(got)))
	return got
}

// readJSONC decodes JSON with comments and trailing commas, the format of
// launch.json and devcontainer.json, by blanking comments and the commas
// before a closing bracket (as deploy's tests read them with hujson).
func readJSONC(t *testing.T, text string, v any) {
	t.Helper()
	inString, lastComma := false, -1
	out := []byte(text)
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case inString:
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
		case c == '"':
			inString, lastComma = true, -1
		case strings.HasPrefix(text[i:], "//"):
			for ; i < len(text) && text[i] != '\n'; i++ {
				out[i] = ' '
			}
		case strings.HasPrefix(text[i:], "/*"):
			end := strings.Index(text[i:], "*/")
			require.GreaterOrEqual(t, end, 0, "unterminated comment")
			for k := i; k < i+end+2; k++ {
				out[k] = ' '
			}
			i += end + 1
		case c == ',':
			lastComma = i
		case c == ']' || c == '}':
			if lastComma >= 0 {
				out[lastComma] = ' '
			}
			lastComma = -1
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			lastComma = -1
		}
	}
	require.NoError(t, json.Unmarshal(out, v), "not JSON with comments:\n%s", text)
}

type launchConfig struct {
	Name, Request, Program string
	Port                   int
	Env                    map[string]string
	SubstitutePath         []struct{ From, To string }
}

func TestWorkspaceRegistersTheService(t *testing.T) {
	root := copyRoot(t, nil)
	got := plan(t, root)

	t.Run("registry", func(t *testing.T) {
		old, new := read(t, root, workspace.RegistryFile), got[workspace.RegistryFile]
		assertKept(t, old, new, lastService())
		svcs, err := workspace.ParseRegistry([]byte(new))
		require.NoError(t, err)
		oldSvcs, err := workspace.ParseRegistry([]byte(old))
		require.NoError(t, err)
		assert.Equal(t, append(oldSvcs, gadgets), svcs, "appended, the others kept in start order")
		assert.Contains(t, new, `  {"name": "gadgets", "grpcPort": 50099, "httpPort": 8099}`+"\n]")
	})

	t.Run("go.work", func(t *testing.T) {
		old, new := read(t, root, register.GoWork), got[register.GoWork]
		assertKept(t, old, new)
		wf, err := modfile.ParseWork("go.work", []byte(new), nil)
		require.NoError(t, err)
		var uses []string
		for _, u := range wf.Use {
			uses = append(uses, u.Path)
		}
		assert.Contains(t, uses, "./services/gadgets")
		assert.True(t, slices.IsSorted(uses), "use lines stay sorted: %q", uses)
		assert.Equal(t, len(old)+len("\t./services/gadgets\n"), len(new), "one line inserted")
	})

	t.Run("launch.json", func(t *testing.T) {
		old, new := read(t, root, register.LaunchFile), got[register.LaunchFile]
		assertKept(t, old, new, " "+lastService()+")", `"configurations": ["user"`)
		var lf struct {
			Configurations []launchConfig
			Compounds      []struct {
				Name           string
				Configurations []string
			}
		}
		readJSONC(t, new, &lf)
		i := slices.IndexFunc(lf.Configurations, func(c launchConfig) bool { return c.Name == "gadgets" })
		require.GreaterOrEqual(t, i, 0, "no launch configuration for gadgets")
		c := lf.Configurations[i]
		assert.Equal(t, "launch", c.Request)
		assert.Equal(t, "${workspaceFolder}/services/gadgets/cmd/gadgets", c.Program)
		assert.Equal(t, "sqlite://.slipway/data/gadgets.db", c.Env["DATABASE_URL"])
		assert.Equal(t, lastService(), lf.Configurations[i-1].Name, "after the last service's launch")

		i = slices.IndexFunc(lf.Configurations, func(c launchConfig) bool { return c.Name == "gadgets: attach to compose" })
		require.GreaterOrEqual(t, i, 0, "no attach configuration for gadgets")
		c = lf.Configurations[i]
		assert.Greater(t, c.Port, 2350, "after 2350, k8s's port-forward")
		require.Len(t, c.SubstitutePath, 1)
		assert.Equal(t, "/src", c.SubstitutePath[0].To)
		ports := map[int]string{}
		for _, c := range lf.Configurations {
			if c.Port != 0 {
				assert.NotContains(t, ports, c.Port, "%s and %s attach to one port", c.Name, ports[c.Port])
				ports[c.Port] = c.Name
			}
		}
		require.Len(t, lf.Compounds, 1)
		var before struct {
			Compounds []struct{ Configurations []string }
		}
		readJSONC(t, old, &before)
		assert.Equal(t, append(before.Compounds[0].Configurations, "gadgets"), lf.Compounds[0].Configurations)
		assert.Contains(t, new, fmt.Sprintf(", %d gadgets)", c.Port), "the header comment lists the compose ports")
		assert.True(t, strings.HasPrefix(new, "// Debug configurations for Slipway."), "comments kept")
	})

	t.Run("devcontainer.json", func(t *testing.T) {
		old, new := read(t, root, register.DevcontainerFile), got[register.DevcontainerFile]
		assertKept(t, old, new, `"forwardPorts"`, fmt.Sprintf(`"%d": {`, workspace.Known[len(workspace.Known)-1].GRPCPort))
		var dc struct {
			ForwardPorts    []int
			PortsAttributes map[string]struct{ Label, OnAutoForward string }
		}
		readJSONC(t, new, &dc)
		var before struct{ ForwardPorts []int }
		readJSONC(t, old, &before)
		want := append(slices.Clone(before.ForwardPorts), 8099, 50099)
		slices.Sort(want)
		assert.Equal(t, want, dc.ForwardPorts)
		assert.Equal(t, "gadgets HTTP", dc.PortsAttributes["8099"].Label)
		assert.Equal(t, "gadgets gRPC", dc.PortsAttributes["50099"].Label)
		assert.Equal(t, "silent", dc.PortsAttributes["50099"].OnAutoForward)
		assert.Contains(t, new, `    "8099": { "label": "gadgets HTTP", "onAutoForward": "silent" },`+"\n"+`    "50051"`)
		assert.Contains(t, new, `    "50099": { "label": "gadgets gRPC", "onAutoForward": "silent" }`+"\n  },")
	})

	t.Run("clients.ts", func(t *testing.T) {
		old, new := read(t, root, register.ClientsFile), got[register.ClientsFile]
		assertKept(t, old, new)
		assert.Contains(t, new, `import { GadgetsService } from "../gen/slipway/gadgets/v1/gadgets_pb";`+"\n"+
			`import { InventoryService } from "../gen/slipway/inventory/v1/inventory_pb";`+"\n", "in the imports' order")
		assert.Contains(t, new, "  gadgets: Client<typeof GadgetsService>;\n}\n")
		assert.Contains(t, new, `    gadgets: createClient(GadgetsService, transport(url("gadgets"))),`+"\n  };\n")
		assertBalanced(t, new)
		assert.Equal(t, 3, strings.Count(new, "GadgetsService"), "imported, typed and constructed")
	})
}

// assertBalanced is a structural check of TypeScript: brackets outside
// strings and comments pair up.
func assertBalanced(t *testing.T, src string) {
	t.Helper()
	var stack []byte
	pairs := map[byte]byte{')': '(', ']': '[', '}': '{'}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			i += strings.Index(src[i:], "*/") + 1
		case c == '"' || c == '\'' || c == '`':
			for i++; i < len(src) && src[i] != c; i++ {
				if src[i] == '\\' {
					i++
				}
			}
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case pairs[c] != 0:
			require.NotEmpty(t, stack, "unmatched %q at %d", c, i)
			require.Equal(t, pairs[c], stack[len(stack)-1], "mismatched %q at %d", c, i)
			stack = stack[:len(stack)-1]
		}
	}
	assert.Empty(t, stack, "unclosed brackets")
}

func TestWorkspaceRefusesARegisteredName(t *testing.T) {
	root := copyRoot(t, nil)
	_, err := register.Workspace(root, workspace.Service{Name: "order", GRPCPort: 50099, HTTPPort: 8099})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `service "order" is already registered`)

	_, err = register.Workspace(root, workspace.Service{Name: "gadgets", GRPCPort: 50052, HTTPPort: 8099})
	require.Error(t, err, "a port in use")
	assert.Contains(t, err.Error(), "port 50052 is used by both order and gadgets")
}

func TestWorkspaceNamesAMissingAnchor(t *testing.T) {
	for _, tc := range []struct {
		file, old, new, want string
	}{
		{register.GoWork, "use (", "use(", `go.work: cannot register the service: found no "use (" block`},
		{register.LaunchFile, `"compounds"`, `"groups"`, `.vscode/launch.json: cannot register the service: found no compound`},
		{register.LaunchFile, `"program"`, `"programme"`, `found no launch configuration of a service`},
		{register.DevcontainerFile, `"portsAttributes"`, `"attributes"`, `.devcontainer/devcontainer.json: cannot register the service: found no "portsAttributes" object`},
		{register.ClientsFile, "export interface Clients {", "export type Clients = {", "web/src/lib/clients.ts: cannot register the service: found no interface Clients"},
		{register.ClientsFile, "return {", "return ({", "found no return { ... } in makeClients"},
		{register.ClientsFile, `from "../gen/slipway/`, `from "@gen/slipway/`, "found no import { <Svc>Service }"},
	} {
		t.Run(tc.file+" "+tc.old, func(t *testing.T) {
			root := copyRoot(t, func(path, text string) string {
				if path != tc.file {
					return text
				}
				require.Contains(t, text, tc.old)
				return strings.ReplaceAll(text, tc.old, tc.new)
			})
			_, err := register.Workspace(root, gadgets)
			require.Error(t, err)
			var anchor *register.AnchorError
			assert.True(t, errors.As(err, &anchor), "%v is no AnchorError", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func writeRegistry(t *testing.T, svcs string) string {
	t.Helper()
	root := t.TempDir()
	p := filepath.Join(root, filepath.FromSlash(workspace.RegistryFile))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(svcs), 0o644))
	return root
}

func TestNextPorts(t *testing.T) {
	for _, tc := range []struct {
		name, registry string
		grpc, http     int
	}{
		{"after the last", `[{"name":"user","grpcPort":50051,"httpPort":8081},{"name":"order","grpcPort":50052,"httpPort":8082}]`, 50053, 8083},
		{"above the highest, not in a gap", `[{"name":"user","grpcPort":50060,"httpPort":8081},{"name":"order","grpcPort":50052,"httpPort":8090}]`, 50061, 8091},
		{"past a port another service uses", `[{"name":"user","grpcPort":50051,"httpPort":50052},{"name":"order","grpcPort":50053,"httpPort":50054}]`, 50055, 50056},
		{"an empty registry starts at the default bases", `[]`, workspace.DefaultGRPCBase, workspace.DefaultHTTPBase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grpc, http, err := register.NextPorts(writeRegistry(t, tc.registry))
			require.NoError(t, err)
			assert.Equal(t, tc.grpc, grpc, "gRPC")
			assert.Equal(t, tc.http, http, "HTTP")
		})
	}

	t.Run("a registry that collides is refused", func(t *testing.T) {
		_, _, err := register.NextPorts(writeRegistry(t, `[{"name":"user","grpcPort":50051,"httpPort":8081},{"name":"order","grpcPort":8081,"httpPort":8082}]`))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "port 8081 is used by both user and order")
	})

	t.Run("no registry", func(t *testing.T) {
		_, _, err := register.NextPorts(t.TempDir())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "read the service registry")
	})
}

func TestRegistered(t *testing.T) {
	root := writeRegistry(t, `[{"name":"user","grpcPort":50051,"httpPort":8081}]`)
	ok, err := register.Registered(root, "user")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = register.Registered(root, "gadgets")
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = register.Registered(writeRegistry(t, `[{"name":"user"`), "user")
	require.Error(t, err)
}

// lastService is the registry's last service, after which a new one goes.
func lastService() string { return workspace.Known[len(workspace.Known)-1].Name }
