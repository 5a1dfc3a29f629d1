//go:build unix

package fleet

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// Isolate puts the child in a process group of its own, so a Ctrl-C in the
// terminal reaches only slipway, which then stops the children in order.
func Isolate(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setParentDeathSignal(cmd.SysProcAttr)
}

// Terminate asks the child's process group to stop (SIGTERM).
func Terminate(p *os.Process) error { return signalGroup(p, syscall.SIGTERM) }

// Kill stops the child's process group at once (SIGKILL).
func Kill(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }

func signalGroup(p *os.Process, sig syscall.Signal) error {
	// The child leads its own group (Setpgid), so -pid reaches anything it
	// spawned as well.
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return p.Signal(sig)
	}
	return nil
}
