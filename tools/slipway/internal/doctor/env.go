package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
)

// checkEnv is what every check reads: the workspace, the environment to
// honour and the way to run programs, all injectable by tests.
type checkEnv struct {
	root     string
	environ  []string
	ci       bool
	timeout  time.Duration
	ports    []Port
	run      Runner
	progress *progress
	ws       *repo
	wsErr    error
}

func (e *checkEnv) getenv(key string) string {
	v, _ := envvar.Lookup(e.environ, key)
	return v
}

// differs is the status of a difference from CI: WARN, or FAIL under --ci.
func (e *checkEnv) differs() Status {
	if e.ci {
		return Fail
	}
	return Warn
}

// workEnviron is the environment for go commands about the workspace: the
// user's, except that GOWORK cannot point away from the root's go.work (the
// "go" check reports such a GOWORK).
func (e *checkEnv) workEnviron() []string {
	return envvar.Set(e.environ, "GOWORK", filepath.Join(e.root, "go.work"))
}

// moduleEnviron is the environment for go commands in a module outside go.work.
func (e *checkEnv) moduleEnviron() []string {
	return envvar.Set(e.environ, "GOWORK", "off")
}

// goCommand runs go with args in dir (relative to the root), reporting the
// step as progress when it takes longer than a second.
func (e *checkEnv) goCommand(ctx context.Context, step, dir string, environ []string, args ...string) (string, error) {
	done := e.progress.step(step)
	defer done()
	return e.run(ctx, filepath.Join(e.root, filepath.FromSlash(dir)), environ, "go", args...)
}

// Runner runs a program found on environ's PATH in dir and returns its
// standard output. The error of a program that ran and failed is a
// *cmdError holding its standard error.
type Runner func(ctx context.Context, dir string, environ []string, name string, args ...string) (string, error)

// cmdError is a program that ran and failed.
type cmdError struct {
	err    error
	stderr string
}

func (e *cmdError) Error() string {
	if e.stderr != "" {
		return e.stderr
	}
	return e.err.Error()
}

func (e *cmdError) Unwrap() error { return e.err }

func runCommand(ctx context.Context, dir string, environ []string, name string, args ...string) (string, error) {
	path, err := lookPath(environ, name)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir, cmd.Env = dir, environ
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &cmdError{err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.String(), nil
}

// lookPath finds name in the PATH of environ, not of this process, so
// that a test (or the user) can put another go first. Relative PATH entries
// are skipped, as exec.LookPath refuses them.
func lookPath(environ []string, name string) (string, error) {
	path, _ := envvar.Lookup(environ, "PATH")
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
}

// firstLine is the first non-empty line of s, for a table cell.
func firstLine(s string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// errLine is the gist of err for a table cell: its first line that is
// not the go command's news of a download.
func errLine(err error) string {
	if errors.Is(err, exec.ErrNotFound) {
		return "not on PATH"
	}
	msg := err.Error()
	for line := range strings.SplitSeq(msg, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "go: downloading ") {
			return line
		}
	}
	return firstLine(msg)
}

// progress tells the user about steps that take longer than a second
// (a first tool build, go mod verify), so that they are not taken for a hang.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	after time.Duration
}

// step starts timing what; the returned func ends it. Only a step still
// running after p.after is announced, and then its end too.
func (p *progress) step(what string) (done func()) {
	start := time.Now()
	var announced, finished bool
	t := time.AfterFunc(p.after, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !finished {
			announced = true
			fmt.Fprintf(p.w, "doctor: %s…\n", what)
		}
	})
	return func() {
		t.Stop()
		p.mu.Lock()
		defer p.mu.Unlock()
		finished = true
		if announced {
			fmt.Fprintf(p.w, "doctor: %s done in %.1fs\n", what, time.Since(start).Seconds())
		}
	}
}
