package doctor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorkspace(t *testing.T) {
	t.Run("in sync", func(t *testing.T) {
		var calls []string
		root := testRepo(t)
		rows := checkWorkspace(t.Context(), newTestEnv(t, root, []string{"GOWORK=off"}, workspaceRunner("v0.61.0", &calls)))
		mods := rowNamed(t, rows, "go.work modules")
		assert.Equal(t, OK, mods.Status, "%+v", mods)
		assert.Equal(t, "2 modules resolve (go list -m)", mods.Found)
		assert.Equal(t, OK, rowNamed(t, rows, "go work sync").Status)
		for _, c := range calls {
			assert.Contains(t, c, "GOWORK=go.work", "the workspace's go.work, whatever GOWORK says")
		}
	})
	t.Run("a requirement behind the workspace", func(t *testing.T) {
		var calls []string
		root := testRepo(t)
		rows := checkWorkspace(t.Context(), newTestEnv(t, root, nil, workspaceRunner("v0.62.0", &calls)))
		sync := rowNamed(t, rows, "go work sync")
		assert.Equal(t, Warn, sync.Status)
		assert.Equal(t, "1 requirements behind in 1 modules: api: golang.org/x/net v0.61.0 → v0.62.0", sync.Found)
		assert.Contains(t, sync.Fix, "go work sync")
	})
	t.Run("broken modules", func(t *testing.T) {
		var calls []string
		root := testRepo(t)
		require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26.7\n\nuse (\n\t./api\n\t./tools/slipway\n\t./gone\n)\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(root, "api", "go.mod"), []byte("module example.com/api\n\ngo 1.27.0\n"), 0o644))
		writeFile := filepath.Join(root, "services", "billing", "go.mod")
		require.NoError(t, os.MkdirAll(filepath.Dir(writeFile), 0o755))
		require.NoError(t, os.WriteFile(writeFile, []byte("module example.com/billing\n\ngo 1.26.7\n"), 0o644))

		rows := checkWorkspace(t.Context(), newTestEnv(t, root, nil, workspaceRunner("v0.61.0", &calls)))
		mods := rowNamed(t, rows, "go.work modules")
		assert.Equal(t, Fail, mods.Status)
		assert.Contains(t, mods.Found, "gone: ")
		assert.Contains(t, mods.Found, "api: go 1.27.0 > go.work go 1.26.7")
		assert.Contains(t, mods.Found, "services/billing is not in go.work")
		assert.Contains(t, mods.Fix, "go work use")
	})
	t.Run("go list fails", func(t *testing.T) {
		root := testRepo(t)
		run := fakeRun(func(string, []string, string, ...string) (string, error) {
			return "", &cmdError{err: errors.New("exit status 1"), stderr: "go: module example.com/x: not found\nmore"}
		})
		rows := checkWorkspace(t.Context(), newTestEnv(t, root, nil, run))
		assert.Equal(t, Fail, rows[0].Status)
		assert.Contains(t, rows[0].Found, "go list -m: go: module example.com/x: not found")
		assert.NotContains(t, rows[0].Found, "more", "one line per problem")
		assert.Equal(t, Fail, rows[1].Status)
	})
}

func TestVerify(t *testing.T) {
	root := testRepo(t)
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
			return "", &cmdError{err: errors.New("exit status 1"), stderr: "example.com/x v1.0.0: dir has been modified (/mod/example.com/x@v1.0.0)"}
		}
		return "all modules verified\n", nil
	})
	rows := checkVerify(t.Context(), newTestEnv(t, root, nil, run))
	require.Len(t, rows, 1)
	assert.Equal(t, Fail, rows[0].Status)
	assert.Equal(t, "deploy: example.com/x v1.0.0: dir has been modified (/mod/example.com/x@v1.0.0)", rows[0].Found)
	assert.Equal(t, map[string]string{".": filepath.Join(root, "go.work"), "deploy": "off"}, ran,
		"the workspace and deploy, as CI; tools/gen's tools are the tools check's")

	ok := fakeRun(func(string, []string, string, ...string) (string, error) { return "all modules verified\n", nil })
	rows = checkVerify(t.Context(), newTestEnv(t, root, nil, ok))
	assert.Equal(t, OK, rows[0].Status)
	assert.Equal(t, "all verified: workspace, deploy", rows[0].Found)
}

func TestTools(t *testing.T) {
	root := testRepo(t)
	var mu sync.Mutex
	var ran []string
	run := fakeRun(func(dir string, environ []string, name string, args ...string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		rel, _ := filepath.Rel(root, dir)
		gowork, _ := envvar.Lookup(environ, "GOWORK")
		ran = append(ran, fmt.Sprintf("%s GOWORK=%s %s %s", filepath.ToSlash(rel), filepath.Base(gowork), name, strings.Join(args, " ")))
		if strings.HasSuffix(args[len(args)-1], "/buf") {
			return "", &cmdError{err: errors.New("exit status 1"), stderr: "go: github.com/bufbuild/buf@v1.0.0: missing go.sum entry"}
		}
		return "/cache/" + toolName(args[len(args)-1]) + "\n", nil
	})
	rows := checkTools(t.Context(), newTestEnv(t, root, nil, run))
	assert.ElementsMatch(t, []string{
		". GOWORK=go.work go tool -n github.com/google/wire/cmd/wire",
		"tools/gen GOWORK=off go tool -n github.com/bufbuild/buf/cmd/buf",
		"tools/gen GOWORK=off go tool -n google.golang.org/protobuf/cmd/protoc-gen-go",
	}, ran, "workspace tools in the workspace, the others with GOWORK=off in their module")

	slipway := rowNamed(t, rows, "go tool (tools/slipway)")
	assert.Equal(t, OK, slipway.Status)
	assert.Equal(t, "its pinned tool builds", slipway.Expected)
	assert.Equal(t, "go tool builds wire", slipway.Found)

	gen := rowNamed(t, rows, "go tool (tools/gen)")
	assert.Equal(t, Fail, gen.Status)
	assert.Equal(t, "its 2 pinned tools build", gen.Expected)
	assert.Equal(t, "buf: go: github.com/bufbuild/buf@v1.0.0: missing go.sum entry", gen.Found)
	assert.Contains(t, gen.Fix, "cd tools/gen && GOWORK=off go tool")
}

func TestToolName(t *testing.T) {
	for pkg, want := range map[string]string{
		"github.com/google/wire/cmd/wire":                        "wire",
		"gotest.tools/gotestsum":                                 "gotestsum",
		"github.com/golangci/golangci-lint/v2/cmd/golangci-lint": "golangci-lint",
		"github.com/air-verse/air":                               "air",
		"example.com/tool/v3":                                    "tool",
		"v2":                                                     "v2",
	} {
		t.Run(pkg, func(t *testing.T) { assert.Equal(t, want, toolName(pkg)) })
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// workspaceRunner answers go list like the go command over testRepo,
// with the workspace selecting golang.org/x/net at selected.
func workspaceRunner(selected string, calls *[]string) Runner {
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
