package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
)

func TestListTrimsAndDropsEmptyEntries(t *testing.T) {
	assert.Equal(t, []string{"user", "order"}, cli.List(" user, ,order,"))
	assert.Nil(t, cli.List(""))
}

func TestExitCodeSaysWhatKindOfFailure(t *testing.T) {
	tests := map[string]struct {
		err        error
		code       int
		wantStderr string
	}{
		"ok":           {nil, cli.ExitOK, ""},
		"help":         {flag.ErrHelp, cli.ExitOK, ""},
		"usage":        {cli.UsageErrorf("want status or up"), cli.ExitUsage, "slipway migrate: want status or up\n"},
		"check failed": {errors.New("2 services drifted"), cli.ExitFailed, "slipway migrate: 2 services drifted\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			assert.Equal(t, tt.code, cli.ExitCode(&stderr, "migrate", tt.err))
			if tt.wantStderr != "" {
				assert.Equal(t, tt.wantStderr, stderr.String())
			}
		})
	}
}

func TestParseFlagsMakesEveryMistakeAUsageError(t *testing.T) {
	var out bytes.Buffer
	fs := cli.NewFlagSet(&out, "probe", "[--addr host:port]", "Asks a server's health.")
	fs.String("addr", "", "gRPC `address`")

	err := cli.ParseFlags(fs, []string{"--bogus"})
	var usage cli.UsageError
	require.ErrorAs(t, err, &usage)
	require.ErrorIs(t, err, cli.ErrFlagParse)

	err = cli.ParseFlags(fs, []string{"--addr", "x", "stray"})
	require.ErrorAs(t, err, &usage)
	assert.Contains(t, err.Error(), `unexpected arguments: ["stray"]`)

	require.ErrorIs(t, cli.ParseFlags(fs, []string{"-h"}), flag.ErrHelp)
}

func TestUsageSpellsFlagsWithTwoDashes(t *testing.T) {
	var out bytes.Buffer
	fs := cli.NewFlagSet(&out, "probe", "[--addr host:port]", "Asks a server's health.")
	fs.String("addr", "", "gRPC `address`")
	fs.Usage()
	assert.Contains(t, out.String(), "usage: slipway probe [--addr host:port]\n\nAsks a server's health.\n\nflags:\n")
	assert.Contains(t, out.String(), "  --addr address\n")
	assert.NotContains(t, out.String(), "  -addr")
}

func TestParseInterspersedTakesWordsAroundTheFlags(t *testing.T) {
	var out bytes.Buffer
	fs := cli.NewFlagSet(&out, "new", "service NAME [--dry-run]", "Makes things.")
	dry := fs.Bool("dry-run", false, "write nothing")
	words, err := cli.ParseInterspersed(fs, []string{"service", "--dry-run", "widgets"})
	require.NoError(t, err)
	assert.Equal(t, []string{"service", "widgets"}, words)
	assert.True(t, *dry)

	words, err = cli.ParseInterspersed(fs, []string{"rpc", "--", "--odd"})
	require.NoError(t, err)
	assert.Equal(t, []string{"rpc", "--odd"}, words, "after -- everything is a word")

	_, err = cli.ParseInterspersed(fs, []string{"service", "--nope"})
	var usage cli.UsageError
	require.ErrorAs(t, err, &usage)
	assert.ErrorIs(t, err, cli.ErrFlagParse)
}
