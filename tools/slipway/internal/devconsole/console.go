// Package devconsole is the console that `slipway dev` serves: the web
// application, a live map of the services, an OTLP/HTTP receiver that keeps
// recent traces in memory, and an index of the services' log lines by trace.
//
// HTTP API (JSON; errors are RFC 9457 problem documents):
//
//	GET  /api/services           the service map
//	GET  /api/services/stream    the same, as Server-Sent Events "services"
//	GET  /api/map                calls between services and dependencies in the last minute (?window=)
//	GET  /api/openapi/{svc}      a service's OpenAPI document, servers set to it
//	GET  /api/traces             recent traces, newest first (?service=, ?limit=)
//	GET  /api/traces/{trace_id}  one trace's spans and log lines
//	GET  /api/logs               log lines of a trace (?trace_id=)
//	POST /v1/traces              OTLP/HTTP trace export (protobuf or JSON)
//	GET  /...                    the web application (index.html for client routes)
package devconsole

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults of Options.
const (
	DefaultPollInterval = time.Second
	DefaultHeartbeat    = 10 * time.Second
	defaultTraceLimit   = 100
	maxTraceLimit       = 1000
)

// Options configure a Console.
type Options struct {
	Services  []Service // in the order the map lists them
	Tracing   Tracing
	Processes Processes // nil: the console knows nothing of processes
	UI        fs.FS     // the built web application (webui.FS())

	MaxTraces      int   // trace store bound in traces (DefaultMaxTraces)
	MaxSpans       int   // trace store bound in spans (DefaultMaxSpans)
	MaxBytes       int64 // trace store bound in approximate bytes (DefaultMaxBytes)
	MaxLogLines    int   // log index bound in lines (DefaultMaxLogLines)
	MaxLogBytes    int64 // log index bound in approximate bytes (DefaultMaxLogBytes)
	MaxExportBytes int64 // one OTLP request, before and after gzip (DefaultMaxExportBytes)
	// MaxConcurrentExports is how many OTLP requests are read and decoded at
	// once (DefaultMaxConcurrentExports); as many more wait, and the rest are
	// answered 429 with Retry-After.
	MaxConcurrentExports int

	// AllowedHosts are the host names (no port) that requests may address;
	// anything else gets 421, which keeps a DNS-rebinding page from reading
	// the API. Empty allows every host.
	AllowedHosts []string

	// AdminEmail and AdminPassword log the console in at the user service's
	// REST API as the admin it seeds: /debug/config answers admins only.
	AdminEmail, AdminPassword string
	// AdminLoginURL is where they log in; "" is the "user" service's
	// POST /v1/sessions.
	AdminLoginURL string

	PollInterval time.Duration // how often the services are checked
	Heartbeat    time.Duration // longest silence on the event stream
	Client       *http.Client  // for calls to the services; nil is a plain client
}

// Console is the dev console: an http.Handler plus the background polling
// of the services.
type Console struct {
	opts    Options
	traces  *TraceStore
	logs    *LogIndex
	poller  *servicePoller
	otlp    *otlpReceiver
	client  *http.Client
	handler http.Handler
	now     func() time.Time // the end of the map's window
}

// New returns a console for opts.
func New(opts Options) *Console {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.MaxExportBytes <= 0 {
		opts.MaxExportBytes = DefaultMaxExportBytes
	}
	if opts.MaxConcurrentExports <= 0 {
		opts.MaxConcurrentExports = DefaultMaxConcurrentExports
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Tracing.Mode == "" {
		opts.Tracing.Mode = "local"
	}
	c := &Console{
		opts:   opts,
		traces: NewTraceStore(opts.MaxTraces, opts.MaxSpans, opts.MaxBytes),
		logs:   NewLogIndex(opts.MaxLogLines, opts.MaxLogBytes),
		client: opts.Client,
		now:    time.Now,
	}
	c.poller = newServicePoller(opts.Services, opts.Tracing, opts.Processes, opts.Client, time.Now)
	c.poller.admin = newAdminSession(opts.Client, opts.Services, opts.AdminLoginURL, opts.AdminEmail, opts.AdminPassword)
	c.handler = c.routes()
	return c
}

// Run checks the services every PollInterval until ctx ends.
func (c *Console) Run(ctx context.Context) { c.poller.Run(ctx, c.opts.PollInterval) }

// Handler serves the console.
func (c *Console) Handler() http.Handler { return c.handler }

// Traces is the console's trace store.
func (c *Console) Traces() *TraceStore { return c.traces }

// LogLine offers one output line of a service to the log index; lines that
// are not JSON log records with a trace id are ignored. It does not keep line.
func (c *Console) LogLine(service string, line []byte) { c.logs.Add(service, line) }

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/services", c.serveServices)
	mux.HandleFunc("GET /api/services/stream", c.streamServices)
	mux.HandleFunc("GET /api/openapi/{svc}", c.serveOpenAPI)
	mux.HandleFunc("GET /api/map", c.serveMap)
	mux.HandleFunc("GET /api/traces", c.listTraces)
	mux.HandleFunc("GET /api/traces/{trace_id}", c.getTrace)
	mux.HandleFunc("GET /api/logs", c.traceLogs)
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("no API at %s %s", r.Method, r.URL.Path))
	})
	c.otlp = newOTLPReceiver(c.traces, c.opts.MaxExportBytes, c.opts.MaxConcurrentExports)
	mux.Handle("POST /v1/traces", c.otlp)
	mux.HandleFunc("GET /v1/traces", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, http.StatusMethodNotAllowed, "OTLP exports are POSTed")
	})
	if c.opts.UI != nil {
		mux.Handle("GET /", spaHandler{files: c.opts.UI, modTime: time.Now()})
	}
	return c.secure(mux)
}

// secure checks the Host header and sets the security headers of every answer.
func (c *Console) secure(next http.Handler) http.Handler {
	csp := contentSecurityPolicy(c.opts.Services)
	allowed := map[string]bool{}
	for _, h := range c.opts.AllowedHosts {
		allowed[strings.ToLower(strings.Trim(h, "[]"))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(allowed) > 0 {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if !allowed[strings.ToLower(strings.Trim(host, "[]"))] {
				writeProblem(w, http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not one this console answers to", r.Host))
				return
			}
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows the console's own scripts only (a Vite build
// needs no inline script), connections to itself and to the services' HTTP
// origins (the API explorer and gRPC-Web calls), and inline styles, which
// swagger-ui sets.
func contentSecurityPolicy(services []Service) string {
	connect := []string{"'self'"}
	for _, s := range services {
		if o := origin(s.HTTPURL); o != "" && !slices.Contains(connect, o) {
			connect = append(connect, o)
		}
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src " + strings.Join(connect, " "),
		"object-src 'none'",
		"base-uri 'self'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// origin returns scheme://host[:port] of u, or "".
func origin(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || rest == "" {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

func (c *Console) service(name string) (Service, bool) {
	for _, s := range c.opts.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

func (c *Console) serveServices(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, c.poller.Snapshot())
}

// streamServices sends the service map as a Server-Sent Event "services"
// at once, after every change, and at least every Heartbeat.
func (c *Console) streamServices(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	changes, unsubscribe := c.poller.Subscribe()
	defer unsubscribe()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	heartbeat := time.NewTicker(c.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		data, err := json.Marshal(c.poller.Snapshot())
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: services\ndata: %s\n\n", data); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changes:
		case <-heartbeat.C:
		}
	}
}

func (c *Console) listTraces(w http.ResponseWriter, r *http.Request) {
	limit := defaultTraceLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeProblem(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want a positive whole number", v))
			return
		}
		limit = min(n, maxTraceLimit)
	}
	writeJSON(w, http.StatusOK, struct {
		Traces []TraceSummary `json:"traces"`
	}{c.traces.List(r.URL.Query().Get("service"), limit)})
}

// TraceDetail is the body of GET /api/traces/{trace_id}.
type TraceDetail struct {
	TraceID string    `json:"trace_id"`
	Spans   []Span    `json:"spans"`
	Logs    []LogLine `json:"logs"`
}

func (c *Console) getTrace(w http.ResponseWriter, r *http.Request) {
	id, ok := traceID(w, r.PathValue("trace_id"))
	if !ok {
		return
	}
	spans, found := c.traces.Get(id)
	if !found {
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("no trace %s: it was never received or was evicted", id))
		return
	}
	writeJSON(w, http.StatusOK, TraceDetail{TraceID: id, Spans: spans, Logs: c.logs.Get(id)})
}

func (c *Console) traceLogs(w http.ResponseWriter, r *http.Request) {
	id, ok := traceID(w, r.URL.Query().Get("trace_id"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Logs []LogLine `json:"logs"`
	}{c.logs.Get(id)})
}

// traceID validates a trace id (32 hex digits) and returns it in lower
// case; on failure it has written a 400.
func traceID(w http.ResponseWriter, raw string) (string, bool) {
	id := strings.ToLower(strings.TrimSpace(raw))
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
		writeProblem(w, http.StatusBadRequest, fmt.Sprintf("trace id %q: want 32 hex digits", raw))
		return "", false
	}
	return id, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func writeProblem(w http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
