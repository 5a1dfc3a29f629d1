package drift

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// buildInventory builds the real inventory service into the test's
// temporary directory (the build cache makes it quick after the first time).
func buildInventory(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "inventory")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./"+filepath.ToSlash(workspace.MainDir("inventory")))
	cmd.Dir = workspaceRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build inventory:\n%s", out)
	return bin
}

// startInventory runs the inventory binary on loopback port 0 with extra
// environment variables and returns its HTTP address once it logs
// "serving". The process is stopped when the test ends.
func startInventory(t *testing.T, bin, natsURL string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	// Not tied to the test's context, which would SIGKILL it: the cleanup
	// stops it with SIGTERM like an orchestrator.
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(clitest.Environ(
		"GRPC_ADDR=127.0.0.1:0",
		"HTTP_ADDR=127.0.0.1:0",
		"DATABASE_URL=sqlite://"+filepath.ToSlash(filepath.Join(dir, "inventory.db")),
		"NATS_URL="+natsURL,
		"AUTH_JWKS_URL=http://127.0.0.1:1/.well-known/jwks.json",
		"DRAIN_DELAY=0s",
	), extra...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr clitest.SyncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})

	addr := make(chan string, 1)
	var logs clitest.SyncBuffer
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			_, _ = logs.Write(append(sc.Bytes(), '\n'))
			var line struct {
				Msg      string `json:"msg"`
				HTTPAddr string `json:"http_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" && line.HTTPAddr != "" {
				addr <- line.HTTPAddr
			}
		}
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(30 * time.Second):
		t.Fatalf("inventory did not log \"serving\" within 30s\nstdout:\n%s\nstderr:\n%s", logs.String(), stderr.String())
		return ""
	}
}

// TestRunningInventory starts the real inventory service with one
// environment variable changed from the declared file and shows that drift
// names that key and exits 1, and exits 0 when the service runs as declared.
func TestRunningInventory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the inventory service")
	}
	bin := buildInventory(t)
	nats := natstest.StartOpen(t)
	// /debug/config needs an admin: the service verifies tokens with this
	// JWKS, and drift sends the token from SLIPWAY_ADMIN_TOKEN.
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	signer := auth.NewSigner(key, auth.DefaultIssuer, time.Hour)
	jwks := httptest.NewServer(signer.JWKS())
	t.Cleanup(jwks.Close)
	adminToken, _, err := signer.Sign(auth.Claims{Subject: "ops", Role: auth.RoleAdmin})
	require.NoError(t, err)
	customerToken, _, err := signer.Sign(auth.Claims{Subject: "alice", Role: auth.RoleCustomer})
	require.NoError(t, err)

	tests := []struct {
		name      string
		env       []string
		wantCode  int
		wantDrift map[string][2]any // "source key" -> declared, found
	}{
		{
			name:      "RESERVATION_TTL changed from the declared 15m",
			env:       []string{"RESERVATION_TTL=20m"},
			wantCode:  cli.ExitFailed,
			wantDrift: map[string][2]any{"running reservation_ttl": {"15m0s", "20m0s"}},
		},
		{
			name:      "environment as declared",
			env:       []string{"RESERVATION_TTL=15m"},
			wantCode:  cli.ExitOK,
			wantDrift: map[string][2]any{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startInventory(t, bin, nats.URL(), append(tt.env, "AUTH_JWKS_URL="+jwks.URL)...)
			args := []string{"--root", workspaceRoot(t), "--config-dir", testdataDir, "--targets", "inventory=" + addr}

			t.Setenv("SLIPWAY_ADMIN_TOKEN", customerToken)
			code, _, errOut := runCLI(t, args...)
			assert.Equal(t, cli.ExitFailed, code, "a customer's token does not read /debug/config")
			assert.Contains(t, errOut, "could not read: inventory running")
			t.Setenv("SLIPWAY_ADMIN_TOKEN", adminToken)

			code, out, errOut := runCLI(t, args...)
			assert.Equal(t, tt.wantCode, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			assert.Contains(t, out, "running at "+addr)
			assert.Regexp(t, `config hash [0-9a-f]{64}`, out)
			for key := range tt.wantDrift {
				name := strings.TrimPrefix(key, "running ")
				assert.Regexp(t, `(?m)^inventory\s+running\s+`+name+`\s+15m0s\s+20m0s\s+DIFFERS$`, out)
				assert.Contains(t, errOut, "inventory "+name)
			}
			if len(tt.wantDrift) == 0 {
				assert.Contains(t, out, "no drift: 6 key(s) as declared")
				assert.Empty(t, errOut)
			}

			code, out, _ = runCLI(t, append(args, "--json")...)
			assert.Equal(t, tt.wantCode, code)
			rep := decodeReport(t, out)
			assert.Equal(t, tt.wantCode == cli.ExitFailed, rep.Drift)
			require.Len(t, rep.Services, 1)
			assert.Len(t, rep.Services[0].Hash, 64)
			got := map[string][2]any{}
			for k, r := range driftedRows(rep) {
				got[k] = [2]any{r.Declared, r.Found}
			}
			assert.Equal(t, tt.wantDrift, got)
			// The declared keys of every type compare equal to the running shapes.
			for _, key := range []string{"log_level", "seed_catalog", "reservation_sweep_interval", "max_message_bytes", "cors_allowed_origins"} {
				assert.Equal(t, statusSame, findRow(t, rep, sourceRunning, key).Status, key)
			}
			// Keys from defaults or the environment are info, not drift.
			db := findRow(t, rep, sourceRunning, "database_url")
			assert.Equal(t, statusUndeclared, db.Status)
			assert.False(t, db.Drift)
		})
	}
}
