package deploy

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const (
	k8sOverlays = "deploy/k8s/overlays"
	// successRateQuery is the PromQL of the release gate, shared by `slipway
	// ready` and the Argo Rollouts analysis.
	successRateQuery = "deploy/promql/success_rate.promql"
	// successRateThreshold is the lowest success rate that passes.
	successRateThreshold = "0.995"
	// canaryHashArg is the analysis argument that carries the canary's
	// pod-template hash, and canaryHashLabel the series label that holds a
	// pod's (deploy/prometheus/prometheus-k8s.yml copies it from the pod
	// label rollouts-pod-template-hash).
	canaryHashArg   = "canary-hash"
	canaryHashLabel = "rollouts_pod_template_hash"
	// configMountDir is where each pod mounts its ConfigMap.
	configMountDir = "/etc/slipway"
)

// Argo Rollouts' CRDs are not in k8s.io/api and its Go module drags in a
// large graph, so the two kinds used here are decoded into these local
// structs: a subset of argoproj.io/v1alpha1, with Argo's JSON names. A field
// this subset does not know fails the strict decode; add it here (as Argo
// names it) when a manifest starts using it.

type argoRollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Replicas                *int32                  `json:"replicas,omitempty"`
		RevisionHistoryLimit    *int32                  `json:"revisionHistoryLimit,omitempty"`
		MinReadySeconds         int32                   `json:"minReadySeconds,omitempty"`
		ProgressDeadlineSeconds *int32                  `json:"progressDeadlineSeconds,omitempty"`
		ProgressDeadlineAbort   bool                    `json:"progressDeadlineAbort,omitempty"`
		Selector                *metav1.LabelSelector   `json:"selector"`
		Template                *corev1.PodTemplateSpec `json:"template,omitempty"`
		WorkloadRef             *struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
			ScaleDown  string `json:"scaleDown,omitempty"`
		} `json:"workloadRef,omitempty"`
		Strategy struct {
			Canary *struct {
				MaxSurge       *intstr.IntOrString `json:"maxSurge,omitempty"`
				MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
				StableService  string              `json:"stableService,omitempty"`
				CanaryService  string              `json:"canaryService,omitempty"`
				Analysis       *struct {
					argoRolloutAnalysis `json:",inline"`
					StartingStep        *int32 `json:"startingStep,omitempty"`
				} `json:"analysis,omitempty"`
				Steps []struct {
					SetWeight *int32 `json:"setWeight,omitempty"`
					Pause     *struct {
						Duration *intstr.IntOrString `json:"duration,omitempty"`
					} `json:"pause,omitempty"`
					Analysis *argoRolloutAnalysis `json:"analysis,omitempty"`
				} `json:"steps,omitempty"`
			} `json:"canary,omitempty"`
		} `json:"strategy"`
	} `json:"spec"`
}

type argoRolloutAnalysis struct {
	Templates []struct {
		TemplateName string `json:"templateName"`
		ClusterScope bool   `json:"clusterScope,omitempty"`
	} `json:"templates"`
	Args []struct {
		Name      string `json:"name"`
		Value     string `json:"value,omitempty"`
		ValueFrom *struct {
			PodTemplateHashValue *string `json:"podTemplateHashValue,omitempty"`
			FieldRef             *struct {
				FieldPath string `json:"fieldPath"`
			} `json:"fieldRef,omitempty"`
		} `json:"valueFrom,omitempty"`
	} `json:"args,omitempty"`
}

// passesCanaryHash reports whether the analysis gives the template the
// canary's pod-template hash as canaryHashArg.
func (a *argoRolloutAnalysis) passesCanaryHash() bool {
	for _, arg := range a.Args {
		if arg.Name == canaryHashArg && arg.ValueFrom != nil && deref(arg.ValueFrom.PodTemplateHashValue) == "Latest" {
			return true
		}
	}
	return false
}

// validate checks what the Rollout CRD requires and the strict decode
// cannot: a selector, one source of the pod template, a strategy, steps
// with exactly one action each.
func (r *argoRollout) validate() error {
	var errs []error
	s := r.Spec
	if s.Selector == nil || len(s.Selector.MatchLabels)+len(s.Selector.MatchExpressions) == 0 {
		errs = append(errs, errors.New("spec.selector is required"))
	}
	if (s.Template == nil) == (s.WorkloadRef == nil) {
		errs = append(errs, errors.New("want exactly one of spec.template and spec.workloadRef"))
	}
	if w := s.WorkloadRef; w != nil && (w.APIVersion == "" || w.Kind == "" || w.Name == "") {
		errs = append(errs, errors.New("spec.workloadRef needs apiVersion, kind and name"))
	}
	c := s.Strategy.Canary
	if c == nil {
		return errors.Join(append(errs, errors.New("spec.strategy.canary is required (the only strategy used here)"))...)
	}
	if len(c.Steps) == 0 {
		errs = append(errs, errors.New("spec.strategy.canary.steps is empty: the release would skip straight to 100%"))
	}
	for i, st := range c.Steps {
		n := 0
		for _, set := range []bool{st.SetWeight != nil, st.Pause != nil, st.Analysis != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("canary step %d: want exactly one of setWeight, pause, analysis", i))
		}
		if st.Analysis != nil && len(st.Analysis.Templates) == 0 {
			errs = append(errs, fmt.Errorf("canary step %d: analysis names no template", i))
		}
	}
	return errors.Join(errs...)
}

type argoAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Args    []argoTemplateArg `json:"args,omitempty"`
		Metrics []struct {
			Name                  string              `json:"name"`
			Interval              string              `json:"interval,omitempty"`
			InitialDelay          string              `json:"initialDelay,omitempty"`
			Count                 *intstr.IntOrString `json:"count,omitempty"`
			SuccessCondition      string              `json:"successCondition,omitempty"`
			FailureCondition      string              `json:"failureCondition,omitempty"`
			FailureLimit          *intstr.IntOrString `json:"failureLimit,omitempty"`
			InconclusiveLimit     *intstr.IntOrString `json:"inconclusiveLimit,omitempty"`
			ConsecutiveErrorLimit *intstr.IntOrString `json:"consecutiveErrorLimit,omitempty"`
			Provider              struct {
				Prometheus *struct {
					Address string `json:"address"`
					Query   string `json:"query"`
					Timeout *int64 `json:"timeout,omitempty"`
				} `json:"prometheus,omitempty"`
			} `json:"provider"`
		} `json:"metrics"`
	} `json:"spec"`
}

// argoTemplateArg is an argument an AnalysisTemplate declares.
type argoTemplateArg struct {
	Name  string  `json:"name"`
	Value *string `json:"value,omitempty"`
}

func (a *argoAnalysisTemplate) validate() error {
	var errs []error
	if len(a.Spec.Metrics) == 0 {
		errs = append(errs, errors.New("spec.metrics is required"))
	}
	for i, m := range a.Spec.Metrics {
		if m.Name == "" {
			errs = append(errs, fmt.Errorf("metric %d: name is required", i))
		}
		if m.SuccessCondition == "" && m.FailureCondition == "" {
			errs = append(errs, fmt.Errorf("metric %s: no successCondition or failureCondition: it can never fail", m.Name))
		}
		if m.Interval != "" {
			if _, err := time.ParseDuration(m.Interval); err != nil {
				errs = append(errs, fmt.Errorf("metric %s: interval: %w", m.Name, err))
			}
		}
		p := m.Provider.Prometheus
		if p == nil {
			errs = append(errs, fmt.Errorf("metric %s: only the prometheus provider is used here", m.Name))
			continue
		}
		if u, err := url.Parse(p.Address); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("metric %s: prometheus.address %q is not an absolute URL", m.Name, p.Address))
		}
		if strings.TrimSpace(p.Query) == "" {
			errs = append(errs, fmt.Errorf("metric %s: prometheus.query is empty", m.Name))
		}
	}
	return errors.Join(errs...)
}

// k8sKinds maps apiVersion/kind to the type a rendered object is decoded
// into. An object of any other kind fails the render check: add its type.
var k8sKinds = map[string]func() any{
	"v1/Namespace":                           func() any { return new(corev1.Namespace) },
	"v1/Service":                             func() any { return new(corev1.Service) },
	"v1/ConfigMap":                           func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                              func() any { return new(corev1.Secret) },
	"apps/v1/Deployment":                     func() any { return new(appsv1.Deployment) },
	"policy/v1/PodDisruptionBudget":          func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"argoproj.io/v1alpha1/Rollout":           func() any { return new(argoRollout) },
	"argoproj.io/v1alpha1/AnalysisTemplate":  func() any { return new(argoAnalysisTemplate) },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return new(networkingv1.NetworkPolicy) },
	"cert-manager.io/v1/Certificate":         func() any { return new(certManagerCertificate) },
	"cert-manager.io/v1/Issuer":              func() any { return new(certManagerIssuer) },
	"cert-manager.io/v1/ClusterIssuer":       func() any { return new(certManagerIssuer) },
}

// decodeStrict decodes the JSON of one object into the type of its kind as
// the API server does: field names case-sensitive, unknown and duplicate
// fields refused.
func decodeStrict(apiVersion, kind string, data []byte) (any, error) {
	mk, ok := k8sKinds[apiVersion+"/"+kind]
	if !ok {
		return nil, fmt.Errorf("%s %s: no Go type to check it against (add it to k8sKinds)", apiVersion, kind)
	}
	v := mk()
	strict, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, errors.Join(strict...)
	}
	if val, ok := v.(interface{ validate() error }); ok {
		if err := val.validate(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// k8sObject is one rendered object.
type k8sObject struct {
	apiVersion, kind, name, namespace string
	obj                               any // *appsv1.Deployment, *argoRollout, ...
}

// k8sRender is an overlay as kustomize renders it.
type k8sRender struct {
	env     string // the overlay's directory name, which is its deploy/config/<env>
	objects []k8sObject
}

// renderOverlay renders dir as `kubectl apply -k dir` would: kustomize's
// default options, so the default load restrictor (files only from inside
// each kustomization's own directory), and no plugins.
func renderOverlay(dir string) (*k8sRender, error) {
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	r := &k8sRender{env: filepath.Base(dir)}
	var errs []error
	for _, res := range m.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			return nil, err
		}
		o := k8sObject{apiVersion: res.GetApiVersion(), kind: res.GetKind(), name: res.GetName(), namespace: res.GetNamespace()}
		if o.obj, err = decodeStrict(o.apiVersion, o.kind, data); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", o.kind, o.name, err))
			continue
		}
		r.objects = append(r.objects, o)
	}
	return r, errors.Join(errs...)
}

// find returns the object of kind and name, decoded.
func find[T any](r *k8sRender, kind, name string) (T, bool) {
	var zero T
	for _, o := range r.objects {
		if o.kind == kind && o.name == name {
			v, ok := o.obj.(T)
			return v, ok
		}
	}
	return zero, false
}

// all returns every object of kind, decoded.
func all[T any](r *k8sRender, kind string) []T {
	var out []T
	for _, o := range r.objects {
		if o.kind == kind {
			if v, ok := o.obj.(T); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// renderedOverlays renders every directory under deploy/k8s/overlays.
func renderedOverlays(t *testing.T) []*k8sRender {
	t.Helper()
	root := repoRoot(t)
	entries, err := os.ReadDir(filepath.Join(root, k8sOverlays))
	require.NoError(t, err)
	var out []*k8sRender
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		r, err := renderOverlay(filepath.Join(root, k8sOverlays, e.Name()))
		require.NoError(t, err, "overlay %s", e.Name())
		out = append(out, r)
	}
	require.NotEmpty(t, out, "no overlay under %s", k8sOverlays)
	return out
}

// k8sFacts are what the checks compare the manifests with, read from the
// code and the other deploy files.
type k8sFacts struct {
	services   map[string]service
	keys       map[string]map[string]configKey
	declared   map[string][]byte // deploy/config/<env>/<svc>.yaml by service
	uid        int64             // the image's USER
	drain      time.Duration     // platform defaults, when a file declares none
	shutdown   time.Duration
	query      string // deploy/promql/success_rate.promql, trimmed
	secretEnvs map[string][]string
}

func readK8sFacts(t testing.TB, env string) k8sFacts {
	t.Helper()
	root := repoRoot(t)
	f := k8sFacts{services: slipwayServices(t), keys: serviceConfigKeys(t), declared: map[string][]byte{}, secretEnvs: map[string][]string{}}
	for name := range f.services {
		f.declared[name] = declaredFile(t, env, name)
		// Secrets, and the database URL with its password, reach the pods
		// from Secrets only.
		envs := []string{"DATABASE_URL"}
		for _, k := range f.keys[name] {
			if k.Secret && k.Env != "" {
				envs = append(envs, k.Env)
			}
		}
		slices.Sort(envs)
		f.secretEnvs[name] = envs
	}
	dockerfileData, err := os.ReadFile(filepath.Join(root, dockerfile))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^USER\s+(\d+)`).FindSubmatch(dockerfileData)
	require.NotNil(t, m, "%s sets no numeric USER", dockerfile)
	f.uid, err = strconv.ParseInt(string(m[1]), 10, 64)
	require.NoError(t, err)
	f.drain, f.shutdown = platformShutdownDefaults(t)
	q, err := os.ReadFile(filepath.Join(root, successRateQuery))
	require.NoError(t, err)
	f.query = strings.TrimSpace(string(q))
	return f
}

// container is the container named name in spec.
func container(spec *corev1.PodSpec, name string) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	return nil
}

func containerPort(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// envRefs are the $(NAME) references in env values, which Kubernetes
// expands from the variables listed before.
var envRefs = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkDeployment returns what is wrong with the Deployment of svc: probes,
// drain, security context, resources, config mount, environment.
func checkDeployment(d *appsv1.Deployment, svc service, f k8sFacts) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("Deployment %s: ", d.Name)+fmt.Sprintf(format, args...))
	}
	pod := &d.Spec.Template.Spec
	c := container(pod, svc.Name)
	if c == nil {
		bad("no container named %s", svc.Name)
		return problems
	}

	// The image: this service's, pinned, never :latest.
	repo, digest, _ := strings.Cut(c.Image, "@")
	tag := ""
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	if digest == "" && (tag == "" || tag == "latest") {
		bad("image %q needs a version tag or digest (the overlay's images: newTag)", c.Image)
	}
	if repo != svc.Name && !strings.HasSuffix(repo, "/"+svc.Name) {
		bad("image %q is not the %s image", c.Image, svc.Name)
	}

	// The config file from the ConfigMap, where --config points.
	configPath := configMountDir + "/" + svc.Name + ".yaml"
	if !slices.Equal(c.Args, []string{"--config", configPath}) {
		bad("args %q, want [--config %s]", c.Args, configPath)
	}
	if len(c.Command) > 0 {
		bad("command %q replaces the image's entrypoint, the service binary", c.Command)
	}
	if p := configVolumePath(pod, c, svc.Name); p != configPath {
		bad("no ConfigMap volume puts %s.yaml at %s (found %q)", svc.Name, configPath, p)
	}

	// Ports and probes: native gRPC health on the gRPC port.
	if got := containerPort(c, "grpc"); got != int32(svc.GRPCPort) {
		bad("container port grpc is %d, want %d", got, svc.GRPCPort)
	}
	if got := containerPort(c, "http"); got != int32(svc.HTTPPort) {
		bad("container port http is %d, want %d", got, svc.HTTPPort)
	}
	problems = append(problems, checkProbes(d.Name, c, svc, declaredTLS(f.declared[svc.Name]))...)

	// Shutdown: the grace period covers the preStop sleep, the drain delay
	// and the graceful stop, and liveness cannot kill a draining pod.
	drain, err := declaredDuration(f.declared[svc.Name], "drain_delay", f.drain)
	if err != nil {
		bad("declared config: %v", err)
	}
	shutdown, err := declaredDuration(f.declared[svc.Name], "shutdown_timeout", f.shutdown)
	if err != nil {
		bad("declared config: %v", err)
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			continue
		}
		if d, err := time.ParseDuration(e.Value); err == nil && e.Name == "DRAIN_DELAY" {
			drain = d
		} else if err == nil && e.Name == "SHUTDOWN_TIMEOUT" {
			shutdown = d
		}
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		switch h := c.Lifecycle.PreStop; {
		case h.Sleep != nil:
			preStop = time.Duration(h.Sleep.Seconds) * time.Second
		case h.Exec != nil:
			bad("preStop runs %q, but the distroless image has no shell or sleep; use the sleep action", h.Exec.Command)
		}
	}
	if preStop == 0 && drain == 0 {
		bad("neither a preStop sleep nor drain_delay: the pod stops before the Services stop sending it calls")
	}
	grace := time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if need := preStop + drain + shutdown; grace <= need {
		bad("terminationGracePeriodSeconds %s must exceed preStop %s + drain_delay %s + shutdown_timeout %s, or the kubelet kills the pod mid-shutdown",
			grace, preStop, drain, shutdown)
	}
	if p := c.LivenessProbe; p != nil {
		period, failures := p.PeriodSeconds, p.FailureThreshold
		if period == 0 {
			period = 10 // the Kubernetes defaults
		}
		if failures == 0 {
			failures = 3
		}
		if window := time.Duration(period*failures) * time.Second; window < grace {
			bad("livenessProbe fails after %s, less than the grace period %s: a draining pod could be killed", window, grace)
		}
	}

	// Security: non-root as the image's user, read-only, nothing extra.
	sc := c.SecurityContext
	psc := pod.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if !isTrue(firstNonNil(sc.RunAsNonRoot, psc.RunAsNonRoot)) {
		bad("runAsNonRoot is not true")
	}
	if uid := firstNonNil(sc.RunAsUser, psc.RunAsUser); uid == nil || *uid != f.uid {
		bad("runAsUser is %v, want the image's user %d", deref(uid), f.uid)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		bad("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		bad("allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		bad("privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		bad("capabilities must drop ALL and add none")
	}
	seccomp := psc.SeccompProfile
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
		bad("seccompProfile is not RuntimeDefault")
	}
	if !isFalse(pod.AutomountServiceAccountToken) {
		bad("automountServiceAccountToken is not false: the services never call the Kubernetes API")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			bad("volume %s mounts a host path", v.Name)
		}
	}

	// Resources: requests and limits for CPU (the HPA scales on it) and memory.
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[res]
		limit, hasLimit := c.Resources.Limits[res]
		switch {
		case !hasReq || req.IsZero():
			bad("no %s request", res)
		case !hasLimit || limit.IsZero():
			bad("no %s limit", res)
		case req.Cmp(limit) > 0:
			bad("%s request %s exceeds its limit %s", res, req.String(), limit.String())
		}
	}

	// Metrics: Prometheus finds /metrics on the HTTP port.
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(svc.HTTPPort) || ann["prometheus.io/path"] != "/metrics" {
		bad("pod annotations %v: want prometheus.io/scrape \"true\", port %d, path /metrics", ann, svc.HTTPPort)
	}

	// Environment: only variables the service reads (or that a later value
	// references), secrets only from its Secret, under their own names.
	if len(c.EnvFrom) > 0 {
		bad("envFrom hides which variables the pod gets; list each one")
	}
	referenced := map[string]bool{}
	for i := len(c.Env) - 1; i >= 0; i-- {
		e := c.Env[i]
		if !svc.allows(e.Name) && !referenced[e.Name] {
			bad("env %s: services/%s's config does not read it", e.Name, svc.Name)
		}
		for _, m := range envRefs.FindAllStringSubmatch(e.Value, -1) {
			referenced[m[1]] = true
		}
		secret := slices.Contains(f.secretEnvs[svc.Name], e.Name)
		var ref *corev1.SecretKeySelector
		if e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
		switch {
		case secret && ref == nil:
			bad("env %s is a secret: take it from the Secret %s-secrets (valueFrom.secretKeyRef)", e.Name, svc.Name)
		case ref != nil && ref.Key != e.Name:
			bad("env %s comes from key %s: name Secret keys after their variable, as slipway drift reads them", e.Name, ref.Key)
		case ref != nil && ref.Name != svc.Name+"-secrets" && !strings.HasPrefix(ref.Name, svc.Name+"-secrets-"):
			bad("env %s comes from Secret %s, want %s-secrets", e.Name, ref.Name, svc.Name)
		}
	}
	return problems
}

// configVolumePath is where c sees the key <svc>.yaml of a ConfigMap volume.
func configVolumePath(pod *corev1.PodSpec, c *corev1.Container, svc string) string {
	for _, v := range pod.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		file := ""
		for _, it := range v.ConfigMap.Items {
			if it.Key == svc+".yaml" {
				file = it.Path
			}
		}
		if len(v.ConfigMap.Items) == 0 {
			file = svc + ".yaml"
		}
		if file == "" {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && m.SubPath == "" {
				return m.MountPath + "/" + file
			}
		}
	}
	return ""
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

func firstNonNil[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// selects reports whether the selector picks pods labelled labels.
func selects(selector map[string]string, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// podOwner is who runs the pods of Deployment d: the Deployment, or the
// Rollout that takes its template; with that owner's spec.replicas.
func podOwner(r *k8sRender, d *appsv1.Deployment) (owner string, replicas *int32) {
	for _, ro := range all[*argoRollout](r, "Rollout") {
		if w := ro.Spec.WorkloadRef; w != nil && w.Kind == "Deployment" && w.Name == d.Name {
			return "Rollout " + ro.Name, ro.Spec.Replicas
		}
	}
	return "Deployment " + d.Name, d.Spec.Replicas
}

func deref32(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// checkRender returns what is wrong with a rendered overlay as a whole:
// every service's objects exist and fit together, ConfigMaps hold the
// declared files, Secrets are complete, peers are reachable, the namespace
// is set, and the canary analysis uses the shared query.
func checkRender(r *k8sRender, f k8sFacts) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// Namespace: one, restricted, and every object in it.
	nss := all[*corev1.Namespace](r, "Namespace")
	if len(nss) != 1 {
		bad("want one Namespace, got %d", len(nss))
	}
	var ns string
	if len(nss) > 0 {
		ns = nss[0].Name
		if nss[0].Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
			bad("Namespace %s does not enforce the restricted Pod Security Standard", ns)
		}
	}
	for _, o := range r.objects {
		if o.kind != "Namespace" && o.namespace != ns {
			bad("%s %s is in namespace %q, not %q", o.kind, o.name, o.namespace, ns)
		}
	}

	secrets := all[*corev1.Secret](r, "Secret")
	secretKeysUsed := map[string]map[string]bool{}
	secretEnv := map[string]map[string]string{} // for the service account check
	for _, name := range sortedNames(f.services) {
		svc := f.services[name]
		d, ok := find[*appsv1.Deployment](r, "Deployment", name)
		if !ok {
			bad("no Deployment %s", name)
			continue
		}
		problems = append(problems, checkDeployment(d, svc, f)...)
		podLabels := d.Spec.Template.Labels
		if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, podLabels) {
			bad("Deployment %s: its selector does not pick its own pods", name)
		}
		pod := &d.Spec.Template.Spec
		c := container(pod, name)

		// The Services: ClusterIP with both ports, headless with gRPC.
		for _, sn := range []string{name, name + "-headless"} {
			s, ok := find[*corev1.Service](r, "Service", sn)
			if !ok {
				bad("no Service %s", sn)
				continue
			}
			if !selects(s.Spec.Selector, podLabels) {
				bad("Service %s does not select the pods of Deployment %s", sn, name)
			}
			for _, other := range all[*appsv1.Deployment](r, "Deployment") {
				if other.Name != name && selects(s.Spec.Selector, other.Spec.Template.Labels) {
					bad("Service %s also selects the pods of Deployment %s", sn, other.Name)
				}
			}
			want := map[string]int{"grpc": svc.GRPCPort, "http": svc.HTTPPort}
			if sn != name {
				delete(want, "http")
				if s.Spec.ClusterIP != corev1.ClusterIPNone {
					bad("Service %s: clusterIP %q, want None (headless, for client-side balancing)", sn, s.Spec.ClusterIP)
				}
			}
			for _, p := range s.Spec.Ports {
				if _, ok := want[p.Name]; !ok {
					bad("Service %s: unexpected port %s", sn, p.Name)
					continue
				}
				if int(p.Port) != want[p.Name] {
					bad("Service %s: port %s is %d, want %d", sn, p.Name, p.Port, want[p.Name])
				}
				if p.AppProtocol == nil || *p.AppProtocol != p.Name {
					bad("Service %s: port %s needs appProtocol %s", sn, p.Name, p.Name)
				}
				if target := p.TargetPort; c != nil && (target.Type == intstr.String && containerPort(c, target.StrVal) == 0 ||
					target.Type == intstr.Int && target.IntVal != int32(want[p.Name])) {
					bad("Service %s: port %s targets %s, which is not the container's %s port", sn, p.Name, target.String(), p.Name)
				}
				delete(want, p.Name)
			}
			for p := range want {
				bad("Service %s has no %s port", sn, p)
			}
		}

		// Scaling and disruption: the HPA scales whoever runs the pods, on
		// CPU; the PDB lets at least one pod go at the lowest scale.
		owner, replicas := podOwner(r, d)
		hpa, ok := find[*autoscalingv2.HorizontalPodAutoscaler](r, "HorizontalPodAutoscaler", name)
		minReplicas := deref32(replicas, 1)
		if !ok {
			bad("no HorizontalPodAutoscaler %s", name)
		} else {
			ref := hpa.Spec.ScaleTargetRef
			if got := ref.Kind + " " + ref.Name; got != owner {
				bad("HorizontalPodAutoscaler %s scales %s, but %s runs the pods", name, got, owner)
			}
			minReplicas = deref32(hpa.Spec.MinReplicas, 1)
			if minReplicas < 1 || hpa.Spec.MaxReplicas < minReplicas {
				bad("HorizontalPodAutoscaler %s: min %d, max %d", name, minReplicas, hpa.Spec.MaxReplicas)
			}
			// The Kubernetes docs' advice for autoscaled workloads: a count in
			// the manifest is reapplied by every apply, undoing the HPA.
			if replicas != nil {
				bad("%s sets replicas %d, which every apply would reset; leave the count to its HorizontalPodAutoscaler", owner, *replicas)
			}
			cpu := false
			for _, m := range hpa.Spec.Metrics {
				if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
					m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && deref32(m.Resource.Target.AverageUtilization, 0) == 75 {
					cpu = true
				}
			}
			if !cpu {
				bad("HorizontalPodAutoscaler %s does not target 75%% CPU utilization", name)
			}
		}
		if owner != "Deployment "+name && (d.Spec.Replicas == nil || *d.Spec.Replicas != 0) {
			bad("Deployment %s must keep replicas 0: %s runs its pods", name, owner)
		}
		pdb, ok := find[*policyv1.PodDisruptionBudget](r, "PodDisruptionBudget", name)
		if !ok {
			bad("no PodDisruptionBudget %s", name)
		} else {
			if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, podLabels) {
				bad("PodDisruptionBudget %s does not select the pods of Deployment %s", name, name)
			}
			if allowed := disruptionsAllowed(pdb, minReplicas); allowed < 1 {
				bad("PodDisruptionBudget %s allows no eviction at %d replicas: node drains would hang", name, minReplicas)
			}
		}

		// The ConfigMap holds exactly the declared file.
		cmName := ""
		for _, v := range pod.Volumes {
			if v.ConfigMap != nil {
				cmName = v.ConfigMap.Name
			}
		}
		if cm, ok := find[*corev1.ConfigMap](r, "ConfigMap", cmName); !ok {
			bad("Deployment %s mounts ConfigMap %q, which the overlay does not generate", name, cmName)
		} else {
			if got, want := cm.Data[name+".yaml"], string(f.declared[name]); got != want {
				bad("ConfigMap %s: %s.yaml differs from %s/%s/%s.yaml", cmName, name, configDir, r.env, name)
			}
			if len(cm.Data) != 1 || len(cm.BinaryData) != 0 {
				bad("ConfigMap %s holds more than %s.yaml", cmName, name)
			}
		}

		// Secrets: every reference resolves, unless the overlay takes all its
		// Secrets from the cluster (then it renders none).
		env := map[string]string{}
		for _, e := range containerEnv(c) {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				env[e.Name] = e.Value
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			if secretKeysUsed[ref.Name] == nil {
				secretKeysUsed[ref.Name] = map[string]bool{}
			}
			secretKeysUsed[ref.Name][ref.Key] = true
			if len(secrets) == 0 {
				if ref.Name != name+"-secrets" {
					bad("Deployment %s: env %s from Secret %q; a Secret made outside kustomize is named %s-secrets", name, e.Name, ref.Name, name)
				}
				continue
			}
			s, ok := find[*corev1.Secret](r, "Secret", ref.Name)
			if !ok {
				bad("Deployment %s: env %s from Secret %s, which the overlay does not generate", name, e.Name, ref.Name)
				continue
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				v2, ok2 := s.StringData[ref.Key]
				v, ok = []byte(v2), ok2
			}
			if !ok && !isTrue(ref.Optional) {
				bad("Deployment %s: env %s needs key %s in Secret %s", name, e.Name, ref.Key, ref.Name)
			}
			if ok {
				env[e.Name] = string(v)
			}
		}
		// The account a service logs in with is named in its declared file.
		if leaves, err := flattenConfig(f.declared[name], f.keys[name]); err == nil {
			if v, ok := leaves["service_account_name"]; ok && env["SERVICE_ACCOUNT_NAME"] == "" {
				env["SERVICE_ACCOUNT_NAME"] = v.node.Value
			}
		}
		secretEnv[name] = env

		// Peers and the JWKS URL name Services of this overlay, at ports
		// that reach the right service.
		problems = append(problems, checkPeers(r, f, name)...)
	}
	for _, s := range secrets {
		for k := range s.Data {
			if !secretKeysUsed[s.Name][k] {
				bad("Secret %s: key %s is given to no pod", s.Name, k)
			}
		}
	}
	if len(secrets) > 0 {
		for _, p := range checkServiceAccounts(secretEnv) {
			bad("Secrets: %s", p)
		}
	}
	return append(problems, checkRollouts(r, f)...)
}

func containerEnv(c *corev1.Container) []corev1.EnvVar {
	if c == nil {
		return nil
	}
	return c.Env
}

// disruptionsAllowed is how many pods the budget lets go when replicas run.
func disruptionsAllowed(pdb *policyv1.PodDisruptionBudget, replicas int32) int32 {
	scaled := func(v *intstr.IntOrString, roundUp bool) int32 {
		n, err := intstr.GetScaledValueFromIntOrPercent(v, int(replicas), roundUp)
		if err != nil {
			return -1
		}
		return int32(n)
	}
	switch {
	case pdb.Spec.MinAvailable != nil:
		return replicas - scaled(pdb.Spec.MinAvailable, true)
	case pdb.Spec.MaxUnavailable != nil:
		return scaled(pdb.Spec.MaxUnavailable, false)
	}
	return replicas
}

// checkPeers checks the addresses in svc's declared config that name another
// service (<peer>_addr, jwks_url): each is a Service of the overlay that
// selects the peer's pods, at the peer's port.
func checkPeers(r *k8sRender, f k8sFacts, svc string) []string {
	var problems []string
	leaves, err := flattenConfig(f.declared[svc], f.keys[svc])
	if err != nil {
		return []string{err.Error()}
	}
	for _, key := range sortedNames(leaves) {
		value := leaves[key].node.Value
		var peer, host string
		var port int
		switch {
		case key == "jwks_url":
			u, err := url.Parse(value)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: jwks_url %q: %v", svc, value, err))
				continue
			}
			peer, host = "user", u.Hostname()
			port, _ = strconv.Atoi(u.Port())
			if u.Path != "/.well-known/jwks.json" {
				problems = append(problems, fmt.Sprintf("%s: jwks_url path %q, the user service serves /.well-known/jwks.json", svc, u.Path))
			}
			if port != f.services["user"].HTTPPort {
				problems = append(problems, fmt.Sprintf("%s: jwks_url port %d is not the user service's HTTP port %d", svc, port, f.services["user"].HTTPPort))
			}
		case strings.HasSuffix(key, "_addr"):
			name := strings.TrimSuffix(key, "_addr")
			if _, ok := f.services[name]; !ok {
				continue // grpc_addr, http_addr, advertise_addr
			}
			h, p, err := net.SplitHostPort(strings.TrimPrefix(value, "dns:///"))
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s %q: %v", svc, key, value, err))
				continue
			}
			peer, host = name, h
			port, _ = strconv.Atoi(p)
			if port != f.services[name].GRPCPort {
				problems = append(problems, fmt.Sprintf("%s: %s port %d is not %s's gRPC port %d", svc, key, port, name, f.services[name].GRPCPort))
			}
		default:
			continue
		}
		// A short name resolves in the pod's own namespace.
		short, _, _ := strings.Cut(host, ".")
		s, ok := find[*corev1.Service](r, "Service", short)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: %s names host %q, not a Service of the overlay", svc, key, host))
			continue
		}
		d, ok := find[*appsv1.Deployment](r, "Deployment", peer)
		if !ok || !selects(s.Spec.Selector, d.Spec.Template.Labels) {
			problems = append(problems, fmt.Sprintf("%s: %s reaches Service %s, which does not select the %s pods", svc, key, short, peer))
		}
		if strings.HasPrefix(value, "dns:///") && s.Spec.ClusterIP != corev1.ClusterIPNone {
			problems = append(problems, fmt.Sprintf("%s: %s resolves %s through DNS for round robin, but it is not headless: one ClusterIP, one pod per connection", svc, key, short))
		}
	}
	return problems
}

var successThreshold = regexp.MustCompile(`result\[0\]\s*>=\s*([0-9.]+)`)

// checkRollouts checks each Rollout and the analyses it runs: the pod
// template comes from a Deployment of the overlay, every step's analysis
// template exists and is given the canary's pod-template hash, and each uses
// the shared success-rate query, scoped to the canary, and threshold.
func checkRollouts(r *k8sRender, f k8sFacts) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, ro := range all[*argoRollout](r, "Rollout") {
		if w := ro.Spec.WorkloadRef; w != nil {
			d, ok := find[*appsv1.Deployment](r, "Deployment", w.Name)
			switch {
			case w.APIVersion != "apps/v1" || w.Kind != "Deployment" || !ok:
				bad("Rollout %s: workloadRef %s %s %s is not a Deployment of the overlay", ro.Name, w.APIVersion, w.Kind, w.Name)
			case d.Spec.Selector == nil || !slices.Equal(sortedPairs(ro.Spec.Selector.MatchLabels), sortedPairs(d.Spec.Selector.MatchLabels)):
				bad("Rollout %s: selector differs from Deployment %s's", ro.Name, w.Name)
			}
		}
		var templates []string
		c := ro.Spec.Strategy.Canary
		if c.Analysis != nil {
			for _, tpl := range c.Analysis.Templates {
				templates = append(templates, tpl.TemplateName)
			}
			if !c.Analysis.passesCanaryHash() {
				bad("Rollout %s: the background analysis passes no %s (valueFrom.podTemplateHashValue: Latest): it would measure every pod", ro.Name, canaryHashArg)
			}
		}
		gated := false
		for i, st := range c.Steps {
			if st.Analysis != nil {
				gated = true
				for _, tpl := range st.Analysis.Templates {
					templates = append(templates, tpl.TemplateName)
				}
				if !st.Analysis.passesCanaryHash() {
					bad("Rollout %s: step %d's analysis passes no %s (valueFrom.podTemplateHashValue: Latest): it would measure every pod", ro.Name, i, canaryHashArg)
				}
			}
		}
		if !gated && c.Analysis == nil {
			bad("Rollout %s runs no analysis: nothing blocks a bad release", ro.Name)
		}
		for _, name := range templates {
			at, ok := find[*argoAnalysisTemplate](r, "AnalysisTemplate", name)
			if !ok {
				bad("Rollout %s: AnalysisTemplate %s is not in the overlay", ro.Name, name)
				continue
			}
			if !slices.ContainsFunc(at.Spec.Args, func(a argoTemplateArg) bool { return a.Name == canaryHashArg }) {
				bad("AnalysisTemplate %s declares no argument %s", name, canaryHashArg)
			}
			want, err := canaryQuery(f.query)
			if err != nil {
				bad("%s: %v", successRateQuery, err)
				continue
			}
			for _, m := range at.Spec.Metrics {
				p := m.Provider.Prometheus
				if p == nil {
					continue
				}
				if got, err := normalizePromQL(p.Query); err != nil || got != want {
					bad("AnalysisTemplate %s: metric %s's query is not %s with %s=\"{{args.%s}}\" on every selector (the canary's pods only):\n got %s\nwant %s",
						name, m.Name, successRateQuery, canaryHashLabel, canaryHashArg, strings.TrimSpace(p.Query), want)
				}
				if mm := successThreshold.FindStringSubmatch(m.SuccessCondition); mm == nil || mm[1] != successRateThreshold {
					bad("AnalysisTemplate %s: metric %s's successCondition %q does not require result[0] >= %s", name, m.Name, m.SuccessCondition, successRateThreshold)
				}
			}
		}
	}
	return problems
}

// canaryQuery is the shared success-rate query with every selector narrowed
// to the canary's pods, normalized as normalizePromQL does.
func canaryQuery(shared string) (string, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(shared)
	if err != nil {
		return "", err
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vs.LabelMatchers = append(vs.LabelMatchers, labels.MustNewMatcher(labels.MatchEqual, canaryHashLabel, "{{args."+canaryHashArg+"}}"))
		}
		return nil
	})
	return normalizePromQL(expr.String())
}

// normalizePromQL parses expr and prints it back with each selector's
// matchers sorted, so two ways of writing one query compare equal.
func normalizePromQL(expr string) (string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(strings.TrimSpace(expr))
	if err != nil {
		return "", err
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			slices.SortFunc(vs.LabelMatchers, func(a, b *labels.Matcher) int { return strings.Compare(a.String(), b.String()) })
		}
		return nil
	})
	return e.String(), nil
}

func sortedPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func TestKubernetesOverlays(t *testing.T) {
	root := repoRoot(t)
	renders := renderedOverlays(t)
	var envs []string
	for _, r := range renders {
		envs = append(envs, r.env)
	}
	// deploy/config/local is what slipway dev runs on a workstation: no overlay.
	assert.ElementsMatch(t, slices.DeleteFunc(configEnvs(t), func(env string) bool { return env == localEnv }), envs,
		"every deploy/config/<env> but local has an overlay deploy/k8s/overlays/<env>, and the other way round")
	for _, r := range renders {
		t.Run(r.env, func(t *testing.T) {
			if !assert.True(t, exists(root, filepath.ToSlash(filepath.Join(configDir, r.env))), "no %s/%s for this overlay", configDir, r.env) {
				return
			}
			assert.Empty(t, checkRender(r, readK8sFacts(t, r.env)))
		})
	}
}

// The prod overlay releases order as a canary gated by the analysis, and
// takes its Secrets from the cluster; dev generates its own.
func TestKubernetesProdCanaryAndSecrets(t *testing.T) {
	root := repoRoot(t)
	prod, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
	require.NoError(t, err)
	ro, ok := find[*argoRollout](prod, "Rollout", "order")
	require.True(t, ok, "prod has no Rollout order")
	require.NotNil(t, ro.Spec.WorkloadRef)
	assert.Equal(t, "order", ro.Spec.WorkloadRef.Name)
	_, ok = find[*argoAnalysisTemplate](prod, "AnalysisTemplate", "order-success-rate")
	assert.True(t, ok, "prod has no AnalysisTemplate order-success-rate")
	assert.Empty(t, all[*corev1.Secret](prod, "Secret"), "prod Secrets come from the cluster, never from git")

	dev, err := renderOverlay(filepath.Join(root, k8sOverlays, "dev"))
	require.NoError(t, err)
	assert.Len(t, all[*corev1.Secret](dev, "Secret"), len(slipwayServices(t)), "dev generates one Secret per service")
	// Every user replica signs with the key from the Secret (the root
	// filesystem is read-only, and per-pod keys would split the JWKS): it
	// must be what the user service accepts, a base64 32-byte Ed25519 seed.
	signing := 0
	for _, s := range all[*corev1.Secret](dev, "Secret") {
		if key, ok := s.Data["AUTH_SIGNING_KEY"]; ok {
			signing++
			seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(key)))
			require.NoError(t, err, "AUTH_SIGNING_KEY is not base64")
			assert.Len(t, seed, ed25519.SeedSize, "AUTH_SIGNING_KEY is not an Ed25519 seed")
		}
	}
	assert.Equal(t, 1, signing, "one dev Secret holds AUTH_SIGNING_KEY")
}

// The query file is one PromQL expression over metrics and labels that
// platform declares, and the AnalysisTemplate in git holds it narrowed to
// the canary (checkRollouts compares the rendered one).
func TestSuccessRateQuery(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, successRateQuery))
	require.NoError(t, err)
	q, err := parsePromQL(strings.TrimSpace(string(data)))
	require.NoError(t, err, "%s is not PromQL", successRateQuery)
	metrics := platformMetrics(t)
	require.Contains(t, q.metrics, "slipway_rpc_requests_total")
	for metric, labels := range q.metrics {
		require.Contains(t, metrics, metric, "metric %s is not declared in platform", metric)
		for _, l := range labels {
			assert.True(t, metrics[metric][l], "metric %s has no label %q", metric, l)
		}
	}
	assert.True(t, q.matches["code"] && q.matches["service"], "the query selects by service and code")
	assert.True(t, q.hasFunc["rate"])

	raw, err := os.ReadFile(filepath.Join(root, "deploy", "k8s", "rollouts", "analysis-template.yaml"))
	require.NoError(t, err)
	var at struct {
		Spec struct {
			Metrics []struct {
				Provider struct {
					Prometheus struct {
						Query string `yaml:"query"`
					} `yaml:"prometheus"`
				} `yaml:"provider"`
			} `yaml:"metrics"`
		} `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &at))
	require.NotEmpty(t, at.Spec.Metrics)
	want, err := canaryQuery(strings.TrimSpace(string(data)))
	require.NoError(t, err)
	got, err := normalizePromQL(at.Spec.Metrics[0].Provider.Prometheus.Query)
	require.NoError(t, err)
	assert.Equal(t, want, got, "analysis-template.yaml does not hold the shared query narrowed to the canary")
}

// The base alone references ConfigMaps and Secrets it does not make, but it
// must still render and decode.
func TestKubernetesBaseRenders(t *testing.T) {
	r, err := renderOverlay(filepath.Join(repoRoot(t), "deploy", "k8s", "base"))
	require.NoError(t, err)
	assert.NotEmpty(t, all[*appsv1.Deployment](r, "Deployment"))
}

// TestKubernetesChecksFindProblems breaks a rendered overlay in the ways
// the checks look for, so a check that cannot fail is caught.
func TestKubernetesChecksFindProblems(t *testing.T) {
	root := repoRoot(t)
	tests := []struct {
		name   string
		env    string
		mutate func(*k8sRender)
		want   string
	}{
		{"liveness follows dependencies", "dev", func(r *k8sRender) {
			container(&deployment(r, "user").Spec.Template.Spec, "user").LivenessProbe.HTTPGet.Path = "/readyz"
		}, "livenessProbe and readinessProbe both ask http /readyz"},
		{"writable root filesystem", "dev", func(r *k8sRender) {
			f := false
			container(&deployment(r, "user").Spec.Template.Spec, "user").SecurityContext.ReadOnlyRootFilesystem = &f
		}, "readOnlyRootFilesystem is not true"},
		{"root user", "prod", func(r *k8sRender) {
			var uid int64
			spec := &deployment(r, "inventory").Spec.Template.Spec
			spec.SecurityContext.RunAsUser = &uid
			container(spec, "inventory").SecurityContext.RunAsUser = nil
		}, "runAsUser is 0"},
		{"grace period too short", "dev", func(r *k8sRender) {
			g := int64(20)
			deployment(r, "order").Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, "terminationGracePeriodSeconds 20s must exceed preStop 5s + drain_delay 5s + shutdown_timeout 20s"},
		{"shell preStop", "dev", func(r *k8sRender) {
			container(&deployment(r, "order").Spec.Template.Spec, "order").Lifecycle.PreStop = &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "sleep 5"}}}
		}, "has no shell"},
		{"secret as a plain value", "dev", func(r *k8sRender) {
			c := container(&deployment(r, "order").Spec.Template.Spec, "order")
			c.Env = append(c.Env, corev1.EnvVar{Name: "SERVICE_ACCOUNT_PASSWORD", Value: "hunter22"})
		}, "env SERVICE_ACCOUNT_PASSWORD is a secret"},
		{"variable the service does not read", "dev", func(r *k8sRender) {
			c := container(&deployment(r, "order").Spec.Template.Spec, "order")
			c.Env = append(c.Env, corev1.EnvVar{Name: "NATS_ADDR", Value: "x"})
		}, "env NATS_ADDR: services/order's config does not read it"},
		{"no memory limit", "dev", func(r *k8sRender) {
			delete(container(&deployment(r, "notification").Spec.Template.Spec, "notification").Resources.Limits, corev1.ResourceMemory)
		}, "no memory limit"},
		{"unpinned image", "dev", func(r *k8sRender) {
			container(&deployment(r, "user").Spec.Template.Spec, "user").Image = "slipway/user"
		}, "needs a version tag"},
		{"wrong scrape port", "dev", func(r *k8sRender) {
			deployment(r, "user").Spec.Template.Annotations["prometheus.io/port"] = "50051"
		}, "want prometheus.io/scrape"},
		{"replicas next to an HPA", "dev", func(r *k8sRender) {
			two := int32(2)
			deployment(r, "user").Spec.Replicas = &two
		}, "Deployment user sets replicas 2, which every apply would reset"},
		{"Deployment scaled up beside its Rollout", "prod", func(r *k8sRender) {
			two := int32(2)
			deployment(r, "order").Spec.Replicas = &two
		}, "Deployment order must keep replicas 0"},
		{"PDB blocks drains", "dev", func(r *k8sRender) {
			pdb, _ := find[*policyv1.PodDisruptionBudget](r, "PodDisruptionBudget", "user")
			one := intstr.FromInt32(1)
			pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable = nil, &one
		}, "PodDisruptionBudget user allows no eviction at 1 replicas"},
		{"Service selects another workload", "dev", func(r *k8sRender) {
			s, _ := find[*corev1.Service](r, "Service", "order")
			s.Spec.Selector = map[string]string{"app.kubernetes.io/part-of": "slipway"}
		}, "Service order also selects the pods of Deployment inventory"},
		{"HPA scales the Deployment the Rollout replaced", "prod", func(r *k8sRender) {
			hpa, _ := find[*autoscalingv2.HorizontalPodAutoscaler](r, "HorizontalPodAutoscaler", "order")
			hpa.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "order"}
		}, "HorizontalPodAutoscaler order scales Deployment order, but Rollout order runs the pods"},
		{"ConfigMap differs from the declared file", "dev", func(r *k8sRender) {
			for _, cm := range all[*corev1.ConfigMap](r, "ConfigMap") {
				if v, ok := cm.Data["order.yaml"]; ok {
					cm.Data["order.yaml"] = v + "log_level: error\n"
				}
			}
		}, "order.yaml differs from deploy/config/dev/order.yaml"},
		{"Secret key missing", "dev", func(r *k8sRender) {
			for _, s := range all[*corev1.Secret](r, "Secret") {
				delete(s.Data, "AUTH_SIGNING_KEY")
			}
		}, "env AUTH_SIGNING_KEY needs key AUTH_SIGNING_KEY"},
		{"service account passwords differ", "dev", func(r *k8sRender) {
			for _, s := range all[*corev1.Secret](r, "Secret") {
				if _, ok := s.Data["SERVICE_ACCOUNT_PASSWORD"]; ok {
					s.Data["SERVICE_ACCOUNT_PASSWORD"] = []byte("another-secret")
				}
			}
		}, "SERVICE_ACCOUNT_PASSWORD differs"},
		{"analysis query drifts from the shared file", "prod", func(r *k8sRender) {
			at, _ := find[*argoAnalysisTemplate](r, "AnalysisTemplate", "order-success-rate")
			at.Spec.Metrics[0].Provider.Prometheus.Query = `sum(rate(slipway_rpc_requests_total{code="OK"}[5m]))`
		}, "query is not deploy/promql/success_rate.promql"},
		{"analysis measures every order pod", "prod", func(r *k8sRender) {
			at, _ := find[*argoAnalysisTemplate](r, "AnalysisTemplate", "order-success-rate")
			q, err := os.ReadFile(filepath.Join(root, successRateQuery))
			if err != nil {
				panic(err)
			}
			at.Spec.Metrics[0].Provider.Prometheus.Query = string(q)
		}, "the canary's pods only"},
		{"analysis step passes no canary hash", "prod", func(r *k8sRender) {
			ro, _ := find[*argoRollout](r, "Rollout", "order")
			for _, st := range ro.Spec.Strategy.Canary.Steps {
				if st.Analysis != nil {
					st.Analysis.Args = nil
				}
			}
		}, "passes no canary-hash"},
		{"analysis template declares no canary hash", "prod", func(r *k8sRender) {
			at, _ := find[*argoAnalysisTemplate](r, "AnalysisTemplate", "order-success-rate")
			at.Spec.Args = nil
		}, "declares no argument canary-hash"},
		{"analysis threshold lowered", "prod", func(r *k8sRender) {
			at, _ := find[*argoAnalysisTemplate](r, "AnalysisTemplate", "order-success-rate")
			at.Spec.Metrics[0].SuccessCondition = "result[0] >= 0.9"
		}, "does not require result[0] >= 0.995"},
		{"object outside the namespace", "dev", func(r *k8sRender) {
			r.objects[len(r.objects)-1].namespace = "default"
		}, `is in namespace "default"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := renderOverlay(filepath.Join(root, k8sOverlays, tt.env))
			require.NoError(t, err)
			f := readK8sFacts(t, tt.env)
			require.Empty(t, checkRender(r, f), "the overlay must pass before it is broken")
			tt.mutate(r)
			problems := checkRender(r, f)
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}

// TestDecodeStrictRefusesUnknownFields: a misspelt or misplaced field fails
// the decode instead of being dropped, in k8s.io/api types and in the local
// Argo Rollouts ones.
func TestDecodeStrictRefusesUnknownFields(t *testing.T) {
	tests := []struct {
		apiVersion, kind, json, want string
	}{
		{"apps/v1", "Deployment", `{"spec":{"replica":2}}`, `unknown field "spec.replica"`},
		{"apps/v1", "Deployment", `{"spec":{"Replicas":2}}`, `unknown field "spec.Replicas"`},
		{"v1", "Service", `{"spec":{"ports":[{"port":1,"port":2}]}}`, `duplicate field "spec.ports[0].port"`},
		{"argoproj.io/v1alpha1", "Rollout", `{"spec":{"strategy":{"canary":{"step":[]}}}}`, `unknown field "spec.strategy.canary.step"`},
		{"argoproj.io/v1alpha1", "Rollout", `{"spec":{"selector":{"matchLabels":{"a":"b"}},"workloadRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"x"},"strategy":{"canary":{"steps":[{"setWeight":10,"pause":{}}]}}}}`, "want exactly one of setWeight, pause, analysis"},
		{"argoproj.io/v1alpha1", "AnalysisTemplate", `{"spec":{"metrics":[{"name":"m","provider":{"prometheus":{"address":"http://p:9090","query":"up"}}}]}}`, "it can never fail"},
		{"v1", "Pod", `{}`, "no Go type"},
	}
	for _, tt := range tests {
		_, err := decodeStrict(tt.apiVersion, tt.kind, []byte(tt.json))
		if assert.Error(t, err, tt.json) {
			assert.Contains(t, err.Error(), tt.want)
		}
	}
	// And a valid object decodes.
	d, err := decodeStrict("apps/v1", "Deployment", json.RawMessage(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":2}}`))
	require.NoError(t, err)
	assert.Equal(t, int32(2), *d.(*appsv1.Deployment).Spec.Replicas)
}

func deployment(r *k8sRender, name string) *appsv1.Deployment {
	d, ok := find[*appsv1.Deployment](r, "Deployment", name)
	if !ok {
		panic("no Deployment " + name)
	}
	return d
}
