package fleet

import "syscall"

// setParentDeathSignal has the kernel send SIGTERM to the child when slipway
// dies without stopping it (SIGKILL, crash), so no service is left holding
// its ports.
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGTERM }
