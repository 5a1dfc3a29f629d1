// Package health ties grpc.health.v1 and the HTTP probes to the service
// lifecycle: everything is NOT_SERVING until Ready, readiness follows the
// dependency checks, and NotServing flips it all before shutdown.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

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
}

// New returns a Health with every service NOT_SERVING.
func New() *Health {
	h := &Health{srv: health.NewServer(), checks: map[string]Check{}, optional: map[string]bool{}}
	h.srv.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return h
}

// Server is the grpc_health_v1 server to register on the gRPC server.
func (h *Health) Server() *health.Server { return h.srv }

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

// Live is the /healthz handler: 200 while the process runs. It never looks at
// dependencies, so a slow database does not get the process restarted.
func (h *Health) Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}

// Readiness is the /readyz handler: 200 only when Ready and every required
// check passes, 503 otherwise, with each check's result in the body (status
// "degraded" when only optional checks fail).
func (h *Health) Readiness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results, ok := h.RunChecks(r.Context(), 2*time.Second)
		h.mu.Lock()
		ready := h.ready
		h.mu.Unlock()
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
		case !ready:
			body.Status, code = "not_serving", http.StatusServiceUnavailable
		case !ok:
			body.Status, code = "dependency_failed", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	})
}
