//go:build !linux

package etcdtest

import "os/exec"

// dieWithParent does nothing where the kernel has no parent-death signal;
// a member whose test process died must be stopped by hand.
func dieWithParent(*exec.Cmd) {}
