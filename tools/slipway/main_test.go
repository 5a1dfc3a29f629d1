package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The test binary doubles as the child process of the supervisor and dev
// tests: run with childModeEnv set, it acts out that mode instead of testing.
const (
	childModeEnv       = "SLIPWAY_TEST_CHILD"
	childReadyAfterEnv = "SLIPWAY_TEST_READY_AFTER" // serve: "never" or a duration
	childExitAfterEnv  = "SLIPWAY_TEST_EXIT_AFTER"  // serve: exit 4 this long after SERVING
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(runTestChild(mode))
	}
	os.Exit(m.Run())
}

func runTestChild(mode string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	switch mode {
	case "wait": // a line, then wait for SIGTERM and end with a partial line
		fmt.Println("hello")
		<-ctx.Done()
		fmt.Println("got SIGTERM")
		fmt.Print("partial")
		return 0
	case "exit": // a line, then exit 3 at once
		fmt.Println("bye")
		return 3
	case "stubborn": // ignore SIGTERM
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		time.Sleep(time.Hour)
		return 0
	case "serve": // a gRPC health server on GRPC_ADDR, like a service
		return serveTestChild(ctx)
	case "traced": // a service the dev console sees: health, /readyz, a traced log line
		return serveTracedTestChild(ctx)
	case "slipway": // the slipway command itself, with its signal handling and exit code
		stop()
		main()
	}
	fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
	return 2
}

func serveTestChild(ctx context.Context) int {
	ln, err := net.Listen("tcp", os.Getenv("GRPC_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf(`{"msg":"listening","grpc_addr":%q,"database_url":%q,"drain_delay":%q}`+"\n",
		os.Getenv("GRPC_ADDR"), os.Getenv("DATABASE_URL"), os.Getenv("DRAIN_DELAY"))

	exit := make(<-chan time.Time)
	if after := os.Getenv(childReadyAfterEnv); after != "never" {
		d, _ := time.ParseDuration(after)
		time.Sleep(d)
		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		if d, err := time.ParseDuration(os.Getenv(childExitAfterEnv)); err == nil {
			exit = time.After(d)
		}
	}
	select {
	case <-ctx.Done():
		fmt.Println(`{"msg":"shutting down"}`)
		srv.GracefulStop()
		return 0
	case <-exit:
		fmt.Println(`{"msg":"crashing"}`)
		return 4
	}
}

// testExecutable returns the path of the running test binary.
func testExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return exe
}

func TestRunExitCodes(t *testing.T) {
	closed := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "no args prints usage", args: nil, code: cli.ExitUsage, stderr: "verbs:"},
		{name: "help lists verbs", args: []string{"help"}, code: cli.ExitOK, stdout: "probe"},
		{name: "--help is help", args: []string{"--help"}, code: cli.ExitOK, stdout: "dev"},
		{name: "help of a verb shows its flags", args: []string{"help", "probe"}, code: cli.ExitOK, stdout: "\n  --timeout duration\n"},
		{name: "help of a sub-verb", args: []string{"help", "version"}, code: cli.ExitOK, stdout: "  --json\n"},
		{name: "help takes one verb", args: []string{"help", "dev", "probe"}, code: cli.ExitUsage, stderr: "at most one verb"},
		{name: "help of an unknown verb", args: []string{"help", "nope"}, code: cli.ExitUsage, stderr: `unknown verb "nope"`},
		{name: "unknown verb", args: []string{"frobnicate"}, code: cli.ExitUsage, stderr: `unknown verb "frobnicate"`},
		{name: "bad flag", args: []string{"probe", "--bogus"}, code: cli.ExitUsage, stderr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"probe", "--addr", closed, "extra"}, code: cli.ExitUsage, stderr: "unexpected arguments"},
		{name: "probe without address", args: []string{"probe"}, code: cli.ExitUsage, stderr: "--addr is required"},
		{name: "probe of nothing fails the check", args: []string{"probe", "--addr", closed}, code: cli.ExitFailed, stdout: "UNREACHABLE", stderr: "slipway probe:"},
		{name: "dev with an unknown service", args: []string{"dev", "--services", "billing"}, code: cli.ExitUsage, stderr: `unknown service "billing"`},
		{name: "dev with a bad port base", args: []string{"dev", "--grpc-port-base", "70000"}, code: cli.ExitUsage, stderr: "--grpc-port-base 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"PATH=" + os.Getenv("PATH")}}
			code := run(t.Context(), tt.args, env)
			assert.Equal(t, tt.code, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), tt.stdout)
			assert.Contains(t, stderr.String(), tt.stderr)
		})
	}
}

func TestHelpSpellsEveryFlagWithTwoDashes(t *testing.T) {
	singleDash := regexp.MustCompile(`(?m)^  -[^-]`)
	for _, v := range verbs() {
		if v.Name == "help" {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), []string{"help", v.Name}, &cli.Env{Stdout: &stdout, Stderr: &stderr})
			require.Equal(t, cli.ExitOK, code, stderr.String())
			assert.Contains(t, stdout.String(), "usage: slipway "+v.Name)
			assert.NotRegexp(t, singleDash, stdout.String())
		})
	}
	var stdout bytes.Buffer
	require.Equal(t, cli.ExitOK, run(t.Context(), []string{"dev", "--help"}, &cli.Env{Stdout: &stdout, Stderr: &stdout}))
	assert.Contains(t, stdout.String(), "\n  --stop-timeout duration\n", "a verb's own --help is spelt the same")
}
