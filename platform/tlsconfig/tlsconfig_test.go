package tlsconfig_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

func load(t *testing.T, c config.TLS) *tlsconfig.Source {
	t.Helper()
	s, err := tlsconfig.Load(c)
	require.NoError(t, err)
	tlsconfig.SetPollInterval(s, 0)
	return s
}

// grpcServer serves gRPC health with the source's mTLS configuration and
// reports the service identity of each caller on seen.
func grpcServer(t *testing.T, src *tlsconfig.Source) (addr string, seen chan string) {
	t.Helper()
	seen = make(chan string, 16)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(src.GRPCServerConfig())),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			name, ok := tlsconfig.PeerService(ctx, src.TrustDomain())
			if !ok {
				name = "<none>"
			}
			seen <- name
			return h(ctx, req)
		}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), seen
}

func check(addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestLoadOff(t *testing.T) {
	s, err := tlsconfig.Load(config.TLS{TrustDomain: "slipway.local"})
	require.NoError(t, err)
	assert.Nil(t, s, "no TLS_CERT_FILE: plaintext")
}

func TestLoadErrorsNameTheVariables(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "ca")
	c := tlstest.Files(t, dir, "order", ca.Service(t, "order"), ca)

	missing := c
	missing.CAFile = dir + "/nope.pem"
	_, err := tlsconfig.Load(missing)
	assert.ErrorContains(t, err, `TLS_CA_FILE="`+dir+`/nope.pem"`)

	mismatched := c
	mismatched.KeyFile = tlstest.Files(t, dir, "other", ca.Service(t, "other"), ca).KeyFile
	_, err = tlsconfig.Load(mismatched)
	assert.ErrorContains(t, err, "TLS_KEY_FILE")

	notPEM := c
	require.NoError(t, os.WriteFile(dir+"/garbage.pem", []byte("garbage"), 0o600))
	notPEM.CAFile = dir + "/garbage.pem"
	_, err = tlsconfig.Load(notPEM)
	assert.ErrorContains(t, err, "no PEM certificate")
}

func TestGRPCMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := tlstest.NewCA(t, "slipway"), tlstest.NewCA(t, "attacker")
	server := load(t, tlstest.Files(t, dir, "inventory", ca.Service(t, "inventory"), ca))
	addr, seen := grpcServer(t, server)

	order := load(t, tlstest.Files(t, dir, "order", ca.Service(t, "order"), ca))
	anonymous := load(t, tlstest.Files(t, dir, "anon", ca.Issue(t, tlstest.LeafOptions{}), ca))
	foreign := load(t, tlstest.Files(t, dir, "foreign", tlstest.NewCA(t, "x").Service(t, "order"), ca))
	otherDomain := load(t, tlstest.Files(t, dir, "od", ca.Issue(t, tlstest.LeafOptions{SPIFFEIDs: []string{"spiffe://evil.example/order"}}), ca))
	twoIDs := load(t, tlstest.Files(t, dir, "two", ca.Issue(t, tlstest.LeafOptions{SPIFFEIDs: []string{
		"spiffe://slipway.local/order", "spiffe://slipway.local/user"}}), ca))
	_ = other

	t.Run("a service is identified by its certificate", func(t *testing.T) {
		require.NoError(t, check(addr, order.ClientCredentials("inventory")))
		assert.Equal(t, "order", <-seen)
	})
	t.Run("by host name, 127.0.0.1 verifies against the IP SAN", func(t *testing.T) {
		require.NoError(t, check(addr, order.ClientCredentials("")))
		assert.Equal(t, "order", <-seen)
	})
	for name, src := range map[string]*tlsconfig.Source{
		"no SPIFFE SAN": anonymous, "another trust domain": otherDomain, "two SPIFFE IDs": twoIDs,
	} {
		t.Run(name+" is served without an identity", func(t *testing.T) {
			require.NoError(t, check(addr, src.ClientCredentials("inventory")))
			assert.Equal(t, "<none>", <-seen)
		})
	}
	t.Run("plaintext client is refused", func(t *testing.T) {
		assert.Error(t, check(addr, insecure.NewCredentials()))
	})
	t.Run("TLS client without a certificate is refused", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		assert.Error(t, check(addr, credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	})
	t.Run("client certificate from another CA is refused", func(t *testing.T) {
		assert.Error(t, check(addr, foreign.ClientCredentials("inventory")))
	})
	t.Run("a server that is not the service dialled is refused", func(t *testing.T) {
		err := check(addr, order.ClientCredentials("user"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not spiffe://slipway.local/user")
	})
	t.Run("a server from another CA is refused", func(t *testing.T) {
		rogue := load(t, tlstest.Files(t, dir, "rogue", other.Service(t, "inventory"), ca))
		rogueAddr, _ := grpcServer(t, rogue)
		assert.Error(t, check(rogueAddr, order.ClientCredentials("inventory")))
		assert.Error(t, check(rogueAddr, order.ClientCredentials("")))
	})
	assert.Empty(t, seen, "no refused call reached a handler")
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := tlstest.NewCA(t, "one"), tlstest.NewCA(t, "two")
	serverFiles := tlstest.Files(t, dir, "inventory", ca1.Service(t, "inventory"), ca1)
	server := load(t, serverFiles)
	addr, seen := grpcServer(t, server)

	fromCA1 := load(t, tlstest.Files(t, dir, "order1", ca1.Service(t, "order"), ca1, ca2))
	fromCA2 := load(t, tlstest.Files(t, dir, "order2", ca2.Service(t, "order"), ca1, ca2))
	require.NoError(t, check(addr, fromCA1.ClientCredentials("inventory")))
	<-seen
	require.Error(t, check(addr, fromCA2.ClientCredentials("inventory")), "ca2 not trusted yet")

	// Rotate the server onto ca2: a new certificate, key and authority,
	// written in place as cert-manager would, with no restart.
	rotated := tlstest.Files(t, t.TempDir(), "inventory", ca2.Service(t, "inventory"), ca2)
	for from, to := range map[string]string{rotated.CertFile: serverFiles.CertFile, rotated.KeyFile: serverFiles.KeyFile, rotated.CAFile: serverFiles.CAFile} {
		data, err := os.ReadFile(from)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(to, data, 0o600))
	}
	require.NoError(t, check(addr, fromCA2.ClientCredentials("inventory")), "the new authority is trusted")
	assert.Equal(t, "order", <-seen)
	assert.Error(t, check(addr, fromCA1.ClientCredentials("inventory")), "the old authority is no longer trusted")

	// A half-written rotation (certificate without its key) keeps the last good pair.
	require.NoError(t, os.WriteFile(serverFiles.CertFile, ca1.Service(t, "inventory").CertPEM, 0o600))
	require.NoError(t, check(addr, fromCA2.ClientCredentials("inventory")))
	<-seen

	// The client side reloads too: its certificate changes on disk.
	clientFiles := tlstest.Files(t, dir, "order3", ca1.Service(t, "order"), ca2)
	client := load(t, clientFiles)
	require.Error(t, check(addr, client.ClientCredentials("inventory")))
	require.NoError(t, os.WriteFile(clientFiles.CertFile+".new", nil, 0o600))
	leaf := ca2.Service(t, "order")
	require.NoError(t, os.WriteFile(clientFiles.KeyFile, leaf.KeyPEM, 0o600))
	require.NoError(t, os.WriteFile(clientFiles.CertFile, leaf.CertPEM, 0o600))
	require.NoError(t, check(addr, client.ClientCredentials("inventory")))
	assert.Equal(t, "order", <-seen)
}

func TestHTTPServerClientCertificateOptional(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "slipway")
	server := load(t, tlstest.Files(t, dir, "user", ca.Service(t, "user"), ca))
	got := make(chan string, 4)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := tlsconfig.RequestService(r, server.TrustDomain())
		if !ok {
			name = "<none>"
		}
		got <- name + " " + r.Proto
		_, _ = w.Write([]byte("{}"))
	}))
	srv.EnableHTTP2 = true
	srv.TLS = server.HTTPServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	order := load(t, tlstest.Files(t, dir, "order", ca.Service(t, "order"), ca))
	resp, err := order.HTTPClient().Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "order HTTP/1.1", <-got, "a presented certificate is verified and names the caller")

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	browser := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err = browser.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "<none> HTTP/2.0", <-got, "no certificate is fine, and h2 is negotiated by ALPN")

	foreign := load(t, tlstest.Files(t, dir, "foreign", tlstest.NewCA(t, "x").Service(t, "order"), ca))
	_, err = foreign.HTTPClient().Get(srv.URL)
	assert.Error(t, err, "a certificate from another CA is refused")

	plain, err := http.Get("http://" + srv.Listener.Addr().String())
	if err == nil {
		assert.Equal(t, http.StatusBadRequest, plain.StatusCode, "plaintext gets no answer but an error")
		plain.Body.Close()
	}
	assert.Empty(t, got)
}

func TestHTTPClientRefusesAnotherCA(t *testing.T) {
	dir := t.TempDir()
	ca, other := tlstest.NewCA(t, "slipway"), tlstest.NewCA(t, "attacker")
	rogue := load(t, tlstest.Files(t, dir, "rogue", other.Service(t, "user"), other))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = rogue.HTTPServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	order := load(t, tlstest.Files(t, dir, "order", ca.Service(t, "order"), ca))
	_, err := order.HTTPClient().Get(srv.URL)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate signed by unknown authority")

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a plaintext request was sent")
	}))
	t.Cleanup(plain.Close)
	_, err = order.HTTPClient().Get(plain.URL)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing a plaintext request")
}
