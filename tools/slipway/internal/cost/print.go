package cost

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// render prints the report for a person: the cost of 1,000 orders first
// when there is a measurement, then each overlay's pods and monthly cost.
func render(w io.Writer, rep Report) {
	fmt.Fprintf(w, "prices: %s, as of %s, %s; ESTIMATES from list prices (each row's source is in the file)\n", rep.Prices, rep.AsOf, rep.Currency)
	for _, c := range rep.CloudDetail {
		fmt.Fprintf(w, "  %-6s %s in %s: on-demand %s/vCPU-h %s/GiB-h, spot %s/vCPU-h %s/GiB-h\n", c.Cloud, c.Prices.Family, c.Prices.Region,
			price(c.Prices.OnDemand.VCPUHour), price(c.Prices.OnDemand.GiBHour), price(c.Prices.Spot.VCPUHour), price(c.Prices.Spot.GiBHour))
	}
	fmt.Fprintf(w, "model: %s\n", rep.Model)
	for _, msg := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", msg)
	}
	if rep.PerOrders != nil {
		fmt.Fprintln(w)
		renderPerOrders(w, rep.PerOrders)
	}
	for _, o := range rep.Overlays {
		fmt.Fprintln(w)
		renderOverlay(w, o, rep.Hours)
	}
}

// renderPerOrders prints the headline: what 1,000 orders cost.
func renderPerOrders(w io.Writer, r *OrdersReport) {
	m := r.Measurement
	fmt.Fprintf(w, "COST PER 1,000 ORDERS: %.0f orders in %.1f s (%.1f/s) from %s\n", m.Orders, m.Seconds, m.Orders/m.Seconds, m.Source)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "CLOUD\tMEASURED ON-DEMAND\tMEASURED SPOT\t"+strings.ToUpper(r.CapacityOverlay)+" REQUESTS ON-DEMAND\t"+strings.ToUpper(r.CapacityOverlay)+" REQUESTS SPOT\t")
	for _, c := range r.Clouds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", c.Cloud, figure(c.MeasuredOnDemand), figure(c.MeasuredSpot), figure(c.RequestsOnDemand), figure(c.RequestsSpot))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "measured: %.4f CPU-hours and %.4f GiB-hours (each service's process_cpu_seconds_total and mean resident memory)\n",
		r.Measured.CPUHours, r.Measured.GiBHours)
	fmt.Fprintf(w, "%s requests: %.4f CPU-hours and %.4f GiB-hours (per service max(requests x min replicas, usage) over the same %.1f s)\n",
		r.CapacityOverlay, r.AtRequests.CPUHours, r.AtRequests.GiBHours, m.Seconds)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SERVICE\tCPU s\tCORES\tRSS MiB\tCPU ms/ORDER\t")
	for _, u := range m.Services {
		fmt.Fprintf(tw, "%s\t%.2f\t%.3f\t%.1f\t%.3f\t\n", u.Service, u.CPUSeconds, u.CPUSeconds/m.Seconds, u.MemGiB*1024, 1000*u.CPUSeconds/m.Orders)
	}
	_ = tw.Flush()
}

// renderOverlay prints an overlay's pods and its monthly cost per cloud.
func renderOverlay(w io.Writer, o OverlayCost, hours float64) {
	fmt.Fprintf(w, "overlay %s (%s): per pod, requests / limits\n", o.Overlay, o.Dir)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tKIND\tREPLICAS\tCPU\tMEMORY")
	for _, s := range o.Services {
		replicas := fmt.Sprint(s.MinReplicas)
		if s.Autoscaled {
			replicas = fmt.Sprintf("%d-%d (HPA)", s.MinReplicas, s.MaxReplicas)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s / %s\t%s / %s\n", s.Service, s.Kinds, replicas,
			cores(s.CPURequest), cores(s.CPULimit), mem(s.MemRequest), mem(s.MemLimit))
	}
	_ = tw.Flush()
	if len(o.Total) == 0 {
		return
	}
	fmt.Fprintf(w, "\nmonthly cost (%g h) at the requests, min-max replicas\n", hours)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "SERVICE\t"
	for _, c := range o.Total {
		head += strings.ToUpper(c.Cloud) + " ON-DEMAND\t" + strings.ToUpper(c.Cloud) + " SPOT\t"
	}
	fmt.Fprintln(tw, head)
	row := func(name string, cs []CloudCost) {
		line := name + "\t"
		for _, c := range cs {
			line += span(c.OnDemandMin, c.OnDemandMax) + "\t" + span(c.SpotMin, c.SpotMax) + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	for _, s := range o.Services {
		row(s.Service, s.Monthly)
	}
	row("TOTAL", o.Total)
	line := "SPOT SAVES\t"
	for _, c := range o.Total {
		line += fmt.Sprintf("\t%s (%.0f%%)\t", span(c.SavingMin, c.SavingMax), c.SavingPct)
	}
	fmt.Fprintln(tw, line)
	_ = tw.Flush()
	for _, n := range o.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// span is "min-max", or one figure when they are equal.
func span(lo, hi float64) string {
	if fmt.Sprintf("%.2f", lo) == fmt.Sprintf("%.2f", hi) {
		return money(lo)
	}
	return money(lo) + "-" + money(hi)
}

func money(v float64) string { return fmt.Sprintf("$%.2f", v) }

// price is a unit price with the digits it needs.
func price(v float64) string {
	if v >= 1 {
		return fmt.Sprintf("$%.2f", v)
	}
	return fmt.Sprintf("$%.4f", v)
}

// figure is an amount with three significant digits however small: the
// cost of 1,000 orders on a test machine is a fraction of a cent.
func figure(v float64) string {
	if v <= 0 || v >= 1 {
		return fmt.Sprintf("$%.2f", v)
	}
	decimals := max(2, 2-int(math.Floor(math.Log10(v))))
	return "$" + strconv.FormatFloat(v, 'f', decimals, 64)
}

func cores(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%gm", v*1000)
}

func mem(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%gMi", v*1024)
}
