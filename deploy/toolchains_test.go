package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tailscale/hujson"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// toolchainsDoc is the page on toolchains and editor settings.
const toolchainsDoc = "docs/toolchains.md"

// fencedBlock is a fenced code block of a Markdown page: its info string
// (language) and its body.
var fencedBlock = regexp.MustCompile("(?ms)^```([a-z]*)\\n(.*?)^```\\s*$")

// docBlocks returns the bodies of the page's code blocks in language lang.
func docBlocks(page, lang string) []string {
	var out []string
	for _, m := range fencedBlock.FindAllStringSubmatch(page, -1) {
		if m[1] == lang {
			out = append(out, m[2])
		}
	}
	return out
}

func readToolchainsDoc(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(toolchainsDoc)))
	require.NoError(t, err)
	return string(data)
}

// TestToolchainsDocSettings: the settings the page tells readers to paste
// are JSON with comments that turn gopls tracing on, and the workspace's
// settings.json leaves it off, as the page says.
func TestToolchainsDocSettings(t *testing.T) {
	page := readToolchainsDoc(t)
	blocks := docBlocks(page, "jsonc")
	require.NotEmpty(t, blocks, "%s has no jsonc block", toolchainsDoc)
	var traced int
	for _, b := range blocks {
		std, err := hujson.Standardize([]byte(b))
		require.NoError(t, err, "not JSON with comments:\n%s", b)
		var settings struct {
			Flags []string `json:"go.languageServerFlags"`
		}
		require.NoError(t, json.Unmarshal(std, &settings), "%s", b)
		if assert.Contains(t, settings.Flags, "-rpc.trace", "a settings block of %s that does not trace gopls:\n%s", toolchainsDoc, b) {
			traced++
		}
	}
	assert.NotZero(t, traced)

	var workspace map[string]any
	readJSONC(t, filepath.Join(repoRoot(t), ".vscode", "settings.json"), &workspace)
	assert.NotContains(t, workspace, "go.languageServerFlags", "tracing is off in the workspace settings, as %s says", toolchainsDoc)
}

// TestToolchainsDocNames: what the page names exists: the pinned toolchain
// it installs with golang.org/dl, the rejected extensions, and the launch
// configuration and task of the Kubernetes debug session.
func TestToolchainsDocNames(t *testing.T) {
	root := repoRoot(t)
	page := readToolchainsDoc(t)

	pinned := "go" + toolchainVersion(t)
	installs := regexp.MustCompile(`golang\.org/dl/(go1\.[0-9.]+)@`).FindAllStringSubmatch(page, -1)
	require.NotEmpty(t, installs, "%s installs no toolchain with golang.org/dl", toolchainsDoc)
	for _, m := range installs {
		assert.Equal(t, pinned, m[1], "%s installs %s; go.work's toolchain is %s", toolchainsDoc, m[1], pinned)
	}
	assert.Contains(t, page, "toolchain "+pinned)

	var ext struct {
		Unwanted []string `json:"unwantedRecommendations"`
	}
	readJSONC(t, filepath.Join(root, ".vscode", "extensions.json"), &ext)
	for _, id := range ext.Unwanted {
		assert.Contains(t, page, "`"+id+"`", "%s does not say why %s is rejected", toolchainsDoc, id)
	}

	var lf launchFile
	readJSONC(t, filepath.Join(root, ".vscode", "launch.json"), &lf)
	var tf tasksFile
	readJSONC(t, filepath.Join(root, ".vscode", "tasks.json"), &tf)
	var named int
	for _, c := range lf.Configurations {
		if task := tf.task(c.PreLaunchTask); task != nil && task.Command == "kubectl" {
			named++
			assert.Contains(t, page, `"`+c.Name+`"`)
			assert.Contains(t, page, `"`+task.Label+`"`)
			assert.Contains(t, page, "127.0.0.1:"+strconv.Itoa(c.Port))
		}
	}
	assert.NotZero(t, named, "no launch configuration starts a kubectl task")
}

// kubectlCommand is one kubectl command of the page's shell blocks.
var kubectlCommand = regexp.MustCompile(`(?m)^kubectl (.*)$`)

// TestToolchainsDocKubectl applies the page's kubectl commands to the dev
// overlay as kustomize renders it: the namespace, the objects, the
// container and every JSON patch path they name exist there.
func TestToolchainsDocKubectl(t *testing.T) {
	root := repoRoot(t)
	r, err := renderOverlay(filepath.Join(root, k8sOverlays, "dev"))
	require.NoError(t, err)

	var commands []string
	for _, b := range docBlocks(readToolchainsDoc(t), "sh") {
		b = strings.ReplaceAll(b, "\\\n", " ") // line continuations
		for _, m := range kubectlCommand.FindAllStringSubmatch(b, -1) {
			commands = append(commands, m[1])
		}
	}
	require.NotEmpty(t, commands, "%s runs no kubectl command", toolchainsDoc)
	for _, cmd := range commands {
		t.Run(cmd, func(t *testing.T) {
			assert.Empty(t, checkKubectl(r, cmd))
		})
	}
}

var (
	kubectlNamespaced = regexp.MustCompile(`^-n (\S+) (.*)$`)
	kubectlApply      = regexp.MustCompile(`^apply -k (\S+)$`)
	kubectlLabelNS    = regexp.MustCompile(`^label --overwrite namespace (\S+) pod-security\.kubernetes\.io/enforce=(\S+)$`)
	kubectlRollout    = regexp.MustCompile(`^rollout status deployment/(\S+)$`)
	kubectlPatch      = regexp.MustCompile(`^patch (deployment|hpa) (\S+)( --type=json)? +-p[= ]'([^']*)'$`)
	kubectlSetImage   = regexp.MustCompile(`^set image deployment/(\S+) (\S+)=(\S+)$`)
)

// checkKubectl checks one kubectl command line (without "kubectl") against
// the rendered overlay r. Commands it does not know are not checked.
func checkKubectl(r *k8sRender, cmd string) []string {
	overlayNS := ""
	for _, o := range r.objects {
		if o.kind == "Namespace" {
			overlayNS = o.name
		}
	}
	checkNS := func(ns string) []string {
		if ns != overlayNS {
			return []string{fmt.Sprintf("namespace %s; the %s overlay's is %s", ns, r.env, overlayNS)}
		}
		return nil
	}
	switch m := kubectlApply.FindStringSubmatch(cmd); {
	case m != nil:
		if m[1] != k8sOverlays+"/"+r.env {
			return []string{fmt.Sprintf("applies %s, not %s/%s", m[1], k8sOverlays, r.env)}
		}
		return nil
	case kubectlLabelNS.MatchString(cmd):
		return checkNS(kubectlLabelNS.FindStringSubmatch(cmd)[1])
	}
	m := kubectlNamespaced.FindStringSubmatch(cmd)
	if m == nil {
		return []string{"a kubectl command the test does not know: " + cmd}
	}
	ns, rest := m[1], m[2]
	problems := checkNS(ns)
	switch {
	case kubectlRollout.MatchString(rest):
		name := kubectlRollout.FindStringSubmatch(rest)[1]
		if _, ok := find[*appsv1.Deployment](r, "Deployment", name); !ok {
			problems = append(problems, "no Deployment "+name)
		}
	case kubectlSetImage.MatchString(rest):
		m := kubectlSetImage.FindStringSubmatch(rest)
		d, ok := find[*appsv1.Deployment](r, "Deployment", m[1])
		if !ok {
			return append(problems, "no Deployment "+m[1])
		}
		c := container(&d.Spec.Template.Spec, m[2])
		if c == nil {
			return append(problems, fmt.Sprintf("Deployment %s has no container %s", m[1], m[2]))
		}
		if base, _, _ := strings.Cut(m[3], ":"); !strings.HasPrefix(c.Image, base) {
			problems = append(problems, fmt.Sprintf("image %s replaces %s, another image", m[3], c.Image))
		}
	case kubectlPatch.MatchString(rest):
		m := kubectlPatch.FindStringSubmatch(rest)
		var obj any
		var ok bool
		if m[1] == "deployment" {
			obj, ok = find[*appsv1.Deployment](r, "Deployment", m[2])
		} else {
			obj, ok = find[*autoscalingv2.HorizontalPodAutoscaler](r, "HorizontalPodAutoscaler", m[2])
		}
		if !ok {
			return append(problems, fmt.Sprintf("no %s %s", m[1], m[2]))
		}
		if m[3] == "" {
			return append(problems, checkMergePatch(obj, m[4])...)
		}
		problems = append(problems, checkJSONPatch(obj, m[4])...)
	default:
		problems = append(problems, "a kubectl command the test does not know: "+cmd)
	}
	return problems
}

// checkMergePatch: patch, kubectl's default strategic merge patch (for
// the scalar fields the page sets, the same as a JSON merge patch, RFC
// 7386), is JSON whose every field already is in obj, so it changes values
// rather than adding fields the API server would drop.
func checkMergePatch(obj any, patch string) []string {
	var merge map[string]any
	if err := json.Unmarshal([]byte(patch), &merge); err != nil {
		return []string{"merge patch: " + err.Error()}
	}
	doc, err := toJSONValue(obj)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for _, k := range sortedNames(m) {
			p := prefix + "/" + k
			if !jsonPointerExists(doc, p) {
				problems = append(problems, fmt.Sprintf("merge patch: %s is not in the object", p))
				continue
			}
			if sub, ok := m[k].(map[string]any); ok {
				walk(p, sub)
			}
		}
	}
	walk("", merge)
	return problems
}

// toJSONValue is obj as encoding/json decodes its JSON into an any.
func toJSONValue(obj any) (any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var doc any
	return doc, json.Unmarshal(data, &doc)
}

// checkJSONPatch: every operation of patch (RFC 6902) applies to obj: a
// removed path exists, an added one's parent does.
func checkJSONPatch(obj any, patch string) []string {
	var ops []struct {
		Op   string `json:"op"`
		Path string `json:"path"`
	}
	if err := json.Unmarshal([]byte(patch), &ops); err != nil {
		return []string{"JSON patch: " + err.Error()}
	}
	doc, err := toJSONValue(obj)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, op := range ops {
		path := op.Path
		if op.Op == "add" {
			path = path[:strings.LastIndex(path, "/")]
		}
		if !jsonPointerExists(doc, path) {
			problems = append(problems, fmt.Sprintf("%s %s: %s is not in the object", op.Op, op.Path, path))
		}
	}
	return problems
}

// jsonPointerExists reports whether the JSON pointer (RFC 6901) p names a
// value in doc.
func jsonPointerExists(doc any, p string) bool {
	if p == "" {
		return true
	}
	for token := range strings.SplitSeq(strings.TrimPrefix(p, "/"), "/") {
		token = strings.NewReplacer("~1", "/", "~0", "~").Replace(token)
		switch v := doc.(type) {
		case map[string]any:
			next, ok := v[token]
			if !ok {
				return false
			}
			doc = next
		case []any:
			i, err := strconv.Atoi(token)
			if err != nil || i < 0 || i >= len(v) {
				return false
			}
			doc = v[i]
		default:
			return false
		}
	}
	return true
}

// TestKubectlCheckFindsProblems runs the kubectl check on commands that
// break it, so it is known to fail when it should.
func TestKubectlCheckFindsProblems(t *testing.T) {
	r, err := renderOverlay(filepath.Join(repoRoot(t), k8sOverlays, "dev"))
	require.NoError(t, err)
	tests := []struct {
		cmd  string
		want []string
	}{
		{`-n slipway-dev set image deployment/order order=slipway/order:debug`, nil},
		{`-n slipway-dev patch deployment order --type=json -p='[{"op": "remove", "path": "/spec/template/spec/containers/0/livenessProbe"}]'`, nil},
		{`-n slipway-dev patch deployment order --type=json -p='[{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/seccompProfile", "value": {}}]'`, nil},
		{`-n slipway-dev patch hpa order -p '{"spec": {"minReplicas": 1, "maxReplicas": 1}}'`, nil},
		{`-n slipway patch hpa order -p '{"spec": {"maxReplicas": 1}}'`,
			[]string{"namespace slipway; the dev overlay's is slipway-dev"}},
		{`-n slipway-dev patch hpa order -p '{"spec": {"maxReplica": 1}}'`,
			[]string{"merge patch: /spec/maxReplica is not in the object"}},
		{`-n slipway-dev patch hpa order -p '{"spec": 1'`,
			[]string{"merge patch: unexpected end of JSON input"}},
		{`-n slipway-dev set image deployment/order app=slipway/order:debug`,
			[]string{"Deployment order has no container app"}},
		{`-n slipway-dev set image deployment/order order=slipway/user:debug`,
			[]string{"image slipway/user:debug replaces slipway/order:dev, another image"}},
		{`-n slipway-dev patch deployment orders --type=json -p='[]'`,
			[]string{"no deployment orders"}},
		{`-n slipway-dev patch deployment order --type=json -p='[{"op": "remove", "path": "/spec/template/spec/containers/1/livenessProbe"}]'`,
			[]string{"remove /spec/template/spec/containers/1/livenessProbe: /spec/template/spec/containers/1/livenessProbe is not in the object"}},
		{`-n slipway-dev patch deployment order --type=json -p='[{"op": "add", "path": "/spec/template/spec/sidecar/x", "value": 1}]'`,
			[]string{"add /spec/template/spec/sidecar/x: /spec/template/spec/sidecar is not in the object"}},
		{`-n slipway-dev patch deployment order --type=json -p='[{'`,
			[]string{"JSON patch: unexpected end of JSON input"}},
		{`-n slipway-dev rollout status deployment/orders`, []string{"no Deployment orders"}},
		{`label --overwrite namespace slipway pod-security.kubernetes.io/enforce=privileged`,
			[]string{"namespace slipway; the dev overlay's is slipway-dev"}},
		{`apply -k deploy/k8s/overlays/prod`, []string{"applies deploy/k8s/overlays/prod, not deploy/k8s/overlays/dev"}},
		{`delete namespace slipway-dev`, []string{"a kubectl command the test does not know: delete namespace slipway-dev"}},
		{`-n slipway-dev rollout undo deployment/order`,
			[]string{"a kubectl command the test does not know: -n slipway-dev rollout undo deployment/order"}},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			assert.Equal(t, tt.want, checkKubectl(r, tt.cmd))
		})
	}
}
