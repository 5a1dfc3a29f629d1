package etcdtest

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the member if the test process dies
// first (a panic or a -timeout), so no etcd outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
