package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary doubles as the child process of the signal test: it plays
// clitest's child modes (the services), and "slipway", the command itself
// with its signal handling and exit code.
func TestMain(m *testing.M) {
	clitest.Main(m, map[string]clitest.ChildMode{"slipway": func(context.Context) int {
		main()
		return 0
	}})
}

func TestRunExitCodes(t *testing.T) {
	closed := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "no args prints usage", args: nil, code: cli.ExitUsage, stderr: "verbs:"},
		{name: "help lists verbs", args: []string{"help"}, code: cli.ExitOK, stdout: "probe"},
		{name: "--help is help", args: []string{"--help"}, code: cli.ExitOK, stdout: "dev"},
		{name: "help of a verb shows its flags", args: []string{"help", "probe"}, code: cli.ExitOK, stdout: "\n  --timeout duration\n"},
		{name: "help of a sub-verb", args: []string{"help", "version"}, code: cli.ExitOK, stdout: "  --json\n"},
		{name: "help takes one verb", args: []string{"help", "dev", "probe"}, code: cli.ExitUsage, stderr: "at most one verb"},
		{name: "help of an unknown verb", args: []string{"help", "nope"}, code: cli.ExitUsage, stderr: `unknown verb "nope"`},
		{name: "unknown verb", args: []string{"frobnicate"}, code: cli.ExitUsage, stderr: `unknown verb "frobnicate"`},
		{name: "bad flag", args: []string{"probe", "--bogus"}, code: cli.ExitUsage, stderr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"probe", "--addr", closed, "extra"}, code: cli.ExitUsage, stderr: "unexpected arguments"},
		{name: "probe without address", args: []string{"probe"}, code: cli.ExitUsage, stderr: "--addr is required"},
		{name: "probe of nothing fails the check", args: []string{"probe", "--addr", closed}, code: cli.ExitFailed, stdout: "UNREACHABLE", stderr: "slipway probe:"},
		{name: "dev with an unknown service", args: []string{"dev", "--services", "billing"}, code: cli.ExitUsage, stderr: `unknown service "billing"`},
		{name: "dev with a bad port base", args: []string{"dev", "--grpc-port-base", "70000"}, code: cli.ExitUsage, stderr: "--grpc-port-base 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"PATH=" + os.Getenv("PATH")}}
			code := run(t.Context(), tt.args, env)
			assert.Equal(t, tt.code, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), tt.stdout)
			assert.Contains(t, stderr.String(), tt.stderr)
		})
	}
}

func TestHelpSpellsEveryFlagWithTwoDashes(t *testing.T) {
	singleDash := regexp.MustCompile(`(?m)^  -[^-]`)
	for _, v := range verbs() {
		if v.Name == "help" {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), []string{"help", v.Name}, &cli.Env{Stdout: &stdout, Stderr: &stderr})
			require.Equal(t, cli.ExitOK, code, stderr.String())
			assert.Contains(t, stdout.String(), "usage: slipway "+v.Name)
			assert.NotRegexp(t, singleDash, stdout.String())
		})
	}
	var stdout bytes.Buffer
	require.Equal(t, cli.ExitOK, run(t.Context(), []string{"dev", "--help"}, &cli.Env{Stdout: &stdout, Stderr: &stdout}))
	assert.Contains(t, stdout.String(), "\n  --stop-timeout duration\n", "a verb's own --help is spelt the same")
}
