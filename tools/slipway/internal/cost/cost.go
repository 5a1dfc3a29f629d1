// Package cost is slipway cost: what the Kubernetes overlays cost a month
// on AWS, GCP and Azure, on demand and on spot, from the requests and
// replicas kustomize renders and a dated price table (deploy/cost/prices.yaml);
// and, from a measured run (slipway load's report, or Prometheus), what
// 1,000 orders cost. It also writes the Prometheus recording rules that
// carry the same prices (--rules).
package cost

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Where the inputs live, relative to the workspace root.
const (
	DefaultPrices = "deploy/cost/prices.yaml"
	overlaysDir   = "deploy/k8s/overlays"
)

// overlayNames lists the overlays under deploy/k8s/overlays: every
// directory with a kustomization.yaml, sorted.
func overlayNames(root string) ([]string, error) {
	dir := filepath.Join(root, overlaysDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("overlays: %w", err)
	}
	var names []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "kustomization.yaml")); e.IsDir() && err == nil {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no overlay (a directory with a kustomization.yaml) in %s", dir)
	}
	return names, nil
}

// Options are the inputs of Run.
type Options struct {
	Root     string   // workspace root; "" walks up from the working directory
	Overlays []string // names under deploy/k8s/overlays, or directories; nil: every overlay there
	Clouds   []string // nil: every cloud of the table
	Prices   string   // price table; "" is <Root>/deploy/cost/prices.yaml
	JSON     bool
	Rules    bool // write the recording rules instead of the report

	// A measurement for the cost of 1,000 orders: Load, or Prometheus over Window.
	Load            string
	Prometheus      string
	Window          time.Duration
	CapacityOverlay string // the overlay whose requests floor the at-requests figure
	StaleDays       int
	Timeout         time.Duration

	Now    func() time.Time
	Stdout io.Writer
	Stderr io.Writer
}

const description = "Prices the Kubernetes overlays (kustomize renders deploy/k8s/overlays/<name>): per service\n" +
	"the pods' CPU and memory requests and limits and the replicas (the HPA's min and max, or\n" +
	"spec.replicas), and per cloud of the price table (deploy/cost/prices.yaml, dated list prices:\n" +
	"estimates) the monthly cost at minimum and maximum scale, on demand and on spot, and what\n" +
	"spot saves. The model is OpenCost's allocation: max(request, usage) CPU-hours x the vCPU-hour\n" +
	"price + max(request, usage) GiB-hours x the GiB-hour price. The overlays alone give no usage,\n" +
	"so their months are priced at the requests.\n\n" +
	"With a measurement, --load REPORT.json (slipway load --scenario create-order, which records\n" +
	"each service's CPU seconds and resident memory from its /metrics) or --prometheus URL over\n" +
	"--window, it leads with the cost of 1,000 orders: the measured CPU- and GiB-hours, and the\n" +
	"same traffic on the --capacity-overlay's minimum scale (max(request, usage) per service).\n\n" +
	"--rules prints deploy/prometheus/rules/cost.yml, the recording rules with the same prices."

// Main parses the flags of slipway cost and runs it.
func Main(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "cost", "[--overlay prod] [--cloud aws,gcp,azure] [--load REPORT.json | --prometheus URL] [flags]", description)
	opts := Options{Stdout: env.Stdout, Stderr: env.Stderr}
	var overlays, clouds string
	fs.StringVar(&overlays, "overlay", "", "`list` of overlays: names under deploy/k8s/overlays, or directories (default all of them: dev, prod)")
	fs.StringVar(&clouds, "cloud", "", "`list` of clouds of the price table (default all)")
	fs.StringVar(&opts.Prices, "prices", "", "price table `file` (default deploy/cost/prices.yaml)")
	fs.BoolVar(&opts.JSON, "json", false, "print JSON instead of tables")
	fs.BoolVar(&opts.Rules, "rules", false, "print the Prometheus recording rules of the price table (deploy/prometheus/rules/cost.yml)")
	fs.StringVar(&opts.Load, "load", "", "cost per 1,000 orders from this slipway load JSON `report` (create-order)")
	fs.StringVar(&opts.Prometheus, "prometheus", "", "cost per 1,000 orders from the Prometheus at this `url` over --window")
	fs.DurationVar(&opts.Window, "window", 10*time.Minute, "--prometheus: the `duration` measured, ending now")
	fs.StringVar(&opts.CapacityOverlay, "capacity-overlay", "prod", "the `overlay` whose requests floor the at-requests cost per 1,000 orders")
	fs.IntVar(&opts.StaleDays, "stale-days", DefaultStaleDays, "warn when the price table's as_of is older than this many `days` (0: never)")
	fs.DurationVar(&opts.Timeout, "timeout", 10*time.Second, "--prometheus: per-query `timeout`")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	opts.Overlays, opts.Clouds = cli.List(overlays), cli.List(clouds)
	return Run(ctx, opts)
}

// Report is what slipway cost found, as --json prints it.
type Report struct {
	Prices      string        `json:"prices"`
	AsOf        string        `json:"as_of"`
	Currency    string        `json:"currency"`
	Hours       float64       `json:"hours_per_month"`
	Model       string        `json:"model"`
	Warnings    []string      `json:"warnings,omitempty"`
	PerOrders   *OrdersReport `json:"per_1000_orders,omitempty"`
	Overlays    []OverlayCost `json:"overlays"`
	CloudDetail []CloudInfo   `json:"clouds"`
}

// CloudInfo is what a cloud's prices are for.
type CloudInfo struct {
	Cloud  string `json:"cloud"`
	Prices Cloud  `json:"prices"`
}

// OrdersReport is the cost of 1,000 orders and what it was measured from.
type OrdersReport struct {
	Measurement     Measurement `json:"measurement"`
	Measured        Allocation  `json:"measured"`
	CapacityOverlay string      `json:"capacity_overlay"`
	AtRequests      Allocation  `json:"at_requests"`
	Clouds          []PerOrders `json:"clouds"`
}

// Model is the allocation model, in a sentence.
const Model = "OpenCost allocation: max(request, usage) CPU-hours x vCPU-hour price + max(request, usage) GiB-hours x GiB-hour price; " +
	"overlays alone are priced at their requests, the measured figures at the usage alone"

// Run prices the overlays and, with a measurement, 1,000 orders.
func Run(ctx context.Context, opts Options) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	if opts.Load != "" && opts.Prometheus != "" {
		return cli.UsageErrorf("--load and --prometheus: give one measurement, not both")
	}
	if opts.Prometheus != "" && opts.Window <= 0 {
		return cli.UsageErrorf("--window %s: want a positive duration", opts.Window)
	}
	root, err := workspace.Resolve(opts.Root, "")
	if err != nil {
		return err
	}
	pricesPath := opts.Prices
	if pricesPath == "" {
		pricesPath = filepath.Join(root, DefaultPrices)
	}
	prices, err := LoadPrices(pricesPath)
	if err != nil {
		return err
	}
	if opts.Rules {
		return Rules(opts.Stdout, prices)
	}
	clouds, err := selectClouds(prices, opts.Clouds)
	if err != nil {
		return err
	}
	rep := Report{Prices: rel(root, pricesPath), AsOf: prices.AsOf, Currency: prices.Currency, Hours: prices.HoursPerMonth, Model: Model}
	if msg, stale := prices.Stale(opts.Now(), opts.StaleDays); stale {
		rep.Warnings = append(rep.Warnings, msg)
		fmt.Fprintf(opts.Stderr, "slipway cost: warning: %s\n", msg)
	}
	for _, c := range clouds {
		rep.CloudDetail = append(rep.CloudDetail, CloudInfo{Cloud: c, Prices: prices.Clouds[c]})
	}

	names := opts.Overlays
	if len(names) == 0 {
		if names, err = overlayNames(root); err != nil {
			return err
		}
	}
	rendered := map[string]*Overlay{}
	for _, name := range names {
		o, err := RenderOverlay(overlayDir(root, name))
		if err != nil {
			return err
		}
		o.Dir = rel(root, o.Dir)
		rendered[name] = o
		rep.Overlays = append(rep.Overlays, MonthlyCost(o, prices, clouds))
	}

	if opts.Load != "" || opts.Prometheus != "" {
		var m Measurement
		if opts.Load != "" {
			m, err = ReadLoadReport(opts.Load)
		} else {
			m, err = QueryPrometheus(ctx, opts.Prometheus, opts.Window, opts.Now(), opts.Timeout)
		}
		if err != nil {
			return err
		}
		capName := opts.CapacityOverlay
		if capName == "" {
			capName = "prod"
		}
		capOverlay, ok := rendered[capName]
		if !ok {
			if capOverlay, err = RenderOverlay(overlayDir(root, capName)); err != nil {
				return fmt.Errorf("--capacity-overlay: %w", err)
			}
		}
		measured, atReq := m.Measured(), m.AtRequests(capOverlay)
		rep.PerOrders = &OrdersReport{
			Measurement: m, Measured: measured, CapacityOverlay: capName, AtRequests: atReq,
			Clouds: PerThousandOrders(measured, atReq, m.Orders, prices, clouds),
		}
	}

	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	render(opts.Stdout, rep)
	return nil
}

// selectClouds checks --cloud against the table; none selects them all.
func selectClouds(p *Prices, want []string) ([]string, error) {
	all := p.CloudNames()
	if len(want) == 0 {
		return all, nil
	}
	var out []string
	for _, c := range want {
		c = strings.ToLower(c)
		if !slices.Contains(all, c) {
			return nil, cli.UsageErrorf("--cloud %s: the price table has %s", c, strings.Join(all, ", "))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// overlayDir is a name under deploy/k8s/overlays, or a directory as given.
func overlayDir(root, name string) string {
	if strings.ContainsRune(name, os.PathSeparator) || strings.HasPrefix(name, ".") {
		return name
	}
	return filepath.Join(root, overlaysDir, name)
}

// rel is path relative to root when it is inside it.
func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
