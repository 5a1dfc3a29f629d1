package chaos

import (
	"sort"
	"time"

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
