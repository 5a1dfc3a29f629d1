package deploy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// driftDir is the drift CronJob's kustomization.
const driftDir = "deploy/k8s/drift"

// driftKinds are the kinds deploy/k8s/drift may hold, each with the Go
// type the API server decodes it into. A ClusterRole or ClusterRoleBinding
// has no place there and fails the render.
var driftKinds = map[string]func() any{
	"batch/v1/CronJob":                         func() any { return new(batchv1.CronJob) },
	"v1/ServiceAccount":                        func() any { return new(corev1.ServiceAccount) },
	"rbac.authorization.k8s.io/v1/Role":        func() any { return new(rbacv1.Role) },
	"rbac.authorization.k8s.io/v1/RoleBinding": func() any { return new(rbacv1.RoleBinding) },
	"networking.k8s.io/v1/NetworkPolicy":       func() any { return new(networkingv1.NetworkPolicy) },
}

// driftObjects is deploy/k8s/drift rendered by kustomize.
type driftObjects struct {
	cronJob   *batchv1.CronJob
	account   *corev1.ServiceAccount
	roles     []*rbacv1.Role
	bindings  []*rbacv1.RoleBinding
	policies  []*networkingv1.NetworkPolicy
	namespace map[string]string // kind/name -> namespace
}

// renderDrift renders deploy/k8s/drift as `kubectl apply -k` would and
// decodes every object strictly (unknown and duplicate fields refused).
func renderDrift(t *testing.T) driftObjects {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), driftDir))
	require.NoError(t, err)
	out := driftObjects{namespace: map[string]string{}}
	var errs []error
	for _, res := range m.Resources() {
		data, err := res.MarshalJSON()
		require.NoError(t, err)
		mk, ok := driftKinds[res.GetApiVersion()+"/"+res.GetKind()]
		if !ok {
			errs = append(errs, fmt.Errorf("%s %s %s: not a kind the drift job needs", res.GetApiVersion(), res.GetKind(), res.GetName()))
			continue
		}
		v := mk()
		strict, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
		if err == nil {
			err = errors.Join(strict...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", res.GetKind(), res.GetName(), err))
			continue
		}
		out.namespace[res.GetKind()+"/"+res.GetName()] = res.GetNamespace()
		switch o := v.(type) {
		case *batchv1.CronJob:
			require.Nil(t, out.cronJob, "one CronJob")
			out.cronJob = o
		case *corev1.ServiceAccount:
			require.Nil(t, out.account, "one ServiceAccount")
			out.account = o
		case *rbacv1.Role:
			out.roles = append(out.roles, o)
		case *rbacv1.RoleBinding:
			out.bindings = append(out.bindings, o)
		case *networkingv1.NetworkPolicy:
			out.policies = append(out.policies, o)
		}
	}
	require.NoError(t, errors.Join(errs...))
	require.NotNil(t, out.cronJob)
	require.NotNil(t, out.account)
	return out
}

// roleProblems is what makes a rule of the drift Role more than get and
// list of ConfigMaps in the core group.
func roleProblems(role *rbacv1.Role) []string {
	var problems []string
	if len(role.Rules) == 0 {
		problems = append(problems, "no rules")
	}
	for i, r := range role.Rules {
		for _, v := range r.Verbs {
			if v != "get" && v != "list" {
				problems = append(problems, fmt.Sprintf("rule %d: verb %q (want get and list only)", i, v))
			}
		}
		if !slices.Equal(r.APIGroups, []string{""}) {
			problems = append(problems, fmt.Sprintf("rule %d: apiGroups %q (want the core group only)", i, r.APIGroups))
		}
		for _, res := range r.Resources {
			if res != "configmaps" {
				problems = append(problems, fmt.Sprintf("rule %d: resource %q (drift reads ConfigMaps only)", i, res))
			}
		}
		if len(r.NonResourceURLs) > 0 {
			problems = append(problems, fmt.Sprintf("rule %d: nonResourceURLs %q", i, r.NonResourceURLs))
		}
	}
	return problems
}

// bindingProblems is what makes a RoleBinding grant more than the drift
// Role to the drift ServiceAccount.
func bindingProblems(b *rbacv1.RoleBinding, role, account, namespace string) []string {
	var problems []string
	if b.RoleRef.Kind != "Role" || b.RoleRef.Name != role {
		problems = append(problems, fmt.Sprintf("roleRef %s/%s (want Role/%s: a ClusterRole grants cluster-wide rules)", b.RoleRef.Kind, b.RoleRef.Name, role))
	}
	want := rbacv1.Subject{Kind: "ServiceAccount", Name: account, Namespace: namespace}
	if len(b.Subjects) != 1 || b.Subjects[0] != want {
		problems = append(problems, fmt.Sprintf("subjects %+v (want only %+v)", b.Subjects, want))
	}
	return problems
}

func TestDriftCronJobRBACIsLeastPrivilege(t *testing.T) {
	d := renderDrift(t)
	for kind, ns := range d.namespace {
		assert.Equal(t, "slipway", ns, "%s: every object in the slipway namespace", kind)
	}
	require.Len(t, d.roles, 1, "one Role")
	role := d.roles[0]
	assert.Empty(t, roleProblems(role))
	assert.Equal(t, []string{"get", "list"}, role.Rules[0].Verbs)
	require.Len(t, d.bindings, 1, "one RoleBinding")
	assert.Empty(t, bindingProblems(d.bindings[0], role.Name, d.account.Name, "slipway"))

	t.Run("the checks refuse more", func(t *testing.T) {
		widen := map[string]func(r *rbacv1.Role){
			"update":     func(r *rbacv1.Role) { r.Rules[0].Verbs = append(r.Rules[0].Verbs, "update") },
			"any verb":   func(r *rbacv1.Role) { r.Rules[0].Verbs = []string{"*"} },
			"watch":      func(r *rbacv1.Role) { r.Rules[0].Verbs = append(r.Rules[0].Verbs, "watch") },
			"secrets":    func(r *rbacv1.Role) { r.Rules[0].Resources = append(r.Rules[0].Resources, "secrets") },
			"any kind":   func(r *rbacv1.Role) { r.Rules[0].Resources = []string{"*"} },
			"any group":  func(r *rbacv1.Role) { r.Rules[0].APIGroups = []string{"*"} },
			"apps group": func(r *rbacv1.Role) { r.Rules[0].APIGroups = append(r.Rules[0].APIGroups, "apps") },
			"second rule": func(r *rbacv1.Role) {
				r.Rules = append(r.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"delete"}})
			},
			"no rules": func(r *rbacv1.Role) { r.Rules = nil },
		}
		for name, edit := range widen {
			wider := role.DeepCopy()
			edit(wider)
			assert.NotEmpty(t, roleProblems(wider), name)
		}
		binding := d.bindings[0].DeepCopy()
		binding.RoleRef.Kind = "ClusterRole"
		assert.NotEmpty(t, bindingProblems(binding, role.Name, d.account.Name, "slipway"), "a ClusterRole")
		binding = d.bindings[0].DeepCopy()
		binding.Subjects = append(binding.Subjects, rbacv1.Subject{Kind: "Group", Name: "system:authenticated"})
		assert.NotEmpty(t, bindingProblems(binding, role.Name, d.account.Name, "slipway"), "another subject")
	})
}

// containerProblems is what makes a container run as more than a
// non-root user with a read-only root and no privileges.
func containerProblems(c corev1.Container) []string {
	var problems []string
	sc := c.SecurityContext
	if sc == nil {
		return []string{c.Name + ": no securityContext"}
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		problems = append(problems, c.Name+": root filesystem not read-only")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		problems = append(problems, c.Name+": privilege escalation allowed")
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		problems = append(problems, c.Name+": may run as root")
	}
	if sc.Privileged != nil && *sc.Privileged {
		problems = append(problems, c.Name+": privileged")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		problems = append(problems, c.Name+": capabilities not all dropped")
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() {
		problems = append(problems, c.Name+": no CPU or memory limit")
	}
	return problems
}

func TestDriftCronJob(t *testing.T) {
	d := renderDrift(t)
	cj := d.cronJob
	fields := strings.Fields(cj.Spec.Schedule)
	require.Len(t, fields, 5, "a five-field cron schedule")
	assert.Equal(t, []string{"*", "*", "*"}, fields[2:], "daily: every day of every month")
	assert.NotContains(t, fields[0]+fields[1], "*", "once a day, at a fixed minute and hour")
	assert.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)

	job := cj.Spec.JobTemplate.Spec
	require.NotNil(t, job.BackoffLimit)
	assert.Equal(t, int32(0), *job.BackoffLimit, "drift found (exit 1) is a result: no retry")
	require.NotNil(t, job.ActiveDeadlineSeconds, "a hung run ends")

	pod := job.Template.Spec
	assert.Equal(t, d.account.Name, pod.ServiceAccountName)
	require.NotNil(t, d.account.AutomountServiceAccountToken)
	assert.False(t, *d.account.AutomountServiceAccountToken, "the ServiceAccount mounts no token by default")
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.False(t, *pod.AutomountServiceAccountToken, "the pod mounts no token into every container")
	require.NotNil(t, pod.SecurityContext)
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.NotNil(t, pod.SecurityContext.RunAsUser)
	assert.NotZero(t, *pod.SecurityContext.RunAsUser)
	require.NotNil(t, pod.SecurityContext.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
	assert.False(t, pod.HostNetwork || pod.HostPID || pod.HostIPC)

	// The API token: a projected, expiring one, in the container that runs
	// kubectl and no other.
	var tokenVolume string
	for _, v := range pod.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				tokenVolume = v.Name
				require.NotNil(t, s.ServiceAccountToken.ExpirationSeconds)
				assert.LessOrEqual(t, *s.ServiceAccountToken.ExpirationSeconds, int64(3600))
			}
		}
	}
	require.NotEmpty(t, tokenVolume, "the token is a projected volume")
	containers := append(slices.Clone(pod.InitContainers), pod.Containers...)
	var withToken []string
	for _, c := range containers {
		assert.Empty(t, containerProblems(c))
		for _, m := range c.VolumeMounts {
			if m.Name == tokenVolume {
				withToken = append(withToken, c.Name)
				assert.True(t, m.ReadOnly)
			}
		}
		assert.NotEmpty(t, c.Image, c.Name)
	}
	assert.Equal(t, []string{"cluster"}, withToken, "only the container that calls the API server has a token")

	require.Len(t, pod.Containers, 1)
	drift := pod.Containers[0]
	args := strings.Join(append(slices.Clone(drift.Command), drift.Args...), " ")
	assert.True(t, strings.HasPrefix(args, "drift "), args)
	for _, want := range []string{"--env prod", "--k8s /work/k8s.json", "--no-running", "--pushgateway http://pushgateway."} {
		assert.Contains(t, args, want)
	}
	var cluster corev1.Container
	for _, c := range pod.InitContainers {
		if c.Name == "cluster" {
			cluster = c
		}
	}
	kubectl := strings.Join(append(slices.Clone(cluster.Command), cluster.Args...), " ")
	assert.Contains(t, kubectl, "kubectl get configmap ", "it reads what the Role allows")
	assert.NotContains(t, kubectl, "secret", "the Role does not allow Secrets")
	assert.Contains(t, kubectl, "> /work/k8s.json")

	t.Run("the checks refuse a weaker container", func(t *testing.T) {
		weaken := map[string]func(c *corev1.Container){
			"writable root": func(c *corev1.Container) { f := false; c.SecurityContext.ReadOnlyRootFilesystem = &f },
			"root allowed":  func(c *corev1.Container) { c.SecurityContext.RunAsNonRoot = nil },
			"escalation":    func(c *corev1.Container) { c.SecurityContext.AllowPrivilegeEscalation = nil },
			"privileged":    func(c *corev1.Container) { p := true; c.SecurityContext.Privileged = &p },
			"a capability":  func(c *corev1.Container) { c.SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"} },
			"no context":    func(c *corev1.Container) { c.SecurityContext = nil },
			"no limits":     func(c *corev1.Container) { c.Resources.Limits = nil },
		}
		for name, edit := range weaken {
			weaker := drift.DeepCopy()
			edit(weaker)
			assert.NotEmpty(t, containerProblems(*weaker), name)
		}
	})
}

func TestDriftCronJobEgress(t *testing.T) {
	d := renderDrift(t)
	require.Len(t, d.policies, 1)
	p := d.policies[0]
	assert.Equal(t, map[string]string{"app.kubernetes.io/name": "slipway-drift"}, p.Spec.PodSelector.MatchLabels)
	assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, p.Spec.PolicyTypes)
	assert.Empty(t, p.Spec.Ingress, "nothing connects to the job")
	labels := d.cronJob.Spec.JobTemplate.Spec.Template.Labels
	assert.Equal(t, "slipway-drift", labels["app.kubernetes.io/name"], "the policy selects the job's pods")
	assert.Equal(t, "slipway", labels["app.kubernetes.io/part-of"], "the namespace's dns policy covers them")
	var ports []int32
	for _, e := range p.Spec.Egress {
		for _, port := range e.Ports {
			ports = append(ports, port.Port.IntVal)
		}
	}
	assert.ElementsMatch(t, []int32{443, 6443, 9091}, ports, "HTTPS (git, API server) and the Pushgateway only")
}

// The CronJob's image is the Dockerfile's cli target: entrypoint slipway
// (the container's args start at the verb), as the user the pod runs as.
func TestDriftCronJobRunsTheCLIImage(t *testing.T) {
	d := renderDrift(t)
	pod := d.cronJob.Spec.JobTemplate.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	drift := pod.Containers[0]
	assert.Equal(t, "slipway/slipway", drift.Image, "the name release.yml's kustomize edit pins")
	assert.Empty(t, drift.Command, "the image's entrypoint is the CLI")
	require.NotEmpty(t, drift.Args)
	assert.Equal(t, "drift", drift.Args[0])

	b, err := convertDockerfile(t, filepath.Join(repoRoot(t), dockerfile), "cli", nil)
	require.NoError(t, err, "the Dockerfile has no cli target, so nothing builds slipway/slipway")
	assert.Equal(t, []string{"/usr/local/bin/slipway"}, b.image.Config.Entrypoint)
	require.NotNil(t, pod.SecurityContext.RunAsUser)
	assert.Equal(t, fmt.Sprintf("%d:%d", *pod.SecurityContext.RunAsUser, *pod.SecurityContext.RunAsGroup), b.image.Config.User,
		"the pod runs as the image's own user, whose working directory it owns")
}

// promDriftConfig is what a Prometheus configuration needs for the drift
// alerts to work: the rule files, the Alertmanagers, the static jobs.
type promDriftConfig struct {
	RuleFiles []string `yaml:"rule_files"`
	Alerting  struct {
		Alertmanagers []struct {
			StaticConfigs []promStaticConfig `yaml:"static_configs"`
		} `yaml:"alertmanagers"`
	} `yaml:"alerting"`
	ScrapeConfigs []struct {
		JobName       string             `yaml:"job_name"`
		HonorLabels   bool               `yaml:"honor_labels"`
		MetricsPath   string             `yaml:"metrics_path"`
		StaticConfigs []promStaticConfig `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

type promStaticConfig struct {
	Targets []string `yaml:"targets"`
}

func readPromDriftConfig(t testing.TB, file string) promDriftConfig {
	t.Helper()
	var cfg promDriftConfig
	readYAML(t, file, &cfg)
	return cfg
}

// driftAlertProblems is what keeps the alerts of rules/drift.yml from
// seeing what the drift job pushed to the Pushgateway at target, for the
// Prometheus whose configuration cfg is in configDir: no job that scrapes
// target at /metrics, one without honor_labels (the pushed job label would
// become exported_job), drift.yml not among the rule files, no Alertmanager.
func driftAlertProblems(cfg promDriftConfig, configDir, target, driftRules string) []string {
	var problems []string
	scraped := false
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if !slices.Contains(st.Targets, target) {
				continue
			}
			scraped = true
			if !sc.HonorLabels {
				problems = append(problems, fmt.Sprintf("job %s scrapes the Pushgateway %s without honor_labels: true", sc.JobName, target))
			}
			if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
				problems = append(problems, fmt.Sprintf("job %s scrapes the Pushgateway at %s, not /metrics", sc.JobName, sc.MetricsPath))
			}
		}
	}
	if !scraped {
		problems = append(problems, fmt.Sprintf("no job scrapes the Pushgateway %s", target))
	}
	loaded := false
	for _, pattern := range cfg.RuleFiles {
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(configDir, pattern)
		}
		matches, _ := filepath.Glob(pattern)
		loaded = loaded || slices.Contains(matches, driftRules)
	}
	if !loaded {
		problems = append(problems, fmt.Sprintf("rule_files %q do not load %s", cfg.RuleFiles, driftRules))
	}
	var alertmanagers []string
	for _, am := range cfg.Alerting.Alertmanagers {
		for _, st := range am.StaticConfigs {
			alertmanagers = append(alertmanagers, st.Targets...)
		}
	}
	if len(alertmanagers) == 0 {
		problems = append(problems, "no Alertmanager to send the alerts to")
	}
	return problems
}

// Compose's Prometheus scrapes compose's Pushgateway, where `slipway drift
// --pushgateway http://127.0.0.1:9091` pushes from the host.
func TestComposePrometheusScrapesThePushgateway(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, filepath.Join(root, composeDir), []string{composeFile}, nil)
	pg, ok := p.Services["pushgateway"]
	require.True(t, ok, "compose has no pushgateway service")
	require.Len(t, pg.Ports, 1)
	assert.Equal(t, "127.0.0.1", pg.Ports[0].HostIP, "published on loopback only: anyone who can push can forge the drift result")
	assert.Equal(t, "9091", pg.Ports[0].Published)
	target := net.JoinHostPort("pushgateway", fmt.Sprint(pg.Ports[0].Target))

	file := filepath.Join(root, "deploy", "prometheus", "prometheus.yml")
	rules := filepath.Join(root, "deploy", "prometheus", "rules", "drift.yml")
	cfg := readPromDriftConfig(t, file)
	assert.Empty(t, driftAlertProblems(cfg, filepath.Dir(file), target, rules))
	assert.Equal(t, mountSource(t, p.Services["prometheus"], "/etc/prometheus/rules"), filepath.Dir(rules),
		"compose mounts the rules beside the config, where rule_files finds them")

	t.Run("the checks find a broken chain", func(t *testing.T) {
		for name, tt := range map[string]struct {
			edit func(c *promDriftConfig)
			want string
		}{
			"no honor_labels": {func(c *promDriftConfig) {
				for i := range c.ScrapeConfigs {
					c.ScrapeConfigs[i].HonorLabels = false
				}
			}, "without honor_labels"},
			"no job":          {func(c *promDriftConfig) { c.ScrapeConfigs = c.ScrapeConfigs[:1] }, "no job scrapes the Pushgateway"},
			"no rules":        {func(c *promDriftConfig) { c.RuleFiles = []string{"rules/slo.yml"} }, "do not load"},
			"no Alertmanager": {func(c *promDriftConfig) { c.Alerting.Alertmanagers = nil }, "no Alertmanager"},
		} {
			broken := readPromDriftConfig(t, file)
			tt.edit(&broken)
			assert.Contains(t, strings.Join(driftAlertProblems(broken, filepath.Dir(file), target, rules), "\n"), tt.want, name)
		}
	})
}

// driftPushgateway is the host:port the drift CronJob pushes to.
func driftPushgateway(t testing.TB, d driftObjects) string {
	t.Helper()
	args := d.cronJob.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
	i := slices.Index(args, "--pushgateway")
	require.True(t, i >= 0 && i+1 < len(args), "the drift container has no --pushgateway URL")
	u, err := url.Parse(args[i+1])
	require.NoError(t, err)
	require.NotEmpty(t, u.Port(), "--pushgateway %s: name the port Prometheus scrapes", args[i+1])
	return u.Host
}

// The cluster's Prometheus scrapes the Pushgateway the drift CronJob pushes
// to, with honor_labels, evaluates rules/drift.yml and sends the alerts to
// an Alertmanager.
func TestK8sPrometheusScrapesThePushgateway(t *testing.T) {
	root := repoRoot(t)
	target := driftPushgateway(t, renderDrift(t))
	file := filepath.Join(root, "deploy", "prometheus", "prometheus-k8s.yml")
	rules := filepath.Join(root, "deploy", "prometheus", "rules", "drift.yml")
	cfg := readPromDriftConfig(t, file)
	assert.Empty(t, driftAlertProblems(cfg, filepath.Dir(file), target, rules))
	assert.Contains(t, strings.Join(driftAlertProblems(cfg, filepath.Dir(file), "pushgateway.elsewhere.svc:9091", rules), "\n"),
		"no job scrapes the Pushgateway", "a CronJob pushing elsewhere is found")

	// Debian's promtool has no Kubernetes discovery: it checks the file
	// without the Kubernetes-discovered jobs (deploy/argo_test.go checks
	// those), the rule files made absolute.
	promtool := requireTool(t, "promtool", "prometheus")
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &doc))
	top := doc.Content[0]
	var kept, dropped int
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, value := top.Content[i].Value, top.Content[i+1]
		switch key {
		case "rule_files":
			for _, f := range value.Content {
				f.Value = filepath.Join(filepath.Dir(file), f.Value)
			}
		case "scrape_configs":
			var static []*yaml.Node
			for _, job := range value.Content {
				if mappingHas(job, "kubernetes_sd_configs") {
					dropped++
					continue
				}
				static = append(static, job)
			}
			kept = len(static)
			value.Content = static
		}
	}
	require.Positive(t, dropped, "the Kubernetes-discovered jobs")
	require.Positive(t, kept, "the Pushgateway's job")
	out, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	checked := filepath.Join(t.TempDir(), "prometheus-k8s.yml")
	require.NoError(t, os.WriteFile(checked, out, 0o600))
	res, err := exec.CommandContext(t.Context(), promtool, "check", "config", checked).CombinedOutput()
	require.NoError(t, err, "promtool check config (prometheus-k8s.yml without its Kubernetes jobs):\n%s", res)
	assert.Contains(t, string(res), "Checking "+rules+"\n  SUCCESS", "promtool loads and checks the drift rules:\n%s", res)
}

// mappingHas reports whether the YAML mapping n has the key.
func mappingHas(n *yaml.Node, key string) bool {
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}
