// Package promscrape measures the SLO figures of the services, either from
// two scrapes of their /metrics a window apart (as PromQL's increase() and
// histogram_quantile() would) or by asking Prometheus.
package promscrape

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// The series ready reads, as the services export them (platform/server,
// platform/store, platform/events, client_golang's process and Go collectors).
const (
	seriesCPU          = "process_cpu_seconds_total"
	seriesGOMAXPROCS   = "go_sched_gomaxprocs_threads"
	seriesProcessStart = "process_start_time_seconds"
	SeriesRequests     = "slipway_rpc_requests_total"
	seriesDuration     = "slipway_rpc_duration_seconds_bucket"
	seriesDBConns      = "slipway_db_connections"
	SeriesOutboxAge    = "slipway_outbox_oldest_pending_age_seconds"
)

// successCodes are the gRPC codes error_rate counts as successes: OK and the
// client's own mistakes, which the service answered correctly. Every other
// code (Unknown, Internal, Unavailable, DeadlineExceeded, ResourceExhausted,
// Canceled, Aborted, ...) is an error. It is the definition of the shared
// deploy/promql/success_rate.promql, whose code!~ list a test keeps equal.
var successCodes = []string{"OK", "NotFound", "InvalidArgument", "FailedPrecondition", "AlreadyExists", "Unauthenticated", "PermissionDenied"}

// infraRPCService matches gRPC's own services (health, reflection), whose
// probes and long Watch streams say nothing about the shop's latency;
// p99_latency leaves them out in both modes.
var infraRPCService = regexp.MustCompile(`^grpc\..+$`)

// Target is one /metrics endpoint to scrape and the service it belongs to.
type Target struct {
	Service string `json:"service"`
	URL     string `json:"url"`
}

// DefaultTargets is the --targets default: every service on its dev port.
func DefaultTargets() string {
	specs := make([]string, 0, len(workspace.Known))
	for _, s := range workspace.Known {
		specs = append(specs, s.Name+"=127.0.0.1:"+strconv.Itoa(s.HTTPPort))
	}
	return strings.Join(specs, ",")
}

// ParseTargets reads "svc=host:port,svc=http://host:port/path". A bare
// host:port means http://host:port/metrics; a URL without a path gets /metrics.
func ParseTargets(spec string) ([]Target, error) {
	var targets []Target
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, addr, ok := strings.Cut(item, "=")
		name, addr = strings.TrimSpace(name), strings.TrimSpace(addr)
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("--targets %q: want service=host:port", item)
		}
		var u string
		if strings.Contains(addr, "://") {
			parsed, err := url.Parse(addr)
			if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
				return nil, fmt.Errorf("--targets %q: want an http(s) URL or host:port", item)
			}
			if parsed.Path == "" || parsed.Path == "/" {
				parsed.Path = "/metrics"
			}
			u = parsed.String()
		} else {
			hostPort, err := workspace.DialAddr(addr)
			if err != nil {
				return nil, fmt.Errorf("--targets %q: %w", item, err)
			}
			u = "http://" + hostPort + "/metrics"
		}
		targets = append(targets, Target{Service: name, URL: u})
	}
	if len(targets) == 0 {
		return nil, errors.New("--targets is empty")
	}
	return targets, nil
}

// HTTPSTargets turns the http:// targets into https:// ones, for --tls and
// --cacert: a bare host:port then means https://host:port/metrics.
func HTTPSTargets(targets []Target) []Target {
	out := slices.Clone(targets)
	for i, t := range out {
		if rest, ok := strings.CutPrefix(t.URL, "http://"); ok {
			out[i].URL = "https://" + rest
		}
	}
	return out
}

// Snapshot is one scrape of one target: its samples by series, and when.
type Snapshot struct {
	At     time.Time
	Series map[model.Fingerprint]*model.Sample
}

// parseExposition decodes a /metrics body (any format expfmt knows; the
// format comes from the Content-Type) into a snapshot taken at at. Histograms
// become _bucket (with le, +Inf included), _sum and _count series, as
// Prometheus stores them.
func parseExposition(r io.Reader, format expfmt.Format, at time.Time) (Snapshot, error) {
	dec := expfmt.SampleDecoder{
		Dec:  expfmt.NewDecoder(r, format),
		Opts: &expfmt.DecodeOptions{Timestamp: model.TimeFromUnixNano(at.UnixNano())},
	}
	s := Snapshot{At: at, Series: map[model.Fingerprint]*model.Sample{}}
	for {
		var v model.Vector
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return Snapshot{}, err
		}
		for _, sample := range v {
			s.Series[sample.Metric.Fingerprint()] = sample
		}
	}
}

// ScrapeTarget reads one target's /metrics, asking for the text format.
func ScrapeTarget(ctx context.Context, client *http.Client, t Target, now func() time.Time) (Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		return Snapshot{}, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is in the message already
		}
		return Snapshot{}, fmt.Errorf("scrape %s at %s: %w", t.Service, t.URL, err)
	}
	defer resp.Body.Close()
	// The registry is read while the response is prepared, so the time the
	// answer arrives is the closest to when the counters were read.
	at := now()
	if resp.StatusCode != http.StatusOK {
		return Snapshot{}, fmt.Errorf("scrape %s at %s: HTTP %s", t.Service, t.URL, resp.Status)
	}
	s, err := parseExposition(io.LimitReader(resp.Body, 64<<20), expfmt.ResponseFormat(resp.Header), at)
	if err != nil {
		return Snapshot{}, fmt.Errorf("scrape %s at %s: %w", t.Service, t.URL, err)
	}
	return s, nil
}

// ScrapeAll scrapes every target at once, so the snapshots of one round are
// taken at nearly the same moment.
func ScrapeAll(ctx context.Context, client *http.Client, targets []Target, now func() time.Time) ([]Snapshot, error) {
	snaps := make([]Snapshot, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { snaps[i], errs[i] = ScrapeTarget(ctx, client, t, now) })
	}
	wg.Wait()
	return snaps, errors.Join(errs...)
}

// Measure scrapes every target, waits the window, scrapes again and
// computes each figure from the two snapshots.
func Measure(ctx context.Context, opts Options) (slo.Measurement, error) {
	client := &http.Client{Timeout: opts.Timeout}
	if opts.TLS != nil {
		client.Transport = &http.Transport{TLSClientConfig: opts.TLS, ForceAttemptHTTP2: true}
	}
	start, err := ScrapeAll(ctx, client, opts.Targets, opts.Now)
	if err != nil {
		return slo.Measurement{}, err
	}
	if err := opts.Wait(ctx, opts.Window); err != nil {
		return slo.Measurement{}, err
	}
	end, err := ScrapeAll(ctx, client, opts.Targets, opts.Now)
	if err != nil {
		return slo.Measurement{}, err
	}

	m := slo.Measurement{Unmeasured: "no --targets entry for this service"}
	byService := map[string][]InstanceFigures{}
	for i, t := range opts.Targets {
		if !slices.Contains(m.Services, t.Service) {
			m.Services = append(m.Services, t.Service)
		}
		f := ComputeInstance(start[i], end[i])
		if f.Restarted {
			m.Warnings = append(m.Warnings, fmt.Sprintf("%s (%s) restarted during the window: its counters count from the restart", t.Service, t.URL))
		}
		byService[t.Service] = append(byService[t.Service], f)
		m.Measured = max(m.Measured, f.Elapsed)
	}
	for _, svc := range m.Services {
		AggregateService(&m, svc, byService[svc])
	}
	return m, nil
}

// InstanceFigures are the raw figures of one target over the window.
type InstanceFigures struct {
	Elapsed   time.Duration
	Restarted bool

	HasCPU     bool
	CPUSeconds float64 // increase of process_cpu_seconds_total
	Cores      float64 // GOMAXPROCS at the end

	Buckets  map[float64]float64 // le -> increase, summed over RPC series
	Requests float64
	Errors   float64

	HasDB        bool
	Idle, Open   float64 // averages over the snapshots that have them
	HasOutbox    bool
	OutboxOldest float64 // highest age seen
}

// ComputeInstance derives one target's figures from its two snapshots.
func ComputeInstance(start, end Snapshot) InstanceFigures {
	f := InstanceFigures{Elapsed: end.At.Sub(start.At), Buckets: map[float64]float64{}}
	// A changed start time means the process restarted between the scrapes:
	// every counter began again from zero, whatever its value now.
	if a, ok := GaugeSum(start, seriesProcessStart, nil); ok {
		if b, ok := GaugeSum(end, seriesProcessStart, nil); ok && a != b {
			f.Restarted = true
		}
	}

	cpu, hasCPU := increases(start, end, seriesCPU, nil, f.Restarted)
	cores, hasCores := GaugeSum(end, seriesGOMAXPROCS, nil)
	if hasCPU && hasCores && cores > 0 {
		f.HasCPU = true
		f.Cores = cores
		for _, inc := range cpu {
			f.CPUSeconds += inc.Increase
		}
	}

	appRPC := func(m model.Metric) bool { return !infraRPCService.MatchString(string(m["rpc_service"])) }
	buckets, _ := increases(start, end, seriesDuration, appRPC, f.Restarted)
	for _, b := range buckets {
		le, err := strconv.ParseFloat(string(b.Metric[model.BucketLabel]), 64)
		if err != nil {
			continue // Prometheus drops a bucket whose le is not a number, too
		}
		f.Buckets[le] += b.Increase
	}
	// Every RPC counts for the error rate, as in the shared success-rate query.
	requests, _ := increases(start, end, SeriesRequests, nil, f.Restarted)
	for _, r := range requests {
		f.Requests += r.Increase
		if !slices.Contains(successCodes, string(r.Metric["code"])) {
			f.Errors += r.Increase
		}
	}

	state := func(s string) func(model.Metric) bool {
		return func(m model.Metric) bool { return string(m["state"]) == s }
	}
	idle, hasIdle := gaugeAverage([]Snapshot{start, end}, seriesDBConns, state("idle"))
	open, hasOpen := gaugeAverage([]Snapshot{start, end}, seriesDBConns, state("open"))
	if hasIdle && hasOpen {
		f.HasDB, f.Idle, f.Open = true, idle, open
	}

	for _, s := range []Snapshot{start, end} {
		if age, ok := GaugeSum(s, SeriesOutboxAge, nil); ok {
			if !f.HasOutbox || age > f.OutboxOldest {
				f.OutboxOldest = age
			}
			f.HasOutbox = true
		}
	}
	return f
}

// AggregateService combines the figures of a service's instances the way
// the PromQL of Prometheus mode does: the busiest CPU, one histogram and one
// request count over all instances, the lowest idle share, the oldest outbox
// event.
func AggregateService(m *slo.Measurement, svc string, instances []InstanceFigures) {
	buckets := map[float64]float64{}
	var requests, errs float64
	cpu, hasCPU := math.Inf(-1), false
	idle, hasDB := math.NaN(), false
	outbox, hasOutbox := math.Inf(-1), false
	for _, f := range instances {
		if f.HasCPU && f.Elapsed > 0 {
			cpu, hasCPU = max(cpu, f.CPUSeconds/f.Elapsed.Seconds()/f.Cores), true
		}
		for le, n := range f.Buckets {
			buckets[le] += n
		}
		requests += f.Requests
		errs += f.Errors
		if f.HasDB {
			hasDB = true
			// min by (service) in PromQL skips NaN (0/0) unless all are NaN.
			if r := f.Idle / f.Open; math.IsNaN(idle) || r < idle {
				idle = r
			}
		}
		if f.HasOutbox {
			outbox, hasOutbox = max(outbox, f.OutboxOldest), true
		}
	}
	if hasCPU {
		m.Set(slo.MetricCPU, svc, cpu)
	}
	m.Set(slo.MetricP99, svc, bucketQuantile(0.99, buckets))
	m.Set(slo.MetricErrors, svc, errs/requests) // 0/0 is NaN: no requests
	if hasDB {
		m.Set(slo.MetricDBIdle, svc, idle)
	}
	if hasOutbox {
		m.Set(slo.MetricOutbox, svc, outbox)
	}
}

// seriesIncrease is one counter series and how much it grew in the window.
type seriesIncrease struct {
	Metric   model.Metric
	Increase float64
}

// increases returns, for each series named name (and kept by keep, when not
// nil) in the end snapshot, its increase since the start one, as PromQL's
// increase() counts it between two samples: a value lower than before is a
// counter reset, so the whole end value is the increase. Unlike PromQL, which
// needs two samples of a series, a series missing at the start counts from
// zero: client_golang creates a labelled series at zero on its first use, so
// the first errors of a new code are not lost. restarted treats every series
// as reset. ok reports whether any such series exists at the end.
func increases(start, end Snapshot, name string, keep func(model.Metric) bool, restarted bool) (incs []seriesIncrease, ok bool) {
	for fp, s := range end.Series {
		if string(s.Metric[model.MetricNameLabel]) != name || (keep != nil && !keep(s.Metric)) {
			continue
		}
		v := float64(s.Value)
		inc := v
		if prev, found := start.Series[fp]; found && !restarted && prev.Metric.Equal(s.Metric) && v >= float64(prev.Value) {
			inc = v - float64(prev.Value)
		}
		incs = append(incs, seriesIncrease{Metric: s.Metric, Increase: inc})
	}
	return incs, len(incs) > 0
}

// GaugeSum adds up the series named name (kept by keep) in one snapshot.
func GaugeSum(s Snapshot, name string, keep func(model.Metric) bool) (sum float64, ok bool) {
	for _, sample := range s.Series {
		if string(sample.Metric[model.MetricNameLabel]) != name || (keep != nil && !keep(sample.Metric)) {
			continue
		}
		sum += float64(sample.Value)
		ok = true
	}
	return sum, ok
}

// gaugeAverage is avg_over_time over the snapshots that have the gauge.
func gaugeAverage(snaps []Snapshot, name string, keep func(model.Metric) bool) (float64, bool) {
	var sum float64
	n := 0
	for _, s := range snaps {
		if v, ok := GaugeSum(s, name, keep); ok {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// histogramBucket is one cumulative bucket of a classic histogram.
type histogramBucket struct {
	UpperBound float64
	Count      float64
}

// smallDeltaTolerance is the relative difference between neighbouring bucket
// counts that Prometheus treats as floating-point noise.
const smallDeltaTolerance = 1e-12

// bucketQuantile is PromQL's histogram_quantile over classic buckets (le ->
// cumulative count): sort by bound, require a +Inf bucket, merge equal
// bounds, force the counts monotonic, find the bucket holding rank q*total
// and interpolate linearly inside it, from 0 for the lowest bucket when its
// bound is positive. A rank in the +Inf bucket yields the highest finite
// bound. NaN when there are no observations (or no +Inf bucket).
func bucketQuantile(q float64, byBound map[float64]float64) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(+1)
	}
	buckets := make([]histogramBucket, 0, len(byBound))
	for le, n := range byBound {
		buckets = append(buckets, histogramBucket{UpperBound: le, Count: n})
	}
	if len(buckets) < 2 {
		return math.NaN()
	}
	slices.SortFunc(buckets, func(a, b histogramBucket) int {
		switch {
		case a.UpperBound < b.UpperBound:
			return -1
		case a.UpperBound > b.UpperBound:
			return +1
		}
		return 0
	})
	if !math.IsInf(buckets[len(buckets)-1].UpperBound, +1) {
		return math.NaN()
	}
	ensureMonotonic(buckets)

	observations := buckets[len(buckets)-1].Count
	if observations == 0 {
		return math.NaN()
	}
	rank := q * observations
	b := sort.Search(len(buckets)-1, func(i int) bool { return buckets[i].Count >= rank })
	switch {
	case b == len(buckets)-1:
		return buckets[len(buckets)-2].UpperBound
	case b == 0 && buckets[0].UpperBound <= 0:
		return buckets[0].UpperBound
	}
	bucketStart, bucketEnd, count := 0.0, buckets[b].UpperBound, buckets[b].Count
	if b > 0 {
		bucketStart = buckets[b-1].UpperBound
		count -= buckets[b-1].Count
		rank -= buckets[b-1].Count
	}
	return bucketStart + (bucketEnd-bucketStart)*(rank/count)
}

// ensureMonotonic makes cumulative counts never decrease, as Prometheus
// does: differences within smallDeltaTolerance are noise and flattened, any
// other decrease is lifted to the count before it.
func ensureMonotonic(buckets []histogramBucket) {
	prev := buckets[0].Count
	for i := 1; i < len(buckets); i++ {
		curr := buckets[i].Count
		switch {
		case curr == prev:
		case math.Abs(curr-prev) <= smallDeltaTolerance*math.Max(math.Abs(curr), math.Abs(prev)):
			buckets[i].Count = prev
		case curr < prev:
			buckets[i].Count = prev
		default:
			prev = curr
		}
	}
}
