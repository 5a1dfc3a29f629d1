package completion

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testVerbs is a verb table shaped like main's: a verb with flags, one with
// sub-verbs (bench), help and completion itself.
func testVerbs() []cli.Verb {
	return []cli.Verb{
		{Name: "dev", Summary: "run: every service", Main: func(_ context.Context, args []string, env *cli.Env) error {
			fs := cli.NewFlagSet(env.Stderr, "dev", "[flags]", "Runs.")
			fs.String("services", "", "services")
			fs.Duration("stop-timeout", time.Second, "timeout")
			return cli.ParseFlags(fs, args)
		}},
		{Name: "bench", Summary: "measure", Main: func(_ context.Context, args []string, env *cli.Env) error {
			if len(args) == 0 {
				return cli.UsageErrorf("name a benchmark")
			}
			fs := cli.NewFlagSet(env.Stderr, "bench "+args[0], "[flags]", "Measures.")
			fs.Int("runs", 1, "runs")
			if args[0] == "reload" {
				fs.Bool("air-build", false, "air")
			}
			return cli.ParseFlags(fs, args[1:])
		}},
		{Name: "help", Summary: "show help"},
		{Name: "completion", Summary: "print a script", Main: Main(testVerbs)},
	}
}

func TestCommandsAskEachVerbForItsFlags(t *testing.T) {
	cmds, err := commands(t.Context(), testVerbs())
	require.NoError(t, err)
	require.Len(t, cmds, 4)
	assert.Equal(t, command{Name: "dev", Summary: "run: every service", Flags: []string{"--services", "--stop-timeout"}}, cmds[0])
	assert.Equal(t, []string{"startup", "reload"}, cmds[1].Args, "bench completes its sub-verbs")
	require.Len(t, cmds[1].Subs, 2)
	assert.Equal(t, []string{"--runs"}, cmds[1].Subs[0].Flags)
	assert.Equal(t, []string{"--air-build", "--runs"}, cmds[1].Subs[1].Flags, "each sub-verb has its own flags, sorted")
	assert.Equal(t, []string{"dev", "bench", "help", "completion"}, cmds[2].Args, "help completes the verbs")
	assert.Empty(t, cmds[2].Flags)
	assert.Equal(t, []string{"bash", "zsh"}, cmds[3].Args, "completion completes the shells")
}

func TestCommandsFailWhenAVerbIgnoresHelp(t *testing.T) {
	broken := cli.Verb{Name: "broken", Main: func(context.Context, []string, *cli.Env) error { return nil }}
	_, err := commands(t.Context(), []cli.Verb{broken})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "flags of broken: -h returned")

	failing := cli.Verb{Name: "failing", Main: func(context.Context, []string, *cli.Env) error { return errors.New("boom") }}
	_, err = verbFlags(t.Context(), failing, "sub")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "flags of failing sub")
	assert.NotErrorIs(t, err, flag.ErrHelp)
}

func TestScriptsParseAndListEveryVerbAndFlag(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		t.Run(shell, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			require.NoError(t, Main(testVerbs)(t.Context(), []string{shell}, &cli.Env{Stdout: &stdout, Stderr: &stderr}))
			script := stdout.String()
			for _, v := range testVerbs() {
				assert.Regexp(t, `(?m)^\s*'?`+v.Name+`[):]`, script, "a case or description for verb %s", v.Name)
			}
			for _, f := range []string{"--services", "--stop-timeout", "--air-build"} {
				assert.Regexp(t, `[\s"(]`+f+`[\s")]`, script)
			}
			assert.Contains(t, script, "startup) ", "bench's sub-verbs have their own flags")

			path := filepath.Join(t.TempDir(), "slipway."+shell)
			require.NoError(t, os.WriteFile(path, []byte(script), 0o644))
			sh, err := exec.LookPath(shell)
			if err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is not installed, and CI must parse the script (.ci/run installs it)", shell)
				}
				t.Skipf("%s is not installed: the script is not parsed", shell)
			}
			out, err := exec.Command(sh, "-n", path).CombinedOutput()
			assert.NoError(t, err, "%s -n: %s", shell, out)
		})
	}
}

func TestZshScriptQuotesSummaries(t *testing.T) {
	script := zshScript([]command{{Name: "dev", Summary: "it's: here"}})
	assert.Contains(t, script, `'dev:it'\''s\: here'`, "a quote ends and reopens the word; a colon is escaped for _describe")
}

// TestBashCompletionCompletes loads the script in bash and asks it to
// complete, as bash does on Tab.
func TestBashCompletionCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	var script bytes.Buffer
	require.NoError(t, Run(t.Context(), Options{Shell: "bash", Verbs: testVerbs(), Stdout: &script}))
	path := filepath.Join(t.TempDir(), "slipway.bash")
	require.NoError(t, os.WriteFile(path, script.Bytes(), 0o644))
	tests := []struct {
		words string
		want  string
	}{
		{words: "slipway de", want: "dev"},
		{words: "slipway dev --stop", want: "--stop-timeout"},
		{words: "slipway bench st", want: "startup"},
		{words: "slipway bench reload --air", want: "--air-build"},
		{words: "slipway bench startup --air", want: ""},
		{words: "slipway help be", want: "bench"},
		{words: "slipway completion z", want: "zsh"},
	}
	for _, tt := range tests {
		t.Run(tt.words, func(t *testing.T) {
			words := strings.Fields(tt.words)
			cmd := exec.Command(bash, "-c", `complete() { :; }; source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); _slipway; printf '%s\n' "${COMPREPLY[@]}"`,
				"bash", path)
			cmd.Args = append(cmd.Args, words...)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			assert.Equal(t, tt.want, strings.TrimSpace(string(out)))
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"fish"}, {"bash", "zsh"}, {"--bogus"}} {
		var stdout, stderr bytes.Buffer
		err := Main(testVerbs)(t.Context(), args, &cli.Env{Stdout: &stdout, Stderr: &stderr})
		var uerr cli.UsageError
		assert.ErrorAs(t, err, &uerr, "%q", args)
		assert.Empty(t, stdout.String())
	}
	err := Run(t.Context(), Options{Shell: "fish", Verbs: testVerbs(), Stdout: &bytes.Buffer{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown shell "fish"`)
}
