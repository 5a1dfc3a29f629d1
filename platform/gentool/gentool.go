// Package gentool reaches the programs pinned as tools in tools/gen/go.mod
// (etcd, stripe-mock), for the tests that run them: it finds tools/gen
// above the working directory and runs the go command there, outside the
// workspace. `go tool -n <tool>` builds a tool into the Go build cache, the
// first time, and prints its path.
package gentool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Dir finds tools/gen above the working directory (a test runs in its
// package's directory).
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, "tools", "gen")
		if _, err := os.Stat(filepath.Join(candidate, "go.mod")); err == nil {
			return candidate, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no tools/gen/go.mod above %s: the test tools are pinned there", wd)
		}
	}
}

// Go runs the go command with args in tools/gen, with GOWORK=off, and
// returns its trimmed output; the error carries its stderr.
func Go(ctx context.Context, args ...string) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", args...) //nolint:gosec // G204: the go command, with the caller's fixed arguments
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}
