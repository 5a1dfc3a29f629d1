package server

// What the external benchmarks (package server_test) share with the
// internal ones.
var (
	ServeForBench = serveForBench
	WaitServing   = waitServing
)
