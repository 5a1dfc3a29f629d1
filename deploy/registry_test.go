package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// registry is every per-service list of deploy/: by list (the file, and
// what in it), the services it names. A service that lacks one of them is
// not deployed somewhere: `slipway new service` inserts the entries, and a
// hand-made service must too.
type registry map[string]map[string]bool

func (r registry) add(list, svc string) {
	if r[list] == nil {
		r[list] = map[string]bool{}
	}
	r[list][svc] = true
}

// list makes the list exist even when it names no service, so an emptied
// list is reported rather than forgotten.
func (r registry) list(name string) {
	if r[name] == nil {
		r[name] = map[string]bool{}
	}
}

// missing returns, for each service and each list without it, the file
// and the service.
func (r registry) missing(services []string) []string {
	var out []string
	for _, list := range sortedNames(r) {
		for _, svc := range services {
			if !r[list][svc] {
				out = append(out, fmt.Sprintf("%s lacks service %s", list, svc))
			}
		}
	}
	return out
}

// repoServices are the services the repository builds: services/<svc>
// with a cmd/<svc>.
func repoServices(t testing.TB, root string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(root, "services", "*", "cmd", "*"))
	require.NoError(t, err)
	var out []string
	for _, d := range dirs {
		name := filepath.Base(d)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() && filepath.Base(filepath.Dir(filepath.Dir(d))) == name {
			out = append(out, name)
		}
	}
	require.NotEmpty(t, out, "no services/<svc>/cmd/<svc> under %s", root)
	slices.Sort(out)
	return out
}

// readRegistry reads every per-service list of deploy/ with the parser of
// its format.
func readRegistry(t testing.TB, root string) registry {
	t.Helper()
	r := registry{}
	readComposeLists(t, root, r)
	readDockerfileLists(t, root, r)
	readKustomizeLists(t, root, r)
	readKeySetList(readRenderedLists(t, root, r), r)
	return r
}

func readComposeLists(t testing.TB, root string, r registry) {
	t.Helper()
	const (
		services = "deploy/compose/docker-compose.yml: services"
		debug    = "deploy/compose/docker-compose.override.yml: services (debug target)"
		sql      = "deploy/compose/postgres/10-databases.sql: role, database and REVOKE"
		prom     = "deploy/prometheus/prometheus.yml: job slipway targets"
	)
	for _, l := range []string{services, debug, sql, prom} {
		r.list(l)
	}
	dir := filepath.Join(root, composeDir)
	for _, s := range loadCompose(t, dir, []string{composeFile}, nil).Services {
		if name := slipwayName(s); name != "" {
			r.add(services, name)
		}
	}
	for _, s := range loadCompose(t, dir, []string{composeFile, composeOverride}, nil).Services {
		if name := slipwayName(s); name != "" && s.Build.Target == "debug" {
			r.add(debug, name)
		}
	}

	data, err := os.ReadFile(filepath.Join(dir, "postgres", "10-databases.sql"))
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`(?m)^CREATE DATABASE slipway_(\w+) OWNER slipway_(\w+);$`).FindAllSubmatch(data, -1) {
		name := string(m[1])
		if string(m[2]) == name &&
			bytes.Contains(data, []byte("CREATE ROLE slipway_"+name+" LOGIN ")) &&
			bytes.Contains(data, []byte("REVOKE ALL ON DATABASE slipway_"+name+" FROM PUBLIC;")) {
			r.add(sql, name)
		}
	}

	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join(root, "deploy", "prometheus", "prometheus.yml"), &cfg)
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "slipway" {
			continue
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, _, _ := strings.Cut(target, ":")
				r.add(prom, host)
			}
		}
	}
}

func readDockerfileLists(t testing.TB, root string, r registry) {
	t.Helper()
	const (
		stages  = dockerfile + ": stage svc-<svc>"
		modules = dockerfile + ": COPY of services/<svc>/go.mod"
	)
	r.list(stages)
	r.list(modules)
	data, err := os.ReadFile(filepath.Join(root, dockerfile))
	require.NoError(t, err)
	res, err := parser.Parse(bytes.NewReader(data))
	require.NoError(t, err)
	parsed, _, err := instructions.Parse(res.AST, nil)
	require.NoError(t, err)
	for _, st := range parsed {
		if name, ok := strings.CutPrefix(st.Name, "svc-"); ok {
			r.add(stages, name)
		}
		for _, cmd := range st.Commands {
			c, ok := cmd.(*instructions.CopyCommand)
			if !ok {
				continue
			}
			for _, src := range c.SourcePaths {
				if m := regexp.MustCompile(`^services/([^/$]+)/go\.mod$`).FindStringSubmatch(src); m != nil {
					r.add(modules, m[1])
				}
			}
		}
	}
}

func readKustomizeLists(t testing.TB, root string, r registry) {
	t.Helper()
	base := "deploy/k8s/base/kustomization.yaml: resources"
	r.list(base)
	for _, res := range readKustomization(t, filepath.Join(root, "deploy", "k8s", "base")).Resources {
		if name, ok := strings.CutSuffix(res, ".yaml"); ok {
			r.add(base, name)
		}
	}

	for _, env := range configEnvs(t) {
		dir := filepath.Join(root, "deploy", "config", env)
		list := "deploy/config/" + env + "/kustomization.yaml: configMapGenerator <svc>-config of <svc>.yaml"
		r.list(list)
		for _, g := range readKustomization(t, dir).ConfigMapGenerator {
			name, ok := strings.CutSuffix(g.Name, "-config")
			if ok && slices.Equal(g.FileSources, []string{name + ".yaml"}) && exists(dir, name+".yaml") {
				r.add(list, name)
			}
		}
	}

	overlays := filepath.Join(root, k8sOverlays)
	for _, env := range []string{"dev", "prod"} {
		file := k8sOverlays + "/" + env + "/kustomization.yaml"
		k := readKustomization(t, filepath.Join(overlays, env))
		images := file + ": images slipway/<svc>"
		r.list(images)
		for _, img := range k.Images {
			if name, ok := strings.CutPrefix(img.Name, "slipway/"); ok {
				r.add(images, name)
			}
		}
		switch env {
		case "dev":
			secrets := file + ": secretGenerator <svc>-secrets of secrets/<svc>.env"
			r.list(secrets)
			for _, g := range k.SecretGenerator {
				name, ok := strings.CutSuffix(g.Name, "-secrets")
				env := "secrets/" + name + ".env"
				if ok && slices.Equal(g.EnvSources, []string{env}) && exists(filepath.Join(overlays, "dev"), env) {
					r.add(secrets, name)
				}
			}
		case "prod":
			tls := file + ": patches mounting Secret <svc>-tls"
			r.list(tls)
			for _, p := range k.Patches {
				if p.Target != nil && p.Target.Kind == "Deployment" && p.Target.Name != "" &&
					strings.Contains(p.Patch, "secretName: "+p.Target.Name+"-tls") {
					r.add(tls, p.Target.Name)
				}
			}
			// The Secrets the operator creates are listed in the header.
			doc := file + ": header comment listing <svc>-secrets"
			r.list(doc)
			data, err := os.ReadFile(filepath.Join(overlays, env, "kustomization.yaml"))
			require.NoError(t, err)
			for _, m := range regexp.MustCompile(`(?m)^#\s+(\w+)-secrets\s+DATABASE_URL`).FindAllSubmatch(data, -1) {
				r.add(doc, string(m[1]))
			}
		}
	}

	readme := "deploy/k8s/README.md: Database connections table"
	r.list(readme)
	data, err := os.ReadFile(filepath.Join(root, "deploy", "k8s", "README.md"))
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`(?m)^\| (\w+) \| \d+ \| \d+ \| \d+ \|$`).FindAllSubmatch(data, -1) {
		r.add(readme, string(m[1]))
	}
}

// readRenderedLists renders each overlay and lists the services that have
// all their objects: the base manifest's, and in prod its certificate and
// network policy. It returns prod's policy of user.
func readRenderedLists(t testing.TB, root string, r registry) (keySetFrom *networkingv1.NetworkPolicy) {
	t.Helper()
	for _, env := range []string{"dev", "prod"} {
		rendered, err := renderOverlay(filepath.Join(root, k8sOverlays, env))
		require.NoError(t, err, "overlay %s", env)
		objects := "deploy/k8s/base/<svc>.yaml rendered in " + env + ": Deployment, Services <svc> and <svc>-headless, PodDisruptionBudget, HorizontalPodAutoscaler, ConfigMap <svc>-config"
		r.list(objects)
		for _, d := range all[*appsv1.Deployment](rendered, "Deployment") {
			name := d.Name
			_, svc := find[*corev1.Service](rendered, "Service", name)
			_, headless := find[*corev1.Service](rendered, "Service", name+"-headless")
			_, pdb := find[*policyv1.PodDisruptionBudget](rendered, "PodDisruptionBudget", name)
			_, hpa := find[*autoscalingv2.HorizontalPodAutoscaler](rendered, "HorizontalPodAutoscaler", name)
			// Generated: <svc>-config and a hash of its content.
			config := slices.ContainsFunc(all[*corev1.ConfigMap](rendered, "ConfigMap"), func(c *corev1.ConfigMap) bool {
				return strings.HasPrefix(c.Name, name+"-config-") && c.Labels["app.kubernetes.io/name"] == name
			})
			if svc && headless && pdb && hpa && config {
				r.add(objects, name)
			}
		}
		if env != "prod" {
			continue
		}
		certs := k8sOverlays + "/prod/certificates.yaml: Certificate <svc>-tls"
		policies := k8sOverlays + "/prod/networkpolicy.yaml: NetworkPolicy <svc>"
		for _, l := range []string{certs, policies} {
			r.list(l)
		}
		for _, c := range all[*certManagerCertificate](rendered, "Certificate") {
			if name, ok := strings.CutSuffix(c.Name, "-tls"); ok && c.Spec.SecretName == c.Name {
				r.add(certs, name)
			}
		}
		for _, p := range all[*networkingv1.NetworkPolicy](rendered, "NetworkPolicy") {
			if name := p.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"]; name == p.Name {
				r.add(policies, name)
			}
		}
		user, ok := find[*networkingv1.NetworkPolicy](rendered, "NetworkPolicy", "user")
		require.True(t, ok, "prod renders no NetworkPolicy user")
		keySetFrom = user
	}
	return keySetFrom
}

// readKeySetList lists the services, of those any list names, that user's
// policy lets fetch the key set: an ingress rule on its HTTP port from
// their pods.
func readKeySetList(user *networkingv1.NetworkPolicy, r registry) {
	list := k8sOverlays + "/prod/networkpolicy.yaml: NetworkPolicy user, ingress to its HTTP port (the key set)"
	names := map[string]bool{}
	for _, l := range r {
		for name := range l {
			names[name] = true
		}
	}
	r.list(list)
	r.add(list, "user") // user fetches no key set from itself
	for name := range names {
		labels := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "slipway"}
		for _, rule := range user.Spec.Ingress {
			http := slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool {
				return p.Port != nil && p.Port.String() == "http"
			})
			from := slices.ContainsFunc(rule.From, func(peer networkingv1.NetworkPolicyPeer) bool {
				return peer.NamespaceSelector == nil && selectorMatches(peer.PodSelector, labels)
			})
			if http && from {
				r.add(list, name)
			}
		}
	}
}

// TestEveryServiceIsRegistered: every service the repository builds
// (services/<svc>/cmd/<svc>) is in every per-service list of deploy/.
func TestEveryServiceIsRegistered(t *testing.T) {
	root := repoRoot(t)
	services := repoServices(t, root)
	reg := readRegistry(t, root)
	assert.Empty(t, reg.missing(services))
	// And no list names a service that is not built.
	for _, list := range sortedNames(reg) {
		for _, svc := range sortedNames(reg[list]) {
			assert.Contains(t, services, svc, "%s names %s, which has no services/%s/cmd/%s", list, svc, svc, svc)
		}
	}
}

// TestRegistryFindsAMissingService: a service the deploy files do not know
// is reported once per list, naming the file and the service; one dropped
// from a single list is reported for that list only.
func TestRegistryFindsAMissingService(t *testing.T) {
	root := repoRoot(t)
	services := repoServices(t, root)
	reg := readRegistry(t, root)
	require.GreaterOrEqual(t, len(reg), 20, "the lists read: %q", sortedNames(reg))

	problems := reg.missing(append(slices.Clone(services), "ghost"))
	assert.Len(t, problems, len(reg))
	for _, p := range problems {
		assert.True(t, strings.HasPrefix(p, "deploy/"), "%q names no file", p)
		assert.True(t, strings.HasSuffix(p, " lacks service ghost"), "%q", p)
	}

	list := "deploy/compose/postgres/10-databases.sql: role, database and REVOKE"
	delete(reg[list], services[0])
	assert.Equal(t, []string{list + " lacks service " + services[0]}, reg.missing(services))
}

// TestRegistryReadsTheFiles: entries removed on disk, from a copy of
// deploy/, are reported for their lists and no others.
func TestRegistryReadsTheFiles(t *testing.T) {
	root := repoRoot(t)
	services := repoServices(t, root)
	svc := services[0]
	tmp := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(tmp, "deploy"), os.DirFS(filepath.Join(root, "deploy"))))

	drop := func(rel string, line *regexp.Regexp) {
		file := filepath.Join(tmp, filepath.FromSlash(rel))
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		out := line.ReplaceAll(data, nil)
		require.NotEqual(t, data, out, "%s: nothing matched %s", rel, line)
		require.NoError(t, os.WriteFile(file, out, 0o644))
	}
	drop("deploy/compose/postgres/10-databases.sql", regexp.MustCompile(`(?m)^CREATE ROLE slipway_`+svc+` .*\n`))
	drop("deploy/prometheus/prometheus.yml", regexp.MustCompile(`(?m)^\s+- `+svc+`:\d+\n`))
	drop("deploy/k8s/base/kustomization.yaml", regexp.MustCompile(`(?m)^\s+- `+svc+`\.yaml\n`))

	problems := readRegistry(t, tmp).missing(services)
	assert.ElementsMatch(t, []string{
		"deploy/compose/postgres/10-databases.sql: role, database and REVOKE lacks service " + svc,
		"deploy/prometheus/prometheus.yml: job slipway targets lacks service " + svc,
		"deploy/k8s/base/kustomization.yaml: resources lacks service " + svc,
		// Without its manifest the overlays render none of its objects.
		"deploy/k8s/base/<svc>.yaml rendered in dev: Deployment, Services <svc> and <svc>-headless, PodDisruptionBudget, HorizontalPodAutoscaler, ConfigMap <svc>-config lacks service " + svc,
		"deploy/k8s/base/<svc>.yaml rendered in prod: Deployment, Services <svc> and <svc>-headless, PodDisruptionBudget, HorizontalPodAutoscaler, ConfigMap <svc>-config lacks service " + svc,
	}, problems)
}
