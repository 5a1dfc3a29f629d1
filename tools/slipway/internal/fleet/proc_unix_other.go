//go:build unix && !linux

package fleet

import "syscall"

// setParentDeathSignal is Linux only; elsewhere an orphaned child keeps
// running until it is stopped by hand.
func setParentDeathSignal(*syscall.SysProcAttr) {}
