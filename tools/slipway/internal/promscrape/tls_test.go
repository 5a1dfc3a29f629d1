package promscrape

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// ready scrapes /metrics served over https only with the dev CA.
func TestScrapesOverTLS(t *testing.T) {
	_, b := clitest.DevTLSWorkspace(t)
	cli, err := b.ClientConfig(workspace.CLIIdentity)
	require.NoError(t, err)

	metrics := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "# TYPE up gauge\nup 1\n")
	}))
	metrics.TLS, err = b.ServerConfig("order")
	require.NoError(t, err)
	metrics.StartTLS()
	defer metrics.Close()
	targets, err := ParseTargets("order=" + metrics.Listener.Addr().String())
	require.NoError(t, err)
	opts := Options{Targets: HTTPSTargets(targets), Timeout: 2 * time.Second, TLS: cli,
		Now: time.Now, Wait: func(context.Context, time.Duration) error { return nil }}
	_, err = Measure(t.Context(), opts)
	require.NoError(t, err, "ready scrapes https with the dev CA")
	opts.TLS = nil
	_, err = Measure(t.Context(), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate", "without the CA the certificate is not trusted")
}
