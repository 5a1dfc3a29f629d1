package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// mountSource is the host path compose mounts at target in service s.
func mountSource(t testing.TB, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			return v.Source
		}
	}
	t.Fatalf("service %s mounts nothing at %s", s.Name, target)
	return ""
}

func readYAML(t testing.TB, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, v), "%s", file)
}

func TestPrometheusScrapesEveryService(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, filepath.Join(root, composeDir), []string{composeFile}, nil)
	prom, ok := p.Services["prometheus"]
	require.True(t, ok, "no prometheus service")

	var configPath string
	for _, arg := range prom.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			configPath = v
		}
	}
	require.NotEmpty(t, configPath, "prometheus has no --config.file")
	source := mountSource(t, prom, configPath)
	assert.Equal(t, filepath.Join(root, "deploy", "prometheus", "prometheus.yml"), source)

	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, source, &cfg)
	scraped := make(map[string]bool)
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				if sc.MetricsPath == "" || sc.MetricsPath == "/metrics" {
					scraped[target] = true
				}
			}
		}
	}
	services := slipwayServices(t)
	var checked int
	for _, name := range sortedNames(p.Services) {
		svc, ok := services[slipwayName(p.Services[name])]
		if !ok {
			continue
		}
		checked++
		target := net.JoinHostPort(name, strconv.Itoa(svc.HTTPPort))
		assert.True(t, scraped[target], "Prometheus does not scrape %s/metrics", target)
	}
	assert.Equal(t, len(services), checked)
}

// grafanaDashboard is a dashboard JSON as the provisioned dashboards write
// it. It is decoded strictly (readDashboard): a field it does not know, a
// misspelt "targets" or "expr" among them, fails the test instead of
// leaving a panel silently empty.
type grafanaDashboard struct {
	UID           string          `json:"uid"`
	Title         string          `json:"title"`
	Description   string          `json:"description"`
	Tags          []string        `json:"tags"`
	Timezone      string          `json:"timezone"`
	Editable      bool            `json:"editable"`
	GraphTooltip  int             `json:"graphTooltip"`
	Refresh       string          `json:"refresh"`
	SchemaVersion int             `json:"schemaVersion"`
	Version       int             `json:"version"`
	Time          json.RawMessage `json:"time"`
	Templating    struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
	Annotations json.RawMessage `json:"annotations"`
	Links       json.RawMessage `json:"links"`
	Panels      []grafanaPanel  `json:"panels"`
}

type grafanaVariable struct {
	Name        string             `json:"name"`
	Label       string             `json:"label"`
	Description string             `json:"description"`
	Type        string             `json:"type"`
	Datasource  *grafanaDatasource `json:"datasource"`
	Query       json.RawMessage    `json:"query"`
	Definition  string             `json:"definition"`
	Regex       string             `json:"regex"`
	Refresh     int                `json:"refresh"`
	Multi       bool               `json:"multi"`
	IncludeAll  bool               `json:"includeAll"`
	AllValue    string             `json:"allValue"`
	Current     json.RawMessage    `json:"current"`
	Options     json.RawMessage    `json:"options"`
	Hide        int                `json:"hide"`
	Sort        int                `json:"sort"`
}

type grafanaPanel struct {
	ID              int                `json:"id"`
	Type            string             `json:"type"`
	Title           string             `json:"title"`
	Description     string             `json:"description"`
	Repeat          string             `json:"repeat"`
	RepeatDirection string             `json:"repeatDirection"`
	MaxPerRow       int                `json:"maxPerRow"`
	Collapsed       bool               `json:"collapsed"`
	Datasource      *grafanaDatasource `json:"datasource"`
	GridPos         struct {
		X int `json:"x"`
		Y int `json:"y"`
		W int `json:"w"`
		H int `json:"h"`
	} `json:"gridPos"`
	Interval      string          `json:"interval"`
	MaxDataPoints int             `json:"maxDataPoints"`
	PluginVersion string          `json:"pluginVersion"`
	Transparent   bool            `json:"transparent"`
	Links         json.RawMessage `json:"links"`
	Transform     json.RawMessage `json:"transformations"`
	FieldConfig   struct {
		Defaults struct {
			Unit       string          `json:"unit"`
			Decimals   *int            `json:"decimals"`
			Min        *float64        `json:"min"`
			Max        *float64        `json:"max"`
			Color      json.RawMessage `json:"color"`
			Mappings   json.RawMessage `json:"mappings"`
			Custom     json.RawMessage `json:"custom"` // the panel plugin's own
			Thresholds *struct {
				Mode  string `json:"mode"`
				Steps []struct {
					Color string   `json:"color"`
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
			DisplayName string `json:"displayName"`
			NoValue     string `json:"noValue"`
		} `json:"defaults"`
		Overrides json.RawMessage `json:"overrides"`
	} `json:"fieldConfig"`
	Options json.RawMessage `json:"options"` // the panel plugin's own
	Targets []grafanaTarget `json:"targets"`
	Panels  []grafanaPanel  `json:"panels"` // a collapsed row's panels
}

type grafanaTarget struct {
	Datasource     *grafanaDatasource `json:"datasource"`
	RefID          string             `json:"refId"`
	Expr           string             `json:"expr"`
	LegendFormat   string             `json:"legendFormat"`
	Range          bool               `json:"range"`
	Instant        bool               `json:"instant"`
	Format         string             `json:"format"`
	Interval       string             `json:"interval"`
	IntervalFactor int                `json:"intervalFactor"`
	Exemplar       bool               `json:"exemplar"`
	Hide           bool               `json:"hide"`
	EditorMode     string             `json:"editorMode"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// readDashboard decodes a dashboard strictly: an unknown field anywhere
// the structs above describe is an error.
func readDashboard(file string) (grafanaDashboard, error) {
	var d grafanaDashboard
	data, err := os.ReadFile(file)
	if err != nil {
		return d, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	if dec.More() {
		return d, fmt.Errorf("%s: more than one JSON value", filepath.Base(file))
	}
	return d, nil
}

// grafanaVars stand in for the dashboard variables so an expression parses
// as the PromQL Grafana sends.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h", "$service", ".*")

// promQuery is what a dashboard expression asks of a metric.
type promQuery struct {
	expr    string
	node    parser.Expr
	metrics map[string][]string // metric -> labels used in matchers
	byLabel map[string]bool     // labels some aggregation groups by
	matches map[string]bool     // labels some matcher constrains
	hasFunc map[string]bool     // functions called
}

func parsePromQL(expr string) (promQuery, error) {
	q := promQuery{expr: expr, metrics: make(map[string][]string), byLabel: make(map[string]bool), matches: make(map[string]bool), hasFunc: make(map[string]bool)}
	node, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVars.Replace(expr))
	if err != nil {
		return q, err
	}
	q.node = node
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			var labels []string
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" {
					labels = append(labels, m.Name)
					q.matches[m.Name] = true
				}
			}
			q.metrics[n.Name] = append(q.metrics[n.Name], labels...)
		case *parser.AggregateExpr:
			if !n.Without {
				for _, l := range n.Grouping {
					q.byLabel[l] = true
				}
			}
		case *parser.Call:
			q.hasFunc[n.Func.Name] = true
		}
		return nil
	})
	return q, nil
}

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// runtimeMetrics are the series of client_golang's Go and process
// collectors, which platform/telemetry.NewRegistry registers on every
// service's registry; they carry no label of their own.
var runtimeMetrics = []string{
	"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
	"go_sched_gomaxprocs_threads", "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_alloc_bytes",
	"go_gc_duration_seconds",
}

// metricCatalog is every series a dashboard may read: platform's metrics
// with their labels, the runtime collectors' and the recorded series of
// deploy/prometheus/rules, whose labels depend on their expression.
type metricCatalog struct {
	labels   map[string]map[string]bool
	recorded map[string]bool
}

// lookup is the labels of metric (a histogram's _bucket/_sum/_count series
// included); any is true for a recorded series, whose labels are not known.
func (c metricCatalog) lookup(metric string) (labels map[string]bool, any, ok bool) {
	if c.recorded[metric] {
		return nil, true, true
	}
	if l, ok := c.labels[metric]; ok {
		return l, false, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(metric, suffix); ok && c.labels[b] != nil {
			l := maps.Clone(c.labels[b])
			if suffix == "_bucket" {
				l["le"] = true
			}
			return l, false, true
		}
	}
	return nil, false, false
}

// labelSet is the labels a PromQL expression's result may carry; any means
// unknown (a recorded series), and then nothing is checked.
type labelSet struct {
	names map[string]bool
	any   bool
}

func newLabelSet(names ...string) labelSet {
	s := labelSet{names: make(map[string]bool)}
	for _, n := range names {
		s.names[n] = true
	}
	return s
}

func (s labelSet) union(o labelSet) labelSet {
	out := labelSet{names: make(map[string]bool, len(s.names)+len(o.names)), any: s.any || o.any}
	maps.Copy(out.names, s.names)
	maps.Copy(out.names, o.names)
	return out
}

func (s labelSet) without(names ...string) labelSet {
	out := labelSet{names: maps.Clone(s.names), any: s.any}
	for _, n := range names {
		delete(out.names, n)
	}
	return out
}

// resultLabels infers the labels of e's result as Prometheus computes them,
// and reports every label an aggregation groups by, or a vector match
// joins on, that its operand cannot have: such a panel groups everything
// into one series or matches nothing.
func resultLabels(e parser.Expr, catalog metricCatalog, problem func(string, ...any)) labelSet {
	switch n := e.(type) {
	case *parser.VectorSelector:
		labels, any, ok := catalog.lookup(n.Name)
		if !ok {
			return labelSet{any: true} // reported as an unknown metric
		}
		return labelSet{names: maps.Clone(labels), any: any}.union(newLabelSet(targetLabels...))
	case *parser.MatrixSelector:
		return resultLabels(n.VectorSelector, catalog, problem)
	case *parser.ParenExpr:
		return resultLabels(n.Expr, catalog, problem)
	case *parser.UnaryExpr:
		return resultLabels(n.Expr, catalog, problem)
	case *parser.SubqueryExpr:
		return resultLabels(n.Expr, catalog, problem)
	case *parser.StepInvariantExpr:
		return resultLabels(n.Expr, catalog, problem)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return newLabelSet()
	case *parser.Call:
		out := newLabelSet()
		for _, a := range n.Args {
			if a.Type() == parser.ValueTypeVector || a.Type() == parser.ValueTypeMatrix {
				out = out.union(resultLabels(a, catalog, problem))
			}
		}
		switch n.Func.Name {
		case "histogram_quantile", "histogram_fraction":
			if !out.any && !out.names["le"] {
				problem("%s over series without an le label", n.Func.Name)
			}
			out = out.without("le")
		case "label_replace":
			if s, ok := n.Args[1].(*parser.StringLiteral); ok {
				out = out.union(newLabelSet(s.Val))
			}
		case "vector", "time", "scalar", "absent", "absent_over_time":
			out = newLabelSet()
		}
		return out
	case *parser.AggregateExpr:
		inner := resultLabels(n.Expr, catalog, problem)
		if n.Without {
			return inner.without(n.Grouping...)
		}
		for _, l := range n.Grouping {
			if !inner.any && !inner.names[l] {
				problem("%s by (%s): the series it aggregates have no label %q", n.Op, strings.Join(n.Grouping, ", "), l)
			}
		}
		switch n.Op {
		case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
			return inner
		}
		return newLabelSet(n.Grouping...)
	case *parser.BinaryExpr:
		lhs := resultLabels(n.LHS, catalog, problem)
		rhs := resultLabels(n.RHS, catalog, problem)
		switch {
		case n.LHS.Type() != parser.ValueTypeVector:
			return rhs
		case n.RHS.Type() != parser.ValueTypeVector:
			return lhs
		}
		m := n.VectorMatching
		if m != nil && m.On {
			for _, l := range m.MatchingLabels {
				for side, s := range map[string]labelSet{"left": lhs, "right": rhs} {
					if !s.any && !s.names[l] {
						problem("%s on (%s): the %s side has no label %q", n.Op, strings.Join(m.MatchingLabels, ", "), side, l)
					}
				}
			}
		}
		if n.Op.IsSetOperator() {
			if n.Op == parser.LOR {
				return lhs.union(rhs)
			}
			return lhs
		}
		if m == nil {
			return lhs
		}
		switch m.Card {
		case parser.CardManyToOne:
			for _, l := range m.Include {
				if !rhs.any && !rhs.names[l] {
					problem("group_left (%s): the right side has no label %q", strings.Join(m.Include, ", "), l)
				}
			}
			return lhs.union(newLabelSet(m.Include...))
		case parser.CardOneToMany:
			for _, l := range m.Include {
				if !lhs.any && !lhs.names[l] {
					problem("group_right (%s): the left side has no label %q", strings.Join(m.Include, ", "), l)
				}
			}
			return rhs.union(newLabelSet(m.Include...))
		}
		// One to one: the result keeps the left side's labels, only the
		// on (...) ones, or without the ignoring (...) ones.
		if m.On {
			out := newLabelSet()
			for _, l := range m.MatchingLabels {
				if lhs.any || lhs.names[l] {
					out.names[l] = true
				}
			}
			out.any = lhs.any
			return out
		}
		return lhs.without(m.MatchingLabels...)
	}
	return labelSet{any: true}
}

// checkDashboardQueries: every expression parses as PromQL, names a metric
// platform declares, a runtime collector's or a recorded series, filters
// only on labels that metric has, and groups and joins only by labels its
// operands carry; datasources are the provisioned one.
func checkDashboardQueries(d grafanaDashboard, catalog metricCatalog, datasourceUID string) ([]promQuery, []string) {
	var queries []promQuery
	var problems []string
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			walk(p.Panels)
			if p.Datasource != nil && p.Datasource.UID != datasourceUID {
				problems = append(problems, fmt.Sprintf("panel %q uses datasource %q, not the provisioned %q", p.Title, p.Datasource.UID, datasourceUID))
			}
			for _, target := range p.Targets {
				if target.Datasource != nil && target.Datasource.UID != datasourceUID {
					problems = append(problems, fmt.Sprintf("panel %q: a query uses datasource %q, not the provisioned %q", p.Title, target.Datasource.UID, datasourceUID))
				}
				q, err := parsePromQL(target.Expr)
				if err != nil {
					problems = append(problems, fmt.Sprintf("panel %q: %q is not PromQL: %v", p.Title, target.Expr, err))
					continue
				}
				queries = append(queries, q)
				for _, metric := range slices.Sorted(maps.Keys(q.metrics)) {
					have, any, ok := catalog.lookup(metric)
					if !ok {
						problems = append(problems, fmt.Sprintf("panel %q: metric %s is not declared in platform, a runtime collector or a recording rule", p.Title, metric))
						continue
					}
					for _, l := range q.metrics[metric] {
						if !any && !have[l] && !slices.Contains(targetLabels, l) {
							problems = append(problems, fmt.Sprintf("panel %q: metric %s has no label %q", p.Title, metric, l))
						}
					}
				}
				resultLabels(q.node, catalog, func(format string, a ...any) {
					problems = append(problems, fmt.Sprintf("panel %q: ", p.Title)+fmt.Sprintf(format, a...))
				})
			}
		}
	}
	walk(d.Panels)
	if len(queries) == 0 {
		problems = append(problems, "the dashboard has no query")
	}
	return queries, problems
}

// descMetrics adds the metrics platform declares with prometheus.NewDesc
// (collectors that read their values at scrape time, such as the database
// pool's), with their variable labels and the constant labels of a
// prometheus.Labels literal in the same function.
func descMetrics(t testing.TB, out map[string]map[string]bool) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(repoRoot(t), "platform"), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		pkg, err := parseGoDir(p)
		if err != nil {
			return err
		}
		for _, f := range pkg.files {
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				constLabels := constLabelKeys(fn.Body)
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok || !isSelector(call.Fun, "prometheus", "NewDesc") || len(call.Args) != 4 {
						return true
					}
					name, ok := stringLit(call.Args[0])
					if !ok || !strings.HasPrefix(name, "slipway_") {
						return true
					}
					labels := map[string]bool{}
					if vl, ok := call.Args[2].(*ast.CompositeLit); ok {
						for _, elt := range vl.Elts {
							if l, ok := stringLit(elt); ok {
								labels[l] = true
							}
						}
					}
					if id, ok := call.Args[3].(*ast.Ident); !ok || id.Name != "nil" {
						for _, l := range constLabels {
							labels[l] = true
						}
					}
					out[name] = labels
					return true
				})
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// recordedSeries are the names the recording rules of
// deploy/prometheus/rules/*.yml record.
func recordedSeries(t testing.TB) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "prometheus", "rules", "*.yml"))
	require.NoError(t, err)
	out := make(map[string]bool)
	for _, f := range files {
		var rules struct {
			Groups []struct {
				Rules []struct {
					Record string `yaml:"record"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		readYAML(t, f, &rules)
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					out[r.Record] = true
				}
			}
		}
	}
	return out
}

// dashboardCatalog is every series the dashboards may read.
func dashboardCatalog(t testing.TB) metricCatalog {
	t.Helper()
	labels := platformMetrics(t)
	descMetrics(t, labels)
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "platform", "telemetry", "metrics.go"))
	require.NoError(t, err)
	for _, c := range []string{"collectors.NewGoCollector(", "collectors.NewProcessCollector("} {
		require.Contains(t, string(src), c, "runtimeMetrics come from platform/telemetry's registry")
	}
	for _, m := range runtimeMetrics {
		labels[m] = map[string]bool{}
	}
	return metricCatalog{labels: labels, recorded: recordedSeries(t)}
}

func TestGrafana(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, filepath.Join(root, composeDir), []string{composeFile}, nil)
	graf, ok := p.Services["grafana"]
	require.True(t, ok, "no grafana service")
	provisioning := mountSource(t, graf, "/etc/grafana/provisioning")

	var datasources struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(provisioning, "datasources", "prometheus.yml"), &datasources)
	require.Len(t, datasources.Datasources, 1)
	ds := datasources.Datasources[0]
	assert.Equal(t, "prometheus", ds.Type)
	u, err := url.Parse(ds.URL)
	require.NoError(t, err)
	assert.Contains(t, p.Services, u.Hostname(), "the datasource points at a compose service")

	var providers struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(provisioning, "dashboards", "slipway.yml"), &providers)
	require.Len(t, providers.Providers, 1)
	dashboardsDir := mountSource(t, graf, providers.Providers[0].Options.Path)
	if home, ok := envValue(graf, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"); ok {
		rel, err := filepath.Rel(providers.Providers[0].Options.Path, home)
		require.NoError(t, err)
		assert.FileExists(t, filepath.Join(dashboardsDir, rel), "the home dashboard")
	}

	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboard in %s", dashboardsDir)
	catalog := dashboardCatalog(t)
	uids := make(map[string]string)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			d, err := readDashboard(f)
			require.NoError(t, err)
			assert.NotEmpty(t, d.UID, "a stable uid keeps links to the dashboard working")
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %q is %s's too: Grafana would load only one", d.UID, other)
			}
			uids[d.UID] = filepath.Base(f)
			_, problems := checkDashboardQueries(d, catalog, ds.UID)
			assert.Empty(t, problems)
		})
	}
	t.Run("slipway.json", func(t *testing.T) {
		d, err := readDashboard(filepath.Join(dashboardsDir, "slipway.json"))
		require.NoError(t, err)
		checkServiceDashboard(t, d, catalog, ds.UID)
	})
}

// checkServiceDashboard: the services dashboard shows RED per service, the
// SLO with its objectives drawn, the dependencies, and a row per service.
func checkServiceDashboard(t *testing.T, d grafanaDashboard, catalog metricCatalog, datasourceUID string) {
	queries, _ := checkDashboardQueries(d, catalog, datasourceUID)
	// uses: the query reads one of metrics, raw or recorded.
	uses := func(metrics ...string) func(promQuery) bool {
		return func(q promQuery) bool {
			return slices.ContainsFunc(metrics, func(m string) bool { _, ok := q.metrics[m]; return ok })
		}
	}
	shows := []struct {
		name string
		ok   func(promQuery) bool
	}{
		{"request rate per service", func(q promQuery) bool {
			return uses("slipway_service:slipway_rpc_requests:rate5m")(q) ||
				uses("slipway_rpc_requests_total")(q) && q.hasFunc["rate"] && q.byLabel["service"]
		}},
		{"errors per service", func(q promQuery) bool {
			return uses("slipway_service:slipway_rpc_errors:ratio_rate5m")(q) ||
				uses("slipway_rpc_requests_total")(q) && q.matches["code"] && q.byLabel["service"]
		}},
		{"duration per service", func(q promQuery) bool {
			return uses("slipway_rpc_duration_seconds_bucket")(q) && q.hasFunc["histogram_quantile"] && q.byLabel["service"] && q.byLabel["le"]
		}},
		{"the 30-day error budget", func(q promQuery) bool {
			return uses("slipway_rpc_requests_total")(q) && strings.Contains(q.expr, "[30d]") && strings.Contains(q.expr, "0.005")
		}},
		{"CPU against GOMAXPROCS", uses("slipway_service:process_cpu_utilisation:max_ratio_rate5m")},
		{"the database pool", uses("slipway_service:slipway_db_connections_idle:min_ratio_avg5m")},
		{"the outbox", uses("slipway_service:slipway_outbox_oldest_pending_age_seconds:max")},
		{"consumer lag", uses("slipway_service_consumer:slipway_consumer_lag:max")},
		{"Redis", uses("slipway_redis_up")},
		{"circuit breakers", uses("slipway_client_circuit_state")},
		{"shed calls", uses("slipway_service:slipway_rpc_shed:rate5m")},
		{"the cache hit ratio", uses("slipway_service_cache:slipway_cache_requests_hit:ratio_rate5m")},
		{"client retries", uses("slipway_service_peer:slipway_client_retries:rate5m")},
		{"database retries", uses("slipway_db_retries_total")},
		{"memory", uses("process_resident_memory_bytes")},
	}
	for _, s := range shows {
		assert.True(t, slices.ContainsFunc(queries, s.ok), "no panel shows %s", s.name)
	}

	// The SLO objectives of deploy/slo.yaml, drawn as thresholds.
	thresholds := make(map[float64]bool)
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			walk(p.Panels)
			if th := p.FieldConfig.Defaults.Thresholds; th != nil {
				for _, s := range th.Steps {
					if s.Value != nil {
						thresholds[*s.Value] = true
					}
				}
			}
		}
	}
	walk(d.Panels)
	for _, objective := range []float64{0.75, 0.32, 0.4, 30} {
		assert.True(t, thresholds[objective], "no panel draws the objective %g as a threshold", objective)
	}

	// A row repeated over the service variable, with the service's own panels.
	var service *grafanaVariable
	for i, v := range d.Templating.List {
		if v.Name == "service" {
			service = &d.Templating.List[i]
		}
	}
	require.NotNil(t, service, "no service variable")
	assert.True(t, service.Multi && service.IncludeAll, "the service variable allows several services and All")
	repeated := -1
	for i, p := range d.Panels {
		if p.Type == "row" && p.Repeat == "service" {
			repeated = i
		}
	}
	require.GreaterOrEqual(t, repeated, 0, "no row repeated over $service")
	var rowPanels []grafanaPanel
	for _, p := range d.Panels[repeated+1:] {
		if p.Type == "row" {
			break
		}
		rowPanels = append(rowPanels, p)
	}
	rowPanels = append(rowPanels, d.Panels[repeated].Panels...)
	sub, _ := checkDashboardQueries(grafanaDashboard{Panels: rowPanels}, catalog, datasourceUID)
	for _, metric := range []string{"slipway_rpc_requests_total", "slipway_service:slipway_rpc_errors:ratio_rate5m", "slipway_rpc_duration_seconds_bucket", "slipway_rpc_in_flight", "slipway_service:process_cpu_utilisation:max_ratio_rate5m", "process_resident_memory_bytes"} {
		assert.True(t, slices.ContainsFunc(sub, func(q promQuery) bool {
			_, ok := q.metrics[metric]
			return ok && strings.Contains(q.expr, `service=~"$service"`)
		}), "the per-service row has no panel on %s for $service", metric)
	}
}

// sloRow is the title of the dashboard row that shows deploy/slo.yaml.
const sloRow = "SLO overview (deploy/slo.yaml)"

// panelSeries is what a panel must read: the recorded series of
// deploy/prometheus/rules that compute what it shows, so the dashboard, the
// alerts and the Argo analysis read one computation; raw says why a panel
// may compute its figure itself (no rule records it).
type panelSeries struct {
	recorded []string
	raw      string
}

// recordedPanels are the panels of slipway.json that show a figure a
// recording rule records, by title. Every panel of the SLO row is listed.
var recordedPanels = map[string]panelSeries{
	"Error budget remaining (30 d, 99.5 %)": {raw: "no rule records the error ratio over 30 d"},
	"Error budget burn rate":                {recorded: []string{"slipway_service:slipway_rpc_errors:ratio_rate1h", "slipway_service:slipway_rpc_errors:ratio_rate5m"}},
	"CPU against 75 %":                      {recorded: []string{"slipway_service:process_cpu_utilisation:max_ratio_rate5m"}},
	"p99 against 320 ms":                    {recorded: []string{"slipway_service:slipway_rpc_duration_seconds:p99_rate5m"}},
	"DB pool idle ratio against 40 %":       {recorded: []string{"slipway_service:slipway_db_connections_idle:min_ratio_avg5m"}},
	"Outbox oldest pending age":             {recorded: []string{"slipway_service:slipway_outbox_oldest_pending_age_seconds:max"}},
	"Consumer lag":                          {recorded: []string{"slipway_service_consumer:slipway_consumer_lag:max"}},
	"Shed calls":                            {recorded: []string{"slipway_service:slipway_rpc_shed:rate5m"}},
	"Cache hit ratio":                       {recorded: []string{"slipway_service_cache:slipway_cache_requests_hit:ratio_rate5m"}},
	"Client retries":                        {recorded: []string{"slipway_service_peer:slipway_client_retries:rate5m"}},
	"Request rate":                          {recorded: []string{"slipway_service:slipway_rpc_requests:rate5m"}},
	"In flight":                             {recorded: []string{"slipway_service:slipway_rpc_in_flight:sum"}},
	"$service: error ratio":                 {recorded: []string{"slipway_service:slipway_rpc_errors:ratio_rate5m"}},
	"$service: CPU":                         {recorded: []string{"slipway_service:process_cpu_utilisation:max_ratio_rate5m"}},
}

// isRecordedName says whether metric is named as a recording rule's series
// (level:metric:operations); a scraped metric has no colon.
func isRecordedName(metric string) bool { return strings.Contains(metric, ":") }

// checkRecordedPanels: every panel of want reads its recorded series and no
// scraped metric (a panel that went back to raw PromQL computes the figure
// a second time), every panel of the SLO row is in want, and every series
// named as recorded that any panel reads is recorded by some rule.
func checkRecordedPanels(d grafanaDashboard, want map[string]panelSeries, recorded map[string]bool) []string {
	var problems []string
	seen := make(map[string]bool)
	var row string
	var walk func(panels []grafanaPanel, inRow string)
	walk = func(panels []grafanaPanel, inRow string) {
		for _, p := range panels {
			if p.Type == "row" {
				row = p.Title
				walk(p.Panels, p.Title)
				continue
			}
			current := inRow // a collapsed row's own panels
			if current == "" {
				current = row // an expanded row's panels follow it
			}
			reads := make(map[string]bool)
			for _, target := range p.Targets {
				q, err := parsePromQL(target.Expr)
				if err != nil {
					problems = append(problems, fmt.Sprintf("panel %q: %v", p.Title, err))
					continue
				}
				for m := range q.metrics {
					reads[m] = true
					if isRecordedName(m) && !recorded[m] {
						problems = append(problems, fmt.Sprintf("panel %q reads %s, which no deploy/prometheus/rules file records", p.Title, m))
					}
				}
			}
			w, listed := want[p.Title]
			if !listed {
				if current == sloRow {
					problems = append(problems, fmt.Sprintf("panel %q of the SLO row says neither which recorded series it reads nor why it has none", p.Title))
				}
				continue
			}
			seen[p.Title] = true
			for _, m := range w.recorded {
				if !reads[m] {
					problems = append(problems, fmt.Sprintf("panel %q does not read the recorded %s", p.Title, m))
				}
			}
			if len(w.recorded) > 0 {
				for _, m := range slices.Sorted(maps.Keys(reads)) {
					if !isRecordedName(m) {
						problems = append(problems, fmt.Sprintf("panel %q computes from the raw %s what %s records", p.Title, m, strings.Join(w.recorded, ", ")))
					}
				}
			}
		}
	}
	walk(d.Panels, "")
	for _, title := range slices.Sorted(maps.Keys(want)) {
		if !seen[title] {
			problems = append(problems, fmt.Sprintf("no panel %q", title))
		}
	}
	return problems
}

func TestDashboardReadsRecordedSeries(t *testing.T) {
	recorded := recordedSeries(t)
	for _, w := range recordedPanels {
		for _, m := range w.recorded {
			require.True(t, recorded[m], "the test wants %s, which no rule records", m)
		}
	}
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", "*.json"))
	require.NoError(t, err)
	require.Contains(t, files, filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", "slipway.json"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			d, err := readDashboard(f)
			require.NoError(t, err)
			var want map[string]panelSeries // other dashboards: only that what they read is recorded
			if filepath.Base(f) == "slipway.json" {
				want = recordedPanels
			}
			assert.Empty(t, checkRecordedPanels(d, want, recorded))
		})
	}
}

func TestRecordedPanelChecksFindProblems(t *testing.T) {
	recorded := map[string]bool{"slipway_service:slipway_rpc_errors:ratio_rate5m": true}
	want := map[string]panelSeries{
		"Errors": {recorded: []string{"slipway_service:slipway_rpc_errors:ratio_rate5m"}},
		"Budget": {raw: "no rule"},
	}
	dashboard := func(errorsExpr string, extra ...grafanaPanel) grafanaDashboard {
		return grafanaDashboard{Panels: append([]grafanaPanel{
			{Type: "row", Title: sloRow},
			{Type: "timeseries", Title: "Errors", Targets: []grafanaTarget{{Expr: errorsExpr}}},
			{Type: "stat", Title: "Budget", Targets: []grafanaTarget{{Expr: `sum(rate(slipway_rpc_requests_total[30d]))`}}},
		}, extra...)}
	}
	tests := []struct {
		name string
		d    grafanaDashboard
		want string // "" means no problem
	}{
		{"the recorded series", dashboard(`slipway_service:slipway_rpc_errors:ratio_rate5m{service=~"$service"}`), ""},
		{"back to raw PromQL", dashboard(`sum by (service) (rate(slipway_rpc_requests_total{code!="OK"}[5m])) / sum by (service) (rate(slipway_rpc_requests_total[5m]))`),
			`does not read the recorded slipway_service:slipway_rpc_errors:ratio_rate5m`},
		{"recorded and raw mixed", dashboard(`slipway_service:slipway_rpc_errors:ratio_rate5m * on (service) group_left () sum by (service) (rate(slipway_rpc_requests_total[5m]))`),
			`computes from the raw slipway_rpc_requests_total`},
		{"a series no rule records", dashboard(`slipway_service:slipway_rpc_errors:ratio_rate10m`), "slipway_service:slipway_rpc_errors:ratio_rate10m, which no deploy/prometheus/rules file records"},
		{"an unlisted SLO panel", dashboard(`slipway_service:slipway_rpc_errors:ratio_rate5m`,
			grafanaPanel{Type: "timeseries", Title: "New", Targets: []grafanaTarget{{Expr: `up`}}}), `panel "New" of the SLO row says neither`},
		{"an unlisted panel of another row may be raw", dashboard(`slipway_service:slipway_rpc_errors:ratio_rate5m`,
			grafanaPanel{Type: "row", Title: "Other"}, grafanaPanel{Type: "timeseries", Title: "New", Targets: []grafanaTarget{{Expr: `up`}}}), ""},
		{"an unrecorded series in another row", dashboard(`slipway_service:slipway_rpc_errors:ratio_rate5m`,
			grafanaPanel{Type: "row", Title: "Other", Collapsed: true, Panels: []grafanaPanel{{Type: "timeseries", Title: "Inside", Targets: []grafanaTarget{{Expr: `slipway_instance:cpu:ratio`}}}}}),
			`panel "Inside" reads slipway_instance:cpu:ratio`},
		{"a listed panel is missing", grafanaDashboard{Panels: []grafanaPanel{{Type: "row", Title: sloRow}}}, `no panel "Errors"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := checkRecordedPanels(tt.d, want, recorded)
			if tt.want == "" {
				assert.Empty(t, problems)
				return
			}
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}

func TestDashboardChecksFindProblems(t *testing.T) {
	catalog := metricCatalog{
		labels: map[string]map[string]bool{
			"slipway_rpc_requests_total": {"service": true, "code": true},
			"slipway_consumer_lag":       {"consumer": true},
			"slipway_build_info":         {"service": true, "version": true},
		},
		recorded: map[string]bool{"slipway:rpc_errors:ratio_rate5m": true},
	}
	panel := func(expr string) grafanaDashboard {
		return grafanaDashboard{Panels: []grafanaPanel{{
			Title:   "p",
			Targets: []grafanaTarget{{Datasource: &grafanaDatasource{UID: "prometheus"}, Expr: expr}},
		}}}
	}
	tests := []struct {
		name string
		d    grafanaDashboard
		want string // "" means no problem
	}{
		{"not PromQL", panel(`sum by (service) (rate(slipway_rpc_requests_total[$__rate_interval])`), "is not PromQL"},
		{"unknown metric", panel(`rate(slipway_rpc_request_total[1m])`), "metric slipway_rpc_request_total is not declared"},
		{"unknown matcher label", panel(`rate(slipway_rpc_requests_total{method="x"}[1m])`), `has no label "method"`},
		{"unknown grouping label", panel(`sum by (method) (rate(slipway_rpc_requests_total[1m]))`), `the series it aggregates have no label "method"`},
		{"grouping by a label an inner sum dropped", panel(`sum by (code) (sum by (service) (rate(slipway_rpc_requests_total[1m])))`), `no label "code"`},
		{"grouping by a label the consumer metric lacks", panel(`sum by (service) (slipway_consumer_lag)`), `no label "service"`},
		{"a join adds the label", panel(`sum by (service, consumer) (slipway_consumer_lag * on (instance) group_left (service) slipway_build_info)`), ""},
		{"a join copies a label the right side lacks", panel(`slipway_consumer_lag * on (instance) group_left (region) slipway_build_info`), `group_left (region): the right side has no label "region"`},
		{"one-to-one on keeps only the on labels", panel(`sum by (consumer) (slipway_consumer_lag / on (instance) slipway_build_info)`), `no label "consumer"`},
		{"a join on a label one side lacks", panel(`slipway_consumer_lag * on (consumer) group_left (service) slipway_build_info`), `the right side has no label "consumer"`},
		{"or keeps both sides' labels", panel(`sum by (service, code) (rate(slipway_rpc_requests_total{code!="OK"}[1m])) or sum by (service) (rate(slipway_rpc_requests_total[1m])) * 0`), ""},
		{"a recorded series", panel(`max by (service) (slipway:rpc_errors:ratio_rate5m)`), ""},
		{"a runtime metric not in the catalog", panel(`rate(process_cpu_seconds_total[1m])`), "metric process_cpu_seconds_total is not declared"},
		{"other datasource", func() grafanaDashboard {
			d := panel(`rate(slipway_rpc_requests_total[1m])`)
			d.Panels[0].Datasource = &grafanaDatasource{UID: "loki"}
			return d
		}(), `uses datasource "loki"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := checkDashboardQueries(tt.d, catalog, "prometheus")
			if tt.want == "" {
				assert.Empty(t, problems)
				return
			}
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}

func TestReadDashboardIsStrict(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		f := filepath.Join(dir, "d.json")
		require.NoError(t, os.WriteFile(f, []byte(body), 0o600))
		return f
	}
	_, err := readDashboard(write(`{"uid": "x", "panels": [{"type": "timeseries", "targets": [{"refId": "A", "expr": "up"}]}]}`))
	require.NoError(t, err)
	for name, body := range map[string]string{
		"misspelt targets":  `{"uid": "x", "panels": [{"type": "timeseries", "targtes": [{"expr": "up"}]}]}`,
		"misspelt expr":     `{"uid": "x", "panels": [{"type": "timeseries", "targets": [{"exp": "up"}]}]}`,
		"unknown top level": `{"uid": "x", "panel": []}`,
		"two values":        `{"uid": "x"} {"uid": "y"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readDashboard(write(body))
			require.Error(t, err)
		})
	}
}
