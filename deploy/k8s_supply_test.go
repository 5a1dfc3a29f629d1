package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
)

// pinnedImage is a reference by digest: [registry/]repository[:tag]@sha256:<64 hex>.
// The runtime pulls the digest; a tag beside it is only a label for humans.
var pinnedImage = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[0-9a-f]{64}$`)

// workloadImages are the images of every container of every workload of r.
func workloadImages(r *k8sRender) map[string]string {
	out := map[string]string{}
	add := func(owner string, spec *corev1.PodSpec) {
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			out[owner+"/"+c.Name] = c.Image
		}
	}
	for _, d := range all[*appsv1.Deployment](r, "Deployment") {
		add("Deployment "+d.Name, &d.Spec.Template.Spec)
	}
	for _, ro := range all[*argoRollout](r, "Rollout") {
		if ro.Spec.Template != nil {
			add("Rollout "+ro.Name, &ro.Spec.Template.Spec)
		}
	}
	return out
}

// checkDigests returns every image of r that is not pinned by a valid
// sha256 digest, and digests that cannot be a build's: the same for two
// images, or too regular to come from a hash.
func checkDigests(r *k8sRender) []string {
	var problems []string
	seen := map[string]string{}
	images := workloadImages(r)
	for _, owner := range sortedNames(images) {
		image := images[owner]
		if !pinnedImage.MatchString(image) {
			problems = append(problems, fmt.Sprintf("%s: image %q is not pinned by digest (want repo@sha256:<64 hex>; a tag can be moved)", owner, image))
			continue
		}
		_, dg, _ := strings.Cut(image, "@")
		if err := digest.Digest(dg).Validate(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: digest %s: %v", owner, dg, err))
		}
		hex := strings.TrimPrefix(dg, "sha256:")
		distinct := map[rune]bool{}
		for _, c := range hex {
			distinct[c] = true
		}
		if len(distinct) < 8 {
			problems = append(problems, fmt.Sprintf("%s: digest %s is a placeholder, not a build's sha256", owner, dg))
		}
		repo, _, _ := strings.Cut(image, "@")
		if other, ok := seen[dg]; ok && other != repo {
			problems = append(problems, fmt.Sprintf("%s: digest %s is also %s's: two images cannot share one", owner, dg, other))
		}
		seen[dg] = repo
	}
	if len(images) == 0 {
		problems = append(problems, "no workload images")
	}
	return problems
}

// TestKubernetesProdImagesPinnedByDigest: every image the prod overlay runs
// is a digest, set by the overlay's images: entries (which the release
// pipeline rewrites with `kustomize edit set image`), never a tag alone.
func TestKubernetesProdImagesPinnedByDigest(t *testing.T) {
	root := repoRoot(t)
	prod, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
	require.NoError(t, err)
	assert.Empty(t, checkDigests(prod))

	k := readKustomization(t, filepath.Join(root, k8sOverlays, "prod"))
	require.NotEmpty(t, k.Images)
	for _, img := range k.Images {
		assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, img.Digest, "images: %s has no digest", img.Name)
		assert.Empty(t, img.NewTag, "images: %s sets newTag: the digest alone says what runs", img.Name)
	}

	tests := []struct{ name, image, want string }{
		{"tag only", "registry.example.com/slipway/order:0.1.0", "is not pinned by digest"},
		{"latest", "registry.example.com/slipway/order", "is not pinned by digest"},
		{"short digest", "registry.example.com/slipway/order@sha256:9c0c5d22", "is not pinned by digest"},
		{"upper-case digest", "registry.example.com/slipway/order@sha256:" + strings.Repeat("AB12CD34", 8), "is not pinned by digest"},
		{"sha512", "registry.example.com/slipway/order@sha512:" + strings.Repeat("0123456789abcdef", 8), "is not pinned by digest"},
		{"zeros", "registry.example.com/slipway/order@sha256:" + strings.Repeat("0", 64), "is a placeholder"},
		{"copied digest", "", "two images cannot share one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
			require.NoError(t, err)
			c := container(&deployment(r, "order").Spec.Template.Spec, "order")
			if tt.image == "" {
				_, dg, _ := strings.Cut(container(&deployment(r, "user").Spec.Template.Spec, "user").Image, "@")
				c.Image = "registry.example.com/slipway/order@" + dg
			} else {
				c.Image = tt.image
			}
			problems := checkDigests(r)
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}

// readKustomization reads the kustomization file of dir.
func readKustomization(t testing.TB, dir string) *types.Kustomization {
	t.Helper()
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		var k types.Kustomization
		require.NoError(t, k.Unmarshal(data), "%s/%s", dir, name) // unknown fields refused
		return &k
	}
	t.Fatalf("no kustomization in %s", dir)
	return nil
}

// kustomizationTree is dir's kustomization and every kustomization it
// reaches through resources and components, by directory.
func kustomizationTree(t testing.TB, dir string) map[string]*types.Kustomization {
	t.Helper()
	out := map[string]*types.Kustomization{}
	var walk func(dir string)
	walk = func(dir string) {
		if _, done := out[dir]; done {
			return
		}
		k := readKustomization(t, dir)
		out[dir] = k
		for _, res := range slices.Concat(k.Resources, k.Components) {
			p := filepath.Join(dir, res)
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				walk(p)
			}
		}
	}
	walk(dir)
	return out
}

// devSecretValues are the values of deploy/k8s/overlays/dev/secrets/*.env
// that could pass for a password: whole values of 8 characters or more, and
// the passwords inside URLs.
func devSecretValues(t testing.TB) map[string]string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), k8sOverlays, "dev", "secrets")
	files, err := filepath.Glob(filepath.Join(dir, "*.env"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dev secrets under %s", dir)
	out := map[string]string{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			key, value, ok := strings.Cut(line, "=")
			if !ok || strings.HasPrefix(line, "#") {
				continue
			}
			where := filepath.Base(file) + " " + key
			if strings.HasSuffix(key, "_USER") || strings.HasSuffix(key, "_NAME") {
				continue // account names, the same in every environment
			}
			if len(value) >= 8 {
				out[value] = where
			}
			if u, err := url.Parse(value); err == nil {
				if p, ok := u.User.Password(); ok && len(p) >= 4 {
					out[p] = where + " (its password)"
				}
			}
			for _, part := range strings.Split(value, ",") { // SERVICE_ACCOUNTS=name:password,...
				if _, p, ok := strings.Cut(part, ":"); ok && len(p) >= 8 && !strings.Contains(p, "/") {
					out[p] = where + " (a password)"
				}
			}
		}
	}
	return out
}

// checkProdSecrets returns every secret a rendered overlay carries itself:
// Secret objects, secretGenerators anywhere in its kustomization tree, and
// development secret values anywhere in what it renders.
func checkProdSecrets(r *k8sRender, rendered []byte, tree map[string]*types.Kustomization, devValues map[string]string) []string {
	var problems []string
	for _, s := range all[*corev1.Secret](r, "Secret") {
		problems = append(problems, fmt.Sprintf("Secret %s is rendered (%d keys): prod Secrets are created in the cluster, never from git", s.Name, len(s.Data)+len(s.StringData)))
	}
	for _, dir := range sortedNames(tree) {
		for _, g := range tree[dir].SecretGenerator {
			problems = append(problems, fmt.Sprintf("%s: secretGenerator %s (literals %d, files %d, envs %d) puts secrets from git into prod",
				dir, g.Name, len(g.LiteralSources), len(g.FileSources), len(g.EnvSources)))
		}
	}
	for _, v := range sortedNames(devValues) {
		if bytes.Contains(rendered, []byte(v)) {
			problems = append(problems, fmt.Sprintf("the development value of %s is in the prod render", devValues[v]))
		}
	}
	return problems
}

// renderedJSON is every object of r as JSON, with Secret values decoded.
func renderedJSON(t testing.TB, r *k8sRender) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, o := range r.objects {
		data, err := json.Marshal(o.obj)
		require.NoError(t, err)
		buf.Write(data)
		buf.WriteString("\n")
		if s, ok := o.obj.(*corev1.Secret); ok { // Data is base64 in JSON
			for _, v := range s.Data {
				buf.Write(v)
				buf.WriteString("\n")
			}
		}
		buf.WriteString("---\n")
	}
	return buf.Bytes()
}

// TestKubernetesProdHasNoSecrets: the prod overlay renders no Secret and
// generates none, holds no development value, and every Secret its pods
// reference is listed for the operator to create.
func TestKubernetesProdHasNoSecrets(t *testing.T) {
	root := repoRoot(t)
	prodDir := filepath.Join(root, k8sOverlays, "prod")
	prod, err := renderOverlay(prodDir)
	require.NoError(t, err)
	tree := kustomizationTree(t, prodDir)
	require.Contains(t, tree, filepath.Join(root, "deploy", "k8s", "base"), "the walk reaches the base")
	devValues := devSecretValues(t)
	require.NotEmpty(t, devValues)
	assert.Empty(t, checkProdSecrets(prod, renderedJSON(t, prod), tree, devValues))

	// The dev overlay is where the generated Secrets are, and the check
	// sees them: the same checks on dev fail.
	dev, err := renderOverlay(filepath.Join(root, k8sOverlays, "dev"))
	require.NoError(t, err)
	devProblems := checkProdSecrets(dev, renderedJSON(t, dev), kustomizationTree(t, filepath.Join(root, k8sOverlays, "dev")), devValues)
	for _, want := range []string{"Secret user-secrets", "secretGenerator order-secrets", "user.env ADMIN_PASSWORD"} {
		assert.True(t, slices.ContainsFunc(devProblems, func(s string) bool { return strings.Contains(s, want) }), "want %q in %q", want, devProblems)
	}

	// A dev password that leaks into a prod ConfigMap is caught.
	leaky, err := renderOverlay(prodDir)
	require.NoError(t, err)
	for _, cm := range all[*corev1.ConfigMap](leaky, "ConfigMap") {
		for k := range cm.Data {
			cm.Data[k] += "\n# nats: nats://order:order-nats-dev-secret@nats:4222\n"
		}
	}
	assert.True(t, slices.ContainsFunc(checkProdSecrets(leaky, renderedJSON(t, leaky), nil, devValues),
		func(s string) bool { return strings.Contains(s, "order.env NATS_PASSWORD") }))

	// Every key the prod pods take from a Secret is documented for the
	// operator who creates it, in the overlay's kustomization.yaml.
	doc, err := os.ReadFile(filepath.Join(prodDir, "kustomization.yaml"))
	require.NoError(t, err)
	for _, d := range all[*appsv1.Deployment](prod, "Deployment") {
		for _, e := range containerEnv(container(&d.Spec.Template.Spec, d.Name)) {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			line := regexp.MustCompile(`(?m)^#\s+` + regexp.QuoteMeta(ref.Name) + `\s+(.*(\n#\s{10,}.*)*)`).FindSubmatch(doc)
			if assert.NotNil(t, line, "overlays/prod/kustomization.yaml does not list Secret %s", ref.Name) {
				assert.Contains(t, string(line[1]), ref.Key, "overlays/prod/kustomization.yaml: Secret %s lacks key %s", ref.Name, ref.Key)
			}
		}
	}
}

// The database budget of the prod overlay: PostgreSQL's max_connections
// assumed by deploy/k8s/README.md ("Database connections"), and the share
// of it the services may hold; the rest is for operators, migrations,
// backups, monitoring and superuser_reserved_connections.
const (
	postgresMaxConnections = 400
	poolBudgetShare        = 0.8
)

// poolUse is what one service can hold at its scaling maximum.
type poolUse struct {
	service           string
	pods, conns, used int
}

// poolBudget returns each service's connections at the HPA maximum plus a
// rollout's surge, and what is wrong: a pool that is not declared, a total
// over the budget, a statement timeout not under the RPC timeout.
func poolBudget(r *k8sRender, f k8sFacts) (uses []poolUse, total int, problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, name := range sortedNames(f.services) {
		d := deployment(r, name)
		hpa, ok := find[*autoscalingv2.HorizontalPodAutoscaler](r, "HorizontalPodAutoscaler", name)
		if !ok {
			bad("%s: no HorizontalPodAutoscaler, so no maximum to size the pool against", name)
			continue
		}
		maxPods := int(hpa.Spec.MaxReplicas)
		// A rollout adds pods above the maximum for a while: the Rollout's
		// canary maxSurge when it runs the pods, else the Deployment's.
		var surge *intstr.IntOrString
		if owner, _ := podOwner(r, d); strings.HasPrefix(owner, "Rollout ") {
			ro, _ := find[*argoRollout](r, "Rollout", strings.TrimPrefix(owner, "Rollout "))
			if c := ro.Spec.Strategy.Canary; c != nil {
				surge = c.MaxSurge
			}
		} else if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
			surge = ru.MaxSurge
		}
		if surge == nil {
			v := intstr.FromString("25%") // the Kubernetes and Argo default
			surge = &v
		}
		extra, err := intstr.GetScaledValueFromIntOrPercent(surge, maxPods, true)
		if err != nil {
			bad("%s: maxSurge %s: %v", name, surge.String(), err)
		}
		pods := maxPods + extra
		conns := 0
		raw := declaredString(f.declared[name], "db_max_conns")
		for _, e := range containerEnv(container(&d.Spec.Template.Spec, name)) {
			if e.Name == "DB_MAX_CONNS" {
				raw = e.Value
			}
		}
		if conns, err = strconv.Atoi(raw); err != nil || conns < 1 {
			bad("%s: db_max_conns %q is not declared for %s: the default is sized for one instance, not %d pods", name, raw, r.env, pods)
			continue
		}
		stmt, errS := time.ParseDuration(declaredString(f.declared[name], "db_statement_timeout"))
		rpc, errR := time.ParseDuration(declaredString(f.declared[name], "rpc_timeout"))
		if errS != nil || errR != nil || stmt <= 0 || stmt >= rpc {
			bad("%s: db_statement_timeout %q must be declared, above 0 and under rpc_timeout %q", name,
				declaredString(f.declared[name], "db_statement_timeout"), declaredString(f.declared[name], "rpc_timeout"))
		}
		uses = append(uses, poolUse{service: name, pods: pods, conns: conns, used: pods * conns})
		total += pods * conns
	}
	budget := int(math.Floor(postgresMaxConnections * poolBudgetShare))
	if total > budget {
		bad("at the HPA maximum the pools hold %d connections, over the budget of %d (%.0f %% of max_connections %d)",
			total, budget, poolBudgetShare*100, postgresMaxConnections)
	}
	return uses, total, problems
}

// TestKubernetesProdPoolFitsPostgres: at the prod HPA maximum, with a
// rollout's surge, every pod's pool together stays under PostgreSQL's
// max_connections with headroom, and deploy/k8s/README.md shows the sum.
func TestKubernetesProdPoolFitsPostgres(t *testing.T) {
	root := repoRoot(t)
	prod, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
	require.NoError(t, err)
	f := readK8sFacts(t, "prod")
	uses, total, problems := poolBudget(prod, f)
	assert.Empty(t, problems)
	require.Len(t, uses, len(f.services))

	readme, err := os.ReadFile(filepath.Join(root, "deploy", "k8s", "README.md"))
	require.NoError(t, err)
	for _, want := range []string{fmt.Sprintf("max_connections = %d", postgresMaxConnections), fmt.Sprintf("= %d connections", total)} {
		assert.True(t, bytes.Contains(readme, []byte(want)), "deploy/k8s/README.md does not say %q, which the test computes", want)
	}
	for _, u := range uses {
		row := fmt.Sprintf("| %s | %d | %d | %d |", u.service, u.pods, u.conns, u.used)
		assert.True(t, bytes.Contains(readme, []byte(row)), "deploy/k8s/README.md has no row %q", row)
	}

	// Scaling up without resizing the pools is caught.
	for _, hpa := range all[*autoscalingv2.HorizontalPodAutoscaler](prod, "HorizontalPodAutoscaler") {
		hpa.Spec.MaxReplicas = 20
	}
	_, _, problems = poolBudget(prod, f)
	assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, "over the budget of 320") }), "%q", problems)

	// So is the platform's default pool (10 per pod) at today's maximum.
	prod, err = renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
	require.NoError(t, err)
	for _, name := range sortedNames(f.services) {
		c := container(&deployment(prod, name).Spec.Template.Spec, name)
		c.Env = append(c.Env, corev1.EnvVar{Name: "DB_MAX_CONNS", Value: "10"})
	}
	_, total, problems = poolBudget(prod, f)
	assert.Equal(t, 10*11*len(f.services), total)
	assert.NotEmpty(t, problems)
}
