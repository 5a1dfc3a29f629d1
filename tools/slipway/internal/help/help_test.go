package help

import (
	"bytes"
	"context"
	"flag"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testVerbs is a verb table shaped like main's. probe's usage shows the
// environment it was given, to prove help passes it on.
func testVerbs() []cli.Verb {
	return []cli.Verb{
		{Name: "probe", Summary: "gRPC health probe", Main: func(_ context.Context, args []string, env *cli.Env) error {
			fs := cli.NewFlagSet(env.Stderr, "probe", "[--addr host:port]", "Probes "+env.Getenv("GRPC_ADDR")+".")
			fs.String("addr", "", "gRPC address `host:port`")
			return cli.ParseFlags(fs, args)
		}},
		{Name: "completion", Summary: "print a completion script"},
		{Name: "help", Summary: "show this help", Main: Main(testVerbs)},
	}
}

func TestMainListsTheVerbs(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}} {
		var stdout, stderr bytes.Buffer
		require.NoError(t, Main(testVerbs)(t.Context(), args, &cli.Env{Stdout: &stdout, Stderr: &stderr}))
		assert.Equal(t, "slipway is the developer CLI of the Slipway workspace.\n\n"+
			"usage: slipway <verb> [flags]\n\n"+
			"verbs:\n"+
			"  probe        gRPC health probe\n"+
			"  completion   print a completion script\n"+
			"  help         show this help\n\n"+
			"Run 'slipway help <verb>' for the flags of a verb.\n"+
			"Exit codes: 0 ok, 1 check or command failed, 2 usage error.\n", stdout.String(), "%q", args)
		assert.Empty(t, stderr.String())
	}
}

func TestMainShowsOneVerbsUsageOnStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"GRPC_ADDR=:50053"}}
	err := Main(testVerbs)(t.Context(), []string{"probe"}, env)
	require.ErrorIs(t, err, flag.ErrHelp, "the verb's -h answer, which main maps to exit 0")
	assert.Equal(t, "usage: slipway probe [--addr host:port]\n\nProbes :50053.\n\nflags:\n  --addr host:port\n    \tgRPC address host:port\n", stdout.String())
	assert.Empty(t, stderr.String(), "the usage goes to stdout, for a pager")
}

func TestMainUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "two verbs", args: []string{"probe", "help"}, want: `help takes at most one verb, got ["probe" "help"]`},
		{name: "unknown verb", args: []string{"nope"}, want: `unknown verb "nope"`},
		{name: "a flag is no verb", args: []string{"--help"}, want: `unknown verb "--help"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := Main(testVerbs)(t.Context(), tt.args, &cli.Env{Stdout: &stdout, Stderr: &stdout})
			var uerr cli.UsageError
			require.ErrorAs(t, err, &uerr)
			assert.EqualError(t, err, tt.want)
			assert.Empty(t, stdout.String())
		})
	}
}
