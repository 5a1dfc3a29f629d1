package debug

import (
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// How dlv ended decides debug's result: a stop that was asked for or a
// clean exit is success, anything else names how dlv ended.
func TestExitResult(t *testing.T) {
	tests := []struct {
		name    string
		exit    fleet.ProcExit
		wantErr string // "" for success
		wantOut string
	}{
		{name: "stopped on request", exit: fleet.ProcExit{Requested: true, Code: -1, State: "signal: terminated", StopTook: 300 * time.Millisecond}, wantOut: "dlv stopped in 0.30s"},
		{name: "exited cleanly by itself", exit: fleet.ProcExit{Code: 0}, wantOut: "dlv exited"},
		{name: "killed after the stop timeout", exit: fleet.ProcExit{Requested: true, Killed: true, Code: -1}, wantErr: "dlv ended: killed (SIGKILL)"},
		{name: "failed", exit: fleet.ProcExit{Code: 1}, wantErr: "dlv ended: exit code 1"},
		{name: "could not be waited for", exit: fleet.ProcExit{Requested: true, Err: errors.New("wait: no child")}, wantErr: "dlv ended: wait: no child"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out clitest.SyncBuffer
			err := exitResult(tt.exit, fleet.NewConsole(&out, false, "user"))
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Contains(t, out.String(), tt.wantOut)
		})
	}
}

func TestAttachHelp(t *testing.T) {
	svc := fleet.Service{Name: "inventory", GRPCAddr: "127.0.0.1:50053", GRPCDial: "127.0.0.1:50053", HTTPAddr: "127.0.0.1:8083", HTTPDial: "127.0.0.1:8083",
		Env: []string{"DATABASE_URL=sqlite:///ws/.slipway/data/inventory.db"}}
	plan := Plan{Service: svc, Attach: "127.0.0.1:2345", Build: buildFlags("v1.2.3")}

	headless := attachHelp(plan, Options{}, 2*time.Second)
	assert.Contains(t, headless, "dlv is listening on 127.0.0.1:2345 (built in 2.00s)")
	assert.Contains(t, headless, `VS Code   Run and Debug: "`+vscodeAttachConfig+`" (.vscode/launch.json)`)
	assert.Contains(t, headless, "go tool dlv connect 127.0.0.1:2345")
	assert.Contains(t, headless, "inventory listens on gRPC 127.0.0.1:50053 and HTTP 127.0.0.1:8083")

	plan.Attach = "127.0.0.1:4000"
	moved := attachHelp(plan, Options{}, time.Second)
	assert.Contains(t, moved, `with "port": 4000`, "launch.json attaches to 2345: say which port to use")

	dap := attachHelp(plan, Options{DAP: true}, time.Second)
	assert.Contains(t, dap, "dlv dap is listening on 127.0.0.1:4000")
	assert.Contains(t, dap, `"program": "${workspaceFolder}/services/inventory/cmd/inventory"`)
	assert.Contains(t, dap, `"host": "127.0.0.1", "port": 4000`)
	assert.Contains(t, dap, "DATABASE_URL sqlite")
	assert.NotContains(t, dap, "dlv connect", "a DAP server takes no JSON-RPC client")
}

// prepare refuses to start when dlv's address is taken, and says how to
// move it.
func TestPrepareRefusesATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	grpcBase, httpBase := clitest.FreeBases(t)
	svc := fleet.Service{Name: "user", GRPCAddr: "127.0.0.1:" + strconv.Itoa(grpcBase), HTTPAddr: "127.0.0.1:" + strconv.Itoa(httpBase)}
	root := t.TempDir()
	var out clitest.SyncBuffer

	_, _, err = prepare(root, Plan{Service: svc}, Options{Listen: ln.Addr().String()}, fleet.NewConsole(&out, false, "user"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "for dlv debugger ("+ln.Addr().String()+") is already in use")
	assert.Contains(t, err.Error(), "move dlv with --listen")
	assert.NoDirExists(t, filepath.Join(root, ".slipway"), "nothing is made before the check")

	free := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
	env, stop, err := prepare(root, Plan{Service: svc}, Options{Listen: free}, fleet.NewConsole(&out, false, "user"))
	require.NoError(t, err)
	stop()
	assert.Nil(t, env, "no broker asked: the planned environment as it is")
	assert.DirExists(t, filepath.Join(root, ".slipway", "nats"))
}

func TestAnswersAndPortOf(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	assert.True(t, answers(addr))
	require.NoError(t, ln.Close())
	assert.False(t, answers(addr))
	assert.Equal(t, "2345", portOf("127.0.0.1:2345"))
	assert.Empty(t, portOf("no port"))
}
