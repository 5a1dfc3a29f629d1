package deployreg_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/slipway-dev/slipway/tools/slipway/internal/deployreg"
)

// deployCopy copies the repository's deploy/ into a temporary root.
func deployCopy(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.work above the test")
		dir = parent
	}
	root := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(root, "deploy"), os.DirFS(filepath.Join(dir, "deploy"))))
	require.NoError(t, os.CopyFS(filepath.Join(root, ".github"), os.DirFS(filepath.Join(dir, ".github"))))
	return root
}

func read(t *testing.T, root, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	require.NoError(t, err)
	return string(data)
}

func write(t *testing.T, root string, edits []deployreg.Edit) {
	t.Helper()
	for _, e := range edits {
		file := filepath.Join(root, filepath.FromSlash(e.Path))
		require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
		require.NoError(t, os.WriteFile(file, e.Data, 0o644))
	}
}

// without removes each part, which must be in s, once.
func without(t *testing.T, path, s string, parts ...string) string {
	t.Helper()
	for _, p := range parts {
		require.Contains(t, s, p, "%s lacks the inserted %q", path, p)
		s = strings.Replace(s, p, "", 1)
	}
	return s
}

func TestDeployRegistersEveryList(t *testing.T) {
	root := deployCopy(t)
	readme, err := os.ReadFile(filepath.Join(root, "deploy", "k8s", "README.md"))
	require.NoError(t, err)
	sum := regexp.MustCompile(`= (\d+) connections, under`).FindSubmatch(readme)
	require.NotNil(t, sum, "the README's connection sum")
	oldTotal, err := strconv.Atoi(string(sum[1]))
	require.NoError(t, err)
	override, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "docker-compose.override.yml"))
	require.NoError(t, err)
	debugPort := 0
	for _, m := range regexp.MustCompile(`"127\.0\.0\.1:(\d+):2345"`).FindAllSubmatch(override, -1) {
		p, err := strconv.Atoi(string(m[1]))
		require.NoError(t, err)
		debugPort = max(debugPort, p+1)
	}
	if debugPort == 2350 { // kubectl port-forward's
		debugPort++
	}
	edits, err := deployreg.Deploy(root, "gadgets", 50099, 8099)
	require.NoError(t, err)

	byPath := map[string]deployreg.Edit{}
	for _, e := range edits {
		assert.NotContains(t, byPath, e.Path, "edited twice")
		byPath[e.Path] = e
	}

	// New files: rendered from the templates, valid YAML, naming the service.
	for _, path := range []string{
		"deploy/k8s/base/gadgets.yaml",
		"deploy/config/dev/gadgets.yaml",
		"deploy/config/prod/gadgets.yaml",
		"deploy/config/local/gadgets.yaml",
		"deploy/k8s/overlays/dev/secrets/gadgets.env",
	} {
		e, ok := byPath[path]
		if !assert.True(t, ok, "no edit creates %s", path) {
			continue
		}
		assert.True(t, e.New, "%s is new", path)
		assert.NoFileExists(t, filepath.Join(root, path))
		assert.NotContains(t, string(e.Data), "<no value>", path)
		if strings.HasSuffix(path, ".yaml") {
			dec := yaml.NewDecoder(strings.NewReader(string(e.Data)))
			for {
				var v any
				if err := dec.Decode(&v); err != nil {
					assert.Equal(t, "EOF", err.Error(), "%s does not parse", path)
					break
				}
			}
		}
	}
	base := string(byPath["deploy/k8s/base/gadgets.yaml"].Data)
	for _, want := range []string{"name: gadgets\n", "containerPort: 50099", "containerPort: 8099", "name: gadgets-secrets",
		"name: gadgets-headless", "kind: PodDisruptionBudget", "kind: HorizontalPodAutoscaler", "readOnlyRootFilesystem: true"} {
		assert.Contains(t, base, want)
	}
	assert.NotContains(t, base, "NATS_")
	assert.Contains(t, string(byPath["deploy/config/prod/gadgets.yaml"].Data), "tls_cert_file:")
	assert.Contains(t, string(byPath["deploy/config/local/gadgets.yaml"].Data), "jwks_url: http://127.0.0.1:8081/", "local: what slipway dev runs")
	assert.Regexp(t, `(?m)^        service: \[inventory, notification, order, payment, user(, \w+)*, gadgets\]$`, string(byPath[".github/workflows/release.yml"].Data))
	assert.Regexp(t, `(?m)for svc in inventory notification order payment user( \w+)* gadgets; do$`, string(byPath["deploy/argo/workflow-release.yaml"].Data))
	assert.Contains(t, string(byPath["deploy/k8s/overlays/dev/secrets/gadgets.env"].Data),
		"DATABASE_URL=postgres://slipway_gadgets:slipway_gadgets@postgres:5432/slipway_gadgets?sslmode=disable\n")

	// Replaced files: the entries are there, and taking them out again gives
	// back the old file byte for byte.
	inserted := map[string][]string{
		"deploy/compose/docker-compose.yml": {"  gadgets 50099/8099",
			"\n  gadgets:\n    <<: *slipway-service\n", "      DATABASE_URL: postgres://slipway_gadgets:slipway_gadgets@postgres:5432/slipway_gadgets?sslmode=disable\n",
			"      - \"127.0.0.1:50099:50099\"\n      - \"127.0.0.1:8099:8099\"\n"},
		// 2350 is .vscode's k8s port-forward: the next free one.
		"deploy/compose/docker-compose.override.yml": {"    image: slipway/gadgets:debug\n", fmt.Sprintf("      - \"127.0.0.1:%d:2345\"\n", debugPort)},
		"deploy/compose/postgres/10-databases.sql": {"CREATE ROLE slipway_gadgets LOGIN PASSWORD 'slipway_gadgets';\n",
			"CREATE DATABASE slipway_gadgets OWNER slipway_gadgets;\n", "REVOKE ALL ON DATABASE slipway_gadgets FROM PUBLIC;\n"},
		"deploy/prometheus/prometheus.yml": {"          - gadgets:8099\n"},
		"deploy/docker/Dockerfile": {"COPY services/gadgets/go.mod services/gadgets/go.sum services/gadgets/\n",
			"FROM runtime-base AS svc-gadgets\nENV GRPC_ADDR=:50099 HTTP_ADDR=:8099\nEXPOSE 50099 8099\n"},
		"deploy/k8s/base/kustomization.yaml":         {"  - gadgets.yaml\n"},
		"deploy/k8s/overlays/dev/kustomization.yaml": {"  - name: slipway/gadgets\n    newTag: dev\n", "  - name: gadgets-secrets\n    envs: [secrets/gadgets.env]\n"},
		"deploy/k8s/overlays/prod/kustomization.yaml": {"#   gadgets-secrets       DATABASE_URL, CONFIG_FINGERPRINT_KEY\n",
			"  - name: slipway/gadgets\n    newName: registry.example.com/slipway/gadgets\n    digest: sha256:", "      name: gadgets\n", "            secretName: gadgets-tls\n"},
		"deploy/k8s/overlays/prod/certificates.yaml":  {"  name: gadgets-tls\n", "    - spiffe://slipway.local/gadgets\n", "    - gadgets-headless.slipway.svc.cluster.local\n"},
		"deploy/k8s/overlays/prod/networkpolicy.yaml": {", gadgets", "  name: gadgets\n", "              slipway.dev/database: gadgets\n"},
		"deploy/config/dev/kustomization.yaml":        {"  - name: gadgets-config\n    files: [gadgets.yaml]\n"},
		"deploy/config/prod/kustomization.yaml":       {"  - name: gadgets-config\n    files: [gadgets.yaml]\n"},
		"deploy/config/local/kustomization.yaml":      {"  - name: gadgets-config\n    files: [gadgets.yaml]\n"},
		".github/workflows/release.yml":               {", gadgets"},
		"deploy/argo/workflow-release.yaml":           {" gadgets"},
		"deploy/prometheus/prometheus-k8s.yml":        {"  - job_name: slipway-gadgets\n", "            label: app.kubernetes.io/name=gadgets\n    relabel_configs: *slipway-pod\n"},
		"deploy/k8s/README.md":                        {"| gadgets | 11 | 2 | 22 |\n", fmt.Sprintf("+ gadgets 11 × 2 = %d", oldTotal+22)},
	}
	for path, parts := range inserted {
		e, ok := byPath[path]
		if !assert.True(t, ok, "no edit of %s", path) {
			continue
		}
		assert.False(t, e.New, "%s exists", path)
		old := read(t, root, path)
		got := string(e.Data)
		// Whole blocks go back out too: what remains of the new text, with
		// the checked lines taken out, is the old file plus the rest of the
		// inserted block, never a changed line of the old file.
		rest := without(t, path, got, parts...)
		if path == "deploy/k8s/README.md" {
			old = strings.Replace(old, fmt.Sprintf("= %d", oldTotal), "", 1) // the sum, rewritten
		}
		assert.True(t, isSubsequence(strings.Split(old, "\n"), strings.Split(rest, "\n")), "%s: an old line changed", path)
	}
	assert.Len(t, edits, len(inserted)+5, "one edit per file")

	// Written out, a second run refuses: the service is there.
	write(t, root, edits)
	_, err = deployreg.Deploy(root, "gadgets", 50099, 8099)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `service "gadgets" is already registered`)
}

// isSubsequence reports whether every line of old is in got, in order.
func isSubsequence(old, got []string) bool {
	i := 0
	for _, l := range got {
		if i < len(old) && old[i] == l {
			i++
		}
	}
	return i == len(old)
}

func TestDeployRefuses(t *testing.T) {
	root := deployCopy(t)
	for _, tt := range []struct {
		name, svc    string
		grpc, http   int
		wantPath     string
		wantFragment string
	}{
		{"an existing service", "inventory", 50099, 8099, "deploy/k8s/base/inventory.yaml", `service "inventory" is already registered`},
		{"a taken port", "gadgets", 50053, 8099, "deploy/compose/docker-compose.yml", "port 50053 is already published"},
		{"a name that is no role name", "wid-gets", 50099, 8099, "", "want lower-case letters and digits"},
		{"equal ports", "gadgets", 50099, 50099, "", "want two different ports"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			edits, err := deployreg.Deploy(root, tt.svc, tt.grpc, tt.http)
			require.Error(t, err)
			assert.Nil(t, edits)
			assert.Contains(t, err.Error(), tt.wantPath)
			assert.Contains(t, err.Error(), tt.wantFragment)
		})
	}
}

// A service that would take the prod pools over the README's budget is
// refused, naming the README whose sum says so.
func TestDeployRefusesOverThePoolBudget(t *testing.T) {
	root := deployCopy(t)
	readme := filepath.Join(root, "deploy", "k8s", "README.md")
	data, err := os.ReadFile(readme)
	require.NoError(t, err)
	m := regexp.MustCompile(`= (\d+) connections, under \d+\.`).FindSubmatch(data)
	require.NotNil(t, m, "the README's sum")
	total, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	// A budget with room for one generated service (11 pods x 2) and not two.
	tight := fmt.Sprintf("= %d connections, under %d.", total, total+22)
	require.NoError(t, os.WriteFile(readme, bytes.Replace(data, m[0], []byte(tight), 1), 0o644))

	edits, err := deployreg.Deploy(root, "gadgets", 50099, 8099)
	require.NoError(t, err)
	write(t, root, edits)
	_, err = deployreg.Deploy(root, "sprockets", 50098, 8098)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("deploy/k8s/README.md: sprockets's 22 connections take the prod pools to %d, over the budget of %d", total+44, total+22))
}

func TestDeployNamesAMissingAnchor(t *testing.T) {
	for _, tt := range []struct {
		path, cut, anchor string
	}{
		{"deploy/config/dev/kustomization.yaml", "configMapGenerator:\n", `"configMapGenerator:"`},
		{"deploy/prometheus/prometheus.yml", "  - job_name: slipway\n", `"  - job_name: slipway"`},
		{"deploy/compose/postgres/10-databases.sql", "REVOKE ALL ON DATABASE slipway_", `"^REVOKE ALL ON DATABASE slipway_"`},
		{"deploy/k8s/overlays/prod/networkpolicy.yaml", "operator: In, values: [order", `"{key: app.kubernetes.io/name, operator: In, values: ["`},
		{"deploy/k8s/README.md", " connections, under 320.", `"= <n> connections, under <budget>."`},
	} {
		t.Run(tt.path, func(t *testing.T) {
			root := deployCopy(t)
			file := filepath.Join(root, filepath.FromSlash(tt.path))
			data := read(t, root, tt.path)
			require.Contains(t, data, tt.cut)
			require.NoError(t, os.WriteFile(file, []byte(strings.ReplaceAll(data, tt.cut, "")), 0o644))

			_, err := deployreg.Deploy(root, "gadgets", 50099, 8099)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.path+": anchor "+tt.anchor+" not found")
		})
	}
}
