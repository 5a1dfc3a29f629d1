package devconsole

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/telemetry"
)

// builtUI looks like a Vite build: index.html and content-hashed assets.
var builtUI = fstest.MapFS{
	"index.html":                  {Data: []byte(`<!doctype html><script type="module" src="/assets/index-B2x9aQ1c.js"></script>`)},
	"assets/index-B2x9aQ1c.js":    {Data: []byte(`console.log("console")`)},
	"assets/index-Dk3n_0aZ.css":   {Data: []byte(`body{margin:0}`)},
	"assets/inter-Q1w2e3R4.woff2": {Data: []byte("wOF2")},
	"favicon.svg":                 {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
}

func TestSPAServesFilesAndClientRoutes(t *testing.T) {
	_, srv := startConsole(t, Options{
		UI: builtUI,
		Services: []Service{
			{Name: "user", HTTPURL: "http://127.0.0.1:8081"},
			{Name: "order", HTTPURL: "http://127.0.0.1:8082"},
		},
	})
	wantCSP := "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
		"font-src 'self' data:; connect-src 'self' http://127.0.0.1:8081 http://127.0.0.1:8082; object-src 'none'; " +
		"base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
	tests := []struct {
		path, status, contentType, cache, body string
	}{
		{"/", "200", "text/html; charset=utf-8", "no-cache", "index-B2x9aQ1c.js"},
		{"/index.html", "200", "text/html; charset=utf-8", "no-cache", "index-B2x9aQ1c.js"},
		{"/traces/4bf92f3577b34da6a3ce929d0e0e4736", "200", "text/html; charset=utf-8", "no-cache", "index-B2x9aQ1c.js"},
		{"/services", "200", "text/html; charset=utf-8", "no-cache", "index-B2x9aQ1c.js"},
		{"/assets", "200", "text/html; charset=utf-8", "no-cache", "index-B2x9aQ1c.js"},
		{"/assets/index-B2x9aQ1c.js", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", `console.log("console")`},
		{"/assets/index-Dk3n_0aZ.css", "200", "text/css; charset=utf-8", "public, max-age=31536000, immutable", "margin:0"},
		{"/assets/inter-Q1w2e3R4.woff2", "200", "font/woff2", "public, max-age=31536000, immutable", "wOF2"},
		{"/favicon.svg", "200", "image/svg+xml", "no-cache", "<svg"},
		{"/assets/index-OLD.js", "404", "application/problem+json", "no-store", "no such file: /assets/index-OLD.js"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.status, resp.Status[:3], string(body))
			assert.Equal(t, tt.contentType, resp.Header.Get("Content-Type"))
			assert.Equal(t, tt.cache, resp.Header.Get("Cache-Control"))
			assert.Contains(t, string(body), tt.body)
			assert.Equal(t, wantCSP, resp.Header.Get("Content-Security-Policy"))
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		})
	}
}

func TestConsoleAnswersOnlyItsOwnHostNames(t *testing.T) {
	_, srv := startConsole(t, Options{UI: builtUI, AllowedHosts: []string{"localhost", "127.0.0.1", "::1"}})
	for host, status := range map[string]int{
		"":                      http.StatusOK, // the test server's 127.0.0.1:port
		"localhost:8080":        http.StatusOK,
		"[::1]:8080":            http.StatusOK,
		"LOCALHOST":             http.StatusOK,
		"attacker.example:8080": http.StatusMisdirectedRequest,
		"127.0.0.1.nip.io:8080": http.StatusMisdirectedRequest,
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/services", nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, status, resp.StatusCode, "Host %q", host)
	}
}

func TestAPIErrorsAreProblems(t *testing.T) {
	_, srv := startConsole(t, Options{UI: builtUI})
	tests := []struct {
		method, path string
		status       int
		detail       string
	}{
		{"GET", "/api/nothing", http.StatusNotFound, "no API at GET /api/nothing"},
		{"GET", "/api/traces?limit=0", http.StatusBadRequest, "want a positive whole number"},
		{"GET", "/api/traces?limit=lots", http.StatusBadRequest, "want a positive whole number"},
		{"GET", "/api/traces/not-a-trace", http.StatusBadRequest, "want 32 hex digits"},
		{"GET", "/api/traces/4bf92f3577b34da6a3ce929d0e0e4736", http.StatusNotFound, "no trace 4bf92f3577b34da6a3ce929d0e0e4736"},
		{"GET", "/api/logs", http.StatusBadRequest, "want 32 hex digits"},
		{"GET", "/v1/traces", http.StatusMethodNotAllowed, "OTLP exports are POSTed"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.status, resp.StatusCode, string(body))
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			assert.Contains(t, string(body), tt.detail)
			assert.Contains(t, string(body), `"type":"about:blank"`)
		})
	}
}

// lineWriter feeds every line written to it to the console, as dev's
// supervisor does with a service's output.
type lineWriter struct {
	c       *Console
	service string
}

func (w lineWriter) Write(p []byte) (int, error) {
	for line := range bytes.SplitSeq(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.c.LogLine(w.service, line)
	}
	return len(p), nil
}

func TestTraceDetailJoinsTheLogLinesWrittenInIt(t *testing.T) {
	c, srv := startConsole(t, Options{})
	tp := serviceTracer(t, "order", srv.URL)
	logger := telemetry.NewLogger(lineWriter{c, "order"}, "order", slog.LevelInfo)

	ctx, span := tp.Tracer("test").Start(t.Context(), "CreateOrder")
	logger.InfoContext(ctx, "order placed", "order_id", "o-1")
	logger.WithGroup("db").WarnContext(ctx, "slow query", "ms", 250) // ids stay top level inside groups
	logger.Info("outside any request")
	span.End()
	flush(t, tp)
	traceID, spanID := span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()

	var detail traceDetailJSON
	require.Equal(t, http.StatusOK, getJSON(t, srv.URL+"/api/traces/"+strings.ToUpper(traceID), &detail), "ids are case-insensitive")
	require.Len(t, detail.Logs, 2)
	first := detail.Logs[0]
	assert.Equal(t, "order", first.Service)
	assert.Equal(t, "INFO", first.Level)
	assert.Equal(t, "order placed", first.Msg)
	assert.Equal(t, spanID, first.SpanID)
	assert.Contains(t, first.Line, `"order_id":"o-1"`)
	assert.NotEmpty(t, first.Time)
	assert.Equal(t, "WARN", detail.Logs[1].Level)
	assert.Equal(t, "slow query", detail.Logs[1].Msg)

	var logs struct {
		Logs []LogLine `json:"logs"`
	}
	require.Equal(t, http.StatusOK, getJSON(t, srv.URL+"/api/logs?trace_id="+traceID, &logs))
	assert.Equal(t, detail.Logs, logs.Logs)

	require.Equal(t, http.StatusOK, getJSON(t, srv.URL+"/api/logs?trace_id=4bf92f3577b34da6a3ce929d0e0e4736", &logs))
	assert.Empty(t, logs.Logs)
}
