package server

import (
	"context"
	"io"
)

// What the external benchmarks (package server_test) share with the
// internal ones.
var (
	ServeForBench   = serveForBench
	WaitServing     = waitServing
	NewFixedProduct = newFixedProduct
	BenchHTTPClient = benchHTTPClient
	GRPCCall        = grpcCall
	RESTCall        = restCall
	GRPCWebCall     = grpcWebCall
	RunSerial       = runSerial
	RunParallel     = runParallel
)

// BenchProductID is the id of the product every benchmark serves.
const BenchProductID = benchProductID

// RunCommand is Command without the process: the given args, environment
// and outputs.
func RunCommand(ctx context.Context, service string, run RunFunc, args []string, stdout, stderr io.Writer) int {
	return command(ctx, service, run, args, func(string) string { return "" }, stdout, stderr)
}
