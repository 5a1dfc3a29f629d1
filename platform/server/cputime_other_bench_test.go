//go:build !unix

package server

import "time"

// processCPUTime is not measured on this platform; benchmarks then report
// no cpu-ns/op.
func processCPUTime() (time.Duration, bool) { return 0, false }
