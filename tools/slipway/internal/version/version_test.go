package version

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
	require.NoError(t, Run(Options{JSON: true, Stdout: &stdout, build: bi}))
	var got Info
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), stdout.String())
	assert.Equal(t, Info{
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
			assert.Equal(t, tt.want, read(tt.stamped, tt.bi).Version)
			if tt.bi == nil {
				return
			}
			var out bytes.Buffer
			require.NoError(t, Run(Options{Stdout: &out, build: tt.bi}))
			assert.Regexp(t, tt.wantText, out.String())
			if tt.wantText == "" {
				assert.NotContains(t, out.String(), "commit", "no commit line without vcs.revision")
			}
		})
	}
}

func TestMainUsageErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := Main(t.Context(), []string{"extra"}, &cli.Env{Stdout: &stdout, Stderr: &stderr})
	var uerr cli.UsageError
	require.ErrorAs(t, err, &uerr)
	assert.Contains(t, err.Error(), "unexpected arguments")
	assert.Empty(t, stdout.String())

	err = Main(t.Context(), []string{"--bogus"}, &cli.Env{Stdout: &stdout, Stderr: &stderr})
	require.ErrorAs(t, err, &uerr)
	assert.Contains(t, stderr.String(), "usage: slipway version [--json]", "a bad flag prints the usage")
}

func TestRunPrintsTheCommitAndItsState(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "m", Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.time", Value: "2026-12-07T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	var out bytes.Buffer
	require.NoError(t, Run(Options{Stdout: &out, build: bi}))
	assert.Equal(t, "slipway  "+buildinfo.Version+"\n"+
		"module   m (devel)\n"+
		"commit   abc (2026-12-07T10:00:00Z), with uncommitted changes\n"+
		"go       go1.26.8 "+runtime.GOOS+"/"+runtime.GOARCH+"\n", out.String())
}
