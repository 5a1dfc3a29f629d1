package deploy

import (
	"fmt"
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

// grafanaDashboard is the part of a dashboard JSON the checks read.
type grafanaDashboard struct {
	UID    string         `json:"uid"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Title      string             `json:"title"`
	Type       string             `json:"type"`
	Datasource *grafanaDatasource `json:"datasource"`
	Targets    []grafanaTarget    `json:"targets"`
	Panels     []grafanaPanel     `json:"panels"` // a collapsed row's panels
}

type grafanaTarget struct {
	Datasource *grafanaDatasource `json:"datasource"`
	Expr       string             `json:"expr"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// grafanaVars stand in for the dashboard variables so an expression parses
// as the PromQL Grafana sends.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h", "$service", ".*")

// promQuery is what a dashboard expression asks of a metric.
type promQuery struct {
	expr    string
	metrics map[string][]string // metric -> labels used in matchers and grouping
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
	var groupings []string
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
			q.metrics[n.Name] = labels
		case *parser.AggregateExpr:
			groupings = append(groupings, n.Grouping...)
		case *parser.Call:
			q.hasFunc[n.Func.Name] = true
		}
		return nil
	})
	for _, l := range groupings {
		q.byLabel[l] = true
	}
	return q, nil
}

// checkDashboardQueries: every expression parses as PromQL, names a metric
// platform declares (a histogram's _bucket/_sum/_count series included)
// and uses only labels that metric has; datasources are the provisioned one.
func checkDashboardQueries(d grafanaDashboard, metrics map[string]map[string]bool, datasourceUID string) ([]promQuery, []string) {
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
				labelsUsed := slices.Sorted(maps.Keys(q.byLabel))
				for metric, matchLabels := range q.metrics {
					base := metric
					for _, suffix := range []string{"_bucket", "_sum", "_count"} {
						if b, ok := strings.CutSuffix(metric, suffix); ok && metrics[b] != nil {
							base = b
						}
					}
					have, ok := metrics[base]
					if !ok {
						problems = append(problems, fmt.Sprintf("panel %q: metric %s is not declared in platform", p.Title, metric))
						continue
					}
					for _, l := range append(matchLabels, labelsUsed...) {
						if !have[l] {
							problems = append(problems, fmt.Sprintf("panel %q: metric %s has no label %q", p.Title, metric, l))
						}
					}
				}
			}
		}
	}
	walk(d.Panels)
	if len(queries) == 0 {
		problems = append(problems, "the dashboard has no query")
	}
	return queries, problems
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
	metrics := platformMetrics(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var d grafanaDashboard
			readJSONC(t, f, &d)
			assert.NotEmpty(t, d.UID, "a stable uid keeps links to the dashboard working")
			queries, problems := checkDashboardQueries(d, metrics, ds.UID)
			assert.Empty(t, problems)

			// Request rate, errors and duration, each per service.
			red := []struct {
				name string
				ok   func(promQuery) bool
			}{
				{"request rate per service", func(q promQuery) bool {
					_, ok := q.metrics["slipway_rpc_requests_total"]
					return ok && q.hasFunc["rate"] && q.byLabel["service"]
				}},
				{"errors per service", func(q promQuery) bool {
					_, ok := q.metrics["slipway_rpc_requests_total"]
					return ok && q.matches["code"] && q.byLabel["service"]
				}},
				{"duration per service", func(q promQuery) bool {
					_, ok := q.metrics["slipway_rpc_duration_seconds_bucket"]
					return ok && q.hasFunc["histogram_quantile"] && q.byLabel["service"] && q.byLabel["le"]
				}},
			}
			for _, r := range red {
				assert.True(t, slices.ContainsFunc(queries, r.ok), "no panel shows %s", r.name)
			}
		})
	}
}

func TestDashboardChecksFindProblems(t *testing.T) {
	metrics := map[string]map[string]bool{"slipway_rpc_requests_total": {"service": true, "code": true}}
	panel := func(expr string) grafanaDashboard {
		return grafanaDashboard{Panels: []grafanaPanel{{
			Title:   "p",
			Targets: []grafanaTarget{{Datasource: &grafanaDatasource{UID: "prometheus"}, Expr: expr}},
		}}}
	}
	tests := []struct {
		name string
		d    grafanaDashboard
		want string
	}{
		{"not PromQL", panel(`sum by (service) (rate(slipway_rpc_requests_total[$__rate_interval])`), "is not PromQL"},
		{"unknown metric", panel(`rate(slipway_rpc_request_total[1m])`), "metric slipway_rpc_request_total is not declared"},
		{"unknown label", panel(`sum by (method) (rate(slipway_rpc_requests_total[1m]))`), `has no label "method"`},
		{"other datasource", func() grafanaDashboard {
			d := panel(`rate(slipway_rpc_requests_total[1m])`)
			d.Panels[0].Datasource = &grafanaDatasource{UID: "loki"}
			return d
		}(), `uses datasource "loki"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := checkDashboardQueries(tt.d, metrics, "prometheus")
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}
