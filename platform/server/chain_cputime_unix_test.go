//go:build unix

package server

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system, every thread) this process has
// used so far, for BenchmarkUnaryParts' cpu-ns/op.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
