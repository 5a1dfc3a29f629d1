package devloop

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clienttls"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devconsole"
	"github.com/slipway-dev/slipway/tools/slipway/internal/grpchealth"
)

// testChildTLS is what a service makes of TLS_CERT_FILE, TLS_KEY_FILE and
// TLS_CA_FILE, as the platform's contract says: the gRPC port requires a
// client certificate from the CA, the HTTP port verifies one only if given.
// Both nil when TLS_CERT_FILE is unset.
func testChildTLS() (grpcTLS, httpTLS *tls.Config, err error) {
	certFile := os.Getenv("TLS_CERT_FILE")
	if certFile == "" {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, os.Getenv("TLS_KEY_FILE"))
	if err != nil {
		return nil, nil, err
	}
	pem, err := os.ReadFile(os.Getenv("TLS_CA_FILE"))
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, errors.New("no CA in TLS_CA_FILE")
	}
	base := tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientCAs: pool}
	grpcTLS, httpTLS = base.Clone(), base.Clone()
	grpcTLS.ClientAuth = tls.RequireAndVerifyClientCert
	httpTLS.ClientAuth = tls.VerifyClientCertIfGiven
	return grpcTLS, httpTLS, nil
}

// dev --tls end to end with services that serve as the platform does under
// TLS: dev issues the certificates, polls health over mTLS, serves the
// console over https, and the console reaches the services (and receives
// their traces) over TLS.
func TestRunDevTLS(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user", "inventory")
	clitest.UseTestBinaryFor(t, root, "user", "inventory")
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out, clitest.ChildModeEnv+"=traced")
	opts.Environ = withoutTelemetryEnv(opts.Environ)
	opts.ConsolePort = clitest.FreePort(t)
	opts.TLS = true
	console := "https://127.0.0.1:" + strconv.Itoa(opts.ConsolePort)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	done := startDev(ctx, opts)
	clitest.WaitForOutput(t, &out, done, "all 2 services SERVING in")
	clitest.WaitForOutput(t, &out, done, `inventory | {"msg":"exported"}`)
	got := out.String()
	assert.Contains(t, got, "tls: issued authority: missing")
	assert.Contains(t, got, "console: https://localhost:"+strconv.Itoa(opts.ConsolePort))
	assert.Contains(t, got, "dev CA: .slipway/tls/ca.pem")
	assert.Contains(t, got, "curl --cacert .slipway/tls/ca.pem https://127.0.0.1:"+strconv.Itoa(opts.HTTPBase)+"/readyz")
	tlsDir := filepath.Join(root, ".slipway", "tls")
	assert.Contains(t, got, fmt.Sprintf("tools/grpcurl -cacert %s/ca.pem -cert %s/cli.pem -key %s/cli-key.pem 127.0.0.1:%d list", tlsDir, tlsDir, tlsDir, opts.GRPCBase))
	assert.Regexp(t, `inventory\s+SERVING\s+\S+\s+\S+\s+https://127.0.0.1:`+strconv.Itoa(opts.HTTPBase+2)+`/docs`, got)
	st, err := os.Stat(filepath.Join(root, ".slipway", "tls", "ca-key.pem"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// The gRPC ports take the CLI's certificate, and nothing without one.
	cli, err := clienttls.DevConfig(root)
	require.NoError(t, err)
	inventoryGRPC := "127.0.0.1:" + strconv.Itoa(opts.GRPCBase+2)
	status, err := grpchealth.Check(t.Context(), inventoryGRPC, "", cli)
	require.NoError(t, err)
	assert.Equal(t, "SERVING", status)
	_, err = grpchealth.Check(t.Context(), inventoryGRPC, "", nil)
	assert.Error(t, err, "plaintext is refused")

	// The console: https with its own certificate, trusted through the CA.
	anon, err := devcert.ClientConfigFromFiles(filepath.Join(root, ".slipway", "tls", "ca.pem"), "", "")
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: anon}, Timeout: 5 * time.Second}
	var m devconsole.ServiceMap
	require.Eventually(t, func() bool {
		m = devconsole.ServiceMap{}
		getTLSJSON(t, client, console+"/api/services", &m)
		return len(m.Services) == 2 && m.Services[0].State == devconsole.StateServing && m.Services[1].State == devconsole.StateServing
	}, 10*time.Second, 20*time.Millisecond, "the console reaches both services over TLS: %+v", m)
	assert.Equal(t, "https://127.0.0.1:"+strconv.Itoa(opts.HTTPBase), m.Services[0].HTTPURL)

	var list struct{ Traces []devconsole.TraceSummary }
	getTLSJSON(t, client, console+"/api/traces?service=inventory", &list)
	require.Len(t, list.Traces, 1, "inventory exported its span to the console over https")
	var detail struct{ Logs []devconsole.LogLine }
	getTLSJSON(t, client, console+"/api/traces/"+list.Traces[0].TraceID, &detail)
	require.Len(t, detail.Logs, 1)
	wantCORS := fmt.Sprintf("https://localhost:%d,https://127.0.0.1:%d", opts.ConsolePort, opts.ConsolePort)
	assert.Contains(t, detail.Logs[0].Line, `"cors":"`+wantCORS+`"`, "the console's https pages may call the services")

	resp, err := http.Get(strings.Replace(console, "https://", "http://", 1) + "/api/services")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP to the console is refused: %s", body)
	}

	cancel()
	require.NoError(t, devResult(t, done, &out), out.String())

	// The next run keeps the authority and every certificate.
	var again clitest.SyncBuffer
	opts.Stdout = &again
	opts.ConsolePort = 0
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	done = startDev(ctx2, opts)
	clitest.WaitForOutput(t, &again, done, "all 2 services SERVING in")
	assert.NotContains(t, again.String(), "tls: issued", "a second run reuses the certificates")
	cancel2()
	require.NoError(t, devResult(t, done, &again), again.String())
}

func getTLSJSON(t *testing.T, client *http.Client, url string, into any) {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.NoError(t, json.Unmarshal(body, into), string(body))
}
