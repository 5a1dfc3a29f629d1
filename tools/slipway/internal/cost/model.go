package cost

import (
	"math"
	"slices"
)

// The allocation model is OpenCost's: a workload is charged for
// max(request, usage) of CPU and of memory, for as long as it runs, at the
// price of a vCPU-hour and of a GiB-hour. From the overlays alone usage is
// unknown, so their monthly figures are the requests (the floor OpenCost
// would charge); a measurement (--load, --prometheus) brings the usage.

// CloudCost is one service's (or the total's) monthly cost on one cloud at
// the minimum and the maximum scale.
type CloudCost struct {
	Cloud       string  `json:"cloud"`
	OnDemandMin float64 `json:"on_demand_min"`
	OnDemandMax float64 `json:"on_demand_max"`
	SpotMin     float64 `json:"spot_min"`
	SpotMax     float64 `json:"spot_max"`
	// SavingMin and SavingMax are what spot saves on on-demand, in money.
	SavingMin float64 `json:"spot_saving_min"`
	SavingMax float64 `json:"spot_saving_max"`
	// SavingPct is the share spot saves (the same at both scales).
	SavingPct float64 `json:"spot_saving_pct"`
}

// ServiceCost is one service's workload and its monthly cost per cloud.
type ServiceCost struct {
	Workload
	Monthly []CloudCost `json:"monthly"`
}

// OverlayCost is the monthly cost of one overlay, per service and in total.
type OverlayCost struct {
	Overlay  string        `json:"overlay"`
	Dir      string        `json:"dir"`
	Services []ServiceCost `json:"services"`
	Total    []CloudCost   `json:"total"`
	Notes    []string      `json:"notes,omitempty"`
}

// podHour is what one pod's requests cost an hour at r.
func podHour(w Workload, r Rate) float64 {
	return w.CPURequest*r.VCPUHour + w.MemRequest*r.GiBHour
}

// MonthlyCost prices every workload of o on each of clouds for the table's
// month, at the HPA's minimum and maximum replicas.
func MonthlyCost(o *Overlay, p *Prices, clouds []string) OverlayCost {
	out := OverlayCost{Overlay: o.Name, Dir: o.Dir, Notes: o.Notes}
	total := make([]CloudCost, len(clouds))
	for _, w := range o.Workloads {
		sc := ServiceCost{Workload: w}
		for i, name := range clouds {
			c := p.Clouds[name]
			hours := p.HoursPerMonth
			cc := CloudCost{
				Cloud:       name,
				OnDemandMin: float64(w.MinReplicas) * podHour(w, c.OnDemand) * hours,
				OnDemandMax: float64(w.MaxReplicas) * podHour(w, c.OnDemand) * hours,
				SpotMin:     float64(w.MinReplicas) * podHour(w, c.Spot) * hours,
				SpotMax:     float64(w.MaxReplicas) * podHour(w, c.Spot) * hours,
			}
			cc.finish()
			sc.Monthly = append(sc.Monthly, cc)
			t := &total[i]
			t.Cloud = name
			t.OnDemandMin += cc.OnDemandMin
			t.OnDemandMax += cc.OnDemandMax
			t.SpotMin += cc.SpotMin
			t.SpotMax += cc.SpotMax
		}
		out.Services = append(out.Services, sc)
	}
	for i := range total {
		total[i].finish()
	}
	out.Total = total
	return out
}

// finish fills in the savings.
func (c *CloudCost) finish() {
	c.SavingMin, c.SavingMax = c.OnDemandMin-c.SpotMin, c.OnDemandMax-c.SpotMax
	switch {
	case c.OnDemandMax > 0:
		c.SavingPct = 100 * c.SavingMax / c.OnDemandMax
	case c.OnDemandMin > 0:
		c.SavingPct = 100 * c.SavingMin / c.OnDemandMin
	}
}

// Usage is what one service used over a measurement.
type Usage struct {
	Service    string  `json:"service"`
	CPUSeconds float64 `json:"cpu_seconds"` // increase of process_cpu_seconds_total
	MemGiB     float64 `json:"memory_gib"`  // mean resident memory over the measurement
}

// Measurement is the services' usage over a span in which Orders orders
// were placed.
type Measurement struct {
	Source   string  `json:"source"`  // the load report, or the Prometheus and window
	Seconds  float64 `json:"seconds"` // the span measured
	Orders   float64 `json:"orders"`  // CreateOrder calls that succeeded
	Services []Usage `json:"services"`
}

// Allocation is CPU-hours and GiB-hours, as charged.
type Allocation struct {
	CPUHours float64 `json:"cpu_hours"`
	GiBHours float64 `json:"gib_hours"`
}

// Cost is the allocation's cost at r.
func (a Allocation) Cost(r Rate) float64 { return a.CPUHours*r.VCPUHour + a.GiBHours*r.GiBHour }

// Measured is the allocation of the usage alone: every service's CPU
// seconds and mean memory over the span.
func (m Measurement) Measured() Allocation {
	var a Allocation
	for _, u := range m.Services {
		a.CPUHours += u.CPUSeconds / 3600
		a.GiBHours += u.MemGiB * m.Seconds / 3600
	}
	return a
}

// AtRequests is the allocation OpenCost would charge had the measured
// traffic run on overlay o at its minimum scale: per service
// max(requests × replicas, usage), for CPU and memory apart, over the span.
// A service o runs but the measurement missed is charged its requests;
// one measured but not in o, its usage.
func (m Measurement) AtRequests(o *Overlay) Allocation {
	var a Allocation
	hours := m.Seconds / 3600
	for _, w := range o.Workloads {
		cores, mem := 0.0, 0.0
		if i := slices.IndexFunc(m.Services, func(u Usage) bool { return u.Service == w.Service }); i >= 0 && m.Seconds > 0 {
			cores, mem = m.Services[i].CPUSeconds/m.Seconds, m.Services[i].MemGiB
		}
		n := float64(w.MinReplicas)
		a.CPUHours += math.Max(w.CPURequest*n, cores) * hours
		a.GiBHours += math.Max(w.MemRequest*n, mem) * hours
	}
	for _, u := range m.Services {
		if !slices.ContainsFunc(o.Workloads, func(w Workload) bool { return w.Service == u.Service }) {
			a.CPUHours += u.CPUSeconds / 3600
			a.GiBHours += u.MemGiB * hours
		}
	}
	return a
}

// PerOrders is the cost of 1,000 orders on one cloud.
type PerOrders struct {
	Cloud            string  `json:"cloud"`
	MeasuredOnDemand float64 `json:"measured_on_demand"`
	MeasuredSpot     float64 `json:"measured_spot"`
	RequestsOnDemand float64 `json:"requests_on_demand"`
	RequestsSpot     float64 `json:"requests_spot"`
}

// PerThousandOrders prices the measured and the at-requests allocations
// per 1,000 of the measurement's orders on each cloud.
func PerThousandOrders(measured, atRequests Allocation, orders float64, p *Prices, clouds []string) []PerOrders {
	per := func(a Allocation, r Rate) float64 { return a.Cost(r) / orders * 1000 }
	out := make([]PerOrders, 0, len(clouds))
	for _, name := range clouds {
		c := p.Clouds[name]
		out = append(out, PerOrders{
			Cloud:            name,
			MeasuredOnDemand: per(measured, c.OnDemand), MeasuredSpot: per(measured, c.Spot),
			RequestsOnDemand: per(atRequests, c.OnDemand), RequestsSpot: per(atRequests, c.Spot),
		})
	}
	return out
}
