package bench

import (
	"bytes"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
)

// startupReport is the JSON document of bench startup.
type startupReport struct {
	Benchmark string    `json:"benchmark"`
	Started   time.Time `json:"started"`
	Command   string    `json:"command"`
	Machine   Machine   `json:"machine"`
	Runs      int       `json:"runs"`
	// Transports are those measured, interleaved start by start.
	Transports []string        `json:"transports"`
	TargetMS   float64         `json:"target_ms"`
	SeedMS     float64         `json:"seed_ms"`
	Results    []startupResult `json:"results"`
	Skipped    []string        `json:"skipped,omitempty"`
}

// startupResult is one service on one database over one transport.
type startupResult struct {
	Service  string `json:"service"`
	Database string `json:"database"`
	// Transport is plaintext or tls (TLS on both ports, mTLS on gRPC).
	Transport string    `json:"transport"`
	Samples   []float64 `json:"samples_ms"` // process start to SERVING, in run order
	MedianMS  float64   `json:"median_ms"`
	MinMS     float64   `json:"min_ms"`
	P90MS     float64   `json:"p90_ms"`
	MaxMS     float64   `json:"max_ms"`
	FirstMS   float64   `json:"first_ms"` // the first run, on an empty database
	// SelfMedianMS is the median of the startup_ms the service logs itself
	// (from its own start, so without the exec and the runtime's start).
	SelfMedianMS float64 `json:"self_reported_median_ms"`
	// VsPlaintext is MedianMS over the plaintext median of the same
	// service and database; 0 for plaintext, or when it was not measured.
	VsPlaintext float64 `json:"median_vs_plaintext,omitempty"`
	// IdleRSSMB and IdleAnonMB are the last start's VmRSS and RssAnon
	// after it idled for IdleSeconds; 0 when not read (--idle 0, not Linux).
	IdleRSSMB   float64 `json:"idle_rss_mb,omitempty"`
	IdleAnonMB  float64 `json:"idle_anon_mb,omitempty"`
	IdleSeconds float64 `json:"idle_seconds,omitempty"`
}

func startupTable(rep startupReport) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tDATABASE\tTRANSPORT\tRUNS\tMEDIAN\tMIN\tP90\tMAX\tFIRST RUN\tSELF-REPORTED\tIDLE RSS\tANON\tVS PLAINTEXT")
	var worst startupResult
	idle := 0.0
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Service, r.Database, r.Transport, len(r.Samples),
			msText(r.MedianMS), msText(r.MinMS), msText(r.P90MS), msText(r.MaxMS), msText(r.FirstMS), msText(r.SelfMedianMS),
			mbText(r.IdleRSSMB), mbText(r.IdleAnonMB), ratioText(r.VsPlaintext))
		idle = max(idle, r.IdleSeconds)
		if r.MedianMS > worst.MedianMS {
			worst = r
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(&b, "process start to gRPC health SERVING; FIRST RUN migrates an empty database; SELF-REPORTED is the service's startup_ms (median)")
	if idle > 0 {
		fmt.Fprintf(&b, "IDLE RSS: VmRSS of the last start after %gs SERVING and unused, with the mapped binary; ANON: its private part (heap, stacks)\n", idle)
	}
	if len(rep.Transports) > 1 {
		fmt.Fprintln(&b, "transports interleaved start by start; tls: TLS on both ports, mTLS on gRPC; VS PLAINTEXT: median over the plaintext median")
	}
	for _, s := range rep.Skipped {
		fmt.Fprintln(&b, "skipped:", s)
	}
	if len(rep.Results) > 0 {
		fmt.Fprintf(&b, "goal: median <= %s (seed asks <= %s); slowest median: %s on %s over %s, %s: %s\n",
			report.Seconds(startupTarget), report.Seconds(startupSeed), worst.Service, worst.Database, worst.Transport, msText(worst.MedianMS),
			report.Verdict(worst.MedianMS, startupTarget, startupSeed))
	}
	return b.String()
}

// mbText is a size in MiB for the table; "-" when not measured.
func mbText(mb float64) string {
	if mb == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fMB", mb)
}
