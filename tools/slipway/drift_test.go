package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// driftTestdata is the directory of the declared files the tests use.
const driftTestdata = "testdata/drift/dev"

// driftRoot is the Slipway workspace this test runs in: drift reads
// the services' config structs from there.
func driftRoot(t *testing.T) string {
	t.Helper()
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	return root
}

// runDriftCLI runs `slipway drift args...` through the real entry point and
// returns the exit code, stdout and stderr.
func runDriftCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: os.Environ()}
	code := run(t.Context(), append([]string{"drift"}, args...), env)
	return code, stdout.String(), stderr.String()
}

// decodeDrift decodes a --json report.
func decodeDrift(t *testing.T, out string) driftReport {
	t.Helper()
	var rep driftReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return rep
}

// driftedRows returns the rows of rep whose status counts as drift, keyed by
// "source key".
func driftedRows(rep driftReport) map[string]driftRow {
	out := map[string]driftRow{}
	for _, r := range rep.Rows {
		if r.Drift {
			out[r.Source+" "+r.Key] = r
		}
	}
	return out
}

func findDriftRow(t *testing.T, rep driftReport, source, key string) driftRow {
	t.Helper()
	for _, r := range rep.Rows {
		if r.Source == source && r.Key == key {
			return r
		}
	}
	t.Fatalf("no %s row for %s in %+v", source, key, rep.Rows)
	return driftRow{}
}

// buildDriftInventory builds the real inventory service into the test's
// temporary directory (the build cache makes it quick after the first time).
func buildDriftInventory(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "inventory")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./"+filepath.ToSlash(workspace.MainDir("inventory")))
	cmd.Dir = driftRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build inventory:\n%s", out)
	return bin
}

// startDriftInventory runs the inventory binary on loopback port 0 with extra
// environment variables and returns its HTTP address once it logs
// "serving". The process is stopped when the test ends.
func startDriftInventory(t *testing.T, bin, natsURL string, extra ...string) string {
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

// TestDriftRunningInventory starts the real inventory service with one
// environment variable changed from the declared file and shows that drift
// names that key and exits 1, and exits 0 when the service runs as declared.
func TestDriftRunningInventory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the inventory service")
	}
	bin := buildDriftInventory(t)
	nats, err := fleet.StartBroker(t.TempDir(), "127.0.0.1", 0)
	require.NoError(t, err)
	t.Cleanup(nats.Stop)
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
			addr := startDriftInventory(t, bin, nats.URL(), append(tt.env, "AUTH_JWKS_URL="+jwks.URL)...)
			args := []string{"--root", driftRoot(t), "--config-dir", driftTestdata, "--targets", "inventory=" + addr}

			t.Setenv("SLIPWAY_ADMIN_TOKEN", customerToken)
			code, _, errOut := runDriftCLI(t, args...)
			assert.Equal(t, cli.ExitFailed, code, "a customer's token does not read /debug/config")
			assert.Contains(t, errOut, "could not read: inventory running")
			t.Setenv("SLIPWAY_ADMIN_TOKEN", adminToken)

			code, out, errOut := runDriftCLI(t, args...)
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

			code, out, _ = runDriftCLI(t, append(args, "--json")...)
			assert.Equal(t, tt.wantCode, code)
			rep := decodeDrift(t, out)
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
				assert.Equal(t, driftSame, findDriftRow(t, rep, driftSourceRunning, key).Status, key)
			}
			// Keys from defaults or the environment are info, not drift.
			db := findDriftRow(t, rep, driftSourceRunning, "database_url")
			assert.Equal(t, driftUndeclared, db.Status)
			assert.False(t, db.Drift)
		})
	}
}

// fakeDebugConfig serves a /debug/config document as platform/server does and
// returns its host:port.
func fakeDebugConfig(t *testing.T, service string, cfg map[string]any) string {
	t.Helper()
	body, err := json.MarshalIndent(map[string]any{"service": service, "version": "test", "hash": strings.Repeat("ab", 32), "config": cfg}, "", "  ")
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/config" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// driftTestKey is the CONFIG_FINGERPRINT_KEY of the fake running services.
const driftTestKey = "drift-test-fingerprint-key-0123456789"

// driftSHA is a secret's fingerprint as a service keyed by driftTestKey
// shows it.
func driftSHA(s string) string {
	return redact.NewFingerprinter([]byte(driftTestKey)).Secret(s)
}

// The secret values in testdata/drift/k8s.json; none may ever be printed.
const (
	k8sAdminPassword   = "hunter2-admin-pw"
	k8sServiceAccounts = "order:live-order-pw"
	k8sDatabaseURL     = "postgres://app:db-pw-9x7@db:5432/user?sslmode=disable"
)

// runningDriftUser is the user service's redacted config as it would serve it:
// the admin password matches the Secret, the service accounts do not.
func runningDriftUser() map[string]any {
	return map[string]any{
		"log_level":        "info",
		"token_ttl":        "1h0m0s",
		"issuer":           "slipway",
		"admin_email":      "ops@example.com",
		"admin_password":   driftSHA(k8sAdminPassword),
		"service_accounts": driftSHA("order:rotated-pw-2"),
		"database_url":     "postgres://app:xxxxx@db:5432/user?sslmode=disable",
		"signing_key":      "",
		"drain_delay":      "5s",
	}
}

func TestDriftKubernetes(t *testing.T) {
	root := driftRoot(t)
	k8s, err := os.ReadFile("testdata/drift/k8s.json")
	require.NoError(t, err)
	addr := fakeDebugConfig(t, "user", runningDriftUser())

	tests := []struct {
		name  string
		k8s   string // the --k8s argument
		stdin string
	}{
		{"from a file", "testdata/drift/k8s.json", ""},
		{"from stdin", "-", string(k8s)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var human, js bytes.Buffer
			opts := driftOptions{
				Root: root, ConfigDir: driftTestdata, Services: []string{"user"}, FingerprintKey: driftTestKey,
				Targets: map[string]string{"user": addr}, K8s: tt.k8s, Stdin: strings.NewReader(tt.stdin), Stdout: &human,
			}
			require.ErrorIs(t, runDrift(t.Context(), opts), errDriftFound)
			opts.Stdout, opts.JSON, opts.Stdin = &js, true, strings.NewReader(tt.stdin)
			require.ErrorIs(t, runDrift(t.Context(), opts), errDriftFound)
			rep := decodeDrift(t, js.String())

			// The ConfigMap differs from the declaration in log_level, has
			// an undeclared admin_email, and says token_ttl as 60m (= 1h).
			cm := findDriftRow(t, rep, driftSourceConfigMap, "log_level")
			assert.Equal(t, driftDiffers, cm.Status)
			assert.Equal(t, "info", cm.Declared)
			assert.Equal(t, "debug", cm.Found)
			assert.Equal(t, "shop/user-config-5h2m8k:user.yaml", cm.Object)
			assert.Equal(t, driftExtra, findDriftRow(t, rep, driftSourceConfigMap, "admin_email").Status)
			assert.Equal(t, driftSame, findDriftRow(t, rep, driftSourceConfigMap, "token_ttl").Status)
			assert.Equal(t, driftSame, findDriftRow(t, rep, driftSourceConfigMap, "issuer").Status)
			assert.Regexp(t, `(?m)^user\s+configmap shop/user-config-5h2m8k:user.yaml\s+log_level\s+info\s+debug\s+DIFFERS$`, human.String())

			// Secrets are compared by hash with the running config.
			pw := findDriftRow(t, rep, driftSourceSecret, "admin_password")
			assert.Equal(t, driftSame, pw.Status)
			assert.Equal(t, "ADMIN_PASSWORD", pw.Env)
			assert.Equal(t, driftSecretShown, pw.Declared)
			assert.Equal(t, driftSecretShown, pw.Found)
			sa := findDriftRow(t, rep, driftSourceSecret, "service_accounts")
			assert.Equal(t, driftDiffers, sa.Status)
			assert.True(t, sa.Drift)
			db := findDriftRow(t, rep, driftSourceSecret, "database_url")
			assert.Equal(t, driftSame, db.Status, "a shared Secret's URL compares with the password masked")
			assert.Equal(t, "shop/slipway-db", db.Object)
			for _, r := range rep.Rows {
				assert.NotEqual(t, "shop/tenant-db", r.Object, "a Secret labelled for order is not the user's")
			}
			otel := findDriftRow(t, rep, driftSourceSecret, "-")
			assert.Equal(t, driftUnmapped, otel.Status)
			assert.False(t, otel.Drift)
			assert.Regexp(t, `(?m)^user\s+secret shop/user-secrets\s+service_accounts \(SERVICE_ACCOUNTS\)\s+<secret>\s+<secret>\s+DIFFERS$`, human.String())

			// Against the running service the declaration holds.
			for _, key := range []string{"log_level", "token_ttl", "issuer"} {
				assert.Equal(t, driftSame, findDriftRow(t, rep, driftSourceRunning, key).Status, key)
			}
			assert.Equal(t, map[string]bool{
				"configmap log_level": true, "configmap admin_email": true, "secret service_accounts": true,
			}, driftKeys(driftedRows(rep)))

			// Neither a secret, nor its base64, nor its hash is printed.
			for _, out := range []string{human.String(), js.String()} {
				for _, secret := range []string{k8sAdminPassword, k8sServiceAccounts, k8sDatabaseURL, "db-pw-9x7", "order:rotated-pw-2"} {
					assert.NotContains(t, out, secret)
					assert.NotContains(t, out, base64.StdEncoding.EncodeToString([]byte(secret)))
					assert.NotContains(t, out, strings.TrimPrefix(driftSHA(secret), redact.FingerprintPrefix))
				}
			}
		})
	}
}

func driftKeys(m map[string]driftRow) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// TestDriftSecretsWithoutRunning shows that a Secret cannot be judged
// without the running service: it is reported unchecked, not as drift.
func TestDriftSecretsWithoutRunning(t *testing.T) {
	var out bytes.Buffer
	err := runDrift(t.Context(), driftOptions{
		Root: driftRoot(t), ConfigDir: driftTestdata, Services: []string{"user"},
		NoRunning: true, K8s: "testdata/drift/k8s.json", JSON: true, Stdout: &out,
	})
	require.ErrorIs(t, err, errDriftFound, "the ConfigMap still drifts")
	rep := decodeDrift(t, out.String())
	pw := findDriftRow(t, rep, driftSourceSecret, "admin_password")
	assert.Equal(t, driftUnchecked, pw.Status)
	assert.False(t, pw.Drift)
	assert.NotContains(t, out.String(), k8sAdminPassword)
}

// TestDriftRunningRows compares declared files with a running config key by
// key: types normalised as /debug/config shows them, unknown and invalid
// declarations named, undeclared keys info only.
func TestDriftRunningRows(t *testing.T) {
	running := map[string]any{
		"log_level":            "info",
		"drain_delay":          "5s",
		"max_message_bytes":    4194304,
		"faults_enabled":       false,
		"cors_allowed_origins": []string{"http://localhost:8080"},
		"reservation_ttl":      "15m0s",
		"database_url":         "postgres://inv:xxxxx@db/inventory",
		"nats_url":             "nats://127.0.0.1:4222",
	}
	addr := fakeDebugConfig(t, "inventory", running)
	tests := []struct {
		name       string
		declared   string
		wantStatus map[string]string
	}{
		{
			name:     "every type as running",
			declared: "log_level: info\ndrain_delay: 5000ms\nmax_message_bytes: 4194304\nfaults_enabled: false\ncors_allowed_origins: [http://localhost:8080]\nreservation_ttl: 0.25h\n",
			wantStatus: map[string]string{
				"log_level": driftSame, "drain_delay": driftSame, "max_message_bytes": driftSame,
				"faults_enabled": driftSame, "cors_allowed_origins": driftSame, "reservation_ttl": driftSame,
				"database_url": driftUndeclared, "nats_url": driftUndeclared,
			},
		},
		{
			name:     "values that differ",
			declared: "log_level: debug\nmax_message_bytes: 1048576\nfaults_enabled: true\ncors_allowed_origins: [https://shop.example.com]\ndatabase_url: postgres://inv:pw@db/other\n",
			wantStatus: map[string]string{
				"log_level": driftDiffers, "max_message_bytes": driftDiffers, "faults_enabled": driftDiffers,
				"cors_allowed_origins": driftDiffers, "database_url": driftDiffers,
			},
		},
		{
			name:     "a key the service does not have and a value that does not parse",
			declared: "reservation_tll: 15m\ndrain_delay: soon\n",
			wantStatus: map[string]string{
				"reservation_tll": driftUnknown, "drain_delay": driftInvalid, "reservation_ttl": driftUndeclared,
			},
		},
		{
			name:     "a URL's password is compared masked",
			declared: "database_url: postgres://inv:other-pw@db/inventory\n",
			wantStatus: map[string]string{
				"database_url": driftSame,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "inventory.yaml"), []byte(tt.declared), 0o600))
			var out bytes.Buffer
			err := runDrift(t.Context(), driftOptions{
				Root: driftRoot(t), ConfigDir: dir, Targets: map[string]string{"inventory": addr}, JSON: true, Stdout: &out,
			})
			rep := decodeDrift(t, out.String())
			wantDrift := false
			for key, status := range tt.wantStatus {
				r := findDriftRow(t, rep, driftSourceRunning, key)
				assert.Equal(t, status, r.Status, "%s: %+v", key, r)
				wantDrift = wantDrift || r.Drift
			}
			if wantDrift {
				require.ErrorIs(t, err, errDriftFound)
			} else {
				require.NoError(t, err)
			}
			assert.NotContains(t, out.String(), "other-pw")
			assert.Contains(t, strings.Join(rep.Notes, "\n"), "using the working tree", "a file outside git is read with a note")
		})
	}
}

// TestDriftDeclaredInGit shows that the committed file is the declaration:
// an uncommitted edit that the service runs with is drift until committed.
func TestDriftDeclaredInGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "git", append([]string{"-C", repo, "-c", "user.name=drift", "-c", "user.email=drift@example.com"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	dir := filepath.Join(repo, "deploy", "config", "dev")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	file := filepath.Join(dir, "inventory.yaml")
	write := func(ttl string) {
		require.NoError(t, os.WriteFile(file, []byte("reservation_ttl: "+ttl+"\n"), 0o600))
	}
	git("init", "-q")
	write("15m")
	git("add", ".")
	git("commit", "-q", "-m", "declare inventory")
	write("20m") // the service runs with the edit, which is not committed
	addr := fakeDebugConfig(t, "inventory", map[string]any{"reservation_ttl": "20m0s"})

	check := func() (driftReport, error) {
		var out bytes.Buffer
		err := runDrift(t.Context(), driftOptions{
			Root: driftRoot(t), ConfigDir: dir, Targets: map[string]string{"inventory": addr}, JSON: true, Stdout: &out,
		})
		return decodeDrift(t, out.String()), err
	}
	rep, err := check()
	require.ErrorIs(t, err, errDriftFound)
	r := findDriftRow(t, rep, driftSourceRunning, "reservation_ttl")
	assert.Equal(t, driftDiffers, r.Status)
	assert.Equal(t, "15m0s", r.Declared)
	assert.Regexp(t, `^git HEAD [0-9a-f]+$`, rep.Services[0].Origin)
	assert.Contains(t, strings.Join(rep.Notes, "\n"), "uncommitted changes")

	git("commit", "-q", "-am", "raise the reservation TTL")
	rep, err = check()
	require.NoError(t, err)
	assert.Equal(t, driftSame, findDriftRow(t, rep, driftSourceRunning, "reservation_ttl").Status)
	assert.Empty(t, rep.Notes)
}

// TestDriftUnreachable shows that a service that cannot be asked fails the
// check (exit 1) rather than passing it.
func TestDriftUnreachable(t *testing.T) {
	code, out, errOut := runDriftCLI(t, "--root", driftRoot(t), "--config-dir", driftTestdata,
		"--targets", "inventory=127.0.0.1:"+strconv.Itoa(clitest.FreePort(t)), "--timeout", "2s")
	assert.Equal(t, cli.ExitFailed, code)
	assert.Regexp(t, `(?m)^inventory\s+running\s+-\s+-\s+-\s+ERROR`, out)
	assert.Contains(t, errOut, "could not read: inventory running")
}

func TestDriftUsage(t *testing.T) {
	root := driftRoot(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown service", []string{"--services", "billing"}, `unknown service "billing"`},
		{"target without address", []string{"--targets", "user"}, "want svc=host:port"},
		{"target of an unknown service", []string{"--targets", "billing=127.0.0.1:1"}, `unknown service "billing" in --targets`},
		{"target twice", []string{"--targets", "user=127.0.0.1:1,user=127.0.0.1:2"}, "names user twice"},
		{"bad environment name", []string{"--env", "../prod"}, `--env "../prod"`},
		{"targets and no-running", []string{"--no-running", "--targets", "user=127.0.0.1:1"}, "exclude each other"},
		{"stray argument", []string{"user"}, "unexpected arguments"},
		{"bad flag", []string{"--nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runDriftCLI(t, append([]string{"--root", root}, tt.args...)...)
			assert.Equal(t, cli.ExitUsage, code)
			assert.Contains(t, errOut, tt.wantErr)
		})
	}
}

// TestDriftNoDeclaredFiles fails, naming the directory, when there is
// nothing to compare.
func TestDriftNoDeclaredFiles(t *testing.T) {
	code, _, errOut := runDriftCLI(t, "--root", driftRoot(t), "--config-dir", t.TempDir())
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, errOut, "no declared config in")
}

// TestDriftConfigSchema reads the real config structs: keys, environment
// variables, types and redaction come from the tags config.Load reads.
func TestDriftConfigSchema(t *testing.T) {
	root := driftRoot(t)
	tests := []struct {
		svc, env string
		want     configField
	}{
		{"user", "ADMIN_PASSWORD", configField{Key: "admin_password", Env: "ADMIN_PASSWORD", Kind: configKindString, Secret: true}},
		{"user", "AUTH_TOKEN_TTL", configField{Key: "token_ttl", Env: "AUTH_TOKEN_TTL", Kind: configKindDuration}},
		{"inventory", "RESERVATION_TTL", configField{Key: "reservation_ttl", Env: "RESERVATION_TTL", Kind: configKindDuration}},
		{"inventory", "INVENTORY_SEED_CATALOG", configField{Key: "seed_catalog", Env: "INVENTORY_SEED_CATALOG", Kind: configKindBool}},
		{"order", "DATABASE_URL", configField{Key: "database_url", Env: "DATABASE_URL", Kind: configKindString, URL: true}},
		{"order", "CORS_ALLOWED_ORIGINS", configField{Key: "cors_allowed_origins", Env: "CORS_ALLOWED_ORIGINS", Kind: configKindList}},
		{"notification", "GRPC_MAX_MESSAGE_BYTES", configField{Key: "max_message_bytes", Env: "GRPC_MAX_MESSAGE_BYTES", Kind: configKindNumber}},
	}
	for _, tt := range tests {
		t.Run(tt.svc+" "+tt.env, func(t *testing.T) {
			s, err := loadConfigSchema(root, tt.svc)
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.byEnv[tt.env])
			assert.Equal(t, tt.want, s.byKey[tt.want.Key])
		})
	}
	_, err := loadConfigSchema(t.TempDir(), "user")
	assert.Error(t, err, "a workspace without the source has no schema")
}

// TestDriftSecretsNeedTheFingerprintKey shows that fingerprints are keyed:
// without the deployment's key drift cannot judge a Secret (unchecked, not
// drift), and under another key the right password does not match.
func TestDriftSecretsNeedTheFingerprintKey(t *testing.T) {
	root := driftRoot(t)
	if workspace.FingerprintKeyIn(root) != "" {
		t.Skip("a slipway dev fingerprint key exists under the workspace; drift would use it")
	}
	addr := fakeDebugConfig(t, "user", runningDriftUser())
	check := func(key string) driftRow {
		var out bytes.Buffer
		_ = runDrift(t.Context(), driftOptions{
			Root: root, ConfigDir: driftTestdata, Services: []string{"user"}, FingerprintKey: key,
			Targets: map[string]string{"user": addr}, K8s: "testdata/drift/k8s.json", JSON: true, Stdout: &out,
		})
		assert.NotContains(t, out.String(), k8sAdminPassword)
		return findDriftRow(t, decodeDrift(t, out.String()), driftSourceSecret, "admin_password")
	}
	assert.Equal(t, driftSame, check(driftTestKey).Status, "the deployment's key: the same password compares equal")
	noKey := check("")
	assert.Equal(t, driftUnchecked, noKey.Status)
	assert.Contains(t, noKey.Note, "CONFIG_FINGERPRINT_KEY")
	assert.Equal(t, driftDiffers, check("another-deployment-key-0123456789").Status, "another key: no match")
}
