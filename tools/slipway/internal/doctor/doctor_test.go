package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeRepo writes a repository of go.work and go.mod files (path ->
// content) into a temporary directory and returns it.
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	return root
}

// testRepo is a workspace like Slipway's: go.work with CI's toolchain
// line, two workspace modules (one pinning a tool) and two modules outside.
func testRepo(t *testing.T) string {
	t.Helper()
	return writeRepo(t, map[string]string{
		"go.work":                   "go 1.26.7\n\ntoolchain go1.26.8\n\nuse (\n\t./api\n\t./tools/slipway\n)\n",
		"api/go.mod":                "module example.com/api\n\ngo 1.26.7\n\nrequire golang.org/x/net v0.61.0 // indirect\n",
		"tools/slipway/go.mod":      "module example.com/tools/slipway\n\ngo 1.26.7\n\ntool github.com/google/wire/cmd/wire\n",
		"tools/gen/go.mod":          "module example.com/tools/gen\n\ngo 1.26.7\n\ntool (\n\tgithub.com/bufbuild/buf/cmd/buf\n\tgoogle.golang.org/protobuf/cmd/protoc-gen-go\n)\n",
		"tools/gen/go.sum":          "",
		"deploy/go.mod":             "module example.com/deploy\n\ngo 1.26.7\n",
		"deploy/go.sum":             "",
		"api/testdata/x/go.mod":     "module example.com/ignored\n",
		".slipway/cache/pkg/go.mod": "module example.com/ignored\n",
	})
}

// fakeRun is a Runner that answers from a function of the command.
func fakeRun(answer func(dir string, environ []string, name string, args ...string) (string, error)) Runner {
	var mu sync.Mutex
	return func(_ context.Context, dir string, environ []string, name string, args ...string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		return answer(dir, environ, name, args...)
	}
}

// newTestEnv returns a checkEnv over root with environ and run.
func newTestEnv(t *testing.T, root string, environ []string, run Runner) *checkEnv {
	t.Helper()
	if run == nil {
		run = runCommand
	}
	e := &checkEnv{
		root:     root,
		environ:  environ,
		timeout:  time.Second,
		ports:    []Port{},
		run:      run,
		progress: &progress{w: io.Discard, after: time.Minute},
	}
	e.ws, e.wsErr = loadRepo(root)
	require.NoError(t, e.wsErr)
	return e
}

// rowNamed finds the row of check among rows.
func rowNamed(t *testing.T, rows []Row, check string) Row {
	t.Helper()
	for _, r := range rows {
		if r.Check == check {
			return r
		}
	}
	require.Failf(t, "no such row", "no row %q in %+v", check, rows)
	return Row{}
}

// fakeGoDir returns a directory holding a `go` that prints version whatever
// it is asked, like a different Go installation earlier on PATH.
func fakeGoDir(t *testing.T, version string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake go is a shell script")
	}
	dir := t.TempDir()
	script := "#!/bin/sh\necho " + version + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755))
	return dir
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
}

// serveTCP runs handle for every connection to a loopback listener and
// returns its address.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				handle(conn)
			}()
		}
	}()
	return ln.Addr().String()
}

// natsGreeting is a server that sends a NATS INFO line, as nats-server does.
func natsGreeting(t *testing.T, info string) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "INFO "+info+"\r\n")
		_, _ = io.Copy(io.Discard, c)
	})
}

func TestProgress(t *testing.T) {
	var out clitest.SyncBuffer
	p := &progress{w: &out, after: 20 * time.Millisecond}
	p.step("quick")()
	done := p.step("slow")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "doctor: slow…") }, time.Second, 5*time.Millisecond)
	done()
	assert.NotContains(t, out.String(), "quick", "steps under the threshold stay quiet")
	assert.Regexp(t, `doctor: slow done in \d+\.\ds`, out.String())
}

func TestRunOutput(t *testing.T) {
	root := testRepo(t)
	nats := natsGreeting(t, "{}")
	closed := closedAddr(t)
	long := "etcd://" + closed + "," + closed + "," + closed

	t.Run("json", func(t *testing.T) {
		var stdout bytes.Buffer
		err := Run(t.Context(), Options{
			Root: root, JSON: true, Only: []string{"nats", "redis", "etcd"}, Stdout: &stdout,
			Environ: []string{"NATS_URL=nats://" + nats, "REDIS_URL=redis://" + closed},
		})
		require.Error(t, err)
		assert.Equal(t, "1 failed: Redis", err.Error())

		var doc map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &doc), stdout.String())
		assert.ElementsMatch(t, []string{"ci", "checks", "summary"}, mapKeys(doc))
		var checks []map[string]string
		require.NoError(t, json.Unmarshal(doc["checks"], &checks))
		require.Len(t, checks, 3)
		assert.Equal(t, map[string]string{
			"check": "NATS", "expected": "answers at NATS_URL, when set", "found": nats + ": NATS INFO", "status": "OK",
		}, checks[0], "OK rows have no fix")
		assert.Equal(t, "Redis", checks[1]["check"])
		assert.Equal(t, "FAIL", checks[1]["status"])
		assert.NotEmpty(t, checks[1]["fix"])
		assert.JSONEq(t, `{"ok": 2, "warn": 0, "fail": 1}`, string(doc["summary"]))
	})

	t.Run("table", func(t *testing.T) {
		var stdout bytes.Buffer
		err := Run(t.Context(), Options{
			Root: root, Only: []string{"etcd", "nats"}, Stdout: &stdout, Timeout: 500 * time.Millisecond,
			Environ: []string{"NATS_URL=" + nats, "DISCOVERY=" + long},
		})
		require.Error(t, err)
		lines := strings.Split(stdout.String(), "\n")
		assert.Regexp(t, `^CHECK\s+EXPECTED\s+FOUND\s+STATUS\s+FIX$`, lines[0])
		assert.Regexp(t, `^NATS\s+answers at NATS_URL, when set\s+\S+: NATS INFO\s+OK\s*$`, lines[1], "rows in check order, not --only order")
		assert.Regexp(t, `^etcd\s+.*…\s+FAIL\s+start etcd`, lines[2], "long cells are cut")
		assert.Contains(t, stdout.String(), "\n1 OK, 0 WARN, 1 FAIL\n")
		assert.Contains(t, stdout.String(), "\netcd (FAIL)\n  expected: answers at DISCOVERY=etcd://..., when set\n  found:    ", "the whole text below the table")
		assert.Contains(t, stdout.String(), "  found:    "+strings.Repeat(closed+": ", 1))
		assert.Equal(t, 3, strings.Count(lines[len(lines)-2], closed+": "), "all three endpoints in the details: %q", lines[len(lines)-2])
		assert.NotContains(t, lines[len(lines)-2], "dial tcp "+closed, "the address once per endpoint")
	})

	t.Run("--ci is announced", func(t *testing.T) {
		var stdout bytes.Buffer
		require.NoError(t, Run(t.Context(), Options{Root: root, CI: true, Only: []string{"nats"}, Stdout: &stdout, Environ: []string{}}))
		assert.Contains(t, stdout.String(), "--ci: differences from CI fail")
		assert.Contains(t, stdout.String(), "1 OK, 0 WARN, 0 FAIL")
	})

	t.Run("unknown check", func(t *testing.T) {
		err := Run(t.Context(), Options{Root: root, Only: []string{"nats", "dns"}, Stdout: io.Discard})
		var uerr cli.UsageError
		require.ErrorAs(t, err, &uerr)
		assert.Contains(t, err.Error(), `unknown check "dns"`)
	})

	t.Run("no workspace", func(t *testing.T) {
		err := Run(t.Context(), Options{Dir: t.TempDir(), Only: []string{"nats"}, Stdout: io.Discard})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no go.work")
	})

	t.Run("a broken go.work fails the checks that need it", func(t *testing.T) {
		broken := writeRepo(t, map[string]string{"go.work": "go 1.26.7\nuse (\n"})
		var stdout bytes.Buffer
		err := Run(t.Context(), Options{Root: broken, JSON: true, Only: []string{"go", "tools"}, Stdout: &stdout, Environ: []string{}})
		require.Error(t, err)
		var report Report
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &report))
		require.Len(t, report.Checks, 2)
		assert.Equal(t, Fail, report.Checks[0].Status)
		assert.Equal(t, "a readable go.work", report.Checks[0].Expected)
	})
}

func mapKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func TestExitCodes(t *testing.T) {
	root := testRepo(t)
	nats := natsGreeting(t, "{}")
	closed := closedAddr(t)
	tests := []struct {
		name    string
		args    []string
		environ []string
		code    int
		stdout  string
		stderr  string
	}{
		{name: "every check OK", args: []string{"--only", "nats,etcd"}, environ: []string{"NATS_URL=" + nats}, code: cli.ExitOK, stdout: "2 OK, 0 WARN, 0 FAIL"},
		{name: "a FAIL exits 1", args: []string{"--only", "nats"}, environ: []string{"NATS_URL=" + closed}, code: cli.ExitFailed, stdout: "0 OK, 0 WARN, 1 FAIL", stderr: "slipway doctor: 1 failed: NATS"},
		{name: "a WARN exits 0", args: []string{"--only", "etcd"}, environ: []string{"DISCOVERY=etcd://" + nats + "," + closed}, code: cli.ExitOK, stdout: "0 OK, 1 WARN, 0 FAIL"},
		{name: "json", args: []string{"--only", "nats", "--json"}, code: cli.ExitOK, stdout: `"summary": {`},
		{name: "unknown check", args: []string{"--only", "dns"}, code: cli.ExitUsage, stderr: `unknown check "dns"`},
		{name: "stray argument", args: []string{"ports"}, code: cli.ExitUsage, stderr: "unexpected arguments"},
		{name: "bad flag", args: []string{"--fast"}, code: cli.ExitUsage, stderr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: tt.environ}
			args := append([]string{"--root", root}, tt.args...)
			code := cli.ExitCode(env.Stderr, "doctor", Main(t.Context(), args, env))
			assert.Equal(t, tt.code, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), tt.stdout)
			assert.Contains(t, stderr.String(), tt.stderr)
		})
	}

	var stdout bytes.Buffer
	require.ErrorIs(t, Main(t.Context(), []string{"-h"}, &cli.Env{Stdout: io.Discard, Stderr: &stdout}), flag.ErrHelp)
	assert.Contains(t, stdout.String(), "--ci turns every difference from CI into a FAIL")
}
