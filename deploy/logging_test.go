package deploy

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	ktypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const (
	// telemetryLog is where platform names the log keys that tie a line to
	// its service and trace.
	telemetryLog      = "platform/telemetry/log.go"
	composeFluentBit  = "deploy/fluent-bit/fluent-bit.yaml"
	k8sLogging        = "deploy/k8s/logging"
	k8sFluentBit      = "deploy/k8s/logging/fluent-bit.yaml"
	grafanaLokiSource = "deploy/grafana/provisioning/datasources/loki.yml"
)

// logKeys are the JSON keys of a Slipway log line that the log pipeline
// relies on, read from the code.
type logKeys struct {
	service, traceID, spanID string // platform/telemetry's constants
	level, msg               string // log/slog's JSON handler
}

// readLogKeys reads keyService, keyTraceID and keySpanID from
// platform/telemetry/log.go, and checks its logger writes JSON through
// log/slog, whose level and message keys are slog.LevelKey and
// slog.MessageKey.
func readLogKeys(t testing.TB) logKeys {
	t.Helper()
	file := filepath.Join(repoRoot(t), telemetryLog)
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	require.NoError(t, err)
	consts := map[string]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if v, ok := stringLit(vs.Values[i]); ok {
						consts[name.Name] = v
					}
				}
			}
		}
	}
	k := logKeys{service: consts["keyService"], traceID: consts["keyTraceID"], spanID: consts["keySpanID"], level: slog.LevelKey, msg: slog.MessageKey}
	require.NotEmpty(t, k.service, "%s declares no keyService", telemetryLog)
	require.NotEmpty(t, k.traceID, "%s declares no keyTraceID", telemetryLog)
	require.NotEmpty(t, k.spanID, "%s declares no keySpanID", telemetryLog)
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Contains(t, string(src), "slog.NewJSONHandler", "%s no longer writes JSON lines through slog: the log pipeline parses JSON", telemetryLog)
	return k
}

// logLine is a line as the services write it: slog's JSON handler with
// platform's keys, inside a request's span.
func logLine(k logKeys, traceID string) string {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).With(k.service, "order").
		InfoContext(context.Background(), "order placed", "order_id", "o-1", k.traceID, traceID, k.spanID, "00f067aa0ba902b7")
	return strings.TrimSpace(buf.String())
}

// fluentBitConfig is Fluent Bit's YAML configuration. Plugins take any
// keys, so each is a map; the sections are fixed.
type fluentBitConfig struct {
	Service  map[string]string   `yaml:"service"`
	Parsers  []map[string]string `yaml:"parsers"`
	Pipeline struct {
		Inputs  []map[string]string `yaml:"inputs"`
		Filters []map[string]string `yaml:"filters"`
		Outputs []map[string]string `yaml:"outputs"`
	} `yaml:"pipeline"`
}

func readFluentBit(t testing.TB, rel string) *fluentBitConfig {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	require.NoError(t, err)
	var c fluentBitConfig
	require.NoError(t, decodeYAMLStrict(data, &c), rel)
	return &c
}

// plugins returns the plugins of section named name.
func plugins(section []map[string]string, name string) []map[string]string {
	var out []map[string]string
	for _, p := range section {
		if p["name"] == name {
			out = append(out, p)
		}
	}
	return out
}

// lokiLabels parses the loki output's labels: "a=b, c=$d" to {a: b, c: $d}.
func lokiLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("label %q is not key=value", pair)
		}
		out[k] = v
	}
	return out, nil
}

// checkFluentBit: the config keeps Slipway's lines (the ones with the
// service key), parses them as JSON, and ships them to Loki as JSON lines
// labelled by service and level, the trace and span ids kept in the line.
func checkFluentBit(c *fluentBitConfig, k logKeys, wantExtra map[string]string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.Service["http_server"] != "on" || c.Service["health_check"] != "on" || c.Service["http_port"] == "" {
		bad("service: http_server, health_check and http_port make /api/v1/health, which the health checks ask")
	}
	grep := plugins(c.Pipeline.Filters, "grep")
	if len(grep) != 1 || grep[0]["regex"] != k.service+" .+" {
		bad("want one grep filter keeping the records with a %q key (regex %q), got %v", k.service, k.service+" .+", grep)
	}
	parsed := false
	for _, f := range c.Pipeline.Filters {
		switch f["name"] {
		case "kubernetes":
			parsed = parsed || f["merge_log"] == "on"
		case "parser":
			for _, p := range c.Parsers {
				if p["name"] == f["parser"] && p["format"] == "json" && f["key_name"] == "log" {
					parsed = true
				}
			}
		}
	}
	if !parsed {
		bad("no filter parses the line the service wrote as JSON (parser with a json parser on key log, or kubernetes with merge_log on)")
	}
	loki := plugins(c.Pipeline.Outputs, "loki")
	if len(loki) != 1 || len(c.Pipeline.Outputs) != 1 {
		return append(problems, fmt.Sprintf("want exactly one output, loki, got %v", c.Pipeline.Outputs))
	}
	out := loki[0]
	if out["line_format"] != "json" {
		bad("loki output: line_format %q, want json: the derived field reads the JSON line", out["line_format"])
	}
	for _, key := range strings.Split(out["remove_keys"], ",") {
		if key = strings.TrimSpace(key); slices.Contains([]string{k.service, k.traceID, k.spanID, k.msg, k.level}, key) {
			bad("loki output removes %q from the line", key)
		}
	}
	labels, err := lokiLabels(out["labels"])
	if err != nil {
		return append(problems, fmt.Sprintf("loki output: %v", err))
	}
	want := map[string]string{"job": "slipway", "service": "$" + k.service, "level": "$" + k.level}
	for key, v := range wantExtra {
		want[key] = v
	}
	if fmt.Sprint(labels) != fmt.Sprint(want) {
		bad("loki output labels %v, want %v", labels, want)
	}
	for key, v := range labels {
		if v == "$"+k.traceID || v == "$"+k.spanID {
			bad("loki output label %s is the %s: one stream per request", key, strings.TrimPrefix(v, "$"))
		}
	}
	if len(c.Pipeline.Inputs) != 1 || c.Pipeline.Inputs[0]["name"] != "tail" {
		bad("want one tail input, got %v", c.Pipeline.Inputs)
	}
	return problems
}

// composeLogs loads the compose file with the logs profile on.
func composeLogs(t testing.TB, profiles ...string) *types.Project {
	t.Helper()
	dir := filepath.Join(repoRoot(t), composeDir)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, composeFile)},
		cli.WithWorkingDirectory(dir), cli.WithEnv(nil), cli.WithInterpolation(true), cli.WithResolvedPaths(true), cli.WithProfiles(profiles))
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err)
	return p
}

func TestFluentBitShipsSlipwayLogs(t *testing.T) {
	k := readLogKeys(t)
	compose := readFluentBit(t, composeFluentBit)
	assert.Empty(t, checkFluentBit(compose, k, nil), composeFluentBit)
	kube := readFluentBit(t, k8sFluentBit)
	assert.Empty(t, checkFluentBit(kube, k, map[string]string{"namespace": "$kubernetes['namespace_name']"}), k8sFluentBit)

	// The compose config reads the Docker engine's files and sends to the
	// profile's Loki, at the port it listens on.
	p := composeLogs(t, "logs")
	out := compose.Pipeline.Outputs[0]
	loki, ok := p.Services[out["host"]]
	if assert.True(t, ok, "the loki output's host %q is not a service of the logs profile", out["host"]) {
		assert.True(t, slices.ContainsFunc(loki.Ports, func(pc types.ServicePortConfig) bool { return strconv.Itoa(int(pc.Target)) == out["port"] }),
			"Loki does not listen on %s", out["port"])
	}
	assert.Equal(t, "docker", compose.Pipeline.Inputs[0]["multiline.parser"])
	fb := p.Services["fluent-bit"]
	assert.Equal(t, "/var/lib/docker/containers", filepath.Dir(filepath.Dir(compose.Pipeline.Inputs[0]["path"])))
	assert.True(t, slices.ContainsFunc(fb.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Source == "/var/lib/docker/containers" && v.Target == "/var/lib/docker/containers" && v.ReadOnly
	}), "fluent-bit does not mount the Docker engine's logs read-only")

	// The Kubernetes config tails exactly the overlays' namespaces.
	var want []string
	for _, r := range []string{"dev", "prod"} {
		objs, err := renderKustomization(filepath.Join(repoRoot(t), k8sOverlays, r))
		require.NoError(t, err)
		for _, o := range objs {
			if o.kind == "Namespace" {
				want = append(want, "/var/log/containers/*_"+o.name+"_*.log")
			}
		}
	}
	assert.ElementsMatch(t, want, strings.Split(kube.Pipeline.Inputs[0]["path"], ","), "the tail input's files are the overlays' namespaces")

	// Attacks: a rename in the code, a label per trace, dropping the ids.
	renamed := k
	renamed.service = "svc"
	assert.Contains(t, strings.Join(checkFluentBit(compose, renamed, nil), "\n"), `keeping the records with a "svc" key`)
	perTrace := readFluentBit(t, composeFluentBit)
	perTrace.Pipeline.Outputs[0]["labels"] += ", trace=$" + k.traceID
	assert.Contains(t, strings.Join(checkFluentBit(perTrace, k, nil), "\n"), "is the trace_id")
	dropped := readFluentBit(t, k8sFluentBit)
	dropped.Pipeline.Outputs[0]["remove_keys"] += ", " + k.traceID
	assert.Contains(t, strings.Join(checkFluentBit(dropped, k, map[string]string{"namespace": "$kubernetes['namespace_name']"}), "\n"), `removes "trace_id"`)
	unparsed := readFluentBit(t, composeFluentBit)
	unparsed.Pipeline.Filters = unparsed.Pipeline.Filters[1:]
	assert.Contains(t, strings.Join(checkFluentBit(unparsed, k, nil), "\n"), "no filter parses the line")
}

// grafanaDatasources is Grafana's datasource provisioning file.
type grafanaDatasources struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name      string `yaml:"name"`
		UID       string `yaml:"uid"`
		Type      string `yaml:"type"`
		Access    string `yaml:"access"`
		URL       string `yaml:"url"`
		IsDefault bool   `yaml:"isDefault"`
		Editable  bool   `yaml:"editable"`
		JSONData  struct {
			TimeInterval  string `yaml:"timeInterval"`
			MaxLines      int    `yaml:"maxLines"`
			DerivedFields []struct {
				Name            string `yaml:"name"`
				MatcherType     string `yaml:"matcherType"`
				MatcherRegex    string `yaml:"matcherRegex"`
				DatasourceUID   string `yaml:"datasourceUid"`
				URL             string `yaml:"url"`
				URLDisplayLabel string `yaml:"urlDisplayLabel"`
			} `yaml:"derivedFields"`
			TracesToLogsV2 *struct {
				DatasourceUID      string `yaml:"datasourceUid"`
				FilterByTraceID    bool   `yaml:"filterByTraceID"`
				SpanStartTimeShift string `yaml:"spanStartTimeShift"`
				SpanEndTimeShift   string `yaml:"spanEndTimeShift"`
				Tags               []struct {
					Key   string `yaml:"key"`
					Value string `yaml:"value"`
				} `yaml:"tags"`
			} `yaml:"tracesToLogsV2"`
		} `yaml:"jsonData"`
	} `yaml:"datasources"`
}

// checkLokiDatasource: the Loki datasource's derived field finds the trace
// id in a line as the services write it and links it to the provisioned
// Jaeger, which links back; both point at the compose services.
func checkLokiDatasource(ds *grafanaDatasources, k logKeys, p *types.Project) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	byType := map[string]int{}
	for i, d := range ds.Datasources {
		byType[d.Type] = i
		u, err := url.Parse(d.URL)
		if err != nil {
			bad("%s: url %q: %v", d.Name, d.URL, err)
			continue
		}
		s, ok := p.Services[u.Hostname()]
		if !ok {
			bad("%s: %s is not a compose service", d.Name, u.Hostname())
			continue
		}
		_, port, _ := net.SplitHostPort(u.Host)
		if !slices.ContainsFunc(s.Ports, func(pc types.ServicePortConfig) bool { return strconv.Itoa(int(pc.Target)) == port }) {
			bad("%s: %s does not listen on %s", d.Name, u.Hostname(), port)
		}
		if d.IsDefault {
			bad("%s is a default datasource; Prometheus is", d.Name)
		}
	}
	li, lok := byType["loki"]
	ji, jok := byType["jaeger"]
	if !lok || !jok {
		return append(problems, "want a loki and a jaeger datasource")
	}
	loki, jaeger := ds.Datasources[li], ds.Datasources[ji]
	if len(loki.JSONData.DerivedFields) != 1 {
		return append(problems, "the Loki datasource needs one derived field, the trace id")
	}
	f := loki.JSONData.DerivedFields[0]
	if f.DatasourceUID != jaeger.UID {
		bad("derived field %s links to datasource %q, not the provisioned Jaeger %q", f.Name, f.DatasourceUID, jaeger.UID)
	}
	if f.URL != "$${__value.raw}" {
		bad("derived field %s: url %q, want the matched value ($${__value.raw}, escaped for provisioning)", f.Name, f.URL)
	}
	re, err := regexp.Compile(f.MatcherRegex)
	if err != nil {
		return append(problems, fmt.Sprintf("derived field %s: %v", f.Name, err))
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	line := logLine(k, traceID)
	if m := re.FindStringSubmatch(line); f.MatcherType != "regex" || len(m) != 2 || m[1] != traceID {
		bad("derived field %s (%s %q) does not capture the trace id of a service's line:\n%s", f.Name, f.MatcherType, f.MatcherRegex, line)
	}
	if re.MatchString(strings.Replace(line, traceID, "", 1)) {
		bad("derived field %s matches a line with an empty trace id", f.Name)
	}
	t2l := jaeger.JSONData.TracesToLogsV2
	if t2l == nil || t2l.DatasourceUID != loki.UID || !t2l.FilterByTraceID {
		bad("the Jaeger datasource does not link spans back to the Loki datasource by trace id")
	} else if !slices.ContainsFunc(t2l.Tags, func(tag struct {
		Key   string `yaml:"key"`
		Value string `yaml:"value"`
	}) bool {
		return tag.Value == k.service
	}) {
		bad("tracesToLogsV2 maps no span attribute to the Loki label %q", k.service)
	}
	return problems
}

func TestGrafanaLokiDatasourceLinksTraces(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), grafanaLokiSource))
	require.NoError(t, err)
	var ds grafanaDatasources
	require.NoError(t, decodeYAMLStrict(data, &ds))
	k := readLogKeys(t)
	p := composeLogs(t, "logs")
	assert.Empty(t, checkLokiDatasource(&ds, k, p))

	// The datasources must exist in Grafana's compose setup too: the
	// provisioning directory is what Grafana mounts.
	g := p.Services["grafana"]
	assert.Equal(t, filepath.Join(repoRoot(t), "deploy", "grafana", "provisioning"), mountSource(t, g, "/etc/grafana/provisioning"))

	// A rename of the trace id key in platform fails the check.
	renamed := k
	renamed.traceID = "traceId"
	assert.Contains(t, strings.Join(checkLokiDatasource(&ds, renamed, p), "\n"), "does not capture the trace id")
	broken := ds
	broken.Datasources = slices.Clone(ds.Datasources)
	broken.Datasources[0].JSONData.DerivedFields = slices.Clone(ds.Datasources[0].JSONData.DerivedFields)
	broken.Datasources[0].JSONData.DerivedFields[0].DatasourceUID = "tempo"
	assert.Contains(t, strings.Join(checkLokiDatasource(&broken, k, p), "\n"), `links to datasource "tempo"`)
	// Without the logs profile, there is no Loki to point at.
	assert.Contains(t, strings.Join(checkLokiDatasource(&ds, k, composeLogs(t)), "\n"), "loki is not a compose service")
}

// The logs profile is a working part of the compose project, off by default.
func TestComposeLogsProfile(t *testing.T) {
	plain := composeLogs(t)
	assert.NotContains(t, plain.Services, "loki", "Loki runs without --profile logs")
	assert.NotContains(t, plain.Services, "fluent-bit")

	p := composeLogs(t, "logs")
	for _, name := range []string{"loki", "fluent-bit", "jaeger", "grafana"} {
		assert.Contains(t, p.Services, name)
	}
	assert.Empty(t, checkHealthchecks(p))
	assert.Empty(t, checkDependsOn(p))
	assert.Empty(t, checkPortClashes(p))
	fb := p.Services["fluent-bit"]
	// The config fluent-bit is started with is the file in the repository.
	var config string
	for _, arg := range fb.Command {
		if v, ok := strings.CutPrefix(arg, "--config="); ok {
			config = v
		}
	}
	require.NotEmpty(t, config, "fluent-bit is started without --config")
	assert.Equal(t, filepath.Join(repoRoot(t), composeFluentBit), mountSource(t, fb, config))
	assert.Contains(t, fb.HealthCheck.Test, "http://127.0.0.1:"+readFluentBit(t, composeFluentBit).Service["http_port"]+"/api/v1/health")
	for _, name := range []string{"loki", "fluent-bit"} {
		_, tag, ok := strings.Cut(p.Services[name].Image, ":")
		assert.True(t, ok && tag != "" && tag != "latest", "%s: image needs a version tag", name)
	}
}

// loggingKinds are the kinds deploy/k8s/logging renders.
var loggingKinds = map[string]func() any{
	"v1/Namespace":      func() any { return new(corev1.Namespace) },
	"v1/ConfigMap":      func() any { return new(corev1.ConfigMap) },
	"v1/ServiceAccount": func() any { return new(corev1.ServiceAccount) },
	"apps/v1/DaemonSet": func() any { return new(appsv1.DaemonSet) },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return new(rbacv1.ClusterRole) },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return new(rbacv1.ClusterRoleBinding) },
}

// loggingRender is deploy/k8s/logging rendered and decoded.
type loggingRender struct {
	ns      *corev1.Namespace
	cms     []*corev1.ConfigMap
	sas     []*corev1.ServiceAccount
	ds      *appsv1.DaemonSet
	roles   []*rbacv1.ClusterRole
	binding []*rbacv1.ClusterRoleBinding
}

func renderLogging(t testing.TB) *loggingRender {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = ktypes.LoadRestrictionsRootOnly
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), k8sLogging))
	require.NoError(t, err)
	out, err := m.AsYaml()
	require.NoError(t, err)
	objs, err := decodeManifests(out, loggingKinds)
	require.NoError(t, err)
	r := &loggingRender{}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Namespace:
			r.ns = o
		case *corev1.ConfigMap:
			r.cms = append(r.cms, o)
		case *corev1.ServiceAccount:
			r.sas = append(r.sas, o)
		case *appsv1.DaemonSet:
			require.Nil(t, r.ds, "two DaemonSets")
			r.ds = o
		case *rbacv1.ClusterRole:
			r.roles = append(r.roles, o)
		case *rbacv1.ClusterRoleBinding:
			r.binding = append(r.binding, o)
		}
	}
	require.NotNil(t, r.ns)
	require.NotNil(t, r.ds)
	return r
}

// checkLogging: Fluent Bit reads pods and nothing else from the API, runs
// without privileges or capabilities, reads the node's logs read-only, and
// runs the config in the repository with its health endpoint probed.
func checkLogging(r *loggingRender, config []byte, httpPort string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	pod := &r.ds.Spec.Template.Spec
	for _, role := range r.roles {
		for _, rule := range role.Rules {
			if !slices.Equal(rule.APIGroups, []string{""}) || !slices.Equal(rule.Resources, []string{"pods"}) {
				bad("ClusterRole %s grants %v %v: the kubernetes filter reads pods only", role.Name, rule.APIGroups, rule.Resources)
			}
			for _, v := range rule.Verbs {
				if !slices.Contains([]string{"get", "list", "watch"}, v) {
					bad("ClusterRole %s grants %s: read-only", role.Name, v)
				}
			}
		}
	}
	for _, b := range r.binding {
		if len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != pod.ServiceAccountName || b.Subjects[0].Namespace != r.ns.Name {
			bad("ClusterRoleBinding %s binds %v, not the DaemonSet's ServiceAccount %s/%s", b.Name, b.Subjects, r.ns.Name, pod.ServiceAccountName)
		}
	}
	if !slices.ContainsFunc(r.sas, func(sa *corev1.ServiceAccount) bool { return sa.Name == pod.ServiceAccountName }) {
		bad("the DaemonSet's ServiceAccount %q is not rendered", pod.ServiceAccountName)
	}
	if len(pod.Containers) != 1 {
		return append(problems, "want one container")
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil {
		bad("container %s has no securityContext", c.Name)
	} else {
		if isTrue(sc.Privileged) || !isFalse(sc.AllowPrivilegeEscalation) || !isTrue(sc.ReadOnlyRootFilesystem) {
			bad("container %s: want privileged off, allowPrivilegeEscalation false, readOnlyRootFilesystem true", c.Name)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			bad("container %s: capabilities must drop ALL and add none", c.Name)
		}
	}
	hostPaths := map[string]string{}
	configMaps := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
		if v.ConfigMap != nil {
			configMaps[v.Name] = v.ConfigMap.Name
		}
	}
	var configPath string
	for _, arg := range c.Args {
		if v, ok := strings.CutPrefix(arg, "--config="); ok {
			configPath = v
		}
	}
	configFound := false
	for _, vm := range c.VolumeMounts {
		if path, ok := hostPaths[vm.Name]; ok && !vm.ReadOnly && path != "/var/lib/fluent-bit" {
			bad("container %s mounts the node's %s writable", c.Name, path)
		}
		if cm, ok := configMaps[vm.Name]; ok && filepath.Dir(configPath) == vm.MountPath {
			for _, m := range r.cms {
				if m.Name == cm && m.Data[filepath.Base(configPath)] == string(config) {
					configFound = true
				}
			}
		}
	}
	if !configFound {
		bad("container %s runs --config=%s, which is not %s from its ConfigMap", c.Name, configPath, k8sFluentBit)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/api/v1/health" {
		bad("container %s: the readiness probe does not ask /api/v1/health", c.Name)
	}
	for _, p := range c.Ports {
		if p.Name == "http" && strconv.Itoa(int(p.ContainerPort)) != httpPort {
			bad("container %s: port http is %d, the config listens on %s", c.Name, p.ContainerPort, httpPort)
		}
	}
	if r.ns.Labels["pod-security.kubernetes.io/enforce"] == "restricted" {
		bad("namespace %s enforces restricted, which refuses the hostPath volumes", r.ns.Name)
	}
	return problems
}

func TestKubernetesLogging(t *testing.T) {
	config, err := os.ReadFile(filepath.Join(repoRoot(t), k8sFluentBit))
	require.NoError(t, err)
	port := readFluentBit(t, k8sFluentBit).Service["http_port"]
	r := renderLogging(t)
	assert.Empty(t, checkLogging(r, config, port))
	assert.Equal(t, "slipway-logging", r.ns.Name)

	// The image is the one compose runs (there with busybox for the health check).
	_, composeTag, _ := strings.Cut(composeLogs(t, "logs").Services["fluent-bit"].Image, ":")
	_, tag, _ := strings.Cut(r.ds.Spec.Template.Spec.Containers[0].Image, ":")
	assert.Equal(t, strings.TrimSuffix(composeTag, "-debug"), tag, "Fluent Bit versions differ between compose and Kubernetes")

	for _, tt := range []struct {
		name   string
		mutate func(*loggingRender)
		want   string
	}{
		{"reads Secrets", func(r *loggingRender) {
			r.roles[0].Rules = append(r.roles[0].Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}})
		}, "grants [] [secrets]"},
		{"writes pods", func(r *loggingRender) { r.roles[0].Rules[0].Verbs = append(r.roles[0].Rules[0].Verbs, "delete") }, "grants delete"},
		{"writable node logs", func(r *loggingRender) {
			for i := range r.ds.Spec.Template.Spec.Containers[0].VolumeMounts {
				r.ds.Spec.Template.Spec.Containers[0].VolumeMounts[i].ReadOnly = false
			}
		}, "mounts the node's /var/log writable"},
		{"a capability back", func(r *loggingRender) {
			r.ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"DAC_READ_SEARCH"}
		}, "capabilities must drop ALL and add none"},
		{"binding to another account", func(r *loggingRender) { r.binding[0].Subjects[0].Name = "default" }, "not the DaemonSet's ServiceAccount"},
		{"config drifts from the file", func(r *loggingRender) { r.cms[0].Data["fluent-bit.yaml"] += "\n" }, "which is not deploy/k8s/logging/fluent-bit.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := renderLogging(t)
			tt.mutate(r)
			assert.Contains(t, strings.Join(checkLogging(r, config, port), "\n"), tt.want)
		})
	}
}
