package main

import (
	"bytes"
	"regexp"
	"runtime"
	"testing"

	"github.com/slipway-dev/slipway/platform/buildinfo"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The verbs that need main's table (help, completion) or its flags
// (--version), tried through run with the real table.

func TestVersionVerbAndFlagPrintTheSame(t *testing.T) {
	var outs []string
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), args, &cli.Env{Stdout: &stdout, Stderr: &stderr})
		require.Equal(t, cli.ExitOK, code, stderr.String())
		outs = append(outs, stdout.String())
	}
	assert.Equal(t, outs[0], outs[1])
	assert.Equal(t, outs[0], outs[2])
	assert.Regexp(t, `(?m)^slipway\s+`+buildinfo.Version+`$`, outs[0])
	assert.Regexp(t, `(?m)^go\s+go\S+ `+runtime.GOOS+"/"+runtime.GOARCH+`$`, outs[0])
}

func TestCompletionCompletesEveryVerbOfTheTable(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"completion", shell}, &cli.Env{Stdout: &stdout, Stderr: &stderr})
		require.Equal(t, cli.ExitOK, code, stderr.String())
		for _, v := range verbs() {
			assert.Regexp(t, `(?m)^\s*'?`+v.Name+`[):]`, stdout.String(), "%s: a case or description for verb %s", shell, v.Name)
		}
		for _, f := range []string{"--stop-timeout", "--air-build", "--fail-on", "--k8s"} {
			assert.Contains(t, stdout.String(), f, "%s: the verbs' own flags", shell)
		}
	}
}

func TestHelpListsEveryVerbOfTheTable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, cli.ExitOK, run(t.Context(), []string{"help"}, &cli.Env{Stdout: &stdout, Stderr: &stderr}))
	for _, v := range verbs() {
		assert.Regexp(t, `(?m)^  `+v.Name+`\s+`+regexp.QuoteMeta(v.Summary)+`$`, stdout.String())
	}
}
