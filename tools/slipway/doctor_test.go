package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeDoctorRepo writes a repository of go.work and go.mod files (path ->
// content) into a temporary directory and returns it.
func writeDoctorRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	return root
}

// doctorTestRepo is a workspace like Slipway's: go.work with CI's toolchain
// line, two workspace modules (one pinning a tool) and two modules outside.
func doctorTestRepo(t *testing.T) string {
	t.Helper()
	return writeDoctorRepo(t, map[string]string{
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

// fakeRun is a doctorRunner that answers from a function of the command.
func fakeRun(answer func(dir string, environ []string, name string, args ...string) (string, error)) doctorRunner {
	var mu sync.Mutex
	return func(_ context.Context, dir string, environ []string, name string, args ...string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		return answer(dir, environ, name, args...)
	}
}

// newTestDoctorEnv returns a doctorEnv over root with environ and run.
func newTestDoctorEnv(t *testing.T, root string, environ []string, run doctorRunner) *doctorEnv {
	t.Helper()
	if run == nil {
		run = doctorRunCommand
	}
	e := &doctorEnv{
		root:     root,
		environ:  environ,
		timeout:  time.Second,
		ports:    []doctorPort{},
		run:      run,
		progress: &doctorProgress{w: io.Discard, after: time.Minute},
	}
	e.ws, e.wsErr = loadDoctorRepo(root)
	require.NoError(t, e.wsErr)
	return e
}

// doctorRowNamed finds the row of check among rows.
func doctorRowNamed(t *testing.T, rows []doctorRow, check string) doctorRow {
	t.Helper()
	for _, r := range rows {
		if r.Check == check {
			return r
		}
	}
	require.Failf(t, "no such row", "no row %q in %+v", check, rows)
	return doctorRow{}
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
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

func TestLoadDoctorRepo(t *testing.T) {
	ws, err := loadDoctorRepo(doctorTestRepo(t))
	require.NoError(t, err)
	assert.Equal(t, "1.26.7", ws.Go)
	assert.Equal(t, "go1.26.8", ws.ciToolchain())

	var work, other []string
	for _, m := range ws.workModules() {
		work = append(work, m.Dir)
	}
	for _, m := range ws.otherModules() {
		other = append(other, m.Dir)
	}
	assert.Equal(t, []string{"api", "tools/slipway"}, work, "go.work's modules, in its order")
	assert.ElementsMatch(t, []string{"deploy", "tools/gen"}, other, "testdata and hidden directories are skipped")

	gen := ws.otherModules()[slicesIndex(other, "tools/gen")]
	assert.Equal(t, []string{"github.com/bufbuild/buf/cmd/buf", "google.golang.org/protobuf/cmd/protoc-gen-go"}, gen.Tools)
	assert.Equal(t, []doctorRequire{{"golang.org/x/net", "v0.61.0"}}, ws.workModules()[0].Require)

	_, err = loadDoctorRepo(t.TempDir())
	assert.ErrorIs(t, err, os.ErrNotExist, "no go.work")
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestSelectToolchain(t *testing.T) {
	onPath := func(name string) bool { return name == "go1.26.8" }
	nowhere := func(string) bool { return false }
	tests := []struct {
		name                  string
		local, gotoolchain    string
		from                  string // where GOTOOLCHAIN was set
		goLine, toolchainLine string
		hasGo                 func(string) bool
		want, why, wantErr    string
	}{
		{name: "local matches the toolchain line", local: "go1.26.8", gotoolchain: "local", goLine: "1.26.7", toolchainLine: "go1.26.8",
			want: "go1.26.8", why: "local go1.26.8 ≥ go.work toolchain go1.26.8 (GOTOOLCHAIN=local)"},
		{name: "older local switches under auto", local: "go1.26.2", gotoolchain: "auto", goLine: "1.26.7", toolchainLine: "go1.26.8",
			want: "go1.26.8", why: "go.work toolchain go1.26.8 > local go1.26.2 → switches to it (GOTOOLCHAIN=auto)"},
		{name: "unset GOTOOLCHAIN is auto", local: "go1.22.0", goLine: "1.26.7", toolchainLine: "go1.26.8",
			want: "go1.26.8", why: "switches to it (GOTOOLCHAIN=auto)"},
		{name: "a minimum with +auto switches", local: "go1.26.0", gotoolchain: "go1.26.0+auto", goLine: "1.26.7", toolchainLine: "go1.26.8",
			want: "go1.26.8", why: "switches to it (GOTOOLCHAIN=go1.26.0+auto)"},
		{name: "without a toolchain line the go line decides", local: "go1.26.0", gotoolchain: "auto", goLine: "1.26.7",
			want: "go1.26.7", why: "go.work go 1.26.7 > local go1.26.0"},
		{name: "a toolchain line older than the go line loses", local: "go1.26.0", gotoolchain: "auto", goLine: "1.26.8", toolchainLine: "go1.26.7",
			want: "go1.26.8", why: "go.work go 1.26.8 > local"},
		{name: "newer local runs itself", local: "go1.27.1", gotoolchain: "auto", goLine: "1.26.7", toolchainLine: "go1.26.8",
			want: "go1.27.1", why: "local go1.27.1 ≥ go.work toolchain go1.26.8"},
		{name: "path finds the toolchain on PATH", local: "go1.26.2", gotoolchain: "path", goLine: "1.26.7", toolchainLine: "go1.26.8", hasGo: onPath,
			want: "go1.26.8", why: "runs it from PATH (GOTOOLCHAIN=path)"},
		{name: "path without the toolchain fails", local: "go1.26.2", gotoolchain: "path", goLine: "1.26.7", toolchainLine: "go1.26.8", hasGo: nowhere,
			wantErr: "finds no go1.26.8 on PATH"},
		{name: "local ignores the toolchain line when the go line is met", local: "go1.26.7", gotoolchain: "local", goLine: "1.26.7", toolchainLine: "go1.26.8",
			want: "go1.26.7", why: "no switching to go1.26.8 (GOTOOLCHAIN=local)"},
		{name: "local below the go line is refused", local: "go1.22.0", gotoolchain: "local", goLine: "1.26.7", toolchainLine: "go1.26.8",
			wantErr: "go.work go 1.26.7 > local go1.22.0, and GOTOOLCHAIN=local forbids switching"},
		{name: "a pinned name without +auto cannot switch", local: "go1.26.0", gotoolchain: "go1.26.0", goLine: "1.26.7",
			wantErr: "forbids switching"},
		{name: "a development build never switches", local: "devel", gotoolchain: "auto", goLine: "1.26.7",
			want: "devel", why: "development build"},
		{name: "nonsense GOTOOLCHAIN", local: "go1.26.8", gotoolchain: "newest", goLine: "1.26.7",
			wantErr: "GOTOOLCHAIN=newest is not local, auto, path"},
		{name: "the reason says where GOTOOLCHAIN was set", local: "go1.26.8", gotoolchain: "local", from: "set by go env -w in /home/dev/.config/go/env",
			goLine: "1.26.7", toolchainLine: "go1.26.8",
			want: "go1.26.8", why: "(GOTOOLCHAIN=local, set by go env -w in /home/dev/.config/go/env)"},
		{name: "so does the error", local: "go1.22.0", gotoolchain: "local", from: "set in the environment", goLine: "1.26.7",
			wantErr: "GOTOOLCHAIN=local forbids switching (set in the environment)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.hasGo == nil {
				tt.hasGo = nowhere
			}
			got, why, err := selectToolchain(tt.local, doctorGOTOOLCHAIN{Value: tt.gotoolchain, From: tt.from}, "go.work", tt.goLine, tt.toolchainLine, tt.hasGo)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Contains(t, why, tt.why)
			assert.True(t, strings.HasPrefix(why, tt.want+": "), "the reason starts with the selection: %q", why)
		})
	}
}

func TestDoctorGoVersion(t *testing.T) {
	root := doctorTestRepo(t)
	tests := []struct {
		name        string
		goVersion   string // "" puts no go on PATH
		gotoolchain string
		ci          bool
		version     doctorStatus // of the "go version" row
		toolchain   doctorStatus // of the "toolchain go.work" row
		found       string       // in the toolchain row
	}{
		{name: "CI's version", goVersion: "go1.26.8", version: doctorOK, toolchain: doctorOK, found: "local go1.26.8 ≥ go.work toolchain go1.26.8"},
		{name: "CI's version under --ci", goVersion: "go1.26.8", ci: true, version: doctorOK, toolchain: doctorOK},
		{name: "an older go switches toolchains: WARN", goVersion: "go1.22.0", gotoolchain: "auto", version: doctorWarn, toolchain: doctorOK,
			found: "go1.26.8: go.work toolchain go1.26.8 > local go1.22.0 → switches to it (GOTOOLCHAIN=auto, set in the environment)"},
		{name: "an older go fails under --ci", goVersion: "go1.22.0", gotoolchain: "auto", ci: true, version: doctorFail, toolchain: doctorOK},
		{name: "an older go that may not switch fails", goVersion: "go1.22.0", gotoolchain: "local", version: doctorFail, toolchain: doctorFail,
			found: "forbids switching"},
		{name: "a newer go differs from CI", goVersion: "go1.27.0", gotoolchain: "auto", version: doctorWarn, toolchain: doctorWarn, found: "go1.27.0: local"},
		{name: "a newer go fails under --ci", goVersion: "go1.27.0", gotoolchain: "auto", ci: true, version: doctorFail, toolchain: doctorFail},
		{name: "no go on PATH", version: doctorFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := t.TempDir()
			if tt.goVersion != "" {
				path = fakeGoDir(t, tt.goVersion)
			}
			environ := []string{"PATH=" + path}
			if tt.gotoolchain != "" {
				environ = append(environ, "GOTOOLCHAIN="+tt.gotoolchain)
			}
			e := newTestDoctorEnv(t, root, environ, nil)
			e.ci = tt.ci
			rows := doctorGo(t.Context(), e)

			v := doctorRowNamed(t, rows, "go version")
			assert.Equal(t, tt.version, v.Status, "%+v", v)
			assert.Equal(t, "go1.26.8 (go.work toolchain, as CI)", v.Expected)
			if tt.goVersion == "" {
				assert.Equal(t, "not on PATH", v.Found)
				assert.Len(t, rows, 1)
				return
			}
			assert.Contains(t, v.Found, tt.goVersion+" ("+filepath.Join(path, "go")+")")
			if v.Status != doctorOK {
				assert.Contains(t, v.Fix, "GOTOOLCHAIN is the modern form of gvm")
				assert.Contains(t, v.Fix, "go install golang.org/dl/go1.26.8@latest && go1.26.8 download, then GOTOOLCHAIN=path")
			}
			tc := doctorRowNamed(t, rows, "toolchain go.work")
			assert.Equal(t, tt.toolchain, tc.Status, "%+v", tc)
			assert.Contains(t, tc.Found, tt.found)
			// Modules outside go.work get a row each; their go.mod decides.
			assert.Contains(t, doctorRowNamed(t, rows, "toolchain tools/gen").Found, "tools/gen/go.mod")
			doctorRowNamed(t, rows, "toolchain deploy")
			doctorRowNamed(t, rows, "go env")
		})
	}
}

// TestDoctorGoSideBySide: a second Go installed with golang.org/dl shows in
// the go version row, and the fix selects it instead of installing it.
func TestDoctorGoSideBySide(t *testing.T) {
	root := doctorTestRepo(t)
	path := fakeGoDir(t, "go1.22.0")
	for _, name := range []string{"go1.26.8", "go1.25.5"} {
		require.NoError(t, os.WriteFile(filepath.Join(path, name), []byte("#!/bin/sh\n"), 0o755))
	}
	e := newTestDoctorEnv(t, root, []string{"PATH=" + path, "GOTOOLCHAIN=path"}, nil)
	rows := doctorGo(t.Context(), e)

	v := doctorRowNamed(t, rows, "go version")
	assert.Equal(t, "go1.22.0 ("+filepath.Join(path, "go")+"); GOTOOLCHAIN=path, set in the environment; also on PATH: go1.25.5, go1.26.8", v.Found)
	assert.Equal(t, doctorWarn, v.Status)
	assert.Contains(t, v.Fix, "go1.26.8 is on PATH beside go: GOTOOLCHAIN=path runs it")
	tc := doctorRowNamed(t, rows, "toolchain go.work")
	assert.Equal(t, doctorOK, tc.Status, "%+v", tc)
	assert.Equal(t, "go1.26.8: go.work toolchain go1.26.8 > local go1.22.0 → runs it from PATH (GOTOOLCHAIN=path, set in the environment)", tc.Found)
}

func TestGotoolchainSource(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		file := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(file, []byte(content), 0o600))
		return file
	}
	userSets := write("user-env", "GOFLAGS=-buildvcs=false\nGOTOOLCHAIN=go1.26.8+auto\n")
	userSetsNothing := write("user-env-empty", "GOFLAGS=-buildvcs=false\n# GOTOOLCHAIN=local\nGOTOOLCHAIN=\n")
	goroot := filepath.Join(dir, "goroot")
	require.NoError(t, os.Mkdir(goroot, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(goroot, "go.env"), []byte("GOPROXY=https://proxy.golang.org,direct\nGOTOOLCHAIN=auto\n"), 0o600))
	bareRoot := t.TempDir()

	tests := []struct {
		name          string
		environ       []string
		goenv, goroot string
		want          string
	}{
		{"the environment wins", []string{"GOTOOLCHAIN=local"}, userSets, goroot, "set in the environment"},
		{"an empty variable does not count", []string{"GOTOOLCHAIN="}, userSets, goroot, "set by go env -w in " + userSets},
		{"then go env -w", nil, userSets, goroot, "set by go env -w in " + userSets},
		{"GOENV=off skips the file", nil, "off", goroot, "the default of " + filepath.Join(goroot, "go.env")},
		{"comments and empty values set nothing", nil, userSetsNothing, goroot, "the default of " + filepath.Join(goroot, "go.env")},
		{"a missing file sets nothing", nil, filepath.Join(dir, "missing"), goroot, "the default of " + filepath.Join(goroot, "go.env")},
		{"nothing anywhere", nil, "", bareRoot, "unset, which means auto"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, gotoolchainSource(tt.environ, tt.goenv, tt.goroot))
		})
	}
}

func TestGoCommandsOnPath(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("executable bits")
	}
	first, second := t.TempDir(), t.TempDir()
	for dir, names := range map[string][]string{first: {"go", "go1.26.11", "gopls", "go1.x", "go1.27rc1"}, second: {"go1.26.11", "go1.25.5"}} {
		for _, name := range names {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755))
		}
	}
	// Not executable: not a command.
	require.NoError(t, os.WriteFile(filepath.Join(second, "go1.24.0"), nil, 0o644))
	environ := []string{"PATH=" + first + string(filepath.ListSeparator) + "relative" + string(filepath.ListSeparator) + second}

	assert.Equal(t, []string{"go1.25.5", "go1.26.11", "go1.27rc1"}, goCommandsOnPath(environ, "go"))
	assert.Equal(t, []string{"go1.25.5", "go1.27rc1"}, goCommandsOnPath(environ, "go1.26.11"), "the active go is not listed twice")
	assert.Empty(t, goCommandsOnPath([]string{"PATH=" + t.TempDir()}, "go"))
}

func TestDoctorGoEnvRow(t *testing.T) {
	root := doctorTestRepo(t)
	tests := []struct {
		name    string
		g       doctorGoEnv
		environ []string
		ci      bool
		status  doctorStatus
		found   string
	}{
		{name: "CI's settings", g: doctorGoEnv{Flags: "-buildvcs=false", SumDB: "sum.golang.org"}, status: doctorOK, found: "GOFLAGS=-buildvcs=false"},
		{name: "nothing set", g: doctorGoEnv{}, status: doctorOK, found: "defaults"},
		{name: "-mod=readonly is the default anyway", g: doctorGoEnv{Flags: "-mod=readonly"}, status: doctorOK},
		{name: "-mod=mod warns", g: doctorGoEnv{Flags: "-buildvcs=false -mod=mod"}, status: doctorWarn, found: "GOFLAGS has -mod=mod"},
		{name: "-mod=mod fails under --ci", g: doctorGoEnv{Flags: "-mod=mod"}, ci: true, status: doctorFail, found: "GOFLAGS has -mod=mod"},
		{name: "--mod=vendor too", g: doctorGoEnv{Flags: "--mod=vendor"}, ci: true, status: doctorFail, found: "--mod=vendor"},
		{name: "no checksum database", g: doctorGoEnv{SumDB: "off"}, status: doctorWarn, found: "GOSUMDB=off"},
		{name: "an experiment", g: doctorGoEnv{Experiment: "greenteagc"}, ci: true, status: doctorFail, found: "GOEXPERIMENT=greenteagc"},
		{name: "insecure downloads", g: doctorGoEnv{Insecure: "example.com"}, status: doctorWarn, found: "GOINSECURE=example.com"},
		{name: "GOWORK=off", g: doctorGoEnv{}, environ: []string{"GOWORK=off"}, status: doctorWarn, found: "GOWORK=off"},
		{name: "GOWORK at the workspace", g: doctorGoEnv{}, environ: []string{"GOWORK=" + filepath.Join(root, "go.work")}, status: doctorOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestDoctorEnv(t, root, tt.environ, nil)
			e.ci = tt.ci
			row := doctorGoEnvRow(e, tt.g)
			assert.Equal(t, tt.status, row.Status, "%+v", row)
			assert.Contains(t, row.Found, tt.found)
			if row.Status != doctorOK {
				assert.NotEmpty(t, row.Fix)
			}
		})
	}
}

// workspaceRunner answers go list like the go command over doctorTestRepo,
// with the workspace selecting golang.org/x/net at selected.
func workspaceRunner(selected string, calls *[]string) doctorRunner {
	return fakeRun(func(dir string, environ []string, name string, args ...string) (string, error) {
		gowork, _ := envvar.Lookup(environ, "GOWORK")
		*calls = append(*calls, fmt.Sprintf("%s GOWORK=%s %s %s", filepath.Base(dir), filepath.Base(gowork), name, strings.Join(args, " ")))
		switch strings.Join(args, " ") {
		case "list -m -f {{.Path}}":
			return "example.com/api\nexample.com/tools/slipway\n", nil
		case "list -m -f {{.Path}} {{.Version}} all":
			return "example.com/api \nexample.com/tools/slipway \ngolang.org/x/net " + selected + "\n", nil
		}
		return "", fmt.Errorf("unexpected command %q", args)
	})
}

func TestDoctorWorkspace(t *testing.T) {
	t.Run("in sync", func(t *testing.T) {
		var calls []string
		root := doctorTestRepo(t)
		rows := doctorWorkspace(t.Context(), newTestDoctorEnv(t, root, []string{"GOWORK=off"}, workspaceRunner("v0.61.0", &calls)))
		mods := doctorRowNamed(t, rows, "go.work modules")
		assert.Equal(t, doctorOK, mods.Status, "%+v", mods)
		assert.Equal(t, "2 modules resolve (go list -m)", mods.Found)
		assert.Equal(t, doctorOK, doctorRowNamed(t, rows, "go work sync").Status)
		for _, c := range calls {
			assert.Contains(t, c, "GOWORK=go.work", "the workspace's go.work, whatever GOWORK says")
		}
	})
	t.Run("a requirement behind the workspace", func(t *testing.T) {
		var calls []string
		root := doctorTestRepo(t)
		rows := doctorWorkspace(t.Context(), newTestDoctorEnv(t, root, nil, workspaceRunner("v0.62.0", &calls)))
		sync := doctorRowNamed(t, rows, "go work sync")
		assert.Equal(t, doctorWarn, sync.Status)
		assert.Equal(t, "1 requirements behind in 1 modules: api: golang.org/x/net v0.61.0 → v0.62.0", sync.Found)
		assert.Contains(t, sync.Fix, "go work sync")
	})
	t.Run("broken modules", func(t *testing.T) {
		var calls []string
		root := doctorTestRepo(t)
		require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26.7\n\nuse (\n\t./api\n\t./tools/slipway\n\t./gone\n)\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(root, "api", "go.mod"), []byte("module example.com/api\n\ngo 1.27.0\n"), 0o644))
		writeFile := filepath.Join(root, "services", "billing", "go.mod")
		require.NoError(t, os.MkdirAll(filepath.Dir(writeFile), 0o755))
		require.NoError(t, os.WriteFile(writeFile, []byte("module example.com/billing\n\ngo 1.26.7\n"), 0o644))

		rows := doctorWorkspace(t.Context(), newTestDoctorEnv(t, root, nil, workspaceRunner("v0.61.0", &calls)))
		mods := doctorRowNamed(t, rows, "go.work modules")
		assert.Equal(t, doctorFail, mods.Status)
		assert.Contains(t, mods.Found, "gone: ")
		assert.Contains(t, mods.Found, "api: go 1.27.0 > go.work go 1.26.7")
		assert.Contains(t, mods.Found, "services/billing is not in go.work")
		assert.Contains(t, mods.Fix, "go work use")
	})
	t.Run("go list fails", func(t *testing.T) {
		root := doctorTestRepo(t)
		run := fakeRun(func(string, []string, string, ...string) (string, error) {
			return "", &doctorCmdError{err: errors.New("exit status 1"), stderr: "go: module example.com/x: not found\nmore"}
		})
		rows := doctorWorkspace(t.Context(), newTestDoctorEnv(t, root, nil, run))
		assert.Equal(t, doctorFail, rows[0].Status)
		assert.Contains(t, rows[0].Found, "go list -m: go: module example.com/x: not found")
		assert.NotContains(t, rows[0].Found, "more", "one line per problem")
		assert.Equal(t, doctorFail, rows[1].Status)
	})
}

func TestDoctorVerify(t *testing.T) {
	root := doctorTestRepo(t)
	var mu sync.Mutex
	ran := map[string]string{} // dir -> GOWORK
	run := fakeRun(func(dir string, environ []string, name string, args ...string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		rel, _ := filepath.Rel(root, dir)
		gowork, _ := envvar.Lookup(environ, "GOWORK")
		ran[filepath.ToSlash(rel)] = gowork
		assert.Equal(t, "go mod verify", name+" "+strings.Join(args, " "))
		if rel == "deploy" {
			return "", &doctorCmdError{err: errors.New("exit status 1"), stderr: "example.com/x v1.0.0: dir has been modified (/mod/example.com/x@v1.0.0)"}
		}
		return "all modules verified\n", nil
	})
	rows := doctorVerify(t.Context(), newTestDoctorEnv(t, root, nil, run))
	require.Len(t, rows, 1)
	assert.Equal(t, doctorFail, rows[0].Status)
	assert.Equal(t, "deploy: example.com/x v1.0.0: dir has been modified (/mod/example.com/x@v1.0.0)", rows[0].Found)
	assert.Equal(t, map[string]string{".": filepath.Join(root, "go.work"), "deploy": "off"}, ran,
		"the workspace and deploy, as CI; tools/gen's tools are the tools check's")

	ok := fakeRun(func(string, []string, string, ...string) (string, error) { return "all modules verified\n", nil })
	rows = doctorVerify(t.Context(), newTestDoctorEnv(t, root, nil, ok))
	assert.Equal(t, doctorOK, rows[0].Status)
	assert.Equal(t, "all verified: workspace, deploy", rows[0].Found)
}

func TestDoctorTools(t *testing.T) {
	root := doctorTestRepo(t)
	var mu sync.Mutex
	var ran []string
	run := fakeRun(func(dir string, environ []string, name string, args ...string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		rel, _ := filepath.Rel(root, dir)
		gowork, _ := envvar.Lookup(environ, "GOWORK")
		ran = append(ran, fmt.Sprintf("%s GOWORK=%s %s %s", filepath.ToSlash(rel), filepath.Base(gowork), name, strings.Join(args, " ")))
		if strings.HasSuffix(args[len(args)-1], "/buf") {
			return "", &doctorCmdError{err: errors.New("exit status 1"), stderr: "go: github.com/bufbuild/buf@v1.0.0: missing go.sum entry"}
		}
		return "/cache/" + doctorToolName(args[len(args)-1]) + "\n", nil
	})
	rows := doctorTools(t.Context(), newTestDoctorEnv(t, root, nil, run))
	assert.ElementsMatch(t, []string{
		". GOWORK=go.work go tool -n github.com/google/wire/cmd/wire",
		"tools/gen GOWORK=off go tool -n github.com/bufbuild/buf/cmd/buf",
		"tools/gen GOWORK=off go tool -n google.golang.org/protobuf/cmd/protoc-gen-go",
	}, ran, "workspace tools in the workspace, the others with GOWORK=off in their module")

	slipway := doctorRowNamed(t, rows, "go tool (tools/slipway)")
	assert.Equal(t, doctorOK, slipway.Status)
	assert.Equal(t, "its pinned tool builds", slipway.Expected)
	assert.Equal(t, "go tool builds wire", slipway.Found)

	gen := doctorRowNamed(t, rows, "go tool (tools/gen)")
	assert.Equal(t, doctorFail, gen.Status)
	assert.Equal(t, "its 2 pinned tools build", gen.Expected)
	assert.Equal(t, "buf: go: github.com/bufbuild/buf@v1.0.0: missing go.sum entry", gen.Found)
	assert.Contains(t, gen.Fix, "cd tools/gen && GOWORK=off go tool")
}

func TestDoctorToolName(t *testing.T) {
	for pkg, want := range map[string]string{
		"github.com/google/wire/cmd/wire":                        "wire",
		"gotest.tools/gotestsum":                                 "gotestsum",
		"github.com/golangci/golangci-lint/v2/cmd/golangci-lint": "golangci-lint",
		"github.com/air-verse/air":                               "air",
		"example.com/tool/v3":                                    "tool",
		"v2":                                                     "v2",
	} {
		t.Run(pkg, func(t *testing.T) { assert.Equal(t, want, doctorToolName(pkg)) })
	}
}

func TestDoctorProtocAndDocker(t *testing.T) {
	notFound := fmt.Errorf("docker: %w", exec.ErrNotFound)
	noEngine := &doctorCmdError{err: errors.New("exit status 1"), stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"}
	noCompose := &doctorCmdError{err: errors.New("exit status 1"), stderr: "docker: unknown command: docker compose"}
	tests := []struct {
		name                   string
		answers                map[string]any // command line -> output string or error
		engine, compose, proto doctorStatus
		engineFound            string
	}{
		{name: "nothing installed", answers: map[string]any{}, engine: doctorWarn, compose: doctorWarn, proto: doctorWarn, engineFound: "no Docker engine: not on PATH"},
		{name: "a client without an engine", answers: map[string]any{
			"docker version --format {{.Server.Version}}": noEngine,
			"docker compose version":                      noCompose,
		}, engine: doctorWarn, compose: doctorWarn, proto: doctorWarn, engineFound: "no Docker engine: Cannot connect to the Docker daemon"},
		{name: "everything", answers: map[string]any{
			"docker version --format {{.Server.Version}}": "28.2.2\n",
			"docker compose version":                      "Docker Compose version v2.39.1\n",
			"protoc --version":                            "libprotoc 31.1\n",
		}, engine: doctorOK, compose: doctorOK, proto: doctorOK, engineFound: "Docker 28.2.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := fakeRun(func(_ string, _ []string, name string, args ...string) (string, error) {
				switch a := tt.answers[name+" "+strings.Join(args, " ")].(type) {
				case string:
					return a, nil
				case error:
					return "", a
				}
				return "", notFound
			})
			e := newTestDoctorEnv(t, doctorTestRepo(t), nil, run)
			rows := doctorDocker(t.Context(), e)
			engine, compose := doctorRowNamed(t, rows, "docker engine"), doctorRowNamed(t, rows, "docker compose")
			assert.Equal(t, tt.engine, engine.Status)
			assert.Contains(t, engine.Found, tt.engineFound)
			assert.Equal(t, tt.compose, compose.Status)
			if tt.engine != doctorOK {
				assert.Contains(t, engine.Fix, "make test-deploy still checks")
			}
			proto := doctorProtoc(t.Context(), e)[0]
			assert.Equal(t, tt.proto, proto.Status)
			if tt.proto == doctorOK {
				assert.Equal(t, "libprotoc 31.1", proto.Found)
			}
		})
	}
}

func TestDoctorPorts(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = held.Close() })
	heldPort := held.Addr().(*net.TCPAddr).Port
	_, freeStr, _ := net.SplitHostPort(closedAddr(t))
	freePort, _ := strconv.Atoi(freeStr)

	e := newTestDoctorEnv(t, doctorTestRepo(t), nil, nil)
	e.ports = []doctorPort{{freePort, "user gRPC"}, {heldPort, "order HTTP"}}
	row := doctorPorts(t.Context(), e)[0]
	assert.Equal(t, doctorFail, row.Status)
	assert.Contains(t, row.Found, fmt.Sprintf("%d (order HTTP) in use", heldPort))
	assert.NotContains(t, row.Found, strconv.Itoa(freePort))
	if runtime.GOOS == "linux" {
		assert.Contains(t, row.Found, fmt.Sprintf("by pid %d (", os.Getpid()), "the holder, from /proc")
	}
	assert.Contains(t, row.Fix, "--grpc-port-base")

	e.ports = []doctorPort{{freePort, "user gRPC"}}
	row = doctorPorts(t.Context(), e)[0]
	assert.Equal(t, doctorOK, row.Status)
	assert.Equal(t, "all 1 free", row.Found)
}

func TestDoctorPortsHeldByConnections(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the holder comes from /proc")
	}
	server := serveTCP(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	_, portStr, _ := net.SplitHostPort(closedAddr(t))
	port, _ := strconv.Atoi(portStr)
	// A client bound to a default port, as an outgoing connection can be
	// when the port lies in the ephemeral range.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
	conn, err := d.DialContext(t.Context(), "tcp", server)
	require.NoError(t, err)

	e := newTestDoctorEnv(t, doctorTestRepo(t), nil, nil)
	e.ports = []doctorPort{{port, "order gRPC"}}
	row := doctorPorts(t.Context(), e)[0]
	assert.Equal(t, doctorFail, row.Status, "%+v", row)
	assert.Contains(t, row.Found, fmt.Sprintf("%d (order gRPC) in use by a connection of pid %d (", port, os.Getpid()))

	require.NoError(t, conn.Close()) // the client closes first, so its side waits in TIME_WAIT
	require.Eventually(t, func() bool {
		row = doctorPorts(t.Context(), e)[0]
		return row.Status != doctorFail
	}, 5*time.Second, 20*time.Millisecond)
	if row.Status == doctorOK {
		t.Skip("the kernel let the port go without TIME_WAIT")
	}
	assert.Equal(t, doctorWarn, row.Status, "%+v", row)
	assert.Contains(t, row.Found, "TIME_WAIT")
	assert.Contains(t, row.Fix, "wait a minute")
}

func TestDoctorPortRanges(t *testing.T) {
	assert.Equal(t, "50051-50054, 8081-8084, 8080", doctorPortRanges(defaultDoctorPorts()))
	assert.Equal(t, "1, 3-4", doctorPortRanges([]doctorPort{{1, ""}, {3, ""}, {4, ""}}))
	assert.Empty(t, doctorPortRanges(nil))
}

func TestDoctorNATS(t *testing.T) {
	bare := natsGreeting(t, "{}")
	jetstream := natsGreeting(t, `{"server_id":"N1","version":"2.11.4","jetstream":true}`)
	plain := natsGreeting(t, `{"server_id":"N2","version":"2.11.4"}`)
	notNATS := serveTCP(t, func(c net.Conn) { _, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n") })
	closed := closedAddr(t)
	tests := []struct {
		name, url string
		status    doctorStatus
		found     []string
	}{
		{name: "not configured", url: "", status: doctorOK, found: []string{"not configured (embedded default"}},
		{name: "a server that says INFO", url: "nats://" + bare, status: doctorOK, found: []string{bare + ": NATS INFO"}},
		{name: "nats-server with JetStream", url: jetstream, status: doctorOK, found: []string{"nats-server 2.11.4, JetStream"}},
		{name: "nats-server without JetStream", url: "nats://" + plain, status: doctorWarn, found: []string{"without JetStream"}},
		{name: "closed port", url: "nats://" + closed, status: doctorFail, found: []string{closed + ": ", "refused"}},
		{name: "not a NATS server", url: "nats://" + notNATS, status: doctorFail, found: []string{"not a NATS server"}},
		{name: "one server of two answers", url: "nats://" + closed + ", nats://" + jetstream, status: doctorWarn, found: []string{closed, jetstream + ": nats-server"}},
		{name: "credentials stay hidden", url: "nats://ada:s3cret@" + closed, status: doctorFail, found: []string{closed}},
		{name: "an entry that is no URL", url: "nats://:4222", status: doctorFail, found: []string{"NATS_URL entry 1: not a URL with a host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestDoctorEnv(t, doctorTestRepo(t), []string{"NATS_URL=" + tt.url}, nil)
			row := doctorNATS(t.Context(), e)[0]
			assert.Equal(t, tt.status, row.Status, "%+v", row)
			for _, f := range tt.found {
				assert.Contains(t, row.Found, f)
			}
			assert.NotContains(t, row.Found, "s3cret")
			if row.Status == doctorOK {
				assert.Empty(t, row.Fix)
			} else {
				assert.Contains(t, row.Fix, "nats-server -js")
			}
		})
	}
}

// fakeRedis answers RESP commands: AUTH with password, then PING.
func fakeRedis(t *testing.T, password string) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		authed := password == ""
		for {
			args, err := readRESP(r)
			if err != nil {
				return
			}
			var reply string
			switch {
			case args[0] == "AUTH" && args[len(args)-1] == password:
				authed, reply = true, "+OK"
			case args[0] == "AUTH":
				reply = "-WRONGPASS invalid username-password pair"
			case !authed:
				reply = "-NOAUTH Authentication required."
			case args[0] == "PING":
				reply = "+PONG"
			default:
				reply = "-ERR unknown command"
			}
			_, _ = io.WriteString(c, reply+"\r\n")
		}
	})
}

// readRESP reads one RESP array of bulk strings.
func readRESP(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("not an array: %q", line)
	}
	args := make([]string, n)
	for i := range args {
		if _, err := r.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		arg, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimRight(arg, "\r\n")
	}
	return args, nil
}

func TestDoctorRedis(t *testing.T) {
	open := fakeRedis(t, "")
	locked := fakeRedis(t, "s3cret")
	closed := closedAddr(t)
	tests := []struct {
		name, url string
		status    doctorStatus
		found     string
	}{
		{name: "not configured", status: doctorOK, found: "not configured (embedded default: in-memory cache)"},
		{name: "PONG", url: "redis://" + open, status: doctorOK, found: open + ": PONG"},
		{name: "AUTH then PONG", url: "redis://:s3cret@" + locked + "/0", status: doctorOK, found: "PONG"},
		{name: "user and password", url: "redis://default:s3cret@" + locked, status: doctorOK, found: "PONG"},
		{name: "password missing", url: "redis://" + locked, status: doctorFail, found: `PING: the server said "-NOAUTH Authentication required."`},
		{name: "wrong password", url: "redis://:nope@" + locked, status: doctorFail, found: "AUTH: the server said"},
		{name: "closed port", url: "redis://" + closed, status: doctorFail, found: closed},
		{name: "not a redis URL", url: "http://" + open, status: doctorFail, found: "want redis://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestDoctorEnv(t, doctorTestRepo(t), []string{"REDIS_URL=" + tt.url}, nil)
			row := doctorRedis(t.Context(), e)[0]
			assert.Equal(t, tt.status, row.Status, "%+v", row)
			assert.Contains(t, row.Found, tt.found)
			assert.NotContains(t, row.Found, "s3cret")
		})
	}
}

func TestDoctorEtcd(t *testing.T) {
	up := serveTCP(t, func(net.Conn) {})
	closed := closedAddr(t)
	tests := []struct {
		name, discovery string
		status          doctorStatus
		found           string
	}{
		{name: "not configured", status: doctorOK, found: "static addresses"},
		{name: "static", discovery: "static", status: doctorOK, found: "static addresses"},
		{name: "etcd answers", discovery: "etcd://" + up, status: doctorOK, found: up + ": accepts connections"},
		{name: "etcd down", discovery: "etcd://" + closed + "/", status: doctorFail, found: closed},
		{name: "one of two down", discovery: "etcd://" + up + "," + closed, status: doctorWarn, found: closed},
		{name: "no port", discovery: "etcd://etcd", status: doctorFail, found: `"etcd": not host:port`},
		{name: "unknown mode", discovery: "consul://x:8500", status: doctorFail, found: `DISCOVERY="consul://x:8500"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestDoctorEnv(t, doctorTestRepo(t), []string{"DISCOVERY=" + tt.discovery}, nil)
			row := doctorEtcd(t.Context(), e)[0]
			assert.Equal(t, tt.status, row.Status, "%+v", row)
			assert.Contains(t, row.Found, tt.found)
		})
	}
}

func TestDoctorPostgres(t *testing.T) {
	closed := closedAddr(t)
	tests := []struct {
		name, url string
		status    doctorStatus
		found     string
	}{
		{name: "not configured", status: doctorOK, found: "not configured (embedded default: SQLite)"},
		{name: "SQLite", url: "sqlite:///tmp/x.db", status: doctorOK, found: "SQLite"},
		{name: "another database", url: "mysql://root@localhost/shop", status: doctorFail, found: `DATABASE_URL scheme "mysql"`},
		{name: "nothing listening", url: "postgres://slipway:s3cret@" + closed + "/shop?sslmode=disable", status: doctorFail, found: closed + "/shop: "},
		{name: "unparsable", url: "postgres://slipway:s3cret@[::1/shop", status: doctorFail, found: "DATABASE_URL: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestDoctorEnv(t, doctorTestRepo(t), []string{"DATABASE_URL=" + tt.url}, nil)
			row := doctorPostgres(t.Context(), e)[0]
			assert.Equal(t, tt.status, row.Status, "%+v", row)
			assert.Contains(t, row.Found, tt.found)
			assert.NotContains(t, row.Found, "s3cret")
		})
	}

	t.Run("a real server answers", func(t *testing.T) {
		url := os.Getenv("POSTGRES_TEST_URL")
		if url == "" {
			url = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
		}
		e := newTestDoctorEnv(t, doctorTestRepo(t), []string{"DATABASE_URL=" + url}, nil)
		row := doctorPostgres(t.Context(), e)[0]
		if row.Status != doctorOK && os.Getenv("CI") != "true" {
			t.Skipf("PostgreSQL is not reachable (set POSTGRES_TEST_URL): %s", row.Found)
		}
		assert.Equal(t, doctorOK, row.Status, "%+v", row)
		assert.Contains(t, row.Found, ": PostgreSQL ")
	})
}

func TestDoctorDiskRow(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name   string
		free   uint64
		err    error
		status doctorStatus
		found  string
	}{
		{name: "plenty", free: 64 * gib, status: doctorOK, found: "64.0 GiB free on /w"},
		{name: "below 5 GiB", free: 4 * gib, status: doctorWarn, found: "4.0 GiB free"},
		{name: "below 1 GiB", free: gib / 2, status: doctorFail, found: "0.5 GiB free"},
		{name: "cannot measure", err: errors.ErrUnsupported, status: doctorWarn, found: "cannot tell: unsupported operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := doctorDiskRow("/w", tt.free, tt.err)
			assert.Equal(t, tt.status, row.Status)
			assert.Contains(t, row.Found, tt.found)
		})
	}

	row := doctorDisk(t.Context(), newTestDoctorEnv(t, doctorTestRepo(t), nil, nil))[0]
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		assert.Contains(t, row.Found, " GiB free on ", "statfs measures the workspace's filesystem")
	}
}

func TestDoctorProgress(t *testing.T) {
	var out clitest.SyncBuffer
	p := &doctorProgress{w: &out, after: 20 * time.Millisecond}
	p.step("quick")()
	done := p.step("slow")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "doctor: slow…") }, time.Second, 5*time.Millisecond)
	done()
	assert.NotContains(t, out.String(), "quick", "steps under the threshold stay quiet")
	assert.Regexp(t, `doctor: slow done in \d+\.\ds`, out.String())
}

func TestRunDoctorOutput(t *testing.T) {
	root := doctorTestRepo(t)
	nats := natsGreeting(t, "{}")
	closed := closedAddr(t)
	long := "etcd://" + closed + "," + closed + "," + closed

	t.Run("json", func(t *testing.T) {
		var stdout bytes.Buffer
		err := runDoctor(t.Context(), doctorOptions{
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
		err := runDoctor(t.Context(), doctorOptions{
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
		require.NoError(t, runDoctor(t.Context(), doctorOptions{Root: root, CI: true, Only: []string{"nats"}, Stdout: &stdout, Environ: []string{}}))
		assert.Contains(t, stdout.String(), "--ci: differences from CI fail")
		assert.Contains(t, stdout.String(), "1 OK, 0 WARN, 0 FAIL")
	})

	t.Run("unknown check", func(t *testing.T) {
		err := runDoctor(t.Context(), doctorOptions{Root: root, Only: []string{"nats", "dns"}, Stdout: io.Discard})
		var uerr cli.UsageError
		require.ErrorAs(t, err, &uerr)
		assert.Contains(t, err.Error(), `unknown check "dns"`)
	})

	t.Run("no workspace", func(t *testing.T) {
		err := runDoctor(t.Context(), doctorOptions{Dir: t.TempDir(), Only: []string{"nats"}, Stdout: io.Discard})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no go.work")
	})

	t.Run("a broken go.work fails the checks that need it", func(t *testing.T) {
		broken := writeDoctorRepo(t, map[string]string{"go.work": "go 1.26.7\nuse (\n"})
		var stdout bytes.Buffer
		err := runDoctor(t.Context(), doctorOptions{Root: broken, JSON: true, Only: []string{"go", "tools"}, Stdout: &stdout, Environ: []string{}})
		require.Error(t, err)
		var report doctorReport
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &report))
		require.Len(t, report.Checks, 2)
		assert.Equal(t, doctorFail, report.Checks[0].Status)
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

func TestDoctorExitCodes(t *testing.T) {
	root := doctorTestRepo(t)
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
			args := append([]string{"doctor", "--root", root}, tt.args...)
			code := run(t.Context(), args, env)
			assert.Equal(t, tt.code, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), tt.stdout)
			assert.Contains(t, stderr.String(), tt.stderr)
		})
	}

	var stdout bytes.Buffer
	assert.Equal(t, cli.ExitOK, run(t.Context(), []string{"help", "doctor"}, &cli.Env{Stdout: &stdout, Stderr: &stdout}))
	assert.Contains(t, stdout.String(), "--ci turns every difference from CI into a FAIL")
}
