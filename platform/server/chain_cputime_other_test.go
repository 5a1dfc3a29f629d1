//go:build !unix

package server

import "time"

// cpuTime is not measured on this platform; BenchmarkUnaryParts then
// reports no cpu-ns/op.
func cpuTime() (time.Duration, bool) { return 0, false }
