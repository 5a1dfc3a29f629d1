package server

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
