package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineWriter hands over whole lines however the writes cut them, drops a
// line's \r, and hands over a line that outgrows the limit unfinished.
func TestLineWriter(t *testing.T) {
	var lines []string
	w := &lineWriter{fn: func(line []byte) { lines = append(lines, string(line)) }}
	for _, p := range []string{"fir", "st\nsecond\r\nthi", "rd"} {
		n, err := w.Write([]byte(p))
		require.NoError(t, err)
		assert.Equal(t, len(p), n)
	}
	assert.Equal(t, []string{"first", "second"}, lines, "the third line is not finished")
	_, _ = w.Write([]byte("\n"))
	assert.Equal(t, []string{"first", "second", "third"}, lines)

	lines = nil
	long := strings.Repeat("x", fleet.MaxLineBytes+1)
	_, _ = w.Write([]byte(long))
	require.Len(t, lines, 1, "a line past the limit is not held back")
	assert.Len(t, lines[0], fleet.MaxLineBytes+1)
	_, _ = w.Write([]byte("tail\n"))
	assert.Equal(t, "tail", lines[1], "the buffer starts afresh")
}

func TestPrefixLines(t *testing.T) {
	var out bytes.Buffer
	w := prefixLines("air | ", &out)
	_, _ = w.Write([]byte("building...\nrunning\npartial"))
	assert.Equal(t, "air | building...\nair | running\n", out.String())
}

func TestSyncWriterSerializesWrites(t *testing.T) {
	var out bytes.Buffer
	w := &syncWriter{w: &out}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = w.Write([]byte("0123456789\n"))
			}
		})
	}
	wg.Wait()
	assert.Equal(t, strings.Repeat("0123456789\n", 800), out.String(), "no write torn or lost")
}

func TestRelPath(t *testing.T) {
	root := filepath.FromSlash("/ws")
	assert.Equal(t, filepath.FromSlash(".slipway/bench/x.json"), relPath(root, filepath.FromSlash("/ws/.slipway/bench/x.json")))
	assert.Equal(t, filepath.FromSlash("/tmp/x.json"), relPath(root, filepath.FromSlash("/tmp/x.json")), "outside the root: absolute")
	assert.Equal(t, filepath.FromSlash("/ws-b/x"), relPath(root, filepath.FromSlash("/ws-b/x")))
}

func TestBuildCommand(t *testing.T) {
	assert.Equal(t, "go build -o <bin> ./services/user/cmd/user", buildCommand("user", nil))
	assert.Equal(t, `go build -trimpath '-ldflags=-s -w' -o <bin> ./services/inventory/cmd/inventory`,
		buildCommand("inventory", []string{"-trimpath", "-ldflags=-s -w"}))
	assert.Equal(t, []string{`'it'\''s'`, `'$HOME'`, "plain"}, shellQuote([]string{"it's", "$HOME", "plain"}))
}

func TestWriteJSON(t *testing.T) {
	root := t.TempDir()
	started := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	path, err := writeJSON(root, "startup", started, map[string]int{"runs": 3})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, ".slipway", "bench", "startup-20260304T040607Z.json"), path, "named by the UTC start")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var got map[string]int
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, map[string]int{"runs": 3}, got)

	blocked := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocked, nil, 0o600))
	_, err = writeJSON(blocked, "startup", started, 1)
	assert.Error(t, err, "the root is a file: no .slipway under it")
}

// The services under bench reload get the scratch copy's go.work and the
// bench's broker, and nothing of the developer's that would change them.
func TestReloadEnviron(t *testing.T) {
	parent := []string{"PATH=/bin", "HOME=/home/me", "DATABASE_URL=postgres://prod", "NATS_URL=nats://mine:4222",
		"GOWORK=/elsewhere/go.work", "AUTH_JWKS_URL=x", "ADMIN_EMAIL=me@example.com", "SLIPWAY_USER_LOG_LEVEL=debug", "DRAIN_DELAY=5s"}
	got := reloadEnviron(parent, "/tmp/work-air", "nats://127.0.0.1:4333")
	assert.Equal(t, []string{"PATH=/bin", "HOME=/home/me", "GOWORK=/tmp/work-air/go.work", "NATS_URL=nats://127.0.0.1:4333"}, got)
}

func TestStartEnviron(t *testing.T) {
	opts := startupOptions{Options: Options{Environ: []string{"PATH=/bin", "DATABASE_URL=postgres://prod", "HOME=/home/me"}}}
	tgt := startTarget{svc: "order", tmp: "/tmp/b", natsURL: "nats://127.0.0.1:4333", secret: "s3cret"}
	env := startEnviron(opts, tgt, transportPlaintext, "sqlite:///tmp/b/data/order.db")
	get := func(k string) string { return fleet.EnvValue(env, k) }
	assert.Equal(t, "sqlite:///tmp/b/data/order.db", get("DATABASE_URL"), "the bench's database, not the parent's")
	assert.Equal(t, "127.0.0.1:0", get("GRPC_ADDR"))
	assert.Equal(t, "nats://127.0.0.1:4333", get("NATS_URL"))
	assert.Equal(t, "s3cret", get("SERVICE_ACCOUNT_PASSWORD"), "order signs in with its account")
	assert.Equal(t, "/bin", get("PATH"))
}

// Stop asks with SIGTERM, and kills what does not stop within the grace.
func TestChildStop(t *testing.T) {
	start := func(mode string) (*child, *clitest.SyncBuffer) {
		var out clitest.SyncBuffer
		cmd := exec.Command(clitest.Executable(t), "-test.run=^$")
		cmd.Env = append(os.Environ(), clitest.ChildModeEnv+"="+mode)
		cmd.Stdout = &out
		c, err := startChild(cmd)
		require.NoError(t, err)
		t.Cleanup(func() { c.Stop(0) })
		return c, &out
	}

	c, out := start("wait")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "hello") }, 10*time.Second, 10*time.Millisecond)
	began := time.Now()
	c.Stop(10 * time.Second)
	assert.Less(t, time.Since(began), 5*time.Second, "it stops on SIGTERM, well within the grace")
	assert.Contains(t, out.String(), "got SIGTERM")
	assert.NoError(t, c.err)

	c, out = start("stubborn")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "ignoring SIGTERM") }, 10*time.Second, 10*time.Millisecond)
	began = time.Now()
	c.Stop(200 * time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(began), 200*time.Millisecond, "the grace is waited out")
	select {
	case <-c.done:
	default:
		t.Fatal("Stop returned before the process exited")
	}
	assert.Error(t, c.err, "killed")
}
