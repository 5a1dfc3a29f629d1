// Package health ties grpc.health.v1 and the HTTP probes to the service
// lifecycle: everything is NOT_SERVING until Ready, readiness follows the
// dependency checks, and NotServing flips it all before shutdown.
//
// Liveness is a separate signal: the gRPC service name "liveness" and HTTP
// /healthz answer from a heartbeat goroutine, never from dependencies, so a
// database outage takes instances out of rotation without getting them all
// restarted at once.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// LivenessService is the gRPC health service name that answers liveness:
// SERVING while the process's heartbeat ticks, whatever its dependencies do.
const LivenessService = "liveness"

// Check reports whether one dependency (a database, a broker) can be used.
type Check func(ctx context.Context) error

// Health is the one health object of a process.
type Health struct {
	srv *health.Server

	mu       sync.Mutex
	checks   map[string]Check
	optional map[string]bool // checks reported but not required for readiness
	services []string
	ready    bool // Ready was called and NotServing was not
	serving  bool // the status last published to grpc health

	// The outcome of the last RunChecks, which /readyz serves: probes read
	// it and never run the checks themselves.
	checked bool
	last    []CheckResult
	lastOK  bool

	beat       atomic.Int64 // UnixNano of the last heartbeat; 0 until Heartbeat runs
	stallAfter atomic.Int64 // a heartbeat older than this many ns means not alive
	alive      bool         // the liveness status last published to grpc health
}

// New returns a Health with every service NOT_SERVING.
func New() *Health {
	h := &Health{srv: health.NewServer(), checks: map[string]Check{}, optional: map[string]bool{}, alive: true}
	h.srv.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	h.srv.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	return h
}

// Server is the grpc_health_v1 server to register on the gRPC server. Check
// of LivenessService answers from the heartbeat at the time of the call;
// every other name answers the published readiness.
func (h *Health) Server() healthpb.HealthServer { return grpcHealth{Server: h.srv, h: h} }

type grpcHealth struct {
	*health.Server
	h *Health
}

func (g grpcHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if req.GetService() != LivenessService {
		return g.Server.Check(ctx, req)
	}
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok, _ := g.h.Alive(); ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

// Heartbeat ticks every interval until ctx ends. Liveness holds while the
// last tick is younger than stallAfter: a process whose goroutines no longer
// get scheduled (a deadlock of the runtime, a GC death spiral, a CPU
// throttled to nothing) stops ticking and fails its liveness probe.
func (h *Health) Heartbeat(ctx context.Context, interval, stallAfter time.Duration) {
	h.stallAfter.Store(int64(stallAfter))
	h.tick()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.tick()
		}
	}
}

func (h *Health) tick() {
	h.beat.Store(time.Now().UnixNano())
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.alive {
		// Watchers of "liveness" learn of the recovery; a stall itself can
		// only be seen by Check and /healthz, since nothing ticks to say so.
		h.alive = true
		h.srv.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	}
}

// Alive reports whether the heartbeat ticked within its stall limit, and
// how old the last tick is. Before Heartbeat runs, the process counts as
// alive: nothing measures it yet.
func (h *Health) Alive() (bool, time.Duration) {
	last := h.beat.Load()
	if last == 0 {
		return true, 0
	}
	age := time.Since(time.Unix(0, last))
	if age <= time.Duration(h.stallAfter.Load()) {
		return true, age
	}
	h.mu.Lock()
	if h.alive {
		h.alive = false
		h.srv.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	h.mu.Unlock()
	return false, age
}

// AddCheck adds a readiness dependency. Liveness never runs checks.
func (h *Health) AddCheck(name string, check Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

// AddOptionalCheck adds a dependency that /readyz reports but readiness
// does not require: one whose loss degrades the service without stopping it,
// such as the event broker behind a transactional outbox.
func (h *Health) AddOptionalCheck(name string, check Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
	h.optional[name] = true
}

// Register declares the services whose status follows the overall one, so a
// per-service Check answers NOT_SERVING (not NOT_FOUND) before Ready.
func (h *Health) Register(services ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.services = append(h.services, services...)
	for _, s := range services {
		h.srv.SetServingStatus(s, healthpb.HealthCheckResponse_NOT_SERVING)
	}
}

// Ready marks the process and every registered service SERVING. Call it
// once dependencies are warm.
func (h *Health) Ready() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = true
	h.publish(true)
}

// NotServing marks everything NOT_SERVING for good: the process is shutting
// down, and load balancers should stop sending it work.
func (h *Health) NotServing() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = false
	h.publish(false)
	h.srv.Shutdown()
}

// Serving reports whether the process currently answers SERVING.
func (h *Health) Serving() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.serving
}

func (h *Health) publish(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	h.serving = serving
	h.srv.SetServingStatus("", st)
	for _, s := range h.services {
		h.srv.SetServingStatus(s, st)
	}
}

// CheckResult is the outcome of one dependency check.
type CheckResult struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Optional bool   `json:"optional,omitempty"`
	Error    string `json:"error,omitempty"`
	Duration string `json:"duration"`
}

// RunChecks runs every check concurrently, each bounded by timeout, and
// returns the results sorted by name and whether every required one passed.
func (h *Health) RunChecks(ctx context.Context, timeout time.Duration) ([]CheckResult, bool) {
	h.mu.Lock()
	checks := make(map[string]Check, len(h.checks))
	for k, v := range h.checks {
		checks[k] = v
	}
	optional := make(map[string]bool, len(h.optional))
	for k, v := range h.optional {
		optional[k] = v
	}
	h.mu.Unlock()

	results := make([]CheckResult, 0, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := check(cctx)
			r := CheckResult{Name: name, OK: err == nil, Optional: optional[name], Duration: time.Since(start).Round(time.Microsecond).String()}
			if err != nil {
				r.Error = err.Error()
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool { return results[i].Name < results[j].Name })
	ok := true
	for _, r := range results {
		ok = ok && (r.OK || r.Optional)
	}
	h.mu.Lock()
	h.checked, h.last, h.lastOK = true, results, ok
	h.mu.Unlock()
	return results, ok
}

// Watch re-runs the checks every interval until ctx ends and publishes
// SERVING only while the process is Ready and every check passes, so a lost
// database takes the instance out of rotation and its return puts it back.
func (h *Health) Watch(ctx context.Context, interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, ok := h.RunChecks(ctx, timeout)
		h.mu.Lock()
		if h.ready && ok != h.serving {
			h.publish(ok)
		}
		h.mu.Unlock()
	}
}

// Live is the /healthz handler: 200 while the heartbeat ticks, 503 once it
// has stalled. It never looks at dependencies, so a slow database does not
// get the process restarted.
func (h *Health) Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if ok, age := h.Alive(); !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, `{"status":"stalled","last_heartbeat_age":%q}`+"\n", age.Round(time.Millisecond).String())
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}

// Readiness is the /readyz handler: 200 only when Ready and every required
// check passed at the last run, 503 otherwise, with each check's result in
// the body (status "degraded" when only optional checks fail). It serves the
// result Watch last refreshed and runs no check itself, so probes and
// floods of /readyz cost the dependencies nothing.
func (h *Health) Readiness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		ready, checked, results, ok := h.ready, h.checked, h.last, h.lastOK
		h.mu.Unlock()
		if results == nil {
			results = []CheckResult{}
		}
		body := struct {
			Status string        `json:"status"`
			Checks []CheckResult `json:"checks"`
		}{Status: "ready", Checks: results}
		code := http.StatusOK
		for _, r := range results {
			if !r.OK {
				body.Status = "degraded"
			}
		}
		switch {
		case !ready || !checked:
			body.Status, code = "not_serving", http.StatusServiceUnavailable
		case !ok:
			body.Status, code = "dependency_failed", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	})
}
