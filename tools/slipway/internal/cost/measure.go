package cost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// loadReport is the part of slipway load's JSON result cost reads.
type loadReport struct {
	Scenario    string `json:"scenario"`
	Interrupted bool   `json:"interrupted"`
	Usage       *struct {
		Seconds  float64 `json:"elapsed_s"`
		Orders   *int64  `json:"orders"`
		Services []struct {
			Service    string  `json:"service"`
			CPUSeconds float64 `json:"cpu_seconds"`
			RSSAvg     float64 `json:"rss_bytes_avg"`
		} `json:"services"`
	} `json:"usage"`
	MetricsError string `json:"metrics_error"`
}

// ReadLoadReport takes the services' usage and the orders placed from the
// JSON result of `slipway load --scenario create-order`.
func ReadLoadReport(path string) (Measurement, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the operator names the report
	if err != nil {
		return Measurement{}, fmt.Errorf("load report: %w", err)
	}
	var r loadReport
	if err := json.Unmarshal(data, &r); err != nil {
		return Measurement{}, fmt.Errorf("load report %s: not slipway load's JSON result: %w", path, err)
	}
	switch {
	case r.Scenario == "":
		return Measurement{}, fmt.Errorf("load report %s: no scenario: not slipway load's JSON result (a --find-capacity result has no single run to price)", path)
	case r.Scenario != "create-order":
		return Measurement{}, fmt.Errorf("load report %s: scenario %s places no orders; run slipway load --scenario create-order", path, r.Scenario)
	case r.Usage == nil && r.MetricsError != "":
		return Measurement{}, fmt.Errorf("load report %s: the run could not read the services' /metrics: %s", path, r.MetricsError)
	case r.Usage == nil || len(r.Usage.Services) == 0:
		return Measurement{}, fmt.Errorf("load report %s: no services' CPU and memory (usage): run slipway load with --metrics (on by default) against services that serve /metrics", path)
	case r.Usage.Orders == nil:
		return Measurement{}, fmt.Errorf("load report %s: usage has no orders count", path)
	case *r.Usage.Orders <= 0:
		return Measurement{}, fmt.Errorf("load report %s: no order was placed, so there is no cost per order", path)
	case !(r.Usage.Seconds > 0):
		return Measurement{}, fmt.Errorf("load report %s: usage.elapsed_s %v: want a positive span", path, r.Usage.Seconds)
	}
	m := Measurement{Source: path, Seconds: r.Usage.Seconds, Orders: float64(*r.Usage.Orders)}
	if r.Interrupted {
		m.Source += " (interrupted run)"
	}
	for _, s := range r.Usage.Services {
		if s.CPUSeconds < 0 || s.RSSAvg < 0 {
			return Measurement{}, fmt.Errorf("load report %s: service %s: negative usage", path, s.Service)
		}
		m.Services = append(m.Services, Usage{Service: s.Service, CPUSeconds: s.CPUSeconds, MemGiB: s.RSSAvg / gib})
	}
	return m, nil
}

// joinService gives the process collector's series (which carry no
// service label) the service of their target, from the
// slipway_config_info{service} every service exports.
const joinService = ` * on (instance, job) group_left (service) group by (instance, job, service) (slipway_config_info)`

// ordersSelector is the successful CreateOrder calls, as
// platform/server counts them.
const ordersSelector = `slipway_rpc_requests_total{service="order",rpc_method="CreateOrder",code="OK"}`

// prometheusQueries are the usage and orders over window w (a PromQL duration).
func prometheusQueries(w string) (cpu, mem, orders string) {
	cpu = `sum by (service) (increase(process_cpu_seconds_total[` + w + `])` + joinService + `)`
	mem = `sum by (service) (avg_over_time(process_resident_memory_bytes[` + w + `])` + joinService + `)`
	orders = `sum(increase(` + ordersSelector + `[` + w + `]))`
	return cpu, mem, orders
}

// QueryPrometheus asks the Prometheus at url for the services' CPU seconds,
// mean resident memory and the orders placed over the window ending at at.
func QueryPrometheus(ctx context.Context, url string, window time.Duration, at time.Time, timeout time.Duration) (Measurement, error) {
	client, err := api.NewClient(api.Config{Address: url, Client: &http.Client{Timeout: timeout}})
	if err != nil {
		return Measurement{}, fmt.Errorf("--prometheus %q: %w", url, err)
	}
	papi := promv1.NewAPI(client)
	w := model.Duration(window).String()
	cpuQ, memQ, ordersQ := prometheusQueries(w)
	query := func(q string) (model.Vector, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		v, _, _, err := papi.Query(ctx, q, at)
		if err != nil {
			return nil, fmt.Errorf("query Prometheus at %s: %w\nquery: %s", url, err, q)
		}
		vec, ok := v.(model.Vector)
		if !ok {
			return nil, fmt.Errorf("query Prometheus at %s: want an instant vector, got %s\nquery: %s", url, v.Type(), q)
		}
		return vec, nil
	}
	m := Measurement{Source: fmt.Sprintf("Prometheus %s, %s to %s", url, w, at.UTC().Format(time.RFC3339)), Seconds: window.Seconds()}
	cpu, err := query(cpuQ)
	if err != nil {
		return Measurement{}, err
	}
	mem, err := query(memQ)
	if err != nil {
		return Measurement{}, err
	}
	for _, s := range cpu {
		m.Services = append(m.Services, Usage{Service: string(s.Metric["service"]), CPUSeconds: float64(s.Value)})
	}
	for _, s := range mem {
		svc := string(s.Metric["service"])
		i := slices.IndexFunc(m.Services, func(u Usage) bool { return u.Service == svc })
		if i < 0 {
			m.Services = append(m.Services, Usage{Service: svc})
			i = len(m.Services) - 1
		}
		m.Services[i].MemGiB = float64(s.Value) / gib
	}
	if len(m.Services) == 0 {
		return Measurement{}, fmt.Errorf("no process_cpu_seconds_total in the Prometheus at %s joined to slipway_config_info over %s: does it scrape the services?", url, w)
	}
	slices.SortFunc(m.Services, func(a, b Usage) int { return strings.Compare(a.Service, b.Service) })
	orders, err := query(ordersQ)
	if err != nil {
		return Measurement{}, err
	}
	if len(orders) == 1 {
		m.Orders = float64(orders[0].Value)
	}
	if !(m.Orders > 0) {
		return Measurement{}, errors.New("no CreateOrder succeeded in the window (" + ordersSelector + "), so there is no cost per order: widen --window or place orders (slipway load)")
	}
	return m, nil
}
