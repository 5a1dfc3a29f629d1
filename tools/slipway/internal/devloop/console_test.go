package devloop

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devconsole"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
)

// withoutTelemetryEnv drops what would change the console's defaults from a
// test environment.
func withoutTelemetryEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") || k == "CORS_ALLOWED_ORIGINS" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func TestConsoleTracing(t *testing.T) {
	assert.Equal(t, devconsole.Tracing{Mode: "local"}, consoleTracing(nil))
	assert.Equal(t, devconsole.Tracing{Mode: "external", JaegerURL: "http://localhost:16686"},
		consoleTracing([]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318"}))
	assert.Equal(t, devconsole.Tracing{Mode: "external", JaegerURL: "http://jaeger.internal:16686"},
		consoleTracing([]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://c:4318/v1/traces", "SLIPWAY_JAEGER_URL=http://jaeger.internal:16686"}))
	assert.Equal(t, devconsole.Tracing{Mode: "local"}, consoleTracing([]string{"OTEL_EXPORTER_OTLP_ENDPOINT="}), "empty is unset")
}

func TestConsoleCORSNote(t *testing.T) {
	assert.Empty(t, consoleCORSNote(fleet.Options{ConsolePort: 8080, Environ: []string{"PATH=/bin"}}), "nothing to say")
	assert.Empty(t, consoleCORSNote(fleet.Options{ConsolePort: 8080, Environ: []string{"CORS_ALLOWED_ORIGINS="}}), "empty is unset")
	assert.Empty(t, consoleCORSNote(fleet.Options{Environ: []string{"CORS_ALLOWED_ORIGINS=https://a.example"}}), "console off: nothing added")
	assert.Equal(t,
		"console: the services allow the origins of CORS_ALLOWED_ORIGINS, SLIPWAY_ORDER_CORS_ALLOWED_ORIGINS and the console's (http://localhost:8080, http://127.0.0.1:8080)",
		consoleCORSNote(fleet.Options{ConsolePort: 8080, Environ: []string{
			"CORS_ALLOWED_ORIGINS=https://a.example", "SLIPWAY_ORDER_CORS_ALLOWED_ORIGINS=https://b.example", "CORS_ALLOWED_ORIGINS=https://c.example",
		}}))
}

// serveTracedTestChild plays a service that the console can see: gRPC
// health, /readyz and /debug/config on HTTP_ADDR, and one traced request
// whose span it exports with the platform's own tracer provider (configured
// by the environment dev gave it) and whose log line it writes with the
// platform's logger.
func serveTracedTestChild(ctx context.Context) int {
	name := filepath.Base(os.Args[0]) // dev runs .slipway/bin/<service>
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	gl, err := net.Listen("tcp", os.Getenv("GRPC_ADDR"))
	if err != nil {
		return fail(err)
	}
	hl, err := net.Listen("tcp", os.Getenv("HTTP_ADDR"))
	if err != nil {
		return fail(err)
	}
	// Like a service under dev --tls: mTLS on gRPC, https on HTTP.
	grpcTLS, httpTLS, err := testChildTLS()
	if err != nil {
		return fail(err)
	}
	var grpcOpts []grpc.ServerOption
	if grpcTLS != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(grpcTLS)))
		hl = tls.NewListener(hl, httpTLS)
	}
	grpcSrv := grpc.NewServer(grpcOpts...)
	healthpb.RegisterHealthServer(grpcSrv, health.NewServer()) // SERVING
	go func() { _ = grpcSrv.Serve(gl) }()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"status":"ready"}`) })
	mux.HandleFunc("GET /debug/config", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"service": name, "version": "test-" + name, "hash": strings.Repeat("ab", 32)})
	})
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	go func() { _ = httpSrv.Serve(hl) }()

	tp, shutdown, err := telemetry.NewTracerProvider(ctx, name, os.Getenv)
	if err != nil {
		return fail(err)
	}
	logger := telemetry.NewLogger(os.Stdout, name, slog.LevelInfo)
	reqCtx, span := tp.Tracer("test").Start(ctx, "traced work")
	logger.InfoContext(reqCtx, "working", "cors", os.Getenv("CORS_ALLOWED_ORIGINS"))
	span.End()
	if err := tp.ForceFlush(ctx); err != nil {
		return fail(err)
	}
	fmt.Println(`{"msg":"exported"}`)

	<-ctx.Done()
	_ = httpSrv.Close()
	grpcSrv.Stop()
	_ = shutdown(context.Background())
	return 0
}

func TestRunDevServesTheConsole(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user", "inventory")
	clitest.UseTestBinaryFor(t, root, "user", "inventory")
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out, clitest.ChildModeEnv+"=traced")
	opts.Environ = append(withoutTelemetryEnv(opts.Environ), "CORS_ALLOWED_ORIGINS=https://shop.example")
	opts.ConsolePort = clitest.FreePort(t)
	console := "http://127.0.0.1:" + strconv.Itoa(opts.ConsolePort)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	done := startDev(ctx, opts)
	clitest.WaitForOutput(t, &out, done, "all 2 services SERVING in")
	clitest.WaitForOutput(t, &out, done, `user      | {"msg":"exported"}`)
	clitest.WaitForOutput(t, &out, done, `inventory | {"msg":"exported"}`)
	assert.Contains(t, out.String(), "console: http://localhost:"+strconv.Itoa(opts.ConsolePort)+" (services, API explorer, traces and their logs")
	assert.Contains(t, out.String(), `"msg":"working"`, "log lines still reach the terminal as they are")
	assert.Contains(t, out.String(), "console: the services allow the origins of CORS_ALLOWED_ORIGINS and the console's", "dev says why the parent's origins grew")

	var m devconsole.ServiceMap
	require.Eventually(t, func() bool {
		m = devconsole.ServiceMap{}
		getConsoleJSON(t, console+"/api/services", &m)
		return len(m.Services) == 2 && m.Services[0].State == devconsole.StateServing && m.Services[1].State == devconsole.StateServing
	}, 10*time.Second, 20*time.Millisecond, "both services SERVING on the console")
	assert.Equal(t, "user", m.Services[0].Name)
	assert.Equal(t, "test-user", m.Services[0].Version)
	assert.Equal(t, "http://127.0.0.1:"+strconv.Itoa(opts.HTTPBase), m.Services[0].HTTPURL)
	assert.Equal(t, "127.0.0.1:"+strconv.Itoa(opts.GRPCBase+2), m.Services[1].GRPCAddr)
	assert.Equal(t, "local", m.Tracing.Mode)
	require.NotNil(t, m.Services[0].StartedAt, "the supervisor's start time")

	for _, svc := range []string{"user", "inventory"} {
		var list struct{ Traces []devconsole.TraceSummary }
		getConsoleJSON(t, console+"/api/traces?service="+svc, &list)
		require.Len(t, list.Traces, 1, "%s exported its span to the console", svc)
		assert.Equal(t, "traced work", list.Traces[0].RootName)

		var detail struct {
			Spans []map[string]any
			Logs  []devconsole.LogLine
		}
		getConsoleJSON(t, console+"/api/traces/"+list.Traces[0].TraceID, &detail)
		require.Len(t, detail.Spans, 1)
		require.Len(t, detail.Logs, 1, "the line the service wrote inside the span")
		assert.Equal(t, svc, detail.Logs[0].Service)
		assert.Equal(t, "working", detail.Logs[0].Msg)
		assert.Equal(t, detail.Spans[0]["span_id"], detail.Logs[0].SpanID)
		wantCORS := fmt.Sprintf("https://shop.example,http://localhost:%d,http://127.0.0.1:%d", opts.ConsolePort, opts.ConsolePort)
		assert.Contains(t, detail.Logs[0].Line, `"cors":"`+wantCORS+`"`, "the service may be called from the console's pages, and the parent's origins")
	}

	cancel()
	require.NoError(t, devResult(t, done, &out), out.String())
	_, err := http.Get(console + "/api/services")
	assert.Error(t, err, "the console stops with dev")
}

func TestRunDevFailsWhenTheConsolePortIsTaken(t *testing.T) {
	root := clitest.FakeWorkspace(t, "user")
	var out clitest.SyncBuffer
	opts := testDevOptions(t, root, &out)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	opts.ConsolePort = ln.Addr().(*net.TCPAddr).Port

	err = Run(t.Context(), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("port %d for console HTTP", opts.ConsolePort))
	assert.Contains(t, err.Error(), "--console-port")
}

func getConsoleJSON(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.NoError(t, json.Unmarshal(body, into), string(body))
}
