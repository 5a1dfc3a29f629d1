package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a child started in its own process group, so that stopping it
// also stops what it started (slipway dev runs one process per service).
type Process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // set before done closes
}

// Start runs name's command with its output in logPath.
func Start(name, logPath string, env []string, argv ...string) (*Process, error) {
	log, err := os.Create(logPath) //nolint:gosec // G304: a log in the run's own directory
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	// No CommandContext: a context would kill the leader alone, and Stop
	// must end the whole group, gently first.
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:gosec,noctx // the binaries are this tool's own flags
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err is how the process ended; valid once Exited is closed.
func (p *Process) Err() error { return p.err }

// Wait waits for the process to exit by itself, or stops it when ctx ends.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		p.Stop(10 * time.Second)
		return ctx.Err()
	}
}

// Stop sends SIGTERM to the process group, and SIGKILL to whatever is left
// of it after grace. It is safe to call more than once.
func (p *Process) Stop(grace time.Duration) {
	defer p.log.Close()
	pgid := p.cmd.Process.Pid
	select {
	case <-p.done:
		// The leader is gone; its children may not be.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return
	default:
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		fmt.Fprintf(os.Stderr, "promcheck: kill %s (process group %d): %v\n", p.name, pgid, err)
	}
	<-p.done
}
