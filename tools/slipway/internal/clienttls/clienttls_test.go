package clienttls

import (
	"flag"
	"io"
	"path/filepath"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientTLSFlags(t *testing.T) {
	root, b := clitest.DevTLSWorkspace(t)
	cert, key := workspace.TLSFiles(root, workspace.CLIIdentity)
	findRoot := func() (string, error) { return root, nil }
	parse := func(t *testing.T, env map[string]string, args ...string) Flags {
		t.Helper()
		var f Flags
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
	_, err = parse(t, nil, "--tls").Config(func() (string, error) { return clitest.FakeWorkspace(t), nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "slipway dev --tls", "says how to make the files")
}
