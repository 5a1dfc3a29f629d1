package drift

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// testdataDir is the directory of the declared files the tests use.
const testdataDir = "testdata/dev"

// workspaceRoot is the Slipway workspace this test runs in: drift reads
// the services' config structs from there.
func workspaceRoot(t *testing.T) string {
	t.Helper()
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	return root
}

// runCLI runs `slipway drift args...` through the real entry point and
// returns the exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: os.Environ()}
	code := cli.ExitCode(env.Stderr, "drift", Main(t.Context(), args, env))
	return code, stdout.String(), stderr.String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
}

// decodeReport decodes a --json report.
func decodeReport(t *testing.T, out string) Report {
	t.Helper()
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return rep
}

// driftedRows returns the rows of rep whose status counts as drift, keyed by
// "source key".
func driftedRows(rep Report) map[string]Row {
	out := map[string]Row{}
	for _, r := range rep.Rows {
		if r.Drift {
			out[r.Source+" "+r.Key] = r
		}
	}
	return out
}

func findRow(t *testing.T, rep Report, source, key string) Row {
	t.Helper()
	for _, r := range rep.Rows {
		if r.Source == source && r.Key == key {
			return r
		}
	}
	t.Fatalf("no %s row for %s in %+v", source, key, rep.Rows)
	return Row{}
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

// The secret values in testdata/k8s.json; none may ever be printed.
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

func TestKubernetes(t *testing.T) {
	root := workspaceRoot(t)
	k8s, err := os.ReadFile("testdata/k8s.json")
	require.NoError(t, err)
	addr := fakeDebugConfig(t, "user", runningDriftUser())

	tests := []struct {
		name  string
		k8s   string // the --k8s argument
		stdin string
	}{
		{"from a file", "testdata/k8s.json", ""},
		{"from stdin", "-", string(k8s)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var human, js bytes.Buffer
			opts := Options{
				Root: root, ConfigDir: testdataDir, Services: []string{"user"}, FingerprintKey: driftTestKey,
				Targets: map[string]string{"user": addr}, K8s: tt.k8s, Stdin: strings.NewReader(tt.stdin), Stdout: &human,
			}
			require.ErrorIs(t, Run(t.Context(), opts), errFound)
			opts.Stdout, opts.JSON, opts.Stdin = &js, true, strings.NewReader(tt.stdin)
			require.ErrorIs(t, Run(t.Context(), opts), errFound)
			rep := decodeReport(t, js.String())

			// The ConfigMap differs from the declaration in log_level, has
			// an undeclared admin_email, and says token_ttl as 60m (= 1h).
			cm := findRow(t, rep, sourceConfigMap, "log_level")
			assert.Equal(t, statusDiffers, cm.Status)
			assert.Equal(t, "info", cm.Declared)
			assert.Equal(t, "debug", cm.Found)
			assert.Equal(t, "shop/user-config-5h2m8k:user.yaml", cm.Object)
			assert.Equal(t, statusExtra, findRow(t, rep, sourceConfigMap, "admin_email").Status)
			assert.Equal(t, statusSame, findRow(t, rep, sourceConfigMap, "token_ttl").Status)
			assert.Equal(t, statusSame, findRow(t, rep, sourceConfigMap, "issuer").Status)
			assert.Regexp(t, `(?m)^user\s+configmap shop/user-config-5h2m8k:user.yaml\s+log_level\s+info\s+debug\s+DIFFERS$`, human.String())

			// Secrets are compared by hash with the running config.
			pw := findRow(t, rep, sourceSecret, "admin_password")
			assert.Equal(t, statusSame, pw.Status)
			assert.Equal(t, "ADMIN_PASSWORD", pw.Env)
			assert.Equal(t, secretShown, pw.Declared)
			assert.Equal(t, secretShown, pw.Found)
			sa := findRow(t, rep, sourceSecret, "service_accounts")
			assert.Equal(t, statusDiffers, sa.Status)
			assert.True(t, sa.Drift)
			db := findRow(t, rep, sourceSecret, "database_url")
			assert.Equal(t, statusSame, db.Status, "a shared Secret's URL compares with the password masked")
			assert.Equal(t, "shop/slipway-db", db.Object)
			for _, r := range rep.Rows {
				assert.NotEqual(t, "shop/tenant-db", r.Object, "a Secret labelled for order is not the user's")
			}
			otel := findRow(t, rep, sourceSecret, "-")
			assert.Equal(t, statusUnmapped, otel.Status)
			assert.False(t, otel.Drift)
			assert.Regexp(t, `(?m)^user\s+secret shop/user-secrets\s+service_accounts \(SERVICE_ACCOUNTS\)\s+<secret>\s+<secret>\s+DIFFERS$`, human.String())

			// Against the running service the declaration holds.
			for _, key := range []string{"log_level", "token_ttl", "issuer"} {
				assert.Equal(t, statusSame, findRow(t, rep, sourceRunning, key).Status, key)
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

func driftKeys(m map[string]Row) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// TestSecretsWithoutRunning shows that a Secret cannot be judged
// without the running service: it is reported unchecked, not as drift.
func TestSecretsWithoutRunning(t *testing.T) {
	var out bytes.Buffer
	err := Run(t.Context(), Options{
		Root: workspaceRoot(t), ConfigDir: testdataDir, Services: []string{"user"},
		NoRunning: true, K8s: "testdata/k8s.json", JSON: true, Stdout: &out,
	})
	require.ErrorIs(t, err, errFound, "the ConfigMap still drifts")
	rep := decodeReport(t, out.String())
	pw := findRow(t, rep, sourceSecret, "admin_password")
	assert.Equal(t, statusUnchecked, pw.Status)
	assert.False(t, pw.Drift)
	assert.NotContains(t, out.String(), k8sAdminPassword)
}

// TestRunningRows compares declared files with a running config key by
// key: types normalised as /debug/config shows them, unknown and invalid
// declarations named, undeclared keys info only.
func TestRunningRows(t *testing.T) {
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
				"log_level": statusSame, "drain_delay": statusSame, "max_message_bytes": statusSame,
				"faults_enabled": statusSame, "cors_allowed_origins": statusSame, "reservation_ttl": statusSame,
				"database_url": statusUndeclared, "nats_url": statusUndeclared,
			},
		},
		{
			name:     "values that differ",
			declared: "log_level: debug\nmax_message_bytes: 1048576\nfaults_enabled: true\ncors_allowed_origins: [https://shop.example.com]\ndatabase_url: postgres://inv:pw@db/other\n",
			wantStatus: map[string]string{
				"log_level": statusDiffers, "max_message_bytes": statusDiffers, "faults_enabled": statusDiffers,
				"cors_allowed_origins": statusDiffers, "database_url": statusDiffers,
			},
		},
		{
			name:     "a key the service does not have and a value that does not parse",
			declared: "reservation_tll: 15m\ndrain_delay: soon\n",
			wantStatus: map[string]string{
				"reservation_tll": statusUnknown, "drain_delay": statusInvalid, "reservation_ttl": statusUndeclared,
			},
		},
		{
			name:     "a URL's password is compared masked",
			declared: "database_url: postgres://inv:other-pw@db/inventory\n",
			wantStatus: map[string]string{
				"database_url": statusSame,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "inventory.yaml"), []byte(tt.declared), 0o600))
			var out bytes.Buffer
			err := Run(t.Context(), Options{
				Root: workspaceRoot(t), ConfigDir: dir, Targets: map[string]string{"inventory": addr}, JSON: true, Stdout: &out,
			})
			rep := decodeReport(t, out.String())
			wantDrift := false
			for key, status := range tt.wantStatus {
				r := findRow(t, rep, sourceRunning, key)
				assert.Equal(t, status, r.Status, "%s: %+v", key, r)
				wantDrift = wantDrift || r.Drift
			}
			if wantDrift {
				require.ErrorIs(t, err, errFound)
			} else {
				require.NoError(t, err)
			}
			assert.NotContains(t, out.String(), "other-pw")
			assert.Contains(t, strings.Join(rep.Notes, "\n"), "using the working tree", "a file outside git is read with a note")
		})
	}
}

// TestDeclaredInGit shows that the committed file is the declaration:
// an uncommitted edit that the service runs with is drift until committed.
func TestDeclaredInGit(t *testing.T) {
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

	check := func() (Report, error) {
		var out bytes.Buffer
		err := Run(t.Context(), Options{
			Root: workspaceRoot(t), ConfigDir: dir, Targets: map[string]string{"inventory": addr}, JSON: true, Stdout: &out,
		})
		return decodeReport(t, out.String()), err
	}
	rep, err := check()
	require.ErrorIs(t, err, errFound)
	r := findRow(t, rep, sourceRunning, "reservation_ttl")
	assert.Equal(t, statusDiffers, r.Status)
	assert.Equal(t, "15m0s", r.Declared)
	assert.Regexp(t, `^git HEAD [0-9a-f]+$`, rep.Services[0].Origin)
	assert.Contains(t, strings.Join(rep.Notes, "\n"), "uncommitted changes")

	git("commit", "-q", "-am", "raise the reservation TTL")
	rep, err = check()
	require.NoError(t, err)
	assert.Equal(t, statusSame, findRow(t, rep, sourceRunning, "reservation_ttl").Status)
	assert.Empty(t, rep.Notes)
}

// TestUnreachable shows that a service that cannot be asked fails the
// check (exit 1) rather than passing it.
func TestUnreachable(t *testing.T) {
	code, out, errOut := runCLI(t, "--root", workspaceRoot(t), "--config-dir", testdataDir,
		"--targets", "inventory="+closedAddr(t), "--timeout", "2s")
	assert.Equal(t, cli.ExitFailed, code)
	assert.Regexp(t, `(?m)^inventory\s+running\s+-\s+-\s+-\s+ERROR`, out)
	assert.Contains(t, errOut, "could not read: inventory running")
}

func TestUsage(t *testing.T) {
	root := workspaceRoot(t)
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
			code, _, errOut := runCLI(t, append([]string{"--root", root}, tt.args...)...)
			assert.Equal(t, cli.ExitUsage, code)
			assert.Contains(t, errOut, tt.wantErr)
		})
	}
}

// TestNoDeclaredFiles fails, naming the directory, when there is
// nothing to compare.
func TestNoDeclaredFiles(t *testing.T) {
	code, _, errOut := runCLI(t, "--root", workspaceRoot(t), "--config-dir", t.TempDir())
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, errOut, "no declared config in")
}

// TestConfigSchema reads the real config structs: keys, environment
// variables, types and redaction come from the tags config.Load reads.
func TestConfigSchema(t *testing.T) {
	root := workspaceRoot(t)
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

// TestSecretsNeedTheFingerprintKey shows that fingerprints are keyed:
// without the deployment's key drift cannot judge a Secret (unchecked, not
// drift), and under another key the right password does not match.
func TestSecretsNeedTheFingerprintKey(t *testing.T) {
	root := workspaceRoot(t)
	if workspace.FingerprintKeyIn(root) != "" {
		t.Skip("a slipway dev fingerprint key exists under the workspace; drift would use it")
	}
	addr := fakeDebugConfig(t, "user", runningDriftUser())
	check := func(key string) Row {
		var out bytes.Buffer
		_ = Run(t.Context(), Options{
			Root: root, ConfigDir: testdataDir, Services: []string{"user"}, FingerprintKey: key,
			Targets: map[string]string{"user": addr}, K8s: "testdata/k8s.json", JSON: true, Stdout: &out,
		})
		assert.NotContains(t, out.String(), k8sAdminPassword)
		return findRow(t, decodeReport(t, out.String()), sourceSecret, "admin_password")
	}
	assert.Equal(t, statusSame, check(driftTestKey).Status, "the deployment's key: the same password compares equal")
	noKey := check("")
	assert.Equal(t, statusUnchecked, noKey.Status)
	assert.Contains(t, noKey.Note, "CONFIG_FINGERPRINT_KEY")
	assert.Equal(t, statusDiffers, check("another-deployment-key-0123456789").Status, "another key: no match")
}

// TestMainReadsTheFingerprintKeyFile: --fingerprint-key-file takes the
// deployment's key from a file (a trailing newline is no part of it), and a
// file that cannot be read is a usage error.
func TestMainReadsTheFingerprintKeyFile(t *testing.T) {
	root := workspaceRoot(t)
	addr := fakeDebugConfig(t, "user", runningDriftUser())
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(driftTestKey+"\n"), 0o600))

	code, out, errOut := runCLI(t, "--root", root, "--config-dir", testdataDir, "--services", "user", "--targets", "user="+addr,
		"--k8s", "testdata/k8s.json", "--fingerprint-key-file", keyFile, "--json")
	assert.Equal(t, cli.ExitFailed, code, errOut)
	assert.Equal(t, statusSame, findRow(t, decodeReport(t, out), sourceSecret, "admin_password").Status, "compared under the file's key")

	code, out, errOut = runCLI(t, "--root", root, "--fingerprint-key-file", filepath.Join(t.TempDir(), "missing"))
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, errOut, "--fingerprint-key-file: open ")
	assert.Empty(t, out)
}
