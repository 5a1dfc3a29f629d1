package doctor

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			got, why, err := selectToolchain(tt.local, toolchainSetting{Value: tt.gotoolchain, From: tt.from}, "go.work", tt.goLine, tt.toolchainLine, tt.hasGo)
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

func TestGoVersion(t *testing.T) {
	root := testRepo(t)
	tests := []struct {
		name        string
		goVersion   string // "" puts no go on PATH
		gotoolchain string
		ci          bool
		version     Status // of the "go version" row
		toolchain   Status // of the "toolchain go.work" row
		found       string // in the toolchain row
	}{
		{name: "CI's version", goVersion: "go1.26.8", version: OK, toolchain: OK, found: "local go1.26.8 ≥ go.work toolchain go1.26.8"},
		{name: "CI's version under --ci", goVersion: "go1.26.8", ci: true, version: OK, toolchain: OK},
		{name: "an older go switches toolchains: WARN", goVersion: "go1.22.0", gotoolchain: "auto", version: Warn, toolchain: OK,
			found: "go1.26.8: go.work toolchain go1.26.8 > local go1.22.0 → switches to it (GOTOOLCHAIN=auto, set in the environment)"},
		{name: "an older go fails under --ci", goVersion: "go1.22.0", gotoolchain: "auto", ci: true, version: Fail, toolchain: OK},
		{name: "an older go that may not switch fails", goVersion: "go1.22.0", gotoolchain: "local", version: Fail, toolchain: Fail,
			found: "forbids switching"},
		{name: "a newer go differs from CI", goVersion: "go1.27.0", gotoolchain: "auto", version: Warn, toolchain: Warn, found: "go1.27.0: local"},
		{name: "a newer go fails under --ci", goVersion: "go1.27.0", gotoolchain: "auto", ci: true, version: Fail, toolchain: Fail},
		{name: "no go on PATH", version: Fail},
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
			e := newTestEnv(t, root, environ, nil)
			e.ci = tt.ci
			rows := checkGo(t.Context(), e)

			v := rowNamed(t, rows, "go version")
			assert.Equal(t, tt.version, v.Status, "%+v", v)
			assert.Equal(t, "go1.26.8 (go.work toolchain, as CI)", v.Expected)
			if tt.goVersion == "" {
				assert.Equal(t, "not on PATH", v.Found)
				assert.Len(t, rows, 1)
				return
			}
			assert.Contains(t, v.Found, tt.goVersion+" ("+filepath.Join(path, "go")+")")
			if v.Status != OK {
				assert.Contains(t, v.Fix, "GOTOOLCHAIN is the modern form of gvm")
				assert.Contains(t, v.Fix, "go install golang.org/dl/go1.26.8@latest && go1.26.8 download, then GOTOOLCHAIN=path")
			}
			tc := rowNamed(t, rows, "toolchain go.work")
			assert.Equal(t, tt.toolchain, tc.Status, "%+v", tc)
			assert.Contains(t, tc.Found, tt.found)
			// Modules outside go.work get a row each; their go.mod decides.
			assert.Contains(t, rowNamed(t, rows, "toolchain tools/gen").Found, "tools/gen/go.mod")
			rowNamed(t, rows, "toolchain deploy")
			rowNamed(t, rows, "go env")
		})
	}
}

// TestGoSideBySide: a second Go installed with golang.org/dl shows in
// the go version row, and the fix selects it instead of installing it.
func TestGoSideBySide(t *testing.T) {
	root := testRepo(t)
	path := fakeGoDir(t, "go1.22.0")
	for _, name := range []string{"go1.26.8", "go1.25.5"} {
		require.NoError(t, os.WriteFile(filepath.Join(path, name), []byte("#!/bin/sh\n"), 0o755))
	}
	e := newTestEnv(t, root, []string{"PATH=" + path, "GOTOOLCHAIN=path"}, nil)
	rows := checkGo(t.Context(), e)

	v := rowNamed(t, rows, "go version")
	assert.Equal(t, "go1.22.0 ("+filepath.Join(path, "go")+"); GOTOOLCHAIN=path, set in the environment; also on PATH: go1.25.5, go1.26.8", v.Found)
	assert.Equal(t, Warn, v.Status)
	assert.Contains(t, v.Fix, "go1.26.8 is on PATH beside go: GOTOOLCHAIN=path runs it")
	tc := rowNamed(t, rows, "toolchain go.work")
	assert.Equal(t, OK, tc.Status, "%+v", tc)
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

func TestGoEnvRow(t *testing.T) {
	root := testRepo(t)
	tests := []struct {
		name    string
		g       goEnv
		environ []string
		ci      bool
		status  Status
		found   string
	}{
		{name: "CI's settings", g: goEnv{Flags: "-buildvcs=false", SumDB: "sum.golang.org"}, status: OK, found: "GOFLAGS=-buildvcs=false"},
		{name: "nothing set", g: goEnv{}, status: OK, found: "defaults"},
		{name: "-mod=readonly is the default anyway", g: goEnv{Flags: "-mod=readonly"}, status: OK},
		{name: "-mod=mod warns", g: goEnv{Flags: "-buildvcs=false -mod=mod"}, status: Warn, found: "GOFLAGS has -mod=mod"},
		{name: "-mod=mod fails under --ci", g: goEnv{Flags: "-mod=mod"}, ci: true, status: Fail, found: "GOFLAGS has -mod=mod"},
		{name: "--mod=vendor too", g: goEnv{Flags: "--mod=vendor"}, ci: true, status: Fail, found: "--mod=vendor"},
		{name: "no checksum database", g: goEnv{SumDB: "off"}, status: Warn, found: "GOSUMDB=off"},
		{name: "an experiment", g: goEnv{Experiment: "greenteagc"}, ci: true, status: Fail, found: "GOEXPERIMENT=greenteagc"},
		{name: "insecure downloads", g: goEnv{Insecure: "example.com"}, status: Warn, found: "GOINSECURE=example.com"},
		{name: "GOWORK=off", g: goEnv{}, environ: []string{"GOWORK=off"}, status: Warn, found: "GOWORK=off"},
		{name: "GOWORK at the workspace", g: goEnv{}, environ: []string{"GOWORK=" + filepath.Join(root, "go.work")}, status: OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, root, tt.environ, nil)
			e.ci = tt.ci
			row := goEnvRow(e, tt.g)
			assert.Equal(t, tt.status, row.Status, "%+v", row)
			assert.Contains(t, row.Found, tt.found)
			if row.Status != OK {
				assert.NotEmpty(t, row.Fix)
			}
		})
	}
}
