package store

import (
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reads sql.DBStats at scrape time, so the numbers are never
// stale and nothing runs between scrapes.
type poolCollector struct {
	db           *DB
	conns        *prometheus.Desc
	maxOpen      *prometheus.Desc
	waitCount    *prometheus.Desc
	waitDuration *prometheus.Desc
	retries      *prometheus.Desc
}

func newPoolCollector(db *DB, service string) *poolCollector {
	labels := prometheus.Labels{"service": service}
	return &poolCollector{
		db: db,
		conns: prometheus.NewDesc("slipway_db_connections",
			"Connections in the database pool, by state (open = in_use + idle).",
			[]string{"state"}, labels),
		maxOpen: prometheus.NewDesc("slipway_db_max_open_connections",
			"Most connections the pool may open.", nil, labels),
		waitCount: prometheus.NewDesc("slipway_db_wait_count_total",
			"Times a query waited for a free connection.", nil, labels),
		waitDuration: prometheus.NewDesc("slipway_db_wait_duration_seconds_total",
			"Time spent waiting for a free connection.", nil, labels),
		retries: prometheus.NewDesc("slipway_db_retries_total",
			"Statements and transactions run again, by cause: lost_connection (on a fresh connection) or contention (serialization failure, deadlock, busy SQLite).",
			[]string{"cause"}, labels),
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.maxOpen
	ch <- c.waitCount
	ch <- c.waitDuration
	ch <- c.retries
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.db.Stats()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.OpenConnections), "open")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.InUse), "in_use")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.Idle), "idle")
	ch <- prometheus.MustNewConstMetric(c.maxOpen, prometheus.GaugeValue, float64(s.MaxOpenConnections))
	ch <- prometheus.MustNewConstMetric(c.waitCount, prometheus.CounterValue, float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(c.waitDuration, prometheus.CounterValue, s.WaitDuration.Seconds())
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(c.db.lostRetries.Load()), "lost_connection")
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(c.db.contentionRetries.Load()), "contention")
}
