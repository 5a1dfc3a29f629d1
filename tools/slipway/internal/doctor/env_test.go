package doctor

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptDir returns a directory holding an executable shell script name.
func scriptDir(t *testing.T, name, script string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the programs are shell scripts")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755))
	return dir
}

func TestRunCommand(t *testing.T) {
	dir := scriptDir(t, "tool", `echo "out $1 $PWD"; echo "  the reason  " >&2; [ "$1" = ok ]`)
	environ := []string{"PATH=" + dir}
	work := t.TempDir()

	out, err := runCommand(t.Context(), work, environ, "tool", "ok")
	require.NoError(t, err)
	assert.Equal(t, "out ok "+work+"\n", out, "runs in dir, with args")

	out, err = runCommand(t.Context(), work, environ, "tool", "fail")
	var cerr *cmdError
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "the reason", err.Error(), "a failed program is its standard error")
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "and unwraps to the exit status")
	assert.Equal(t, 1, exit.ExitCode())
	assert.Equal(t, "out fail "+work+"\n", out, "what it printed is kept")

	_, err = runCommand(t.Context(), work, environ, "protoc", "--version")
	require.ErrorIs(t, err, exec.ErrNotFound, "found on environ's PATH only, not this process's")
	assert.Equal(t, "not on PATH", errLine(err))
}

func TestLookPathSkipsRelativeEntries(t *testing.T) {
	dir := scriptDir(t, "tool", "exit 0")
	rel, err := filepath.Rel(mustGetwd(t), dir)
	require.NoError(t, err)
	_, err = lookPath([]string{"PATH=" + rel}, "tool")
	require.ErrorIs(t, err, exec.ErrNotFound, "a relative PATH entry is skipped, as exec.LookPath refuses it")
	got, err := lookPath([]string{"PATH=" + rel + string(filepath.ListSeparator) + dir}, "tool")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "tool"), got)
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	return wd
}

func TestErrLineAndFirstLine(t *testing.T) {
	assert.Equal(t, "verifying module: checksum mismatch",
		errLine(errors.New("go: downloading golang.org/x/net v0.61.0\n\n  verifying module: checksum mismatch\nmore")),
		"the go command's download news is skipped")
	onlyNews := "go: downloading x v1\n" // the go command's output, newline and all
	assert.Equal(t, "go: downloading x v1", errLine(errors.New(onlyNews)), "unless it is all there is")
	assert.Equal(t, "second", firstLine("\n  \n second \nthird"))
	assert.Empty(t, firstLine(" \n"))
}

func TestCheckEnvEnvirons(t *testing.T) {
	e := &checkEnv{root: "/w", environ: []string{"GOWORK=/elsewhere/go.work", "PATH=/bin"}}
	assert.Contains(t, e.workEnviron(), "GOWORK="+filepath.Join("/w", "go.work"), "workspace commands use the root's go.work")
	assert.NotContains(t, e.workEnviron(), "GOWORK=/elsewhere/go.work")
	assert.Contains(t, e.moduleEnviron(), "GOWORK=off")
	assert.Equal(t, "/bin", e.getenv("PATH"))
	assert.Equal(t, Warn, e.differs())
	e.ci = true
	assert.Equal(t, Fail, e.differs(), "--ci turns a difference into a FAIL")
}
