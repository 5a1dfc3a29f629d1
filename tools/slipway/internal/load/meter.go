package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/promscrape"
)

func findUsage(us []serviceUsage, svc string) (serviceUsage, bool) {
	for _, u := range us {
		if u.Service == svc {
			return u, true
		}
	}
	return serviceUsage{}, false
}

// meter reads the services' process metrics (process_cpu_seconds_total
// and process_resident_memory_bytes) from their /metrics.
type meter struct {
	client  *http.Client
	targets []promscrape.Target
}

// newMeter returns the meter of spec (service=host:port,...), or nil
// for "none". spec was validated.
func newMeter(spec string, tlsConf *tls.Config, timeout time.Duration) *meter {
	if spec == "none" || spec == "" {
		return nil
	}
	targets, _ := promscrape.ParseTargets(spec)
	if tlsConf != nil {
		targets = promscrape.HTTPSTargets(targets)
	}
	client := loadgen.HTTPClient(len(targets), tlsConf)
	client.Timeout = min(timeout, 10*time.Second)
	return &meter{client: client, targets: targets}
}

// metricsTargets checks spec and that every target is on loopback.
func metricsTargets(spec string, https bool) error {
	targets, err := promscrape.ParseTargets(spec)
	if err != nil {
		return errors.New(strings.Replace(err.Error(), "--targets", "--metrics", 1))
	}
	if https {
		targets = promscrape.HTTPSTargets(targets)
	}
	for _, t := range targets {
		if _, err := loadgen.LoopbackURL(t.URL, https); err != nil {
			return fmt.Errorf("--metrics %s: %w", t.Service, err)
		}
	}
	return nil
}

// check reads every target once and says which lack the process metrics.
func (m *meter) check(ctx context.Context) error {
	snaps, err := promscrape.ScrapeAll(ctx, m.client, m.targets, time.Now)
	if err != nil {
		return err
	}
	for i, s := range snaps {
		if _, ok := promscrape.GaugeSum(s, "process_cpu_seconds_total", nil); !ok {
			return fmt.Errorf("%s at %s has no process_cpu_seconds_total", m.targets[i].Service, m.targets[i].URL)
		}
	}
	return nil
}

// read scrapes every target; a target that fails has an empty snapshot.
func (m *meter) read(ctx context.Context) []promscrape.Snapshot {
	snaps, _ := promscrape.ScrapeAll(ctx, m.client, m.targets, time.Now)
	return snaps
}

// usage is each service's CPU per successful request and its RSS, from
// the snapshots before and after a step. Instances of one service add up.
func (m *meter) usage(before, after []promscrape.Snapshot, ok int64) []serviceUsage {
	var out []serviceUsage
	index := map[string]int{}
	for i, t := range m.targets {
		if i >= len(before) || i >= len(after) {
			break
		}
		cpu0, ok0 := promscrape.GaugeSum(before[i], "process_cpu_seconds_total", nil)
		cpu1, ok1 := promscrape.GaugeSum(after[i], "process_cpu_seconds_total", nil)
		rss, okRSS := promscrape.GaugeSum(after[i], "process_resident_memory_bytes", nil)
		if !ok0 || !ok1 || cpu1 < cpu0 { // unreadable, or the process restarted
			continue
		}
		k, seen := index[t.Service]
		if !seen {
			k = len(out)
			index[t.Service] = k
			out = append(out, serviceUsage{Service: t.Service})
		}
		u := &out[k]
		cpuMS := (cpu1 - cpu0) * 1000
		if ok > 0 {
			u.CPUMSPerRequest += cpuMS / float64(ok)
		}
		if span := after[i].At.Sub(before[i].At).Seconds(); span > 0 {
			u.CPUCores += cpuMS / 1000 / span
		}
		if okRSS {
			u.RSSMB += rss / (1 << 20)
		}
	}
	for i := range out {
		out[i].CPUMSPerRequest = round3(out[i].CPUMSPerRequest)
		out[i].CPUCores = round3(out[i].CPUCores)
		out[i].RSSMB = math.Round(out[i].RSSMB*10) / 10
	}
	return out
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// runUsage is what the services spent over a whole run: each one's CPU
// seconds and resident memory, from its /metrics read before and after
// (instances of one service add up), and the orders placed, so that
// slipway cost can price 1,000 orders.
type runUsage struct {
	Seconds  float64      `json:"elapsed_s"`        // between the two reads
	Orders   *int64       `json:"orders,omitempty"` // create-order: the CreateOrder calls that succeeded
	Services []serviceRun `json:"services"`
}

// serviceRun is one service's share of a run.
type serviceRun struct {
	Service       string  `json:"service"`
	CPUSeconds    float64 `json:"cpu_seconds"` // increase of process_cpu_seconds_total
	CPUCores      float64 `json:"cpu_cores"`   // CPU seconds per second
	RSSBytesStart float64 `json:"rss_bytes_start"`
	RSSBytesEnd   float64 `json:"rss_bytes_end"`
	RSSBytesAvg   float64 `json:"rss_bytes_avg"` // the mean of the two reads
}

// spend is each service's CPU and memory between the snapshots before and
// after a run. A target unread at either end, or restarted in between
// (its CPU went down), is left out and named in the second result.
func (m *meter) spend(before, after []promscrape.Snapshot) (*runUsage, []string) {
	u := &runUsage{}
	var skipped []string
	index := map[string]int{}
	for i, t := range m.targets {
		if i >= len(before) || i >= len(after) {
			break
		}
		cpu0, ok0 := promscrape.GaugeSum(before[i], "process_cpu_seconds_total", nil)
		cpu1, ok1 := promscrape.GaugeSum(after[i], "process_cpu_seconds_total", nil)
		rss0, okR0 := promscrape.GaugeSum(before[i], "process_resident_memory_bytes", nil)
		rss1, okR1 := promscrape.GaugeSum(after[i], "process_resident_memory_bytes", nil)
		if !ok0 || !ok1 || !okR0 || !okR1 || cpu1 < cpu0 {
			skipped = append(skipped, t.Service+" ("+t.URL+")")
			continue
		}
		span := after[i].At.Sub(before[i].At).Seconds()
		u.Seconds = max(u.Seconds, span)
		k, seen := index[t.Service]
		if !seen {
			k = len(u.Services)
			index[t.Service] = k
			u.Services = append(u.Services, serviceRun{Service: t.Service})
		}
		s := &u.Services[k]
		s.CPUSeconds += cpu1 - cpu0
		if span > 0 {
			s.CPUCores += (cpu1 - cpu0) / span
		}
		s.RSSBytesStart += rss0
		s.RSSBytesEnd += rss1
		s.RSSBytesAvg += (rss0 + rss1) / 2
	}
	u.Seconds = round3(u.Seconds)
	for i := range u.Services {
		u.Services[i].CPUSeconds = round3(u.Services[i].CPUSeconds)
		u.Services[i].CPUCores = round3(u.Services[i].CPUCores)
	}
	if len(u.Services) == 0 {
		return nil, skipped
	}
	return u, skipped
}
