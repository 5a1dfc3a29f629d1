package promscrape

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
)

// The success-rate query (deploy/promql/success_rate.promql, shared with the
// Argo Rollouts AnalysisTemplate) is written for one service and one range,
// as the analysis runs it. ready evaluates it once per service: every range
// selector [d] becomes [--window] and every service="..." matcher names the
// service being checked. Argo-style placeholders work too.
const (
	placeholderWindow  = "{{args.window}}"
	placeholderService = "{{args.service}}"
)

var (
	rangeSelector      = regexp.MustCompile(`\[\s*(?:[0-9]+(?:ms|s|m|h|d|w|y))+\s*\]`)
	serviceMatcher     = regexp.MustCompile(`\bservice\s*=\s*"[^"]*"`)
	unknownPlaceholder = regexp.MustCompile(`\{\{[^}]*\}\}`)
)

// builtinSuccessRate is the success-rate query when the SLO file names no
// file: the definition of deploy/promql/success_rate.promql.
func builtinSuccessRate() string {
	sel := `service="` + placeholderService + `"`
	return `1 - ((sum(rate(` + SeriesRequests + `{` + sel + `,code!~"` + strings.Join(successCodes, "|") + `"}[` + placeholderWindow +
		`])) or vector(0)) / sum(rate(` + SeriesRequests + `{` + sel + `}[` + placeholderWindow + `])))`
}

// successRateFor turns the shared query into the one for service over window
// (a PromQL duration). perService is false when the query names no service
// (no matcher, no placeholder): its results must then carry a service label.
func successRateFor(query, service, window string) (q string, perService bool, err error) {
	q = stripPromQLComments(query)
	perService = strings.Contains(q, placeholderService) || serviceMatcher.MatchString(q)
	q = strings.NewReplacer(placeholderWindow, window, placeholderService, service).Replace(q)
	if p := unknownPlaceholder.FindString(q); p != "" {
		return "", false, fmt.Errorf("success-rate query: unknown placeholder %s (known: %s, %s)", p, placeholderWindow, placeholderService)
	}
	q = rangeSelector.ReplaceAllLiteralString(q, "["+window+"]")
	q = serviceMatcher.ReplaceAllLiteralString(q, `service="`+service+`"`)
	return q, perService, nil
}

// stripPromQLComments drops # comments (PromQL's own syntax) so the text
// can carry an explanation and still be sent as one expression.
func stripPromQLComments(q string) string {
	var lines []string
	for line := range strings.SplitSeq(q, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		lines = append(lines, line)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// joinService gives series that lack a service label (the process and Go
// collectors' and the outbox relay's) the service of their target, from the
// slipway_config_info{service} that every service exports.
const joinService = ` * on (instance, job) group_left (service) group by (instance, job, service) (slipway_config_info)`

// infraRPCServicePromQL is infraRPCService as a PromQL string literal.
const infraRPCServicePromQL = `"grpc\\..+"`

// promQueries returns the PromQL of each per-service metric over window w (a
// PromQL duration); error_rate goes through successRateFor instead.
func promQueries(w string) map[string]string {
	return map[string]string{
		slo.MetricCPU: `max by (service) (rate(` + seriesCPU + `[` + w + `]) / on (instance, job) ` + seriesGOMAXPROCS + joinService + `)`,
		slo.MetricP99: `histogram_quantile(0.99, sum by (le, service) (rate(` + seriesDuration +
			`{rpc_service!~` + infraRPCServicePromQL + `}[` + w + `])))`,
		slo.MetricDBIdle: `min by (service) (avg_over_time(` + seriesDBConns + `{state="idle"}[` + w + `]) / ignoring (state) avg_over_time(` +
			seriesDBConns + `{state="open"}[` + w + `]))`,
		slo.MetricOutbox: `max by (service) (max_over_time(` + SeriesOutboxAge + `[` + w + `])` + joinService + `)`,
	}
}

// promServicesQuery lists the services Prometheus scrapes.
const promServicesQuery = `group by (service) (slipway_config_info)`

// MeasurePrometheus asks Prometheus for every metric the SLO file names,
// evaluated at one instant over [window].
func MeasurePrometheus(ctx context.Context, opts Options, spec slo.File) (slo.Measurement, error) {
	client, err := api.NewClient(api.Config{Address: opts.Prometheus, Client: &http.Client{Timeout: opts.Timeout}})
	if err != nil {
		return slo.Measurement{}, cli.UsageErrorf("--prometheus %q: %v", opts.Prometheus, err)
	}
	window := model.Duration(opts.Window).String()
	p := &prometheusQuery{
		api: promv1.NewAPI(client), url: opts.Prometheus, at: opts.Now(), timeout: opts.Timeout,
		m: slo.Measurement{
			Unmeasured: "Prometheus has no series of this service",
			NoData:     fmt.Sprintf("does Prometheus scrape it at least twice in %s?", window),
		},
	}
	if _, err := p.query(ctx, promServicesQuery, ""); err != nil {
		return slo.Measurement{}, err
	}
	if len(p.m.Services) == 0 {
		return slo.Measurement{}, fmt.Errorf("no slipway_config_info series in the Prometheus at %s: does it scrape the services?", opts.Prometheus)
	}
	services := slices.Clone(p.m.Services)
	queries := promQueries(window)
	var measured []string
	for _, o := range spec.Objectives {
		if slices.Contains(measured, o.Metric) {
			continue
		}
		measured = append(measured, o.Metric)
		if o.Metric == slo.MetricErrors {
			if err := p.errorRates(ctx, spec, services, window); err != nil {
				return slo.Measurement{}, err
			}
			continue
		}
		values, err := p.query(ctx, queries[o.Metric], "")
		if err != nil {
			return slo.Measurement{}, err
		}
		for svc, v := range values {
			p.m.Set(o.Metric, svc, v)
		}
	}
	m := p.m
	slices.Sort(m.Services)
	// A service without RPC series has served nothing yet: N/A, not missing.
	for _, metric := range []string{slo.MetricP99, slo.MetricErrors} {
		for _, svc := range m.Services {
			if _, ok := m.Values[metric][svc]; !ok && slices.Contains(measured, metric) {
				m.Set(metric, svc, math.NaN())
			}
		}
	}
	return m, nil
}

// prometheusQuery runs instant queries at one time and gathers what they
// answer into m.
type prometheusQuery struct {
	api     promv1.API
	url     string
	at      time.Time
	timeout time.Duration
	m       slo.Measurement
}

// query runs q and returns its samples by service; a sample without a
// service label is filed under unlabelled.
func (p *prometheusQuery) query(ctx context.Context, q, unlabelled string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	value, warnings, _, err := p.api.Query(ctx, q, p.at)
	if err != nil {
		return nil, fmt.Errorf("query Prometheus at %s: %w\nquery: %s", p.url, err, q)
	}
	for _, w := range warnings {
		p.m.Warnings = append(p.m.Warnings, "Prometheus: "+w)
	}
	vec, ok := value.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query Prometheus at %s: want an instant vector, got %s\nquery: %s", p.url, value.Type(), q)
	}
	byService := make(map[string]float64, len(vec))
	for _, s := range vec {
		svc := string(s.Metric["service"])
		if svc == "" {
			svc = unlabelled
		}
		if svc == "" {
			p.m.Warnings = append(p.m.Warnings, fmt.Sprintf("a result without a service label was ignored: %s", s))
			continue
		}
		if _, dup := byService[svc]; dup {
			return nil, fmt.Errorf("query Prometheus at %s: more than one result for service %s\nquery: %s", p.url, svc, q)
		}
		byService[svc] = float64(s.Value)
		if !slices.Contains(p.m.Services, svc) {
			p.m.Services = append(p.m.Services, svc)
		}
	}
	return byService, nil
}

// errorRates sets the error rate of every service, 1 - the success rate of
// the SLO file's query (or the built-in one): per service when the query
// has a service placeholder or matcher, else one query answers for all.
func (p *prometheusQuery) errorRates(ctx context.Context, spec slo.File, services []string, window string) error {
	successRate := spec.SuccessRateQuery
	if successRate == "" {
		successRate = builtinSuccessRate()
	}
	for _, svc := range services {
		q, perService, err := successRateFor(successRate, svc, window)
		if err != nil {
			return fmt.Errorf("%s: %w", spec.SuccessRatePath, err) // the built-in query has no placeholder to get wrong
		}
		unlabelled := svc
		if !perService {
			unlabelled = ""
		}
		values, err := p.query(ctx, q, unlabelled)
		if err != nil {
			return err
		}
		for s, v := range values {
			if s == svc || !perService {
				p.m.Set(slo.MetricErrors, s, max(1-v, 0)) // rounding can leave 1 - rate a hair below zero
			}
		}
		if !perService {
			return nil // one query answered for every service
		}
	}
	return nil
}
