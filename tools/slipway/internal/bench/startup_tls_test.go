package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTransports(t *testing.T) {
	tests := []struct {
		list string
		want []string
		err  string
	}{
		{"plaintext", []string{"plaintext"}, ""},
		{"plaintext,tls", []string{"plaintext", "tls"}, ""},
		{" tls , plaintext ", []string{"tls", "plaintext"}, ""},
		{"tls,", []string{"tls"}, ""},
		{"", nil, "--transport names no transport"},
		{"mtls", nil, `unknown transport "mtls"`},
		{"tls,tls", nil, `transport "tls" twice`},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			got, err := parseTransports(tt.list)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTransportOrderAlternates(t *testing.T) {
	ts := []string{"plaintext", "tls"}
	assert.Equal(t, []string{"plaintext", "tls"}, transportOrder(ts, 0))
	assert.Equal(t, []string{"tls", "plaintext"}, transportOrder(ts, 1))
	assert.Equal(t, []string{"plaintext", "tls"}, transportOrder(ts, 2))
	assert.Equal(t, []string{"tls"}, transportOrder([]string{"tls"}, 3))
}

// tlsServiceSource is a tiny inventory that follows the platform's TLS
// contract: with TLS_CERT_FILE set it serves gRPC health over TLS, requires
// a client certificate from TLS_CA_FILE, and refuses to start unless its
// own certificate names spiffe://<TLS_TRUST_DOMAIN>/inventory and
// AUTH_JWKS_URL is https, as the real config validation does. Its "serving"
// line says which transport it serves.
const tlsServiceSource = `package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	var opts []grpc.ServerOption
	transport := "plaintext"
	if certFile := os.Getenv("TLS_CERT_FILE"); certFile != "" {
		transport = "tls"
		if !strings.HasPrefix(os.Getenv("AUTH_JWKS_URL"), "https://") {
			fail("AUTH_JWKS_URL %q: must be https with TLS on", os.Getenv("AUTH_JWKS_URL"))
		}
		cert, err := tls.LoadX509KeyPair(certFile, os.Getenv("TLS_KEY_FILE"))
		if err != nil {
			fail("TLS_CERT_FILE: %v", err)
		}
		want := "spiffe://" + os.Getenv("TLS_TRUST_DOMAIN") + "/inventory"
		if len(cert.Leaf.URIs) != 1 || cert.Leaf.URIs[0].String() != want {
			fail("certificate names %v, want %s", cert.Leaf.URIs, want)
		}
		caPEM, err := os.ReadFile(os.Getenv("TLS_CA_FILE"))
		if err != nil {
			fail("TLS_CA_FILE: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			fail("TLS_CA_FILE: no certificate")
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		})))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	lis, err := net.Listen("tcp", os.Getenv("GRPC_ADDR"))
	if err != nil {
		fail("%v", err)
	}
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	fmt.Printf("{\"msg\":\"serving\",\"grpc_addr\":%q,\"startup_ms\":1,\"transport\":%q}\n", lis.Addr().String(), transport)
	<-ctx.Done()
	srv.GracefulStop()
}
`

// TestRunBenchStartupTLS measures plaintext and TLS side by side on a
// service that serves TLS as the platform does: the TLS starts pass only if
// the service got its own certificate and an https key set address, and
// the health check presented a certificate from the same authority.
func TestRunBenchStartupTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a gRPC service")
	}
	root := clitest.GRPCWorkspace(t, "inventory", tlsServiceSource)
	var stdout, stderr clitest.SyncBuffer
	opts := startupOptions{
		Options: Options{Root: root, Runs: 2, Stdout: &stdout, Stderr: &stderr,
			Environ: clitest.Environ("GOWORK=" + filepath.Join(root, "go.work")), Command: "slipway bench startup --tls --runs 2"},
		NoPostgres: true,
		Timeout:    30 * time.Second,
		Transports: []string{"plaintext", "tls"},
		Idle:       50 * time.Millisecond,
	}
	require.NoError(t, runStartup(t.Context(), opts), stderr.String())

	assert.Regexp(t, `inventory\s+on sqlite\s+over tls\s+median \d+\.\dms`, stderr.String())
	assert.Regexp(t, `(?m)^inventory\s+sqlite\s+plaintext\s+2\s+\d+\.\dms\s.*\s-$`, stdout.String())
	assert.Regexp(t, `(?m)^inventory\s+sqlite\s+tls\s+2\s+\d+\.\dms\s.*\s\d+\.\d\dx$`, stdout.String())
	assert.Contains(t, stdout.String(), "transports interleaved start by start")

	rep := readBenchJSON[startupReport](t, root, "startup")
	assert.Equal(t, []string{"plaintext", "tls"}, rep.Transports)
	require.Len(t, rep.Results, 2)
	plain, tls := rep.Results[0], rep.Results[1]
	assert.Equal(t, "plaintext", plain.Transport)
	assert.Equal(t, "tls", tls.Transport)
	for _, r := range rep.Results {
		assert.Equal(t, "inventory", r.Service)
		require.Len(t, r.Samples, 2, r.Transport)
		assert.Positive(t, r.MinMS, r.Transport)
	}
	if runtime.GOOS == "linux" {
		// The last start of each transport idled and had its memory read.
		for _, r := range rep.Results {
			assert.Positive(t, r.IdleAnonMB, r.Transport)
			assert.Greater(t, r.IdleRSSMB, r.IdleAnonMB, "%s: VmRSS counts the mapped binary too", r.Transport)
			assert.InDelta(t, 0.05, r.IdleSeconds, 1e-9, r.Transport)
		}
		assert.Contains(t, stdout.String(), "IDLE RSS: VmRSS of the last start after 0.05s SERVING")
	}
	assert.Zero(t, plain.VsPlaintext)
	// The medians are rounded to 0.1 ms, the ratio is not.
	assert.InEpsilon(t, tls.MedianMS/plain.MedianMS, tls.VsPlaintext, 0.15)

	// The service's own lines say what it served, in the interleaved order.
	logs, err := filepath.Glob(filepath.Join(root, ".slipway", "bench", "startup-*.log"))
	require.NoError(t, err)
	require.Len(t, logs, 1)
	b, err := os.ReadFile(logs[0])
	require.NoError(t, err)
	log := string(b)
	assert.Equal(t, 2, strings.Count(log, `"transport":"tls"`), log)
	assert.Equal(t, 2, strings.Count(log, `"transport":"plaintext"`), log)
	first := strings.Index(log, "over plaintext, run 1")
	second := strings.Index(log, "over tls, run 1")
	third := strings.Index(log, "over tls, run 2")
	fourth := strings.Index(log, "over plaintext, run 2")
	assert.True(t, first >= 0 && first < second && second < third && third < fourth, "interleaved, rotated each run:\n%s", log)
}

func TestParseProcStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    procMemory
		wantErr string
	}{
		{"both", "Name:\tuser\nVmRSS:\t   47104 kB\nRssAnon:\t    7168 kB\nRssFile:\t   39936 kB\n",
			procMemory{RSS: 47104 << 10, Anon: 7168 << 10}, ""},
		{"no anon line", "VmRSS:\t 1024 kB\n", procMemory{RSS: 1 << 20}, ""},
		{"no rss", "Name:\tuser\n", procMemory{}, "no VmRSS"},
		{"garbled", "VmRSS:\t many kB\n", procMemory{}, "VmRSS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStatus(tt.status)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReadProcMemoryOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	m, err := readProcMemory(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, m.Anon)
	assert.Greater(t, m.RSS, m.Anon)

	_, err = readProcMemory(-1)
	assert.Error(t, err, "no such process")
}

func TestBenchStartupIdleFlag(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"startup", "-h"}, cli.ExitOK, "-idle duration"},
		{[]string{"startup", "--idle", "-1s"}, cli.ExitUsage, "--idle must not be negative"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"PATH=" + os.Getenv("PATH")}}
			code := cli.ExitCode(&stderr, "bench", Main(t.Context(), tt.args, env))
			assert.Equal(t, tt.code, code, "stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), tt.stderr)
		})
	}
}
