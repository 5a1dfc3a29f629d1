package chaos

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
)

// windowFigures are the figures of the requests due inside a window.
type windowFigures struct {
	FromSec     float64              `json:"from_s"`
	ToSec       float64              `json:"to_s"`
	Requests    int64                `json:"requests"`
	Errors      int64                `json:"errors"`
	SuccessRate float64              `json:"success_rate"`
	P50         float64              `json:"p50_ms"`
	P99         float64              `json:"p99_ms"`
	Codes       []loadgen.ErrorCount `json:"error_codes,omitempty"`
}

// windowStats summarises the samples due in [from, to).
func windowStats(samples []sample, from, to time.Duration) windowFigures {
	w := windowFigures{FromSec: roundSec(from), ToSec: roundSec(to)}
	h := loadgen.NewHistogram()
	codes := map[string]int64{}
	for _, s := range samples {
		if s.at < from || s.at >= to {
			continue
		}
		w.Requests++
		_ = h.RecordValue(loadgen.Micros(s.latency))
		if s.code != loadgen.CodeOK {
			w.Errors++
			codes[s.code]++
		}
	}
	if w.Requests > 0 {
		w.SuccessRate = float64(w.Requests-w.Errors) / float64(w.Requests)
		w.P50 = loadgen.Millis(h.ValueAtQuantile(50))
		w.P99 = loadgen.Millis(h.ValueAtQuantile(99))
	}
	for c, n := range codes {
		w.Codes = append(w.Codes, loadgen.ErrorCount{Code: c, Count: n})
	}
	sort.Slice(w.Codes, func(i, j int) bool { return w.Codes[i].Count > w.Codes[j].Count })
	return w
}

// perSecond summarises the samples second by second of their intended
// send time, from 0 to the last second of the load or of the samples,
// as `slipway load` charts its timeline: a second nothing was due in
// has a zero Count.
func perSecond(samples []sample, load time.Duration) []loadgen.TimelineSecond {
	n := int(math.Ceil(load.Seconds()))
	for _, s := range samples {
		n = max(n, int(s.at/time.Second)+1)
	}
	secs := make([]loadgen.TimelineSecond, n)
	hists := make([]*hdrhistogram.Histogram, n)
	for _, s := range samples {
		i := int(s.at / time.Second)
		if i < 0 {
			continue
		}
		if hists[i] == nil {
			hists[i] = loadgen.NewHistogram()
		}
		_ = hists[i].RecordValue(loadgen.Micros(s.latency))
		secs[i].Count++
		if s.code != loadgen.CodeOK {
			secs[i].Errors++
		}
	}
	for i := range secs {
		secs[i].Second = i
		if h := hists[i]; h != nil {
			secs[i].P50 = loadgen.Millis(h.ValueAtQuantile(50))
			secs[i].P99 = loadgen.Millis(h.ValueAtQuantile(99))
			secs[i].Max = loadgen.Millis(h.Max())
		}
	}
	return secs
}

// outageRE reads the outage recordOutage puts on the timeline (postgres.go):
// "PostgreSQL refused connections for 0.19s, from t+15.02s to t+15.21s".
var outageRE = regexp.MustCompile(`^PostgreSQL refused connections for \S+, from t\+(-?[0-9.]+)s to t\+(-?[0-9.]+)s`)

// span is a stretch of the run, in seconds from the start of the load.
type span struct {
	FromSec float64 `json:"from_s"`
	ToSec   float64 `json:"to_s"`
}

// outages are the PostgreSQL outages the timeline recorded.
func outages(events []event) []span {
	var spans []span
	for _, e := range events {
		m := outageRE.FindStringSubmatch(e.What)
		if m == nil {
			continue
		}
		from, err1 := strconv.ParseFloat(m[1], 64)
		to, err2 := strconv.ParseFloat(m[2], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		spans = append(spans, span{FromSec: from, ToSec: to})
	}
	return spans
}
