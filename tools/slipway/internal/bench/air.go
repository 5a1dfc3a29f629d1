package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// airConfig is the .air.toml bench reload writes into the scratch
// workspace: go build with buildFlags (none is what air's own config runs),
// into another file, with dev's debounce as air's delay and a graceful stop
// like dev's.
func airConfig(work, svc string, delay, stopTimeout time.Duration, buildFlags []string) string {
	bin := "./.slipway/bin/" + svc + "-air"
	return fmt.Sprintf(`# Written by slipway bench reload: air runs %[1]s the way slipway dev does.
root = %[2]q
tmp_dir = ".slipway/air"

[build]
cmd = "go build %[7]s-o %[3]s ./%[4]s"
entrypoint = [%[3]q]
include_ext = ["go"]
exclude_dir = ["node_modules", "testdata"]
exclude_regex = ["_test\\.go"]
delay = %[5]d
send_interrupt = true
kill_delay = %[6]q
stop_on_error = false
rerun = false

[log]
time = false

[screen]
clear_on_rebuild = false

[misc]
clean_on_exit = true
`, svc, work, bin, filepath.ToSlash(workspace.MainDir(svc)), delay.Milliseconds(), stopTimeout.String(), airFlags(buildFlags))
}

// airFlags renders go build flags for the cmd of air's config (which air
// runs with sh -c), each followed by a space.
func airFlags(flags []string) string {
	var b strings.Builder
	for _, f := range shellQuote(flags) {
		b.WriteString(f + " ")
	}
	return b.String()
}

// airEvents records when air logged "building..." and "running...".
type airEvents struct {
	mu     sync.Mutex
	builds []time.Time
	runs   []time.Time
}

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

func (a *airEvents) line(line []byte) {
	text := ansiEscape.ReplaceAllString(string(line), "")
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case strings.Contains(text, "building..."):
		a.builds = append(a.builds, now)
	case strings.Contains(text, "running..."):
		a.runs = append(a.runs, now)
	}
}

// after returns the first build and run events after t.
func (a *airEvents) after(t time.Time) (build, run time.Time, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range a.builds {
		if b.After(t) {
			build = b
			break
		}
	}
	for _, r := range a.runs {
		if !build.IsZero() && r.After(build) {
			return build, r, true
		}
	}
	return build, run, false
}

// startAir runs air on the subject's copy.
func (s *reloadSubject) startAir(ctx context.Context, opts reloadOptions, air string, env []string, svc fleet.Service, log io.Writer) error {
	cfg := filepath.Join(s.work, ".slipway", "air.toml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(cfg, []byte(airConfig(s.work, svc.Name, opts.Debounce, 15*time.Second, opts.airBuildFlags())), 0o600); err != nil {
		return err
	}
	events := &airEvents{}
	lines := &lineWriter{fn: func(line []byte) {
		events.line(line)
		_, _ = log.Write(append(append([]byte("air | "), line...), '\n'))
	}}
	cmd := exec.Command(air, "-c", cfg) //nolint:noctx // stopped with SIGTERM, so that it stops its child
	cmd.Dir = s.work
	cmd.Env = envvar.Set(env, "GOWORK", filepath.Join(s.work, "go.work"))
	cmd.Stdout, cmd.Stderr = lines, lines
	p, err := startChild(cmd)
	if err != nil {
		return fmt.Errorf("start air: %w", err)
	}
	// Air exiting ends every wait on it at once.
	airCtx, cancel := context.WithCancel(ctx)
	s.ctx = airCtx
	go func() {
		select {
		case <-p.done:
			fmt.Fprintf(log, "air exited: %v\n", p.err)
		case <-airCtx.Done():
		}
		cancel()
	}()
	s.stopTool = func() {
		cancel()
		p.Stop(20 * time.Second)
		if err := workspace.CheckPortsFree([]workspace.Endpoint{{Service: svc.Name, Kind: "HTTP", Addr: svc.HTTPAddr}, {Service: svc.Name, Kind: "gRPC", Addr: svc.GRPCAddr}}); err != nil {
			opts.progress("air left %s running: %v", svc.Name, err)
		}
	}
	s.breakdown = func(editAt, seenAt time.Time) (reloadSample, error) {
		build, run, ok := events.after(editAt)
		if !ok {
			return reloadSample{}, errors.New(`air logged no "building..." and "running..." for the edit`)
		}
		return reloadSample{BuildMS: msFloat(run.Sub(build)), ReadyMS: msFloat(seenAt.Sub(run))}, nil
	}
	return nil
}

// buildAir builds the air that tools/gen/go.mod pins into .slipway/bin.
func buildAir(ctx context.Context, goBin, root string, environ []string) (string, error) {
	bin := filepath.Join(root, ".slipway", "bin", "air")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/air-verse/air")
	cmd.Dir = filepath.Join(root, "tools", "gen") // outside the workspace: see docs/architecture.md
	cmd.Env = envvar.Set(environ, "GOWORK", "off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build air (pinned in tools/gen/go.mod): %w\n%s", err, out)
	}
	return bin, nil
}

// airVersionOf asks an air binary for its version.
func airVersionOf(ctx context.Context, air string) (string, error) {
	out, err := exec.CommandContext(ctx, air, "-v").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s -v: %w", air, err)
	}
	v := regexp.MustCompile(`v\d+\.\d+\.\d+\S*`).Find(ansiEscape.ReplaceAll(out, nil))
	if v == nil {
		return "", fmt.Errorf("%s -v printed no version: %s", air, out)
	}
	return strings.TrimSuffix(string(v), ","), nil
}
