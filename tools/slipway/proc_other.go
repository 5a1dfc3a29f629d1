//go:build !unix

package main

import (
	"os"
	"os/exec"
)

// isolate has nothing to do where there are no process groups.
func isolate(*exec.Cmd) {}

// terminate has no graceful signal to send outside Unix, so it kills.
func terminate(p *os.Process) error { return p.Kill() }

func kill(p *os.Process) error { return p.Kill() }
