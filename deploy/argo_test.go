package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const argoDir = "deploy/argo"

// Argo CD's and Argo Workflows' kinds, the subset deploy/argo uses, with
// their JSON names: a field this subset does not know fails the strict
// decode (add it here, as Argo names it).

type argoCDProject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Description  string   `json:"description,omitempty"`
		SourceRepos  []string `json:"sourceRepos"`
		Destinations []struct {
			Server    string `json:"server"`
			Namespace string `json:"namespace"`
		} `json:"destinations"`
		ClusterResourceWhitelist []metav1.GroupKind `json:"clusterResourceWhitelist,omitempty"`
	} `json:"spec"`
}

type argoCDApplication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Project string `json:"project"`
		Source  struct {
			RepoURL        string `json:"repoURL"`
			TargetRevision string `json:"targetRevision"`
			Path           string `json:"path"`
		} `json:"source"`
		Destination struct {
			Server    string `json:"server"`
			Namespace string `json:"namespace"`
		} `json:"destination"`
		SyncPolicy *struct {
			Automated *struct {
				Prune    bool `json:"prune,omitempty"`
				SelfHeal bool `json:"selfHeal,omitempty"`
			} `json:"automated,omitempty"`
			SyncOptions []string `json:"syncOptions,omitempty"`
			Retry       *struct {
				Limit   int64 `json:"limit"`
				Backoff *struct {
					Duration    string `json:"duration"`
					Factor      int64  `json:"factor"`
					MaxDuration string `json:"maxDuration"`
				} `json:"backoff,omitempty"`
			} `json:"retry,omitempty"`
		} `json:"syncPolicy,omitempty"`
	} `json:"spec"`
}

type argoWorkflowTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Entrypoint         string `json:"entrypoint"`
		ServiceAccountName string `json:"serviceAccountName,omitempty"`
		Arguments          struct {
			Parameters []argoParam `json:"parameters,omitempty"`
		} `json:"arguments,omitempty"`
		VolumeClaimTemplates []corev1.PersistentVolumeClaim `json:"volumeClaimTemplates,omitempty"`
		Volumes              []corev1.Volume                `json:"volumes,omitempty"`
		Templates            []argoTemplate                 `json:"templates"`
	} `json:"spec"`
}

type argoParam struct {
	Name        string  `json:"name"`
	Value       *string `json:"value,omitempty"`
	Description string  `json:"description,omitempty"`
	ValueFrom   *struct {
		Path string `json:"path"`
	} `json:"valueFrom,omitempty"`
}

type argoParams struct {
	Parameters []argoParam `json:"parameters,omitempty"`
}

func (p *argoParams) has(name string) bool {
	return p != nil && slices.ContainsFunc(p.Parameters, func(x argoParam) bool { return x.Name == name })
}

type argoTemplate struct {
	Name    string      `json:"name"`
	Inputs  *argoParams `json:"inputs,omitempty"`
	Outputs *argoParams `json:"outputs,omitempty"`
	DAG     *struct {
		Tasks []argoTask `json:"tasks"`
	} `json:"dag,omitempty"`
	Script    *argoScript       `json:"script,omitempty"`
	Container *corev1.Container `json:"container,omitempty"`
}

// argoScript is a container with a script as its source.
type argoScript struct {
	corev1.Container
	Source string `json:"source"`
}

type argoTask struct {
	Name      string      `json:"name"`
	Template  string      `json:"template"`
	Depends   string      `json:"depends,omitempty"`
	Arguments *argoParams `json:"arguments,omitempty"`
}

// container is the template's container, script or not.
func (t *argoTemplate) container() *corev1.Container {
	if t.Script != nil {
		return &t.Script.Container
	}
	return t.Container
}

// argoKinds maps apiVersion/kind to the type of each object in deploy/argo.
var argoKinds = map[string]func() any{
	"argoproj.io/v1alpha1/AppProject":                 func() any { return new(argoCDProject) },
	"argoproj.io/v1alpha1/Application":                func() any { return new(argoCDApplication) },
	"argoproj.io/v1alpha1/WorkflowTemplate":           func() any { return new(argoWorkflowTemplate) },
	"v1/ServiceAccount":                               func() any { return new(corev1.ServiceAccount) },
	"rbac.authorization.k8s.io/v1/Role":               func() any { return new(rbacv1.Role) },
	"rbac.authorization.k8s.io/v1/RoleBinding":        func() any { return new(rbacv1.RoleBinding) },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return new(rbacv1.ClusterRole) },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return new(rbacv1.ClusterRoleBinding) },
}

// decodeManifests decodes every YAML document of data strictly (unknown and
// duplicate fields refused) into the type kinds gives its kind.
func decodeManifests(data []byte, kinds map[string]func() any) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []any
	for i := 0; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if doc == nil {
			continue
		}
		apiVersion, _ := doc["apiVersion"].(string)
		kind, _ := doc["kind"].(string)
		mk, ok := kinds[apiVersion+"/"+kind]
		if !ok {
			return nil, fmt.Errorf("document %d: %s %s: no Go type to check it against", i, apiVersion, kind)
		}
		js, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		v := mk()
		strict, err := sigsjson.UnmarshalStrict(js, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
		if err == nil {
			err = errors.Join(strict...)
		}
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, kind, err)
		}
		out = append(out, v)
	}
}

// argoManifests is every object under deploy/argo, by kind.
type argoManifests struct {
	projects  map[string]*argoCDProject
	apps      map[string]*argoCDApplication
	workflows map[string]*argoWorkflowTemplate
	roles     []*rbacv1.Role
	accounts  []*corev1.ServiceAccount
}

func readArgo(t testing.TB) argoManifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), argoDir, "*.yaml"))
	require.NoError(t, err)
	m := argoManifests{projects: map[string]*argoCDProject{}, apps: map[string]*argoCDApplication{}, workflows: map[string]*argoWorkflowTemplate{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		objs, err := decodeManifests(data, argoKinds)
		require.NoError(t, err, "%s", f)
		for _, o := range objs {
			switch o := o.(type) {
			case *argoCDProject:
				m.projects[o.Name] = o
			case *argoCDApplication:
				m.apps[o.Name] = o
			case *argoWorkflowTemplate:
				m.workflows[o.Name] = o
			case *rbacv1.Role:
				m.roles = append(m.roles, o)
			case *corev1.ServiceAccount:
				m.accounts = append(m.accounts, o)
			}
		}
	}
	require.NotEmpty(t, m.apps, "no Application under %s", argoDir)
	return m
}

// repoURL is the git URL of this repository, from deploy's module path.
func repoURL(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^module\s+(github\.com/[^/\s]+/[^/\s]+)/deploy$`).FindSubmatch(data)
	require.NotNil(t, m, "deploy/go.mod's module is not github.com/<owner>/<repo>/deploy")
	return "https://" + string(m[1]) + ".git"
}

// renderedObject is one object a kustomization renders, as Argo CD would
// apply it.
type renderedObject struct{ group, kind, name, namespace string }

func renderKustomization(dir string) ([]renderedObject, error) {
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	var out []renderedObject
	for _, r := range m.Resources() {
		group, _, _ := strings.Cut(r.GetApiVersion(), "/")
		if !strings.Contains(r.GetApiVersion(), "/") {
			group = "" // the core group: "v1"
		}
		out = append(out, renderedObject{group: group, kind: r.GetKind(), name: r.GetName(), namespace: r.GetNamespace()})
	}
	return out, nil
}

// checkApplication: the Application deploys this repository's path, which
// renders, to a destination its project allows, and every rendered object
// lands where the project lets it: in the destination namespace, or
// cluster-scoped and whitelisted.
func checkApplication(root, repo string, app *argoCDApplication, projects map[string]*argoCDProject) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("Application %s: ", app.Name)+fmt.Sprintf(format, args...))
	}
	s := app.Spec
	if s.Source.RepoURL != repo {
		bad("repoURL %q is not this repository, %q", s.Source.RepoURL, repo)
	}
	if s.Source.TargetRevision == "" {
		bad("no targetRevision")
	}
	proj, ok := projects[s.Project]
	if !ok {
		bad("project %q is not in %s", s.Project, argoDir)
		return problems
	}
	if !slices.Contains(proj.Spec.SourceRepos, s.Source.RepoURL) {
		bad("project %s does not allow %s", proj.Name, s.Source.RepoURL)
	}
	if !slices.ContainsFunc(proj.Spec.Destinations, func(d struct {
		Server    string `json:"server"`
		Namespace string `json:"namespace"`
	}) bool {
		return d.Server == s.Destination.Server && d.Namespace == s.Destination.Namespace
	}) {
		bad("project %s does not allow the destination %s %s", proj.Name, s.Destination.Server, s.Destination.Namespace)
	}
	if st, err := os.Stat(filepath.Join(root, s.Source.Path)); err != nil || !st.IsDir() {
		bad("path %s is not a directory of the repository", s.Source.Path)
		return problems
	}
	objs, err := renderKustomization(filepath.Join(root, s.Source.Path))
	if err != nil {
		bad("path %s does not render: %v", s.Source.Path, err)
		return problems
	}
	namespaces := 0
	for _, o := range objs {
		switch {
		case o.kind == "Namespace":
			namespaces++
			if o.name != s.Destination.Namespace {
				bad("renders Namespace %s, but deploys to %s", o.name, s.Destination.Namespace)
			}
		case o.namespace != "" && o.namespace != s.Destination.Namespace:
			bad("%s %s is in namespace %s, not the destination %s", o.kind, o.name, o.namespace, s.Destination.Namespace)
		}
		if o.namespace == "" && !slices.Contains(proj.Spec.ClusterResourceWhitelist, metav1.GroupKind{Group: o.group, Kind: o.kind}) {
			bad("renders cluster-scoped %s %s, which project %s does not whitelist", o.kind, o.name, proj.Name)
		}
	}
	createNS := s.SyncPolicy != nil && slices.Contains(s.SyncPolicy.SyncOptions, "CreateNamespace=true")
	if namespaces == 0 && !createNS {
		bad("renders no Namespace and does not set CreateNamespace=true: the first sync fails")
	}
	return problems
}

func TestArgoCDApplications(t *testing.T) {
	root := repoRoot(t)
	repo := repoURL(t)
	m := readArgo(t)
	for _, name := range sortedNames(m.apps) {
		t.Run(name, func(t *testing.T) {
			assert.Empty(t, checkApplication(root, repo, m.apps[name], m.projects))
		})
	}

	// One Application per overlay, at the overlay's path, into the
	// namespace the overlay declares.
	overlays, err := os.ReadDir(filepath.Join(root, k8sOverlays))
	require.NoError(t, err)
	paths := map[string]*argoCDApplication{}
	for _, app := range m.apps {
		paths[app.Spec.Source.Path] = app
	}
	for _, o := range overlays {
		app, ok := paths[k8sOverlays+"/"+o.Name()]
		if !assert.True(t, ok, "no Application deploys %s/%s", k8sOverlays, o.Name()) {
			continue
		}
		// Both environments sync themselves, prune and self-heal (see
		// application-prod.yaml for why prod does too).
		p := app.Spec.SyncPolicy
		if assert.NotNil(t, p, "%s: no syncPolicy", app.Name) && assert.NotNil(t, p.Automated, "%s: not automated", app.Name) {
			assert.True(t, p.Automated.Prune, "%s: prune", app.Name)
			assert.True(t, p.Automated.SelfHeal, "%s: selfHeal", app.Name)
		}
	}
	_, ok := paths["deploy/k8s/logging"]
	assert.True(t, ok, "no Application deploys deploy/k8s/logging")
}

func TestArgoCDApplicationChecksFindProblems(t *testing.T) {
	root := repoRoot(t)
	repo := repoURL(t)
	for _, tt := range []struct {
		name   string
		app    string
		mutate func(*argoCDApplication, map[string]*argoCDProject)
		want   string
	}{
		{"path that does not exist", "slipway-dev", func(a *argoCDApplication, _ map[string]*argoCDProject) {
			a.Spec.Source.Path = "deploy/k8s/overlays/staging"
		}, "is not a directory"},
		{"path that does not render", "slipway-dev", func(a *argoCDApplication, _ map[string]*argoCDProject) {
			a.Spec.Source.Path = "deploy/argo"
		}, "does not render"},
		{"another repository", "slipway-prod", func(a *argoCDApplication, _ map[string]*argoCDProject) {
			a.Spec.Source.RepoURL = "https://github.com/someone/else.git"
		}, "is not this repository"},
		{"destination the overlay does not use", "slipway-prod", func(a *argoCDApplication, p map[string]*argoCDProject) {
			a.Spec.Destination.Namespace = "slipway-dev"
		}, "is in namespace slipway, not the destination slipway-dev"},
		{"cluster-scoped kind not whitelisted", "slipway-logging", func(_ *argoCDApplication, p map[string]*argoCDProject) {
			p["slipway"].Spec.ClusterResourceWhitelist = p["slipway"].Spec.ClusterResourceWhitelist[:1]
		}, "renders cluster-scoped ClusterRole"},
		{"unknown project", "slipway-dev", func(a *argoCDApplication, _ map[string]*argoCDProject) {
			a.Spec.Project = "default"
		}, `project "default" is not in`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := readArgo(t)
			app := m.apps[tt.app]
			require.NotNil(t, app)
			require.Empty(t, checkApplication(root, repo, app, m.projects), "the Application must pass before it is broken")
			tt.mutate(app, m.projects)
			assert.Contains(t, strings.Join(checkApplication(root, repo, app, m.projects), "\n"), tt.want)
		})
	}
}

var (
	argoParamRef = regexp.MustCompile(`\{\{\s*(workflow|inputs|tasks)\.([\w-]+)\.([\w-]+)(?:\.([\w-]+))?\s*\}\}`)
	makeInScript = regexp.MustCompile(`(?m)^\s*make\s+("?)([\w{}.-]+)`)
	loopServices = regexp.MustCompile(`(?m)^\s*for svc in ([a-z ]+); do`)
)

// checkWorkflowTemplate: the DAG is whole and acyclic, every parameter and
// volume it uses is declared, every make target exists, the Go image is the
// toolchain go.work names, every service's image is built, and the steps of
// a release come in order.
func checkWorkflowTemplate(wf *argoWorkflowTemplate, mk makefile, goVersion string, services []string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	templates := map[string]*argoTemplate{}
	for i := range wf.Spec.Templates {
		templates[wf.Spec.Templates[i].Name] = &wf.Spec.Templates[i]
	}
	entry, ok := templates[wf.Spec.Entrypoint]
	if !ok || entry.DAG == nil {
		return append(problems, fmt.Sprintf("entrypoint %q is not a DAG template", wf.Spec.Entrypoint))
	}
	// Tasks in dependency order: a task may only depend on tasks before it,
	// which also rules out cycles.
	seen := map[string]*argoTask{}
	for i, task := range entry.DAG.Tasks {
		if _, ok := templates[task.Template]; !ok {
			bad("task %s: no template %s", task.Name, task.Template)
		}
		for _, dep := range taskName.FindAllString(task.Depends, -1) {
			if _, ok := seen[dep]; !ok {
				bad("task %s depends on %s, which is not a task before it", task.Name, dep)
			}
		}
		seen[task.Name] = &entry.DAG.Tasks[i]
		tpl := templates[task.Template]
		if tpl == nil {
			continue
		}
		for _, p := range tpl.Inputs.params() {
			if !task.Arguments.has(p.Name) && p.Value == nil {
				bad("task %s gives template %s no parameter %s", task.Name, tpl.Name, p.Name)
			}
		}
		for _, p := range task.Arguments.params() {
			checkRefs(p.Value, func(scope, name, field, sub string) {
				if scope == "tasks" {
					dep, ok := seen[name]
					if !ok || field != "outputs" || !templates[dep.Template].Outputs.has(strings.TrimPrefix(sub, "parameters.")) {
						bad("task %s uses %s.%s.%s, which no earlier task outputs", task.Name, name, field, sub)
					}
				}
			})
		}
	}
	order := func(names ...string) {
		for i := 1; i < len(names); i++ {
			if !dependsOn(seen, names[i], names[i-1]) {
				bad("task %s does not wait for %s", names[i], names[i-1])
			}
		}
	}
	order("build", "images", "promote", "synced", "analysis")
	order("test", "images")
	order("scan", "images")

	volumes := map[string]bool{}
	for _, v := range wf.Spec.Volumes {
		volumes[v.Name] = true
	}
	for _, v := range wf.Spec.VolumeClaimTemplates {
		volumes[v.Name] = true
	}
	for _, tpl := range wf.Spec.Templates {
		c := tpl.container()
		if c == nil {
			continue
		}
		for _, vm := range c.VolumeMounts {
			if !volumes[vm.Name] {
				bad("template %s mounts volume %s, which the WorkflowTemplate does not declare", tpl.Name, vm.Name)
			}
		}
		if name, tag, _ := strings.Cut(c.Image, ":"); name == "golang" && !strings.HasPrefix(tag, goVersion+"-") {
			bad("template %s runs Go %s, go.work names %s", tpl.Name, tag, goVersion)
		}
		texts := append([]string{}, c.Args...)
		if tpl.Script != nil {
			texts = append(texts, tpl.Script.Source)
		}
		for _, text := range texts {
			checkRefs(&text, func(scope, name, _, _ string) {
				switch {
				case scope == "workflow" && name == "parameters":
				case scope == "inputs" && name == "parameters":
				default:
					bad("template %s: unexpected reference {{%s.%s...}}", tpl.Name, scope, name)
				}
			})
			for _, m := range argoParamRef.FindAllStringSubmatch(text, -1) {
				switch {
				case m[1] == "workflow" && !(&argoParams{Parameters: wf.Spec.Arguments.Parameters}).has(m[3]):
					bad("template %s uses workflow parameter %s, which is not declared", tpl.Name, m[3])
				case m[1] == "inputs" && !tpl.Inputs.has(m[3]):
					bad("template %s uses input %s, which it does not declare", tpl.Name, m[3])
				}
			}
			for _, m := range makeInScript.FindAllStringSubmatch(text, -1) {
				if !strings.Contains(m[2], "{{") && !mk.has(m[2]) {
					bad("template %s runs make %s, which the Makefile does not have", tpl.Name, m[2])
				}
			}
			if m := loopServices.FindStringSubmatch(text); m != nil && tpl.Name == "images" {
				if got := sortedCopy(strings.Fields(m[1])); !slices.Equal(got, services) {
					bad("template images builds %v, the services are %v", got, services)
				}
			}
		}
	}
	// make targets passed as task arguments.
	for _, task := range entry.DAG.Tasks {
		if task.Template != "make" {
			continue
		}
		for _, p := range task.Arguments.params() {
			if p.Name == "target" && (p.Value == nil || !mk.has(*p.Value)) {
				bad("task %s runs make %v, which the Makefile does not have", task.Name, deref(p.Value))
			}
		}
	}
	return problems
}

func (p *argoParams) params() []argoParam {
	if p == nil {
		return nil
	}
	return p.Parameters
}

func checkRefs(s *string, f func(scope, name, field, sub string)) {
	if s == nil {
		return
	}
	for _, m := range argoParamRef.FindAllStringSubmatch(*s, -1) {
		sub := m[4]
		if m[1] == "tasks" {
			// {{tasks.<task>.outputs.parameters.<name>}}: the regexp stops
			// at the fourth part; take the rest of the reference.
			rest := (*s)[strings.Index(*s, m[0])+len("{{tasks."+m[2]+".outputs."):]
			sub, _, _ = strings.Cut(rest, "}}")
		}
		f(m[1], m[2], m[3], sub)
	}
}

// taskName is a task in a depends expression ("build && test").
var taskName = regexp.MustCompile(`[\w-]+`)

// dependsOn reports whether task (transitively) waits for dep. A cycle
// (reported elsewhere) ends the walk.
func dependsOn(tasks map[string]*argoTask, task, dep string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(name string) bool {
		t, ok := tasks[name]
		if !ok || seen[name] {
			return false
		}
		seen[name] = true
		for _, d := range taskName.FindAllString(t.Depends, -1) {
			if d == dep || walk(d) {
				return true
			}
		}
		return false
	}
	return walk(task)
}

func TestArgoWorkflowTemplate(t *testing.T) {
	m := readArgo(t)
	wf, ok := m.workflows["slipway-release"]
	require.True(t, ok, "no WorkflowTemplate slipway-release")
	mk := readMakefile(t)
	services := sortedNames(slipwayServices(t))
	assert.Empty(t, checkWorkflowTemplate(wf, mk, toolchainVersion(t), services))

	// Its service account exists, and reads without writing in the
	// services' namespace.
	assert.True(t, slices.ContainsFunc(m.accounts, func(sa *corev1.ServiceAccount) bool { return sa.Name == wf.Spec.ServiceAccountName }),
		"ServiceAccount %s is not in %s", wf.Spec.ServiceAccountName, argoDir)
	for _, r := range m.roles {
		for _, rule := range r.Rules {
			assert.NotContains(t, rule.Verbs, "*", "Role %s", r.Name)
			assert.NotContains(t, rule.Resources, "*", "Role %s", r.Name)
			if r.Namespace == "slipway" {
				for _, v := range rule.Verbs {
					assert.Contains(t, []string{"get", "list", "watch"}, v, "Role %s writes in the slipway namespace", r.Name)
				}
			}
		}
	}

	for _, tt := range []struct {
		name   string
		mutate func(*argoWorkflowTemplate)
		want   string
	}{
		{"task without its template", func(w *argoWorkflowTemplate) { w.Spec.Templates = w.Spec.Templates[:len(w.Spec.Templates)-1] }, "no template analysis"},
		{"analysis before the promotion", func(w *argoWorkflowTemplate) {
			tasks := w.Spec.Templates[0].DAG.Tasks
			tasks[len(tasks)-1].Depends = "images"
		}, "task analysis does not wait for synced"},
		{"dependency on a later task", func(w *argoWorkflowTemplate) { w.Spec.Templates[0].DAG.Tasks[0].Depends = "analysis" }, "which is not a task before it"},
		{"make target that does not exist", func(w *argoWorkflowTemplate) {
			v := "release"
			w.Spec.Templates[0].DAG.Tasks[1].Arguments.Parameters[0].Value = &v
		}, "runs make release"},
		{"undeclared workflow parameter", func(w *argoWorkflowTemplate) { w.Spec.Arguments.Parameters = w.Spec.Arguments.Parameters[1:] }, "workflow parameter revision, which is not declared"},
		{"Go older than go.work's", func(w *argoWorkflowTemplate) { w.Spec.Templates[1].Script.Image = "golang:1.25.0-bookworm" }, "runs Go 1.25.0-bookworm"},
		{"a service's image not built", func(w *argoWorkflowTemplate) {
			for i := range w.Spec.Templates {
				if s := w.Spec.Templates[i].Script; s != nil {
					s.Source = strings.Replace(s.Source, "for svc in inventory ", "for svc in ", 1)
				}
			}
		}, "template images builds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fresh := readArgo(t).workflows["slipway-release"]
			require.Equal(t, "release", fresh.Spec.Templates[0].Name, "the tests mutate the DAG as the first template")
			tt.mutate(fresh)
			assert.Contains(t, strings.Join(checkWorkflowTemplate(fresh, mk, toolchainVersion(t), services), "\n"), tt.want)
		})
	}
}

func TestDecodeManifestsRefusesUnknownFields(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{"apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    repoUrl: x\n", `unknown field "spec.source.repoUrl"`},
		{"apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nspec:\n  templates:\n    - name: a\n      script:\n        image: x\n        sources: y\n", `unknown field "spec.templates[0].script.sources"`},
		{"apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n", "no Go type"},
	} {
		_, err := decodeManifests([]byte(tt.doc), argoKinds)
		if assert.Error(t, err, tt.doc) {
			assert.Contains(t, err.Error(), tt.want)
		}
	}
}

// promK8sConfig is the subset of Prometheus's configuration that
// deploy/prometheus/prometheus-k8s.yml uses. Prometheus's own config package
// would need its Kubernetes discovery, and with it client-go, to load the
// file; the relabelling is Prometheus's own type and code.
type promK8sConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	// The rule files, the Alertmanager and the Pushgateway's job:
	// deploy/drift_test.go checks them.
	RuleFiles []string `yaml:"rule_files"`
	Alerting  struct {
		Alertmanagers []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"alertmanagers"`
	} `yaml:"alerting"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		HonorLabels   bool   `yaml:"honor_labels"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		Scheme    string `yaml:"scheme"`
		TLSConfig struct {
			CAFile     string `yaml:"ca_file"`
			ServerName string `yaml:"server_name"`
		} `yaml:"tls_config"`
		KubernetesSDConfigs []struct {
			Role       string `yaml:"role"`
			Namespaces struct {
				Names []string `yaml:"names"`
			} `yaml:"namespaces"`
			Selectors []struct {
				Role  string `yaml:"role"`
				Label string `yaml:"label"`
			} `yaml:"selectors"`
		} `yaml:"kubernetes_sd_configs"`
		RelabelConfigs []*relabel.Config `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

// podTarget is what Kubernetes discovery (role pod) gives a container port
// of a pod of the prod overlay.
func podTarget(svc string, port string, hash string) labels.Labels {
	b := labels.NewBuilder(labels.EmptyLabels())
	b.Set("__address__", "10.0.0.7:"+port)
	b.Set("__metrics_path__", "/metrics")
	b.Set("__scheme__", "https")
	b.Set("job", "slipway-"+svc)
	b.Set("__meta_kubernetes_namespace", "slipway")
	b.Set("__meta_kubernetes_pod_name", svc+"-"+hash+"-x7k2p")
	b.Set("__meta_kubernetes_pod_annotation_prometheus_io_scrape", "true")
	b.Set("__meta_kubernetes_pod_annotation_prometheus_io_path", "/metrics")
	b.Set("__meta_kubernetes_pod_label_app_kubernetes_io_name", svc)
	if hash != "" {
		b.Set("__meta_kubernetes_pod_label_rollouts_pod_template_hash", hash)
	}
	b.Set("__meta_kubernetes_pod_container_port_name", map[string]string{"8082": "http", "50052": "grpc"}[port])
	return b.Labels()
}

// The Prometheus that the canary analysis queries scrapes every service
// over TLS, by the name its certificate carries, and copies the canary's
// pod-template hash onto the series under the label the analysis selects.
func TestPrometheusK8sCarriesCanaryLabel(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "prometheus-k8s.yml"))
	require.NoError(t, err)
	var cfg promK8sConfig
	require.NoError(t, decodeYAMLStrict(data, &cfg))
	certs, err := os.ReadFile(filepath.Join(root, k8sOverlays, "prod", "certificates.yaml"))
	require.NoError(t, err)

	var jobs []string
	for _, sc := range cfg.ScrapeConfigs {
		if len(sc.StaticConfigs) > 0 && len(sc.KubernetesSDConfigs) == 0 {
			continue // not a pod: the Pushgateway (deploy/drift_test.go)
		}
		require.Len(t, sc.KubernetesSDConfigs, 1, sc.JobName)
		sd := sc.KubernetesSDConfigs[0]
		assert.Equal(t, "pod", sd.Role, sc.JobName)
		assert.Equal(t, []string{"slipway"}, sd.Namespaces.Names, "%s: the prod overlay's namespace", sc.JobName)
		require.Len(t, sd.Selectors, 1, sc.JobName)
		svc, ok := strings.CutPrefix(sd.Selectors[0].Label, "app.kubernetes.io/name=")
		require.True(t, ok, "%s selects pods by %q", sc.JobName, sd.Selectors[0].Label)
		jobs = append(jobs, svc)
		assert.Equal(t, "https", sc.Scheme, sc.JobName)
		assert.Equal(t, svc+".slipway.svc", sc.TLSConfig.ServerName, sc.JobName)
		assert.Contains(t, string(certs), "- "+sc.TLSConfig.ServerName+"\n", "%s: the certificate of %s does not name %s", sc.JobName, svc, sc.TLSConfig.ServerName)
		require.NotEmpty(t, sc.RelabelConfigs, sc.JobName)
		for _, rc := range sc.RelabelConfigs {
			require.NoError(t, rc.NameValidationScheme.Set("utf8"))
			require.NoError(t, rc.Validate(rc.NameValidationScheme), sc.JobName)
		}

		process := func(l labels.Labels) (labels.Labels, bool) {
			b := labels.NewBuilder(l)
			keep := relabel.ProcessBuilder(b, sc.RelabelConfigs...)
			return b.Labels(), keep
		}
		canary, keep := process(podTarget(svc, "8082", "6d4f8b9c7"))
		if assert.True(t, keep, "%s drops the HTTP port of a canary pod", sc.JobName) {
			assert.Equal(t, "6d4f8b9c7", canary.Get(canaryHashLabel), "%s: the series do not carry %s", sc.JobName, canaryHashLabel)
			assert.Equal(t, "/metrics", canary.Get("__metrics_path__"))
			assert.Empty(t, canary.Get("service"), "the series carry their own service label; a target label would rename it exported_service")
		}
		plain, keep := process(podTarget(svc, "8082", ""))
		assert.True(t, keep, "%s drops a pod the Rollout does not run", sc.JobName)
		assert.False(t, plain.Has(canaryHashLabel), "%s: a pod without the label gets an empty %s", sc.JobName, canaryHashLabel)
		_, keep = process(podTarget(svc, "50052", "6d4f8b9c7"))
		assert.False(t, keep, "%s scrapes the gRPC port", sc.JobName)
		off := podTarget(svc, "8082", "")
		b := labels.NewBuilder(off)
		b.Set("__meta_kubernetes_pod_annotation_prometheus_io_scrape", "false")
		_, keep = process(b.Labels())
		assert.False(t, keep, "%s scrapes a pod that opted out", sc.JobName)
	}
	assert.ElementsMatch(t, sortedNames(slipwayServices(t)), jobs, "one scrape job per service")
}
