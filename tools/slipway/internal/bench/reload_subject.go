package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/devloop"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
)

// reloadSubject is one tool under measurement, watching its own copy of
// the workspace.
type reloadSubject struct {
	tool      reloadTool
	work      string // its copy of the workspace
	file      string // the handler it edits
	orig      []byte
	call      *reloadCall
	breakdown breakdownFunc
	ctx       context.Context // ends when the tool does
	stopOnce  sync.Once
	stopTool  func()
	failed    bool
}

// breakdownFunc returns a tool's share of one edit (BuildMS, StopMS, ReadyMS).
type breakdownFunc func(editAt, seenAt time.Time) (reloadSample, error)

// prepare copies the workspace and reads the handler to edit.
func (s *reloadSubject) prepare(ctx context.Context, goBin, root string, edit reloadEdit, environ []string) error {
	if _, err := copyWorkspace(ctx, goBin, root, s.work, environ); err != nil {
		return err
	}
	s.file = filepath.Join(s.work, filepath.FromSlash(edit.File))
	orig, err := os.ReadFile(s.file)
	if err != nil {
		return err
	}
	if c := strings.Count(string(orig), edit.Field); c != 1 {
		return fmt.Errorf("%s has %d lines with %q, want 1: update reloadEdits in tools/slipway/internal/bench/reload.go", edit.File, c, edit.Field)
	}
	s.orig = orig
	s.ctx = ctx
	s.stopTool = func() {}
	return nil
}

func (s *reloadSubject) stop() { s.stopOnce.Do(s.stopTool) }

func (s *reloadSubject) restore() error {
	return os.WriteFile(s.file, s.orig, 0o600) //nolint:gosec // a file of the scratch copy
}

func (s *reloadSubject) fail(opts reloadOptions, err error) {
	s.failed = true
	s.tool.Error = err.Error()
	opts.progress("%s: %v", s.tool.Tool, err)
}

// measure makes edit number i and times it: from the write of the file to
// the API answering with the new marker.
func (s *reloadSubject) measure(opts reloadOptions, i int) error {
	tag := strings.Fields(s.tool.Tool)[0]
	marker := fmt.Sprintf("[bench %s %d/%d %d]", tag, i, opts.Runs, time.Now().UnixNano()%1e9)
	src := s.call.edit.apply(string(s.orig), marker)
	editAt := time.Now()
	if err := os.WriteFile(s.file, []byte(src), 0o600); err != nil { //nolint:gosec // a file of the scratch copy
		return err
	}
	seenAt, err := s.call.waitFor(s.ctx, marker, opts.Timeout)
	if err != nil {
		return err
	}
	sample, err := s.breakdown(editAt, seenAt)
	if err != nil {
		return err
	}
	total := seenAt.Sub(editAt)
	sample.TotalMS = msFloat(total)
	s.tool.Samples = append(s.tool.Samples, sample)
	opts.progress("%-12s edit %d/%d: %s (build %s, stop %s, ready %s)", s.tool.Tool, i, opts.Runs, report.Seconds(total),
		secText(sample.BuildMS), secText(sample.StopMS), secText(sample.ReadyMS))
	return nil
}

// startDev runs slipway dev's hot reload in process on the subject's copy
// and waits until it watches.
func (s *reloadSubject) startDev(ctx context.Context, dev fleet.Options, svc fleet.Service, log io.Writer) error {
	devCtx, cancel := context.WithCancel(ctx)
	s.ctx = devCtx
	watching := make(chan struct{})
	reports := make(chan fleet.ReloadReport, 64)
	dev.OnWatch = func() { close(watching) }
	dev.OnReload = func(r fleet.ReloadReport) {
		select {
		case reports <- r:
		default:
		}
	}
	done := make(chan error, 1)
	go func() {
		err := devloop.Run(devCtx, dev)
		cancel() // dev ended: so does every wait on it
		done <- err
	}()
	s.stopTool = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(log, "slipway dev ended: %v\n", err)
		}
	}
	s.breakdown = func(_, _ time.Time) (reloadSample, error) {
		// The report follows SERVING by microseconds; the API may answer first.
		timeout := time.After(10 * time.Second)
		for {
			select {
			case r := <-reports:
				if r.Service != svc.Name {
					continue
				}
				if r.Err != nil {
					return reloadSample{}, r.Err
				}
				return reloadSample{BuildMS: msFloat(r.Build), StopMS: msFloat(r.Stop), ReadyMS: msFloat(r.Ready)}, nil
			case <-timeout:
				return reloadSample{}, errors.New("no reload report")
			}
		}
	}
	select {
	case <-watching:
		return nil
	case <-devCtx.Done():
		return errors.New("dev ended before it watched; see the log")
	}
}

// reloadEnviron is the parent environment without what would change
// the service under test, with the scratch workspace and the bench's broker.
func reloadEnviron(parent []string, work, natsURL string) []string {
	var env []string
	for _, kv := range parent {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "DATABASE_URL", k == "NATS_URL", k == "GOWORK", k == "DRAIN_DELAY",
			strings.HasPrefix(k, "AUTH_"), strings.HasPrefix(k, "ADMIN_"), strings.HasPrefix(k, "SLIPWAY_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOWORK="+filepath.Join(work, "go.work"), "NATS_URL="+natsURL)
}
