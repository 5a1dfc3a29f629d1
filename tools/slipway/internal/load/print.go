package load

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
)

// emit prints the result on stdout, as JSON with --json.
func emit(opts Options, res result) error {
	if !opts.JSON {
		printResult(opts.Stdout, res)
		return nil
	}
	enc := json.NewEncoder(opts.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// printResult writes the human summary of a run.
func printResult(w io.Writer, res result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	t := res.Totals
	fmt.Fprintf(tw, "scenario\t%s: %s\n", res.Scenario, res.Config.Target)
	if w := res.Warmup; w != nil {
		fmt.Fprintf(tw, "warm-up\t%d requests in %s, %d errors, p99 %sms: not counted below\n", w.Requests, w.Duration, w.Errors, loadgen.FormatMS(w.P99))
	}
	if s := res.Setup; s != nil {
		line := fmt.Sprintf("%d users, %d products", s.Users, s.Products)
		if s.Restock != nil {
			line += fmt.Sprintf(", restocked %d units as %s", s.Restock.Units, s.Restock.As)
		}
		fmt.Fprintf(tw, "setup\t%s\n", line)
	}
	fmt.Fprintf(tw, "schedule\t%s/s for %s = %d requests, at most %d in flight, timeout %s\n",
		loadgen.FormatRate(res.Config.Rate), res.Config.Duration, t.Planned, res.Config.MaxInflight, res.Config.Timeout)
	fmt.Fprintf(tw, "requests\t%d sent, %d done, %d ok, %d errors (%.2f%%)\n", t.Sent, t.Completed, t.OK, t.Errors, 100*t.ErrorRate)
	fmt.Fprintf(tw, "rate\t%.1f/s achieved, %.1f/s ok throughput, %.1fs elapsed\n", t.AchievedRate, t.Throughput, t.ElapsedSec)
	fmt.Fprintf(tw, "late starts\t%s\n", lateStartsLine(t))
	l := res.Latency
	fmt.Fprintf(tw, "latency ms\tp50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
		loadgen.FormatMS(l.P50), loadgen.FormatMS(l.P90), loadgen.FormatMS(l.P99), loadgen.FormatMS(l.P999), loadgen.FormatMS(l.Max), loadgen.FormatMS(l.Mean))
	if u := res.Usage; u != nil {
		line := ""
		for i, s := range u.Services {
			if i > 0 {
				line += ", "
			}
			line += fmt.Sprintf("%s %.2fs (%.3f cores) %.0f MiB", s.Service, s.CPUSeconds, s.CPUCores, s.RSSBytesAvg/(1<<20))
		}
		if u.Orders != nil {
			line += fmt.Sprintf("; %d orders", *u.Orders)
		}
		fmt.Fprintf(tw, "services\t%s\n", line)
	}
	_ = tw.Flush()
	if len(res.Errors) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ERROR CODE\tCOUNT\tFIRST MESSAGE")
		for _, e := range res.Errors {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", e.Code, e.Count, loadgen.OneLine(e.Example, 100))
		}
		_ = tw.Flush()
	}
	switch {
	case res.Interrupted:
		fmt.Fprintln(w, "\ninterrupted: the figures cover part of the schedule")
	case res.HardStopped:
		fmt.Fprintf(w, "\nthe run hit its hard stop (duration + timeout) with requests still queued: they count as %s\n", loadgen.CodeNotSent)
	}
	if g := res.Gate; g != nil {
		verdict := "PASS"
		if !g.Passed {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "\ngate: error rate %.2f%% <= %.2f%%: %s\n", 100*t.ErrorRate, 100*g.MaxErrorRate, verdict)
	}
	fmt.Fprintf(w, "\nresult %s\nreport %s\n", res.Report.JSON, res.Report.HTML)
}

// lateStartsLine says how many requests the generator started more than
// loadgen.LateStart after their intended time, and how late: on a starved
// machine that delay is the generator's, not the server's, though the
// latencies include it.
func lateStartsLine(t loadgen.Totals) string {
	if t.LateStarts == 0 {
		return fmt.Sprintf("0 of %d started more than %s late (max start lag %sms)", t.Sent, loadgen.LateStart, loadgen.FormatMS(t.MaxStartLag))
	}
	l := t.LateStartLag
	return fmt.Sprintf("%d of %d (%.2f%%) started more than %s late: by p50 %sms, p99 %sms, max %sms; in-flight cap hit %d times",
		t.LateStarts, t.Sent, 100*float64(t.LateStarts)/float64(max(t.Sent, 1)), loadgen.LateStart,
		loadgen.FormatMS(l.P50), loadgen.FormatMS(l.P99), loadgen.FormatMS(t.MaxStartLag), t.CapHits)
}
