package load

import (
	"flag"
	"fmt"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/promscrape"
)

// description is the help text of slipway load, above its flags.
const description = "An open-model load generator: requests are due at a fixed rate (--rate) for --duration,\n" +
	"whatever the server does, and each latency runs from the request's intended send time to\n" +
	"its answer, so a stall shows in the figures instead of slowing the generator down (no\n" +
	"coordinated omission). At most --max-inflight requests are in flight; one that finds them\n" +
	"all busy waits, still timed from its intended time, and counts as a late start.\n\n" +
	"Scenarios:\n" +
	"  create-order  registers --users users and logs them in, picks products with the stock\n" +
	"                for the run (topping it up as the admin, ADMIN_EMAIL/ADMIN_PASSWORD or the\n" +
	"                dev admin, unless --restock=false), then calls CreateOrder for a random\n" +
	"                user with a fresh idempotency key and one unit of a random product.\n" +
	"  rpc           any unary method of the API by full name, with --data as its request:\n" +
	"                --method slipway.inventory.v1.InventoryService/ListProducts --data '{\"page_size\":3}'\n" +
	"  http          any REST call: --url http://127.0.0.1:8083/v1/products [--method GET]\n" +
	"                [--body JSON|@file] [--header 'Name: value']\n\n" +
	"Traffic goes to loopback only (127.0.0.0/8, [::1]); other targets are refused.\n" +
	"Prints p50, p90, p99, p99.9, max, mean, the achieved rate and errors by gRPC code (REST\n" +
	"statuses mapped to codes), and writes a JSON result and a standalone HTML report. Exits 0\n" +
	"when the run completed, errors or not; --max-error-rate makes it exit 1 above a rate.\n\n" +
	"--find-capacity runs the scenario in steps of --step-duration at rising rates (from\n" +
	"--start-rate, times --step-factor or plus --step-increment, to --max-rate) until a step's\n" +
	"p99 passes --slo or its errors --max-error-rate (default 0.5%), and reports each step\n" +
	"(achieved rate, p50/p99, errors, late starts, and each service's CPU ms per request and\n" +
	"RSS from its /metrics, --metrics) and the knee: the last step that held.\n\n" +
	"A run at one rate also reads each service's /metrics (--metrics) before and after, and\n" +
	"records its CPU seconds and resident memory, and the orders placed, in the JSON result\n" +
	"(usage): slipway cost --load RESULT.json prices 1,000 orders from it."

// registerScenarioFlags declares the flags that say what to send, how fast
// and for how long.
func registerScenarioFlags(fs *flag.FlagSet, opts *loadgen.Options) {
	fs.StringVar(&opts.Scenario, "scenario", loadgen.ScenarioOrder, "`name` of the scenario: create-order, rpc or http")
	fs.Float64Var(&opts.Rate, "rate", 50, fmt.Sprintf("intended `requests` per second (at most %d)", loadgen.MaxRate))
	fs.DurationVar(&opts.Duration, "duration", 20*time.Second, fmt.Sprintf("how long requests are sent (at most %s)", loadgen.MaxDuration))
	fs.IntVar(&opts.MaxInflight, "max-inflight", 256, "at most this many `requests` in flight")
	fs.DurationVar(&opts.Warmup, "warmup", 0, fmt.Sprintf("send at the same rate for this long first, and leave it out of the figures (at most %s)", loadgen.MaxWarmup))
	fs.DurationVar(&opts.Timeout, "timeout", 10*time.Second, fmt.Sprintf("per-request timeout (at most %s); also how long the run waits for stragglers", loadgen.MaxTimeout))
	fs.IntVar(&opts.Users, "users", 20, "create-order: how many `users` to register beforehand")
	fs.StringVar(&opts.Protocol, "protocol", "grpc", "create-order: call CreateOrder over `grpc` or rest")
	fs.StringVar(&opts.UserAddr, "user-addr", "127.0.0.1:50051", "gRPC `address` of the user service")
	fs.StringVar(&opts.OrderAddr, "order-addr", "127.0.0.1:50052", "gRPC `address` of the order service")
	fs.StringVar(&opts.InventoryAddr, "inventory-addr", "127.0.0.1:50053", "gRPC `address` of the inventory service")
	fs.StringVar(&opts.NotificationAddr, "notification-addr", "127.0.0.1:50054", "gRPC `address` of the notification service")
	fs.StringVar(&opts.OrderHTTPAddr, "order-http-addr", "127.0.0.1:8082", "create-order with --protocol rest: HTTP `address` of the order service")
	fs.BoolVar(&opts.Restock, "restock", true, "create-order: when stock is short for the run, top it up as the admin (AdjustStock)")
	fs.BoolVar(&opts.UserLookups, "user-lookups", false, "create-order: read the user (GetMe) before each CreateOrder, as a storefront does; a failed lookup fails the request")
	fs.StringVar(&opts.Method, "method", "", "rpc: full method `name` (pkg.Service/Method); http: HTTP method (default GET)")
	fs.StringVar(&opts.Data, "data", "{}", "rpc: the request message as `json` (protojson)")
	fs.StringVar(&opts.Addr, "addr", "", "rpc: gRPC `address` (default: the --<service>-addr of the method's service)")
	fs.StringVar(&opts.URL, "url", "", "http: the `url`, on loopback")
	fs.StringVar(&opts.Body, "body", "", "http: request `body`, or @file to read it from a file")
	fs.Func("header", "rpc and http: a `Name: value` header or gRPC metadata entry (repeatable)", func(s string) error {
		opts.Headers = append(opts.Headers, s)
		return nil
	})
}

// registerCapacityFlags declares --find-capacity and the flags of its steps.
func registerCapacityFlags(fs *flag.FlagSet, capFlags *CapacityOptions, findCapacity *bool) {
	fs.BoolVar(findCapacity, "find-capacity", false, "step the rate up until p99 passes --slo or errors pass --max-error-rate; report each step and the knee")
	fs.Float64Var(&capFlags.StartRate, "start-rate", capStartRate, "find-capacity: the first step's `rate` per second")
	fs.Float64Var(&capFlags.StepFactor, "step-factor", capStepFactor, "find-capacity: each step's rate is the previous one's times this `factor`")
	fs.Float64Var(&capFlags.StepIncrement, "step-increment", 0, "find-capacity: add this `rate` per step instead of multiplying by --step-factor")
	fs.DurationVar(&capFlags.StepDuration, "step-duration", capStepDuration, "find-capacity: how long each step sends")
	fs.Float64Var(&capFlags.MaxRate, "max-rate", capMaxRate, "find-capacity: no step above this `rate` per second")
	fs.DurationVar(&capFlags.SLO, "slo", capSLO, "find-capacity: a step holds while its p99 is at or under this `latency` (deploy/slo.yaml's)")
	fs.StringVar(&capFlags.Metrics, "metrics", promscrape.DefaultTargets(), "the `list` service=host:port,... whose /metrics give each service's CPU and RSS, over the run (for slipway cost) or per step; none to skip")
}
