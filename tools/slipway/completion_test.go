package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompletionScriptsParseAndListEveryVerbAndFlag(t *testing.T) {
	cmds, err := completionCommands(t.Context())
	require.NoError(t, err)
	dev := cmds[0]
	require.Equal(t, "dev", dev.Name)
	assert.Contains(t, dev.Flags, "--services", "flags come from the verb's own flag set")
	assert.Contains(t, dev.Flags, "--stop-timeout")

	for _, shell := range []string{"bash", "zsh"} {
		t.Run(shell, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), []string{"completion", shell}, &cli.Env{Stdout: &stdout, Stderr: &stderr})
			require.Equal(t, cli.ExitOK, code, stderr.String())
			script := stdout.String()
			for _, v := range verbs() {
				assert.Regexp(t, `(?m)^\s*'?`+v.Name+`[):]`, script, "a case or description for verb %s", v.Name)
			}
			for _, f := range dev.Flags {
				assert.Regexp(t, `[\s"(]`+f+`[\s")]`, script)
			}
			assert.Contains(t, script, "startup) ", "bench's sub-verbs have their own flags")

			path := filepath.Join(t.TempDir(), "slipway."+shell)
			require.NoError(t, os.WriteFile(path, []byte(script), 0o644))
			sh, err := exec.LookPath(shell)
			if err != nil {
				t.Skipf("%s is not installed: the script is not parsed", shell)
			}
			out, err := exec.Command(sh, "-n", path).CombinedOutput()
			assert.NoError(t, err, "%s -n: %s", shell, out)
		})
	}
}

// TestBashCompletionCompletes loads the script in bash and asks it to
// complete, as bash does on Tab.
func TestBashCompletionCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	var script bytes.Buffer
	require.NoError(t, runCompletion(t.Context(), completionOptions{Shell: "bash", Stdout: &script}))
	path := filepath.Join(t.TempDir(), "slipway.bash")
	require.NoError(t, os.WriteFile(path, script.Bytes(), 0o644))
	tests := []struct {
		words string
		want  string
	}{
		{words: "slipway ver", want: "version"},
		{words: "slipway dev --stop", want: "--stop-timeout"},
		{words: "slipway bench st", want: "startup"},
		{words: "slipway bench reload --air", want: "--air-build"},
		{words: "slipway help dr", want: "drift"},
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

func TestCompletionUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "fish"}, {"completion", "bash", "zsh"}} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), args, &cli.Env{Stdout: &stdout, Stderr: &stderr})
		assert.Equal(t, cli.ExitUsage, code, "%q: %s", args, stderr.String())
		assert.Empty(t, stdout.String())
	}
}
