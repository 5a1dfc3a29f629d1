package servertest_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server/servertest"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// listen is an entry point that serves one HTTP port (reported as both
// addresses), logging as platform services do, until ctx ends.
func listen(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q", args)
	}
	if getenv("FAIL") != "" {
		return errors.New("FAIL: " + getenv("FAIL"))
	}
	l, err := net.Listen("tcp", getenv("HTTP_ADDR"))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go func() { _ = srv.Serve(l) }()
	logger := telemetry.NewLogger(stdout, "test", slog.LevelInfo)
	logger.Info("serving", "grpc_addr", l.Addr().String(), "http_addr", l.Addr().String())
	<-ctx.Done()
	return srv.Close()
}

func TestStartWaitsUntilTheServiceServes(t *testing.T) {
	p := servertest.Start(t, listen, map[string]string{"HTTP_ADDR": "127.0.0.1:0"})
	require.NotEmpty(t, p.HTTPAddr)
	assert.Equal(t, p.HTTPAddr, p.GRPCAddr)
	resp, err := http.Get("http://" + p.HTTPAddr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	_, ok := p.Logs.Find("serving")
	assert.True(t, ok)

	require.NoError(t, p.Stop())
	assert.NoError(t, p.Stop(), "a second stop answers as the first")
	_, err = http.Get("http://" + p.HTTPAddr + "/")
	assert.Error(t, err, "stopped")
}

// A service that stops before serving fails the test once: the cleanup
// does not report the same stop again as an unclean one.
func TestStartFailsWhenTheServiceStopsBeforeServing(t *testing.T) {
	r := &recorder{}
	t.Run("start", func(t *testing.T) {
		r.TB = t
		done := make(chan struct{})
		go func() {
			defer close(done)
			servertest.Start(r, listen, map[string]string{"FAIL": "no database"})
		}()
		<-done
	}) // its cleanups, Start's among them, have run
	assert.Contains(t, r.fatal, "stopped before serving: FAIL: no database")
	assert.Empty(t, r.errors, "reported once")
}

func TestIssuerTokensVerifyAgainstItsJWKS(t *testing.T) {
	signer, jwksURL := servertest.Issuer(t)
	token, _, err := signer.Sign(auth.Claims{Subject: "u-1", Role: auth.RoleCustomer})
	require.NoError(t, err)
	claims, err := auth.NewJWKSVerifier(jwksURL, auth.DefaultIssuer, nil).Verify(t.Context(), token)
	require.NoError(t, err)
	assert.Equal(t, "u-1", claims.Subject)
}

func TestRefusesBadStarts(t *testing.T) {
	servertest.RefusesBadStarts(t, func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		if len(args) > 0 && args[0] == "--help" {
			return flag.ErrHelp
		}
		return listen(ctx, args, getenv, stdout)
	}, []servertest.BadStart{
		{Name: "help", Args: []string{"--help"}, Is: flag.ErrHelp},
		{Name: "a stray argument", Args: []string{"serve"}, WantErr: "unexpected arguments"},
		{Name: "a failing setting", Env: map[string]string{"FAIL": "x"}, WantErr: "FAIL: x"},
	})
}

// recorder is a testing.TB that notes a fatal failure instead of failing t.
type recorder struct {
	testing.TB
	fatal  string
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
