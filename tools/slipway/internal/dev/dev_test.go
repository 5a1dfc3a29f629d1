package dev

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDevPostgresFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "not a postgres URL", args: []string{"--postgres", "mysql://root@127.0.0.1"}, want: "--postgres"},
		{name: "no host", args: []string{"--postgres", "postgres:///db"}, want: "want a server URL"},
		{name: "bad prefix", args: []string{"--postgres", "postgres://postgres@127.0.0.1:5432", "--postgres-prefix", "Robert'); DROP"}, want: "--postgres-prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.ExitCode(&stderr, "dev", Main(t.Context(), tt.args, &cli.Env{Stdout: &stdout, Stderr: &stderr}))
			assert.Equal(t, cli.ExitUsage, code)
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
}

func TestConsoleMaxBytesFlag(t *testing.T) {
	var n int64
	v := byteSize{&n}
	for in, want := range map[string]int64{"268435456": 256 << 20, "256MiB": 256 << 20, "1 GiB": 1 << 30, "512KiB": 512 << 10, "100B": 100, "0": 0} {
		require.NoError(t, v.Set(in), in)
		assert.Equal(t, want, n, in)
	}
	n = 256 << 20
	assert.Equal(t, "256MiB", v.String())
	n = 1000
	assert.Equal(t, "1000B", v.String())
	assert.Empty(t, byteSize{}.String(), "the zero value the flag package asks")
	for _, bad := range []string{"", "lots", "-1", "1.5MiB", "10MB", "9999999999GiB"} {
		err := v.Set(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "want a number of bytes", bad)
	}

	var stdout, stderr bytes.Buffer
	code := cli.ExitCode(&stderr, "dev", Main(t.Context(), []string{"--console-max-bytes", "lots"}, &cli.Env{Stdout: &stdout, Stderr: &stderr}))
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, stderr.String(), `invalid value "lots" for flag -console-max-bytes`)
}

// Main checks its flags before it builds or starts anything: a usage error
// exits 2 and names the flag.
func TestMainUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "services are trimmed, then checked", args: []string{"--services", " user , ,billing"}, want: `unknown service "billing" in --services`},
		{name: "colour", args: []string{"--color", "rainbow"}, want: `--color "rainbow"`},
		{name: "port base", args: []string{"--http-port-base", "0"}, want: fmt.Sprintf("--http-port-base 0: need 1..%d", 65535-(workspace.Known[len(workspace.Known)-1].HTTPPort-workspace.DefaultHTTPBase))},
		{name: "negative timeout", args: []string{"--ready-timeout", "-1s"}, want: "timeouts must not be negative"},
		{name: "stray argument", args: []string{"user"}, want: "unexpected arguments"},
		{name: "unknown flag", args: []string{"--watch"}, want: "flag provided but not defined: -watch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Main(t.Context(), tt.args, &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"PATH=/bin"}})
			assert.Equal(t, cli.ExitUsage, cli.ExitCode(&stderr, "dev", err))
			assert.Contains(t, stderr.String(), tt.want)
			assert.Empty(t, stdout.String(), "nothing ran")
		})
	}
}

func TestReplicasFlag(t *testing.T) {
	var stderr bytes.Buffer
	opts, err := parse([]string{"--replicas", "order=2,inventory=3"}, &cli.Env{Stderr: &stderr, Environ: []string{"PATH=/bin"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"order": 2, "inventory": 3}, opts.Replicas)
	assert.True(t, opts.NoWatch, "hot reload does not know instances yet")
	assert.Contains(t, stderr.String(), "hot reload is off with --replicas")

	opts, err = parse(nil, &cli.Env{Stderr: &stderr, Environ: []string{"PATH=/bin"}})
	require.NoError(t, err)
	assert.Empty(t, opts.Replicas, "one instance each by default")
	assert.False(t, opts.NoWatch)

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--replicas", "order"}, `--replicas "order": "order" is not SVC=N`},
		{[]string{"--replicas", "order=0"}, "order=0: want 1 to 9 instances"},
		{[]string{"--replicas", "billing=2"}, `unknown service "billing"`},
		{[]string{"--services", "user", "--replicas", "order=2"}, "--replicas: order does not run"},
	} {
		var stdout, stderr bytes.Buffer
		err := Main(t.Context(), tt.args, &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"PATH=/bin"}})
		assert.Equal(t, cli.ExitUsage, cli.ExitCode(&stderr, "dev", err), tt.args)
		assert.Contains(t, stderr.String(), tt.want)
		assert.Empty(t, stdout.String(), "nothing ran")
	}
}
