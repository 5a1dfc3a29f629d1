package fleet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TailLines is how many of a child's last lines are kept for diagnostics.
const TailLines = 20

// ProcSpec describes one child process.
type ProcSpec struct {
	Name string   // prefix of its output lines, and how it is reported
	Path string   // executable
	Args []string // arguments after the executable
	Dir  string   // working directory
	Env  []string // complete environment, KEY=value
}

// ProcExit is how a child ended.
type ProcExit struct {
	Name      string
	Code      int           // exit code; -1 when a signal ended it
	State     string        // as the OS reports it: "exit status 2", "signal: killed"
	Err       error         // a failure to wait for it, not a non-zero exit
	Requested bool          // the supervisor asked it to stop
	Killed    bool          // it got SIGKILL after the grace period or a forced stop
	Uptime    time.Duration // from start to exit
	StopTook  time.Duration // from the stop request to the exit; 0 when not requested
}

// Clean reports whether the child exited by itself with status 0.
func (e ProcExit) Clean() bool { return e.Err == nil && e.Code == 0 && !e.Killed }

// Describe says how the child ended, in a few words.
func (e ProcExit) Describe() string {
	switch {
	case e.Killed:
		return "killed (SIGKILL)"
	case e.Err != nil:
		return e.Err.Error()
	case e.Code >= 0:
		return fmt.Sprintf("exit code %d", e.Code)
	case e.State != "":
		return e.State
	default:
		return "exited"
	}
}

// Process is one running child.
type Process struct {
	spec    ProcSpec
	cmd     *exec.Cmd
	started time.Time
	tail    *TailBuffer
	done    chan struct{}
	exit    ProcExit // set before done is closed

	stopping atomic.Bool
	killed   atomic.Bool
	stopAt   atomic.Int64 // unix nanoseconds of the first stop request
}

// Name is the child's name in logs and reports.
func (p *Process) Name() string { return p.spec.Name }

// Started is when the child was started.
func (p *Process) Started() time.Time { return p.started }

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited and its output is flushed.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exit is how the child ended; valid once Done is closed.
func (p *Process) Exit() ProcExit {
	<-p.done
	return p.exit
}

// Tail returns the child's last output lines, oldest first.
func (p *Process) Tail() []string { return p.tail.Lines() }

// Supervisor starts child processes, streams their output through one
// console with a per-child prefix, reports the children that exit on their
// own, and stops children with SIGTERM then SIGKILL after a grace period.
// The dev runner uses it for the whole fleet; hot reload stops and restarts
// one child at a time with the same calls.
type Supervisor struct {
	out    *Console
	mu     sync.Mutex
	live   []*Process
	exited chan ProcExit
}

// NewSupervisor starts no process yet; its processes log to out.
func NewSupervisor(out *Console) *Supervisor {
	return &Supervisor{out: out, exited: make(chan ProcExit, 64)}
}

// Exited delivers the exits of children that stopped without being asked to.
func (s *Supervisor) Exited() <-chan ProcExit { return s.exited }

// Running returns the children that have not exited, in start order.
func (s *Supervisor) Running() []*Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.live)
}

// Start starts spec as a child process whose output goes to the console.
func (s *Supervisor) Start(spec ProcSpec) (*Process, error) {
	cmd := exec.Command(spec.Path, spec.Args...) //nolint:noctx // the supervisor stops children with SIGTERM itself; a context would SIGKILL them
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	tail := NewTailBuffer(TailLines)
	stdout := newLinePrefixer(s.out, spec.Name, tail)
	stderr := newLinePrefixer(s.out, spec.Name, tail)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A grandchild that inherits the pipes must not keep Wait from returning.
	cmd.WaitDelay = 2 * time.Second
	Isolate(cmd)

	p := &Process{spec: spec, cmd: cmd, tail: tail, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	s.mu.Lock()
	s.live = append(s.live, p)
	s.mu.Unlock()
	go s.wait(p, stdout, stderr)
	return p, nil
}

func (s *Supervisor) wait(p *Process, stdout, stderr *linePrefixer) {
	err := p.cmd.Wait()
	stdout.Flush()
	stderr.Flush()

	e := ProcExit{
		Name:      p.spec.Name,
		Code:      -1,
		Requested: p.stopping.Load(),
		Killed:    p.killed.Load(),
		Uptime:    time.Since(p.started),
	}
	if ps := p.cmd.ProcessState; ps != nil {
		e.Code = ps.ExitCode()
		e.State = ps.String()
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		e.Err = err
	}
	if at := p.stopAt.Load(); at != 0 {
		e.StopTook = time.Since(time.Unix(0, at))
	}
	p.exit = e

	s.mu.Lock()
	s.live = slices.DeleteFunc(s.live, func(q *Process) bool { return q == p })
	s.mu.Unlock()
	close(p.done)
	if !e.Requested {
		s.exited <- e
	}
}

// Stop sends SIGTERM to p, waits up to grace for it to exit, then sends
// SIGKILL; a receive on force (nil: never) skips the rest of the wait. It
// returns how p ended, also when it had already exited.
func (s *Supervisor) Stop(p *Process, grace time.Duration, force <-chan struct{}) ProcExit {
	p.stopping.Store(true)
	select {
	case <-p.done:
		return p.exit
	default:
	}
	p.stopAt.CompareAndSwap(0, time.Now().UnixNano())
	if err := Terminate(p.cmd.Process); err != nil && !errors.Is(err, os.ErrProcessDone) {
		grace = 0 // it cannot be asked, so it is killed
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.exit
	case <-timer.C:
	case <-force:
	}
	p.killed.Store(true)
	_ = Kill(p.cmd.Process)
	<-p.done
	return p.exit
}

// StopAll stops every running child at once (see Stop) and returns their
// exits in start order.
func (s *Supervisor) StopAll(grace time.Duration, force <-chan struct{}) []ProcExit {
	procs := s.Running()
	exits := make([]ProcExit, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { exits[i] = s.Stop(p, grace, force) })
	}
	wg.Wait()
	return exits
}

// OSProcess is the running process, for signals the supervisor does not send
// itself (chaos kills and terminates services on purpose).
func (p *Process) OSProcess() *os.Process { return p.cmd.Process }
