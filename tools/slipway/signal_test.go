package main

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDevProcessExitCodeOnSignal runs the slipway process itself, as make
// run does, and stops it with a signal: a clean stop exits 0 (make prints no
// error), a service that must be killed exits 1.
func TestDevProcessExitCodeOnSignal(t *testing.T) {
	tests := []struct {
		name     string
		signal   os.Signal
		service  string // child mode of the user service
		waitFor  string
		wantCode int
		wantOut  string
	}{
		{name: "SIGINT stops cleanly", signal: os.Interrupt, service: "serve", waitFor: "all 1 services SERVING", wantCode: cli.ExitOK, wantOut: "all services stopped"},
		{name: "SIGTERM stops cleanly", signal: syscall.SIGTERM, service: "serve", waitFor: "all 1 services SERVING", wantCode: cli.ExitOK, wantOut: "all services stopped"},
		{name: "a service that ignores SIGTERM", signal: os.Interrupt, service: "stubborn", waitFor: "ignoring SIGTERM", wantCode: cli.ExitFailed, wantOut: "did not stop cleanly: user (killed (SIGKILL))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := clitest.FakeWorkspace(t, "user")
			clitest.UseTestBinaryFor(t, root, "user")
			base := clitest.FreePortBase(t, 4)
			httpBase := clitest.FreePortBase(t, 4)
			cmd := exec.Command(clitest.Executable(t), "dev", "--root", root, "--no-build", "--console-port", "0", "--color", "never",
				"--grpc-port-base", strconv.Itoa(base), "--http-port-base", strconv.Itoa(httpBase), "--stop-timeout", "300ms")
			cmd.Env = clitest.Environ(clitest.ChildModeEnv+"=slipway", "SLIPWAY_USER_"+clitest.ChildModeEnv+"="+tt.service, "NATS_URL=nats://127.0.0.1:1")
			var out clitest.SyncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })

			clitest.WaitForOutput(t, &out, done, tt.waitFor)
			require.NoError(t, cmd.Process.Signal(tt.signal))
			select {
			case err := <-done:
				var exitErr *exec.ExitError
				if err != nil {
					require.ErrorAs(t, err, &exitErr, "the process ran and exited")
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("slipway dev did not end; output:\n%s", out.String())
			}
			assert.Equal(t, tt.wantCode, cmd.ProcessState.ExitCode(), out.String())
			assert.Contains(t, out.String(), tt.wantOut)
		})
	}
}
