package bench

import (
	"bytes"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
)

// reloadReport is the JSON document of bench reload.
type reloadReport struct {
	Benchmark string       `json:"benchmark"`
	Started   time.Time    `json:"started"`
	Command   string       `json:"command"`
	Machine   Machine      `json:"machine"`
	Service   string       `json:"service"`
	Change    string       `json:"change"`
	Call      string       `json:"call"`
	Runs      int          `json:"runs"`
	TargetMS  float64      `json:"target_ms"`
	SeedMS    float64      `json:"seed_ms"`
	Tools     []reloadTool `json:"tools"`
	// Load averages (1, 5, 15 minutes) around the measured edits.
	LoadAvgBefore string `json:"load_average_before,omitempty"`
	LoadAvgAfter  string `json:"load_average_after,omitempty"`
}

// reloadTool is one tool's runs.
type reloadTool struct {
	Tool          string         `json:"tool"`
	Setup         string         `json:"setup"`
	Samples       []reloadSample `json:"samples"`
	MedianMS      float64        `json:"median_ms"`
	MinMS         float64        `json:"min_ms"`
	MaxMS         float64        `json:"max_ms"`
	BuildMedianMS float64        `json:"build_median_ms"`
	StopMedianMS  float64        `json:"stop_median_ms"`
	ReadyMedianMS float64        `json:"ready_median_ms"`
	Error         string         `json:"error,omitempty"`
}

// reloadSample is one edit: total is from the write of the file to the new
// response; build and ready are the tool's share (see the table's notes).
type reloadSample struct {
	TotalMS float64 `json:"total_ms"`
	BuildMS float64 `json:"build_ms"`
	StopMS  float64 `json:"stop_ms"` // slipway dev: of the old process; air's is in its build
	ReadyMS float64 `json:"ready_ms"`
}

func (t *reloadTool) summarize() {
	var total, build, stop, ready []time.Duration
	for _, s := range t.Samples {
		total = append(total, msDuration(s.TotalMS))
		build = append(build, msDuration(s.BuildMS))
		stop = append(stop, msDuration(s.StopMS))
		ready = append(ready, msDuration(s.ReadyMS))
	}
	if len(total) == 0 {
		return
	}
	st := summarize(total)
	t.MedianMS, t.MinMS, t.MaxMS = msFloat(st.median), msFloat(st.min), msFloat(st.max)
	t.BuildMedianMS, t.StopMedianMS, t.ReadyMedianMS = msFloat(summarize(build).median), msFloat(summarize(stop).median), msFloat(summarize(ready).median)
}

func reloadTable(rep reloadReport) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tRUNS\tMEDIAN\tMIN\tMAX\tBUILD\tSTOP\tREADY")
	for _, t := range rep.Tools {
		if len(t.Samples) == 0 {
			fmt.Fprintf(tw, "%s\t0\t-\t-\t-\t-\t-\t-\n", t.Tool)
			continue
		}
		stop := "-"
		if t.StopMedianMS > 0 {
			stop = secText(t.StopMedianMS)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Tool, len(t.Samples), secText(t.MedianMS), secText(t.MinMS),
			secText(t.MaxMS), secText(t.BuildMedianMS), stop, secText(t.ReadyMedianMS))
	}
	_ = tw.Flush()
	for _, t := range rep.Tools {
		fmt.Fprintf(&b, "%s: %s\n", t.Tool, t.Setup)
	}
	if len(rep.Tools) == 2 && rep.Tools[0].MedianMS > 0 && rep.Tools[1].MedianMS > 0 {
		fmt.Fprintf(&b, "%s takes %.2fx the time of slipway dev (medians)\n", rep.Tools[1].Tool, rep.Tools[1].MedianMS/rep.Tools[0].MedianMS)
	}
	fmt.Fprintf(&b, "service %s; change: %s; measured from the write of the file until %s returns it;\n", rep.Service, rep.Change, rep.Call)
	fmt.Fprintln(&b, "each tool on its own copy of the workspace, edits alternating between them (ABBA)")
	fmt.Fprintln(&b, "BUILD: slipway dev's go build; air's \"building...\" to \"running...\" (its go build and the stop of the old process)")
	fmt.Fprintln(&b, "STOP: slipway dev's stop of the old process (SIGTERM to exit)")
	fmt.Fprintln(&b, "READY: slipway dev: new process start to gRPC SERVING; air: \"running...\" to the new response")
	for _, t := range rep.Tools {
		if t.Error != "" {
			fmt.Fprintf(&b, "%s failed: %s\n", t.Tool, t.Error)
		}
	}
	if len(rep.Tools) > 0 && len(rep.Tools[0].Samples) > 0 {
		fmt.Fprintf(&b, "goal: median <= %s (seed asks <= %s); slipway dev: %s, %s\n", report.Seconds(reloadTarget), report.Seconds(reloadSeed),
			secText(rep.Tools[0].MedianMS), report.Verdict(rep.Tools[0].MedianMS, reloadTarget, reloadSeed))
	}
	return b.String()
}
