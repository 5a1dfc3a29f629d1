package tlsconfig_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

// proxyChildEnv marks the child process of TestHTTPClientIgnoresProxy:
// net/http reads HTTPS_PROXY once per process, so the attack runs in a
// fresh one whose environment names the proxy from the start.
const proxyChildEnv = "TLSCONFIG_PROXY_CHILD"

// TestHTTPClientIgnoresProxy attacks the JWKS fetch through a proxy: with
// HTTPS_PROXY set, net/http would tunnel through the proxy and do its own
// TLS handshake with the system roots and no client certificate. The
// client must not use the proxy at all, and the fetch of a server whose
// certificate comes from another CA must fail.
func TestHTTPClientIgnoresProxy(t *testing.T) {
	if os.Getenv(proxyChildEnv) != "" {
		proxyChild(t)
		return
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^TestHTTPClientIgnoresProxy$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), proxyChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "the child's output:\n%s", out)
}

func proxyChild(t *testing.T) {
	dir := t.TempDir()
	ca, other := tlstest.NewCA(t, "slipway"), tlstest.NewCA(t, "attacker")
	rogue := load(t, tlstest.Files(t, dir, "rogue", other.Service(t, "user"), other))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"keys":[]}`)
	}))
	srv.TLS = rogue.HTTPServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	// The proxy tunnels every CONNECT, whatever host it names, to the
	// rogue server, and counts them.
	var connects atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		connects.Add(1)
		upstream, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer upstream.Close()
		w.WriteHeader(http.StatusOK)
		client, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer client.Close()
		go func() { _, _ = io.Copy(upstream, client) }()
		_, _ = io.Copy(client, upstream)
	}))
	t.Cleanup(proxy.Close)
	// Loopback hosts are never proxied, so the JWKS host is a name that
	// only the proxy "resolves".
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("https_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	order := load(t, tlstest.Files(t, dir, "order", ca.Service(t, "order"), ca))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://jwks.slipway.invalid/.well-known/jwks.json", nil)
	require.NoError(t, err)
	resp, err := order.HTTPClient().Do(req)
	if err == nil {
		resp.Body.Close()
	}
	assert.Error(t, err, "a server with another CA's certificate is never trusted")
	assert.Zero(t, connects.Load(), "the JWKS fetch went through HTTPS_PROXY")
}
