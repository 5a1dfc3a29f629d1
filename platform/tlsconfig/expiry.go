package tlsconfig

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// ExpiryMetric is the gauge of the certificate's end of validity, which the
// TLSCertificateExpiry alerts of deploy/prometheus/rules watch.
const ExpiryMetric = "slipway_tls_certificate_expiry_timestamp_seconds"

// LoadWithMetrics is Load, and then exports ExpiryMetric{role, subject} on
// reg: the NotAfter of the certificate the Source serves, as Unix seconds.
// role says what the certificate is used for here ("server", "client");
// subject is its Common Name, or its first URI SAN (the SPIFFE ID) when it
// has none. The value is read at scrape time through the check a handshake
// makes, so a rotated certificate shows as soon as it is on disk, and one
// that fails to load leaves the old one showing, which is the one in use.
// With TLS off it returns nil and no error and exports nothing. A second
// Source with the same role on one registry shares the first one's series,
// as telemetry.Register does for every platform metric.
func LoadWithMetrics(c config.TLS, reg prometheus.Registerer, role string, opts ...Option) (*Source, error) {
	if role == "" {
		return nil, fmt.Errorf("tlsconfig: %s: the role label is empty", ExpiryMetric)
	}
	s, err := Load(c, opts...)
	if s == nil || err != nil {
		return s, err
	}
	col := &expiryCollector{src: s, desc: prometheus.NewDesc(ExpiryMetric,
		"When the certificate the service presents stops being valid (its NotAfter), in Unix seconds.",
		[]string{"subject"}, prometheus.Labels{"role": role})}
	if _, err := telemetry.Register(reg, prometheus.Collector(col)); err != nil {
		return nil, fmt.Errorf("tlsconfig: register %s{role=%q}: %w", ExpiryMetric, role, err)
	}
	return s, nil
}

// expiryCollector reads the Source's current certificate at every scrape.
type expiryCollector struct {
	src  *Source
	desc *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	leaf := c.src.current().cert.Leaf
	subject := leaf.Subject.CommonName
	if subject == "" && len(leaf.URIs) > 0 {
		subject = leaf.URIs[0].String()
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()), subject)
}
