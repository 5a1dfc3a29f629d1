package chaos

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/faultproxy"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"google.golang.org/grpc/codes"
)

// validate checks every field, naming it in the error.
func (e *experiment) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	l := e.Load
	if !(l.Rate > 0 && l.Rate <= maxRate) {
		bad("load.rate", "%v: want more than 0 and at most %d requests per second", l.Rate, maxRate)
	}
	switch {
	case l.Duration == 0:
		bad("load.duration", "missing: how long the load runs (it must span every fault)")
	case l.Duration.D() > loadgen.MaxDuration:
		bad("load.duration", "%s: at most %s", l.Duration, loadgen.MaxDuration)
	}
	if l.Users < 1 || l.Users > maxUsers {
		bad("load.users", "%d: want 1 to %d", l.Users, maxUsers)
	}
	if l.Timeout.D() > loadgen.MaxTimeout {
		bad("load.timeout", "%s: at most %s", l.Timeout, loadgen.MaxTimeout)
	}
	if l.MaxInflight < 1 || l.MaxInflight > loadgen.MaxInflight {
		bad("load.max_inflight", "%d: want 1 to %d", l.MaxInflight, loadgen.MaxInflight)
	}
	if n := l.RetryEvery; n != nil && *n < 0 {
		bad("load.retry_every", "%d: want 0 (never) or every how many orders one is retried with its idempotency key", *n)
	}
	if e.Settle.D() > maxSettle {
		bad("settle", "%s: at most %s", e.Settle, maxSettle)
	}
	if len(e.Faults) == 0 && len(e.envFaults()) == 0 {
		bad("faults", "missing: at least one fault (or an env variable that is one, for the whole run: %s)", strings.Join(envFaultNames(), ", "))
	}
	for i, f := range e.Faults {
		e.validateFault(fmt.Sprintf("faults[%d]", i), f, bad)
	}
	e.validateOverlaps(bad)
	a := e.Analysis
	if r := a.SuccessRate; r != nil && !(*r >= 0 && *r <= 1) {
		bad("analysis.success_rate", "%v: want a fraction from 0 to 1 (0.995 is 99.5%%)", *r)
	}
	if r := a.FaultSuccessRate; r != nil && !(*r >= 0 && *r <= 1) {
		bad("analysis.fault_window_success_rate", "%v: want a fraction from 0 to 1 (0.995 is 99.5%%)", *r)
	}
	if r := a.PlacedRate; r != nil && !(*r >= 0 && *r <= 1) {
		bad("analysis.placed_rate", "%v: want a fraction from 0 to 1 (0.995 is 99.5%%)", *r)
	}
	if o := a.P99OverOutage; o != nil {
		switch {
		case o.D() <= 0:
			bad("analysis.p99_over_outage", "%s: want more than 0", *o)
		case a.P99 != nil:
			bad("analysis.p99_over_outage", "set p99 or p99_over_outage, not both")
		case !e.restartsPostgres():
			bad("analysis.p99_over_outage", "needs a postgres_restart fault, whose outage it is measured from")
		}
	}
	for svc, r := range a.ServiceSuccessRate {
		if !slices.Contains(gatedServices, svc) {
			bad("analysis.service_success_rate."+svc, "not a gated service (want %s)", strings.Join(gatedServices, ", "))
		} else if !(r >= 0 && r <= 1) {
			bad("analysis.service_success_rate."+svc, "%v: want a fraction from 0 to 1 (0.995 is 99.5%%)", r)
		}
	}
	for _, svc := range slices.Sorted(maps.Keys(e.Replicas)) {
		if _, ok := serviceAPI[svc]; !ok {
			bad("replicas."+svc, "unknown service (want %s)", strings.Join(workspace.Names(workspace.Known), ", "))
		} else if n := e.Replicas[svc]; n < 1 || n > fleet.MaxReplicas {
			bad("replicas."+svc, "%d: want 1 to %d instances", n, fleet.MaxReplicas)
		}
	}
	for svc, vars := range e.Env {
		if _, ok := serviceAPI[svc]; !ok {
			bad("env."+svc, "unknown service (want %s)", strings.Join(workspace.Names(workspace.Known), ", "))
		}
		for k := range vars {
			if !envName.MatchString(k) {
				bad("env."+svc+"."+k, "not an environment variable name")
			}
		}
	}
	return errors.Join(errs...)
}

// validateOverlaps rejects two network faults on one dependency, or two
// process faults on one service, whose windows overlap: the proxy has one
// setting per dependency (the second fault's end would heal the first), and
// a service cannot be killed while it is down.
func (e *experiment) validateOverlaps(bad func(field, format string, args ...any)) {
	target := func(f fault) string {
		switch {
		case f.Network != nil && f.Network.Dependency != depPostgres:
			return "network fault on " + f.Network.Dependency
		case f.Process != nil:
			return "process fault on " + f.Process.Service
		case f.PostgresRestart != nil, f.Network != nil && f.Network.Dependency == depPostgres:
			return "fault on PostgreSQL"
		}
		return ""
	}
	for i, a := range e.Faults {
		for j := i + 1; j < len(e.Faults); j++ {
			b := e.Faults[j]
			t := target(a)
			if t == "" || t != target(b) {
				continue
			}
			if a.At < b.At+b.For && b.At < a.At+a.For {
				bad(fmt.Sprintf("faults[%d]", j), "overlaps faults[%d] (%s to %s): one %s at a time (the proxy or process holds one state; merge them into one fault or space them apart)",
					i, a.At, a.At+a.For, t)
			}
		}
	}
}

func (e *experiment) validateFault(field string, f fault, bad func(field, format string, args ...any)) {
	kinds := 0
	for _, set := range []bool{f.GRPC != nil, f.Network != nil, f.ConsumerReset != nil, f.Process != nil, f.PostgresRestart != nil, f.RollingRestart != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		bad(field, "want exactly one of grpc, network, consumer_reset, process, postgres_restart or rolling_restart, found %d", kinds)
		return
	}
	end := f.At + f.For
	if end.D() > e.Load.Duration.D() {
		bad(field+".for", "the fault ends at %s, after the load (load.duration %s): the load must span it", end, e.Load.Duration)
	}
	switch {
	case f.GRPC != nil:
		validateGRPC(field, f, bad)
	case f.Network != nil:
		validateNetwork(field, f, bad)
	case f.ConsumerReset != nil:
		if f.For != 0 {
			bad(field+".for", "a consumer reset is instantaneous: leave out for")
		}
		if strings.ContainsAny(f.ConsumerReset.Consumer, ".*> \t") || strings.ContainsAny(f.ConsumerReset.Stream, ".*> \t") {
			bad(field+".consumer_reset", "stream and consumer are plain JetStream names")
		}
	case f.Process != nil:
		p := f.Process
		if _, ok := serviceAPI[p.Service]; !ok {
			bad(field+".process.service", "%q: want one of %s", p.Service, strings.Join(workspace.Names(workspace.Known), ", "))
		}
		if !slices.Contains([]string{"SIGKILL", "SIGTERM"}, p.Signal) {
			bad(field+".process.signal", "%q: want SIGKILL or SIGTERM", p.Signal)
		}
		if f.For == 0 {
			bad(field+".for", "missing: how long the service stays down before it is started again")
		}
	case f.PostgresRestart != nil:
		if !slices.Contains(pgModes, f.PostgresRestart.Mode) {
			bad(field+".postgres_restart.mode", "%q: want fast or immediate", f.PostgresRestart.Mode)
		}
	case f.RollingRestart != nil:
		e.validateRolling(field, f, bad)
	}
}

// validateGRPC checks a gRPC fault: a known service and method, and a code
// with its rate or a delay.
func validateGRPC(field string, f fault, bad func(field, format string, args ...any)) {
	g := f.GRPC
	if f.For == 0 {
		bad(field+".for", "missing: how long the fault lasts")
	}
	api, ok := serviceAPI[g.Service]
	if !ok {
		bad(field+".grpc.service", "%q: want one of %s", g.Service, strings.Join(workspace.Names(workspace.Known), ", "))
	} else if !strings.HasPrefix(g.Method, "/"+api+"/") {
		bad(field+".grpc.method", "%q: want /%s/ or /%s/<Method>", g.Method, api, api)
	}
	if g.Code == "" && g.Delay == 0 {
		bad(field+".grpc", "neither code nor delay: the fault would do nothing")
	}
	if g.Code != "" {
		var c codes.Code
		if err := c.UnmarshalJSON([]byte(strconv.Quote(g.Code))); err != nil || c == codes.OK {
			bad(field+".grpc.code", "%q: want a gRPC code name other than OK, such as UNAVAILABLE", g.Code)
		}
		if !(g.Rate > 0 && g.Rate <= 1) {
			bad(field+".grpc.rate", "%v: want a fraction above 0 and at most 1 (0.4 is 40%%)", g.Rate)
		}
	} else if g.Rate != 0 {
		bad(field+".grpc.rate", "a rate needs a code")
	}
}

// validateNetwork checks a fault on a dependency's proxy: a partition, or
// latency and bandwidth.
func validateNetwork(field string, f fault, bad func(field, format string, args ...any)) {
	n := f.Network
	if f.For == 0 {
		bad(field+".for", "missing: how long the fault lasts")
	}
	switch n.Dependency {
	case depPostgres, depNATS, depRedis:
	default:
		bad(field+".network.dependency", "%q: want postgres, nats or redis", n.Dependency)
	}
	switch faultproxy.Mode(n.Partition) {
	case "":
		if n.Latency == 0 && n.Bandwidth == 0 {
			bad(field+".network", "want partition, latency or bandwidth")
		}
	case faultproxy.Blackhole, faultproxy.Reset:
		if n.Latency != 0 || n.Bandwidth != 0 {
			bad(field+".network.partition", "a partition passes nothing: it cannot be combined with latency or bandwidth")
		}
	default:
		bad(field+".network.partition", "%q: want blackhole or reset", n.Partition)
	}
	if n.Bandwidth < 0 || (n.Bandwidth > 0 && n.Bandwidth < 128) {
		bad(field+".network.bandwidth", "%d bytes per second: want at least 128", n.Bandwidth)
	}
}

// envFaultNames are the env variables that are faults, as svc:KEY.
func envFaultNames() []string {
	var out []string
	for _, svc := range gatedServices {
		for _, key := range slices.Sorted(maps.Keys(envEvidence[svc])) {
			out = append(out, svc+":"+key)
		}
	}
	return out
}
