package main

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clienttls"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// devTLSWorkspace is a workspace whose .slipway/tls holds dev's CA and
// certificates, as `slipway dev --tls` leaves them.
func devTLSWorkspace(t *testing.T) (string, *devcert.Bundle) {
	t.Helper()
	root := fakeWorkspace(t)
	b, err := devcert.Ensure(devcert.Options{Dir: workspace.TLSDir(root), Identities: devTLSIdentities()})
	require.NoError(t, err)
	return root, b
}

func TestClientTLSFlags(t *testing.T) {
	root, b := devTLSWorkspace(t)
	cert, key := workspace.TLSFiles(root, workspace.CLIIdentity)
	findRoot := func() (string, error) { return root, nil }
	parse := func(t *testing.T, env map[string]string, args ...string) clienttls.Flags {
		t.Helper()
		var f clienttls.Flags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f.Register(fs, func(k string) string { return env[k] })
		require.NoError(t, fs.Parse(args))
		return f
	}

	conf, err := parse(t, nil).Config(findRoot)
	require.NoError(t, err)
	assert.Nil(t, conf, "no flag: plaintext")

	conf, err = parse(t, nil, "--tls").Config(findRoot)
	require.NoError(t, err)
	require.NotNil(t, conf)
	assert.Len(t, conf.Certificates, 1, "the CLI's certificate")

	conf, err = parse(t, map[string]string{"TLS_CA_FILE": b.CAFile, "TLS_CERT_FILE": cert, "TLS_KEY_FILE": key}).Config(findRoot)
	require.NoError(t, err)
	require.NotNil(t, conf, "a pod's own TLS_* settings")
	assert.Len(t, conf.Certificates, 1)

	conf, err = parse(t, nil, "--cacert", b.CAFile).Config(findRoot)
	require.NoError(t, err)
	assert.Empty(t, conf.Certificates, "https without a client certificate")

	for name, args := range map[string][]string{
		"cert without a CA":   {"--cert", cert, "--key", key},
		"cert without a key":  {"--cacert", b.CAFile, "--cert", cert},
		"--tls and --cacert":  {"--tls", "--cacert", b.CAFile},
		"a CA file not there": {"--cacert", filepath.Join(root, "nope.pem")},
	} {
		_, err := parse(t, nil, args...).Config(findRoot)
		assert.Error(t, err, name)
	}
	_, err = parse(t, nil, "--tls").Config(func() (string, error) { return fakeWorkspace(t), nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "slipway dev --tls", "says how to make the files")
}

// ready reaches servers that require the dev CA's client certificates only
// with --tls.
func TestReadyOverTLS(t *testing.T) {
	_, b := devTLSWorkspace(t)
	cli, err := b.ClientConfig(workspace.CLIIdentity)
	require.NoError(t, err)

	metrics := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "# TYPE up gauge\nup 1\n")
	}))
	metrics.TLS, err = b.ServerConfig("order")
	require.NoError(t, err)
	metrics.StartTLS()
	defer metrics.Close()
	targets, err := parseReadyTargets("order=" + metrics.Listener.Addr().String())
	require.NoError(t, err)
	opts := readyOptions{Targets: httpsTargets(targets), Timeout: 2 * time.Second, TLS: cli,
		now: time.Now, wait: func(context.Context, time.Duration) error { return nil }}
	_, err = measureScrape(t.Context(), opts)
	require.NoError(t, err, "ready scrapes https with the dev CA")
	opts.TLS = nil
	_, err = measureScrape(t.Context(), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate", "without the CA the certificate is not trusted")
}
