package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/buildinfo"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
)

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

func TestVersionJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.11",
		Main:      debug.Module{Path: "github.com/slipway-dev/slipway/tools/slipway", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0e3994f1a2b3"},
			{Key: "vcs.time", Value: "2026-12-07T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	require.NoError(t, runVersion(versionOptions{JSON: true, Stdout: &stdout, build: bi}))
	var got versionInfo
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), stdout.String())
	assert.Equal(t, versionInfo{
		Version: buildinfo.Version, Module: "github.com/slipway-dev/slipway/tools/slipway (devel)",
		Commit: "0e3994f1a2b3", Time: "2026-12-07T10:00:00Z", Modified: true,
		Go: "go1.26.11", Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}, got)
	assert.Empty(t, stderr.String())
}

func TestReadVersion(t *testing.T) {
	tests := []struct {
		name     string
		stamped  string
		bi       *debug.BuildInfo
		want     string // Version
		wantText string // in the human output
	}{
		{name: "make stamps git describe", stamped: "v1.2.3-4-gabc", bi: &debug.BuildInfo{Main: debug.Module{Path: "m", Version: "v1.2.0"}}, want: "v1.2.3-4-gabc"},
		{name: "go install records the module version", stamped: "dev", bi: &debug.BuildInfo{Main: debug.Module{Path: "m", Version: "v1.2.0"}}, want: "v1.2.0"},
		{name: "a checkout build is dev", stamped: "dev", bi: &debug.BuildInfo{Main: debug.Module{Path: "m", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}}, want: "dev", wantText: `(?m)^commit\s+abc$`},
		{name: "no build info", stamped: "dev", want: "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, readVersion(tt.stamped, tt.bi).Version)
			if tt.bi == nil {
				return
			}
			var out bytes.Buffer
			require.NoError(t, runVersion(versionOptions{Stdout: &out, build: tt.bi}))
			assert.Regexp(t, tt.wantText, out.String())
			if tt.wantText == "" {
				assert.NotContains(t, out.String(), "commit", "no commit line without vcs.revision")
			}
		})
	}
}

func TestVersionUsageErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"version", "extra"}, &cli.Env{Stdout: &stdout, Stderr: &stderr})
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, stderr.String(), "unexpected arguments")
}
