// Command promcheck proves that the Grafana dashboards and the Prometheus
// rules show data: it starts the Slipway system (slipway dev, on PostgreSQL,
// with Redis), a real Prometheus that scrapes every service and evaluates
// every deploy/prometheus/rules/*.yml every second, runs a short load, and
// then asks that Prometheus for every panel expression of every
// deploy/grafana/dashboards/*.json and every rule. A panel expression or a
// recorded series with no series fails, so a renamed metric fails. It
// prints a table and exits 1 on any failure, 2 on bad usage.
//
// tools/promcheck/run builds slipway and runs this; see it for the
// environment it reads.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var usage usageError
	switch {
	case err == nil:
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "promcheck:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "promcheck: FAIL:", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

// options are the flags of a run.
type options struct {
	root, slipway, prometheus, postgres, redis, work string
	grpcBase, httpBase                               int
	rate                                             float64
	load, settle, readyTimeout, timeout              time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("promcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.root, "root", "", "workspace `dir` (holds go.work; required)")
	fs.StringVar(&o.slipway, "slipway", "", "the slipway `binary` (required)")
	fs.StringVar(&o.prometheus, "prometheus", "prometheus", "the Prometheus `binary`")
	fs.StringVar(&o.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server `URL`: one database per service, slipway_promcheck_<service>")
	fs.StringVar(&o.redis, "redis", "redis://127.0.0.1:6379/0", "Redis `URL` for the user cache and the order rate limit")
	fs.StringVar(&o.work, "work", "", "`dir` for Prometheus' data and the logs (default: a new temporary dir)")
	fs.IntVar(&o.grpcBase, "grpc-port-base", 53151, "gRPC `port` of user; the others keep the registry's offsets")
	fs.IntVar(&o.httpBase, "http-port-base", 9381, "HTTP `port` of user; the others keep the registry's offsets")
	fs.Float64Var(&o.rate, "rate", 20, "load `requests` per second")
	fs.DurationVar(&o.load, "load", 40*time.Second, "how long the load runs")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "wait this long after the load for the last scrapes and rule evaluations")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 4*time.Minute, "how long the services (built by slipway dev) have to answer SERVING")
	fs.DurationVar(&o.timeout, "timeout", 8*time.Minute, "the whole run stops after this long")
	if err := fs.Parse(args); err != nil {
		return o, usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return o, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	case o.root == "" || o.slipway == "":
		return o, usageError{errors.New("--root and --slipway are required")}
	case o.rate <= 0 || o.load < 5*time.Second:
		return o, usageError{errors.New("--rate must be positive and --load at least 5s")}
	case o.redis == "":
		return o, usageError{errors.New("--redis is required: the dashboards show slipway_redis_up")}
	}
	return o, nil
}

// service is one entry of the service registry.
type service struct {
	Name     string `json:"name"`
	GRPCPort int    `json:"grpcPort"`
	HTTPPort int    `json:"httpPort"`
}

func readServices(root string) ([]service, error) {
	file := filepath.Join(root, "tools", "slipway", "internal", "workspace", "services.json")
	data, err := os.ReadFile(file) //nolint:gosec // G304: the workspace's own registry
	if err != nil {
		return nil, fmt.Errorf("the service registry: %w", err)
	}
	var svcs []service
	if err := json.Unmarshal(data, &svcs); err != nil {
		return nil, fmt.Errorf("the service registry %s: %w", file, err)
	}
	if len(svcs) == 0 {
		return nil, fmt.Errorf("the service registry %s lists no service", file)
	}
	return svcs, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	progress := func(format string, a ...any) {
		fmt.Fprintf(stderr, "promcheck: "+format+"\n", a...)
	}

	svcs, err := readServices(o.root)
	if err != nil {
		return err
	}
	dashboards, err := filepath.Glob(filepath.Join(o.root, "deploy", "grafana", "dashboards", "*.json"))
	if err != nil {
		return err
	}
	if len(dashboards) == 0 {
		return errors.New("no dashboard under deploy/grafana/dashboards")
	}
	ruleFiles, err := filepath.Glob(filepath.Join(o.root, "deploy", "prometheus", "rules", "*.yml"))
	if err != nil {
		return err
	}
	var rules []Rule
	for _, f := range ruleFiles {
		rs, err := ReadRules(f)
		if err != nil {
			return err
		}
		rules = append(rules, rs...)
	}
	if o.work == "" {
		if o.work, err = os.MkdirTemp("", "promcheck-"); err != nil {
			return err
		}
	}
	progress("%d dashboards, %d rules in %d files; logs in %s", len(dashboards), len(rules), len(ruleFiles), o.work)

	sys, err := startSystem(ctx, o, svcs, ruleFiles, progress)
	defer sys.stop(progress)
	if err != nil {
		return err
	}
	started := time.Now()
	if err := sys.load(ctx, o, svcs, progress); err != nil {
		return err
	}
	progress("load done; waiting %s for the last scrapes and rule evaluations", o.settle)
	select {
	case <-time.After(o.settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	sys.prom.at = time.Now()
	ran := sys.prom.at.Sub(started)

	var checks []Check
	for _, f := range dashboards {
		cs, err := checkDashboard(ctx, sys.prom, f, o)
		if err != nil {
			return err
		}
		checks = append(checks, cs...)
	}
	rc, err := checkRules(ctx, sys.prom, rules, ran, o.root)
	if err != nil {
		return err
	}
	checks = append(checks, rc...)
	progress("evaluated %d checks", len(checks))
	if failed := Report(stdout, checks); failed > 0 {
		return fmt.Errorf("%d of %d checks failed (logs in %s)", failed, len(checks), o.work)
	}
	return nil
}

// checkDashboard resolves the dashboard's variables against Prometheus and
// evaluates every panel expression.
func checkDashboard(ctx context.Context, p *Prom, file string, o options) ([]Check, error) {
	d, err := ReadDashboard(file)
	if err != nil {
		return nil, err
	}
	source := filepath.Base(file)
	var checks []Check
	values := make(map[string][]string)
	for _, v := range d.Templating.List {
		c := Check{Source: source, Name: "variable $" + v.Name, Kind: MustHaveData}
		if v.Type != "query" {
			c.Err = fmt.Errorf("variable type %q: only query variables are checked", v.Type)
			checks = append(checks, c)
			continue
		}
		selector, label, err := v.LabelValuesQuery()
		c.Expr = fmt.Sprintf("label_values(%s, %s)", selector, label)
		if err == nil {
			values[v.Name], err = p.LabelValues(ctx, selector, label)
			c.Series = len(values[v.Name])
		}
		c.Err = err
		checks = append(checks, c)
	}
	b := Builtins{RateInterval: "1m", Interval: "15s", RangeSeconds: int(o.load.Seconds())}
	for _, c := range DashboardChecks(d, source, values, b) {
		if c.Err == nil {
			c.Series, c.NaN, c.Err = p.Series(ctx, c.Expr)
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// checkRules queries every rule's expression (it must parse and evaluate),
// reads Prometheus' own health of each rule, and counts each recorded
// series.
func checkRules(ctx context.Context, p *Prom, rules []Rule, ran time.Duration, root string) ([]Check, error) {
	ruleErrs, loaded, err := p.RuleErrors(ctx)
	if err != nil {
		return nil, fmt.Errorf("prometheus rules: %w", err)
	}
	if loaded != len(rules) {
		return nil, fmt.Errorf("prometheus loaded %d rules, the files hold %d", loaded, len(rules))
	}
	var checks []Check
	for _, r := range rules {
		source, _ := filepath.Rel(root, r.File)
		c := Check{Source: source, Name: r.Name(), Expr: r.Expr, Kind: MayBeEmpty, Ran: ran}
		c.Series, c.NaN, c.Err = p.Series(ctx, r.Expr)
		if e, bad := ruleErrs[r.Group+"/"+r.Name()]; bad && c.Err == nil {
			c.Err = errors.New(e)
		}
		if r.Record != "" {
			c.Kind, c.Name = MustHaveData, "record "+r.Record
			history, err := HistoryNeeded(r.Expr)
			c.History = history
			if c.Err == nil {
				c.Err = err
			}
			if c.Err == nil {
				c.Expr = r.Record
				c.Series, c.NaN, c.Err = p.Series(ctx, r.Record)
			}
		} else {
			c.Name = "alert " + r.Alert
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// freePort asks the kernel for a free loopback port.
func freePort(ctx context.Context) (int, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// scrapeConfig is the Prometheus config: every service's /metrics each
// second, the rules evaluated each second.
func scrapeConfig(targets, ruleFiles []string) string {
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n")
	for _, f := range ruleFiles {
		b.WriteString("  - " + strconv.Quote(f) + "\n")
	}
	b.WriteString("scrape_configs:\n  - job_name: slipway\n    metrics_path: /metrics\n    static_configs:\n      - targets:\n")
	for _, t := range slices.Sorted(slices.Values(targets)) {
		b.WriteString("          - " + strconv.Quote(t) + "\n")
	}
	return b.String()
}
