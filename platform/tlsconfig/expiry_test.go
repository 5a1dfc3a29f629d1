package tlsconfig_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

// expiryExposition is what /metrics shows for one certificate.
func expiryExposition(role, subject string, notAfter time.Time) string {
	return `# HELP slipway_tls_certificate_expiry_timestamp_seconds When the certificate the service presents stops being valid (its NotAfter), in Unix seconds.
# TYPE slipway_tls_certificate_expiry_timestamp_seconds gauge
slipway_tls_certificate_expiry_timestamp_seconds{role="` + role + `",subject="` + subject + `"} ` +
		strconv.FormatInt(notAfter.Unix(), 10) + "\n"
}

func TestLoadWithMetricsExportsTheLoadedCertificatesNotAfter(t *testing.T) {
	ca := tlstest.NewCA(t, "expiry-ca")
	notAfter := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	files := tlstest.Files(t, t.TempDir(), "order", ca.Issue(t, tlstest.LeafOptions{NotAfter: notAfter}), ca)
	reg := prometheus.NewRegistry()

	src, err := tlsconfig.LoadWithMetrics(files, reg, "server")
	require.NoError(t, err)
	require.NotNil(t, src)

	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expiryExposition("server", "test", notAfter)), tlsconfig.ExpiryMetric))
}

func TestLoadWithMetricsFollowsARotatedCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "expiry-ca")
	dir := t.TempDir()
	first := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	files := tlstest.Files(t, dir, "order", ca.Issue(t, tlstest.LeafOptions{NotAfter: first}), ca)
	reg := prometheus.NewRegistry()
	src, err := tlsconfig.LoadWithMetrics(files, reg, "server")
	require.NoError(t, err)
	tlsconfig.SetPollInterval(src, 0)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expiryExposition("server", "test", first)), tlsconfig.ExpiryMetric))

	// cert-manager renews: the same paths now hold a certificate valid for 90 days.
	renewed := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	tlstest.Files(t, dir, "order", ca.Issue(t, tlstest.LeafOptions{NotAfter: renewed}), ca)

	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expiryExposition("server", "test", renewed)), tlsconfig.ExpiryMetric))
}

func TestLoadWithMetricsKeepsTheCertificateInUseWhenTheNewFilesDoNotLoad(t *testing.T) {
	ca := tlstest.NewCA(t, "expiry-ca")
	notAfter := time.Now().Add(5 * time.Hour).Truncate(time.Second)
	files := tlstest.Files(t, t.TempDir(), "order", ca.Issue(t, tlstest.LeafOptions{NotAfter: notAfter}), ca)
	reg := prometheus.NewRegistry()
	src, err := tlsconfig.LoadWithMetrics(files, reg, "client")
	require.NoError(t, err)
	tlsconfig.SetPollInterval(src, 0)

	require.NoError(t, os.WriteFile(files.CertFile, []byte("half-written"), 0o600))

	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expiryExposition("client", "test", notAfter)), tlsconfig.ExpiryMetric))
}

func TestLoadWithMetricsNamesACertificateWithoutCommonNameByItsSPIFFEID(t *testing.T) {
	dir := t.TempDir()
	notAfter := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	files := selfSignedWithoutCN(t, dir, "spiffe://slipway.local/payment", notAfter)
	reg := prometheus.NewRegistry()

	_, err := tlsconfig.LoadWithMetrics(files, reg, "server")
	require.NoError(t, err)

	assert.NoError(t, testutil.GatherAndCompare(reg,
		strings.NewReader(expiryExposition("server", "spiffe://slipway.local/payment", notAfter)), tlsconfig.ExpiryMetric))
}

func TestLoadWithMetricsExportsNothingWithTLSOff(t *testing.T) {
	reg := prometheus.NewRegistry()

	src, err := tlsconfig.LoadWithMetrics(config.TLS{}, reg, "server")

	require.NoError(t, err)
	assert.Nil(t, src)
	n, err := testutil.GatherAndCount(reg, tlsconfig.ExpiryMetric)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestLoadWithMetricsSharesOneSeriesPerRole(t *testing.T) {
	ca := tlstest.NewCA(t, "expiry-ca")
	notAfter := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	files := tlstest.Files(t, t.TempDir(), "order", ca.Issue(t, tlstest.LeafOptions{NotAfter: notAfter}), ca)
	reg := prometheus.NewRegistry()

	_, err := tlsconfig.LoadWithMetrics(files, reg, "server")
	require.NoError(t, err)
	_, err = tlsconfig.LoadWithMetrics(files, reg, "server")
	require.NoError(t, err, "a second Source with the same role on one registry")
	_, err = tlsconfig.LoadWithMetrics(files, reg, "client")
	require.NoError(t, err)

	n, err := testutil.GatherAndCount(reg, tlsconfig.ExpiryMetric)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "one series per role")
}

func TestLoadWithMetricsRejects(t *testing.T) {
	ca := tlstest.NewCA(t, "expiry-ca")
	files := tlstest.Files(t, t.TempDir(), "order", ca.Service(t, "order"), ca)

	t.Run("an empty role", func(t *testing.T) {
		_, err := tlsconfig.LoadWithMetrics(files, prometheus.NewRegistry(), "")
		assert.ErrorContains(t, err, "role label is empty")
	})
	t.Run("a registry where the name means something else", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: tlsconfig.ExpiryMetric, Help: "other"}))
		_, err := tlsconfig.LoadWithMetrics(files, reg, "server")
		assert.ErrorContains(t, err, `register slipway_tls_certificate_expiry_timestamp_seconds{role="server"}`)
	})
	t.Run("files that do not load", func(t *testing.T) {
		bad := files
		bad.CertFile = filepath.Join(t.TempDir(), "missing.pem")
		_, err := tlsconfig.LoadWithMetrics(bad, prometheus.NewRegistry(), "server")
		assert.ErrorContains(t, err, "TLS_CERT_FILE")
	})
}

// selfSignedWithoutCN writes a self-signed certificate with no Common Name
// and spiffeID as its URI SAN, trusted by itself, as cert-manager issues a
// SPIFFE-only certificate.
func selfSignedWithoutCN(t *testing.T, dir, spiffeID string, notAfter time.Time) config.TLS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	id, err := url.Parse(spiffeID)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		URIs:                  []*url.URL{id},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	c := config.TLS{
		CertFile:    filepath.Join(dir, "svc.pem"),
		KeyFile:     filepath.Join(dir, "svc-key.pem"),
		CAFile:      filepath.Join(dir, "svc-ca.pem"),
		TrustDomain: config.DefaultTrustDomain,
	}
	require.NoError(t, os.WriteFile(c.CertFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600))
	require.NoError(t, os.WriteFile(c.CAFile, certPEM, 0o600))
	return c
}
