package loadgen

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// HDR histogram bounds: latencies in microseconds from 1µs to 60s, to three
// significant digits (a recorded value is off by at most 0.1%).
const (
	histMin    = 1
	histMax    = int64(60 * time.Second / time.Microsecond)
	histDigits = 3
)

// NewHistogram records latencies in microseconds, from 1µs to 60s.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histDigits)
}

// Micros converts a latency to the histogram's unit, clamped to its range.
func Micros(d time.Duration) int64 {
	return min(max(d.Microseconds(), histMin), histMax)
}

// Recorder collects the outcome of every request: one histogram for the
// run, one per second of the schedule (by intended send time, so a stall is
// charted when the requests were due), error counts by code, and the live
// counters of the progress line. It is safe for concurrent use.
type Recorder struct {
	Live counters

	mu      sync.Mutex
	start   time.Time
	sched   Schedule
	all     *hdrhistogram.Histogram
	window  *hdrhistogram.Histogram // completions since the last progress tick
	seconds []second
	codes   map[string]*codeCount
	status  map[int]int64 // HTTP statuses of REST calls
	sum     time.Duration
	max     time.Duration

	late, capHits       int64
	maxLag              time.Duration
	lateLag             *hdrhistogram.Histogram // how late each late start was
	firstSent, lastSent time.Time
	lastDone            time.Time
}

// second is one second of the schedule. Its histogram exists only while
// requests due in that second are outstanding: once the last one ends, its
// percentiles are kept and the histogram dropped, so a ten-minute run does
// not hold six hundred of them.
type second struct {
	planned, count, errors int64
	hist                   *hdrhistogram.Histogram
	p50, p99, max          int64 // microseconds, set when closed
	closed                 bool
}

// codeCount is how many requests ended with one code, and the first
// message seen for it.
type codeCount struct {
	count   int64
	example string
}

// NewRecorder returns an empty Recorder; Begin starts it.
func NewRecorder() *Recorder {
	return &Recorder{
		all:     NewHistogram(),
		window:  NewHistogram(),
		lateLag: NewHistogram(),
		codes:   map[string]*codeCount{},
		status:  map[int]int64{},
	}
}

// Begin fixes the start and the schedule, which tells how many requests each
// second expects.
func (r *Recorder) Begin(start time.Time, s Schedule) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start, r.sched = start, s
	n := s.Len()
	if n == 0 {
		return
	}
	r.seconds = make([]second, int(s.At(n-1)/time.Second)+1)
	for i := range n {
		r.seconds[s.At(i)/time.Second].planned++
	}
}

// Sent notes that a request started lag after its intended time; capHit
// says it found every slot busy.
func (r *Recorder) Sent(at time.Time, lag time.Duration, capHit bool) {
	r.Live.Sent.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstSent.IsZero() {
		r.firstSent = at
	}
	r.lastSent = at
	if lag > LateStart || capHit {
		r.late++
		_ = r.lateLag.RecordValue(Micros(lag)) // in range: Micros clamps
	}
	if capHit {
		r.capHits++
	}
	r.maxLag = max(r.maxLag, lag)
}

// Record adds the outcome of request seq, which took latency from its
// intended send time to its end.
func (r *Recorder) Record(seq int, latency time.Duration, out Outcome) {
	us := Micros(latency)
	failed := out.Code != CodeOK
	r.Live.Done.Add(1)
	if failed {
		r.Live.Errors.Add(1)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastDone = time.Now()
	_ = r.all.RecordValue(us) // in range: Micros clamps
	_ = r.window.RecordValue(us)
	r.sum += latency
	r.max = max(r.max, latency)
	if out.HTTPStatus != 0 {
		r.status[out.HTTPStatus]++
	}
	if failed {
		c := r.codes[out.Code]
		if c == nil {
			c = &codeCount{example: out.Message}
			r.codes[out.Code] = c
		}
		c.count++
	}
	if b := int(r.sched.At(seq) / time.Second); b < len(r.seconds) {
		s := &r.seconds[b]
		if s.hist == nil && !s.closed {
			s.hist = NewHistogram()
		}
		if s.hist != nil {
			_ = s.hist.RecordValue(us)
		}
		s.count++
		if failed {
			s.errors++
		}
		if s.count >= s.planned {
			s.close()
		}
	}
}

func (s *second) close() {
	if s.closed {
		return
	}
	if s.hist != nil {
		s.p50 = s.hist.ValueAtQuantile(50)
		s.p99 = s.hist.ValueAtQuantile(99)
		s.max = s.hist.Max()
	}
	s.hist, s.closed = nil, true
}

// Finish closes the seconds an interrupted run left open.
func (r *Recorder) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.seconds {
		r.seconds[i].close()
	}
}

// tick is a snapshot for the progress line.
type tick struct {
	Sent, Done, Errors int64
	WindowP99          time.Duration // p99 of the requests that ended since the previous tick
	WindowCount        int64
}

// tick returns the live counts and the p99 of the last window, and starts a
// new window.
func (r *Recorder) tick() tick {
	t := tick{Sent: r.Live.Sent.Load(), Done: r.Live.Done.Load(), Errors: r.Live.Errors.Load()}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.WindowCount = r.window.TotalCount()
	t.WindowP99 = time.Duration(r.window.ValueAtQuantile(99)) * time.Microsecond
	r.window.Reset()
	return t
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
}

// Totals are the run's counts and rates.
type Totals struct {
	Planned     int     `json:"planned"`
	Sent        int64   `json:"sent"`
	Completed   int64   `json:"completed"`
	OK          int64   `json:"ok"`
	Errors      int64   `json:"errors"`
	ErrorRate   float64 `json:"error_rate"`
	LateStarts  int64   `json:"late_starts"`
	CapHits     int64   `json:"inflight_cap_hits"`
	MaxStartLag float64 `json:"max_start_lag_ms"`
	// How late the late starts were: the generator's own delay, which a
	// starved machine adds on top of the server's latency (the latencies
	// above include it, measured from the intended send time).
	LateStartLag StartLag `json:"late_start_lag_ms"`
	AchievedRate float64  `json:"achieved_rate"` // sends per second, first to last send
	Throughput   float64  `json:"throughput"`    // OK answers per second, start to last answer
	ElapsedSec   float64  `json:"elapsed_s"`
}

// StartLag summarises the start lag of the late starts, in milliseconds.
type StartLag struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
}

// ErrorCount is one row of the error breakdown.
type ErrorCount struct {
	Code    string `json:"code"`
	Count   int64  `json:"count"`
	Example string `json:"example,omitempty"`
}

// TimelineSecond is one second of the timeline.
type TimelineSecond struct {
	Second int     `json:"second"`
	Count  int64   `json:"count"`
	Errors int64   `json:"errors"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

// HistogramBin is one bar of the latency histogram: requests whose
// latency was in [From, To) milliseconds.
type HistogramBin struct {
	From  float64 `json:"from_ms"`
	To    float64 `json:"to_ms"`
	Count int64   `json:"count"`
}

// Summary is everything the recorder measured.
type Summary struct {
	Totals     Totals
	Latency    Latency
	Errors     []ErrorCount
	HTTPStatus map[string]int64
	Timeline   []TimelineSecond
	Histogram  []HistogramBin
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// Millis converts microseconds to milliseconds, rounded to the microsecond.
func Millis(us int64) float64 { return math.Round(float64(us)) / 1000 }

func durMS(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// Summary computes the run's figures.
func (r *Recorder) Summary(info RunInfo) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s Summary
	t := &s.Totals
	t.Planned = r.sched.Len()
	t.Sent = r.Live.Sent.Load()
	t.Completed = r.all.TotalCount()
	t.Errors = r.Live.Errors.Load()
	t.OK = t.Completed - t.Errors
	if t.Completed > 0 {
		t.ErrorRate = float64(t.Errors) / float64(t.Completed)
	}
	t.LateStarts, t.CapHits = r.late, r.capHits
	t.MaxStartLag = durMS(r.maxLag)
	if r.lateLag.TotalCount() > 0 {
		t.LateStartLag = StartLag{
			P50:  min(Millis(r.lateLag.ValueAtQuantile(50)), t.MaxStartLag),
			P99:  min(Millis(r.lateLag.ValueAtQuantile(99)), t.MaxStartLag),
			Mean: math.Round(r.lateLag.Mean()) / 1000,
		}
	}
	if t.Sent > 1 {
		if span := r.lastSent.Sub(r.firstSent).Seconds(); span > 0 {
			t.AchievedRate = round2(float64(t.Sent-1) / span)
		}
	}
	if !r.lastDone.IsZero() {
		if span := r.lastDone.Sub(r.start).Seconds(); span > 0 {
			t.Throughput = round2(float64(t.OK) / span)
		}
	}
	if !info.End.IsZero() {
		t.ElapsedSec = math.Round(info.End.Sub(info.Start).Seconds()*1000) / 1000
	}

	if t.Completed > 0 {
		s.Latency = Latency{
			P50:  Millis(r.all.ValueAtQuantile(50)),
			P90:  Millis(r.all.ValueAtQuantile(90)),
			P99:  Millis(r.all.ValueAtQuantile(99)),
			P999: Millis(r.all.ValueAtQuantile(99.9)),
			Min:  Millis(r.all.Min()),
			Max:  durMS(r.max),
			Mean: durMS(r.sum / time.Duration(t.Completed)),
		}
		// A percentile is the top of its HDR bucket, which can pass the
		// exact maximum by the bucket's width (0.1%); no percentile may.
		for _, p := range []*float64{&s.Latency.P50, &s.Latency.P90, &s.Latency.P99, &s.Latency.P999} {
			*p = min(*p, s.Latency.Max)
		}
	}

	s.Errors = make([]ErrorCount, 0, len(r.codes))
	for code, c := range r.codes {
		s.Errors = append(s.Errors, ErrorCount{Code: code, Count: c.count, Example: c.example})
	}
	slices.SortFunc(s.Errors, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code))
	})
	if len(r.status) > 0 {
		s.HTTPStatus = make(map[string]int64, len(r.status))
		for code, n := range r.status {
			s.HTTPStatus[strconv.Itoa(code)] = n
		}
	}

	s.Timeline = make([]TimelineSecond, len(r.seconds))
	for i, sec := range r.seconds {
		s.Timeline[i] = TimelineSecond{
			Second: i, Count: sec.count, Errors: sec.errors,
			P50: Millis(sec.p50), P99: Millis(sec.p99), Max: Millis(sec.max),
		}
	}
	s.Histogram = bins(r.all)
	return s
}

// binsPerDecade is the resolution of the latency histogram: bins grow
// by a factor of 10^(1/10), about 26%, so every decade of latency gets the
// same width on a log axis.
const binsPerDecade = 10

// bins regroups the HDR histogram's fine buckets into log-spaced bins
// from the fastest to the slowest request.
func bins(h *hdrhistogram.Histogram) []HistogramBin {
	if h.TotalCount() == 0 {
		return nil
	}
	edge := func(k int) float64 { return math.Pow(10, float64(k)/binsPerDecade) } // microseconds
	index := func(us int64) int { return int(math.Floor(math.Log10(float64(us)) * binsPerDecade)) }
	lo, hi := index(max(h.Min(), 1)), index(max(h.Max(), 1))
	counts := make([]int64, hi-lo+1)
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		k := min(max(index(max(bar.From, 1)), lo), hi)
		counts[k-lo] += bar.Count
	}
	bins := make([]HistogramBin, len(counts))
	for i, c := range counts {
		bins[i] = HistogramBin{
			From:  math.Round(edge(lo+i)) / 1000,
			To:    math.Round(edge(lo+i+1)) / 1000,
			Count: c,
		}
	}
	return bins
}
