// Package servertest runs a service built on platform/server through its
// real entry point, app.Run, inside a test: on the ports it reports, with a
// JWKS the test controls, and stopped (asserting a clean stop) when the test
// ends. Every service's app tests start it the same way.
package servertest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/telemetry/logtest"
)

// Run is a service's entry point (app.Run): it serves until ctx ends,
// reading its flags from args and its settings from getenv, and logs to
// stdout.
type Run func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// How long a service may take to report serving, and to stop.
const (
	serveTimeout = 20 * time.Second
	stopTimeout  = 30 * time.Second
)

// Process is one service started by Start.
type Process struct {
	// GRPCAddr and HTTPAddr are the host:port the service reported in its
	// "serving" log line.
	GRPCAddr, HTTPAddr string
	// Logs is what the service logged.
	Logs *logtest.Buffer

	stopOnce sync.Once
	stopErr  error
	// reported: Start has failed the test with how the service stopped.
	reported bool
	cancel   context.CancelFunc
	done     chan error
}

// Start runs run with no arguments and the settings env ("KEY": "value",
// unset keys read as ""), waits until it logs "serving" and returns it. A
// service that stops or does not serve within 20s fails the test. When the
// test ends, the service is stopped and must stop cleanly.
func Start(t testing.TB, run Run, env map[string]string) *Process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Process{Logs: &logtest.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- run(ctx, nil, func(k string) string { return env[k] }, p.Logs) }()
	t.Cleanup(func() {
		if err := p.Stop(); !p.reported {
			assert.NoError(t, err, "a clean stop")
		}
	})

	deadline := time.After(serveTimeout)
	for {
		if line, ok := p.Logs.Find("serving"); ok {
			p.GRPCAddr, _ = line["grpc_addr"].(string)
			p.HTTPAddr, _ = line["http_addr"].(string)
			return p
		}
		select {
		case err := <-p.done:
			p.done <- err     // for Stop
			p.reported = true // once: not again as an unclean stop
			t.Fatalf("the service stopped before serving: %v\n%s", err, p.Logs)
		case <-deadline:
			t.Fatalf("the service did not report serving\n%s", p.Logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop ends the service as a signal does and returns what run returned;
// calls after the first return the first call's answer.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		p.cancel()
		select {
		case p.stopErr = <-p.done:
		case <-time.After(stopTimeout):
			p.stopErr = errors.New("the service did not stop")
		}
	})
	return p.stopErr
}

// Dial is a plaintext gRPC connection to addr, closed when the test ends.
func Dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Issuer is a signer for a fresh key and the URL of a JWKS that publishes
// it, for as long as the test runs: a service given the URL as its
// AUTH_JWKS_URL trusts the signer's tokens.
func Issuer(t testing.TB) (*auth.Signer, string) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	signer := auth.NewSigner(key, auth.DefaultIssuer, time.Hour)
	jwks := httptest.NewServer(signer.JWKS())
	t.Cleanup(jwks.Close)
	return signer, jwks.URL
}

// BadStart is a start that run must refuse: with Args and Env, it returns
// an error that contains WantErr and, when Is is set, is Is.
type BadStart struct {
	Name    string
	Args    []string
	Env     map[string]string
	WantErr string
	Is      error
}

// RefusesBadStarts runs run once for each of starts, each in a subtest
// named for it, and asserts that it returns the error the start names.
func RefusesBadStarts(t *testing.T, run Run, starts []BadStart) {
	t.Helper()
	for _, tt := range starts {
		t.Run(tt.Name, func(t *testing.T) {
			var out strings.Builder
			err := run(t.Context(), tt.Args, func(k string) string { return tt.Env[k] }, &out)
			require.Error(t, err)
			if tt.Is != nil {
				assert.ErrorIs(t, err, tt.Is)
			}
			assert.ErrorContains(t, err, tt.WantErr)
		})
	}
}
