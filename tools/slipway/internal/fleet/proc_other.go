//go:build !unix

package fleet

import (
	"os"
	"os/exec"
)

// Isolate has nothing to do where there are no process groups.
func Isolate(*exec.Cmd) {}

// Terminate has no graceful signal to send outside Unix, so it kills.
func Terminate(p *os.Process) error { return p.Kill() }

func Kill(p *os.Process) error { return p.Kill() }
