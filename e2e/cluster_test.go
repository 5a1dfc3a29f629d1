package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to create and drop the test databases
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events/natstest"
)

// services in start order: user signs tokens the others verify; order
// calls inventory, payment and user.
var services = []string{"user", "inventory", "payment", "order", "notification"}

// binDir holds the service binaries TestMain builds once.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	root, err := workspaceRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "slipway-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, svc := range services {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, svc), "./services/"+svc+"/cmd/"+svc)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n%s", svc, err, out)
			return 1
		}
	}
	binDir = dir
	return m.Run()
}

func workspaceRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the working directory")
		}
		dir = parent
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// databases gives each service its own database: a fresh PostgreSQL
// database when PostgreSQL answers (always under CI=true), else SQLite.
type databases struct {
	dialect string
	urls    map[string]string
}

func newDatabases(t *testing.T) databases {
	t.Helper()
	admin := os.Getenv("POSTGRES_TEST_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	db, err := sql.Open("pgx", admin)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		t.Logf("PostgreSQL unreachable (%v): running on SQLite", err)
		dir := t.TempDir()
		urls := map[string]string{}
		for _, svc := range services {
			urls[svc] = "sqlite://" + filepath.Join(dir, svc+".db")
		}
		return databases{dialect: "sqlite", urls: urls}
	}
	u, err := url.Parse(admin)
	require.NoError(t, err)
	suffix := randomHex(t, 4)
	urls := map[string]string{}
	for _, svc := range services {
		name := "slipway_e2e_" + suffix + "_" + svc
		_, err := db.ExecContext(context.Background(), "CREATE DATABASE "+name)
		require.NoError(t, err)
		t.Cleanup(func() {
			_, _ = db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		})
		svcURL := *u
		svcURL.Path = "/" + name
		urls[svc] = svcURL.String()
	}
	return databases{dialect: "postgres", urls: urls}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// process is one running service binary.
type process struct {
	name     string
	cmd      *exec.Cmd
	grpcAddr string
	httpAddr string
	logs     *logLines
	exited   chan struct{}
}

// logLines keeps a service's JSON log lines for assertions and failures.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// cluster is the whole shop, running.
type cluster struct {
	t       *testing.T
	nats    *natstest.Server
	dbs     databases
	otlp    *otlpReceiver
	env     map[string][]string
	procs   map[string]*process
	secret  string
	keyFile string
	extra   []string // environment every service gets on top of baseEnv
}

// startCluster starts NATS, a trace receiver and the five services, each
// on port 0, and waits until every one is SERVING.
func startCluster(t *testing.T, extraEnv ...string) *cluster {
	t.Helper()
	c := &cluster{
		t: t, nats: natstest.StartOpen(t), dbs: newDatabases(t), otlp: startOTLPReceiver(t),
		env: map[string][]string{}, procs: map[string]*process{},
		secret: randomHex(t, 12), keyFile: filepath.Join(t.TempDir(), "user-ed25519.pem"),
		extra: extraEnv,
	}
	for _, svc := range services {
		c.start(svc)
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *cluster) baseEnv(svc string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"GRPC_ADDR=127.0.0.1:0",
		"HTTP_ADDR=127.0.0.1:0",
		"DATABASE_URL=" + c.dbs.urls[svc],
		"DRAIN_DELAY=0s",
		"NATS_URL=" + c.nats.URL(),
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + c.otlp.URL(),
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"LOG_LEVEL=info",
	}
	if u, ok := c.procs["user"]; ok {
		env = append(env, "AUTH_JWKS_URL=http://"+u.httpAddr+"/.well-known/jwks.json", "USER_ADDR="+u.grpcAddr)
	}
	if inv, ok := c.procs["inventory"]; ok {
		env = append(env, "INVENTORY_ADDR="+inv.grpcAddr)
	}
	if pay, ok := c.procs["payment"]; ok {
		env = append(env, "PAYMENT_ADDR="+pay.grpcAddr)
	}
	switch svc {
	case "user":
		env = append(env, "AUTH_SIGNING_KEY_FILE="+c.keyFile, "SERVICE_ACCOUNTS=order:"+c.secret,
			"ADMIN_EMAIL=admin@e2e.test", "ADMIN_PASSWORD=e2e-admin-password")
	case "order":
		env = append(env, "SERVICE_ACCOUNT_PASSWORD="+c.secret)
	}
	return append(env, c.extra...)
}

// start runs svc and waits for its "serving" log line.
func (c *cluster) start(svc string) *process {
	c.t.Helper()
	return c.startAs(svc, svc)
}

// startAs runs another instance of svc under name (e.g. "inventory-2").
func (c *cluster) startAs(name, svc string) *process {
	t := c.t
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, svc))
	cmd.Env = c.baseEnv(svc)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	p := &process{name: name, cmd: cmd, logs: &logLines{}, exited: make(chan struct{})}
	serving := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.logs.add(line)
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "serving" {
				select {
				case serving <- m:
				default:
				}
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.exited) }()
	select {
	case m := <-serving:
		p.grpcAddr, _ = m["grpc_addr"].(string)
		p.httpAddr, _ = m["http_addr"].(string)
	case <-p.exited:
		t.Fatalf("%s exited before serving:\n%s", svc, p.logs)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%s not serving after 30s:\n%s", svc, p.logs)
	}
	c.procs[name] = p
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (c *cluster) stop(svc string) {
	c.t.Helper()
	p, ok := c.procs[svc]
	if !ok {
		return
	}
	delete(c.procs, svc)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			c.t.Errorf("%s exited %d after SIGTERM:\n%s", svc, code, p.logs)
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		c.t.Errorf("%s did not stop within 20s of SIGTERM", svc)
	}
}

func (c *cluster) stopAll() {
	for name := range c.procs {
		if !slices.Contains(services, name) {
			c.stop(name)
		}
	}
	for i := len(services) - 1; i >= 0; i-- {
		c.stop(services[i])
	}
	if c.t.Failed() {
		for _, svc := range services {
			if p, ok := c.procs[svc]; ok {
				c.t.Logf("%s logs:\n%s", svc, p.logs)
			}
		}
	}
}

// dumpOnFailure prints the logs of every service when the test failed.
func (c *cluster) dumpOnFailure() {
	if !c.t.Failed() {
		return
	}
	for _, svc := range services {
		if p, ok := c.procs[svc]; ok {
			c.t.Logf("---- %s ----\n%s", svc, tail(p.logs.String(), 60))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
