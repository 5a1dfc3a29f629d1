package scan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeGo is a go command that acts out the calls scan makes: go list -m
// -json (the modules platform and api of the directory it runs in), go build -o
// dir/ pkgs (an empty file per package, unless $FAIL_BUILD names it), go
// tool cyclonedx-gomod (a small SBOM, unless $FAIL_SBOM names the binary)
// and go tool govulncheck (prints $STREAM, exits $EXIT).
func fakeGo(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake go is a shell script")
	}
	script := `#!/bin/sh
case "$1" in
list)
	printf '{"Path": "example.com/platform", "Dir": "%s/platform"}\n{"Path": "example.com/api", "Dir": "%s/api"}\n' "$PWD" "$PWD" ;;
build)
	shift 2; out="$1"; shift
	for p in "$@"; do
		n=$(basename "$p")
		if [ "$n" = "$FAIL_BUILD" ]; then echo "cannot build $n" >&2; exit 1; fi
		: > "$out$n"
	done ;;
tool)
	case "$2" in
	cyclonedx-gomod)
		n=$(basename "$8")
		if [ "$n" = "$FAIL_SBOM" ]; then echo "no module info in $n" >&2; exit 2; fi
		printf '{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{}, {}, {}]}' > "$7" ;;
	govulncheck)
		if [ "$(basename "$PWD")" = "$FAIL_MODULE" ]; then echo "$FAIL_MODULE does not build" >&2; exit 1; fi
		cat "$STREAM"
		i=1; while [ $i -le 12 ]; do echo "govulncheck: line $i" >&2; i=$((i+1)); done
		exit "${EXIT:-0}" ;;
	esac ;;
esac
`
	path := filepath.Join(t.TempDir(), "go")
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))
	return path
}

func TestModuleVulns(t *testing.T) {
	goBin := fakeGo(t)
	stream := filepath.Join(t.TempDir(), "stream.json")
	require.NoError(t, os.WriteFile(stream, []byte(testStream), 0o644))
	work := []module{{Path: "github.com/slipway-dev/slipway/platform", Dir: "platform", Abs: t.TempDir()}}

	var rep Report
	var progress []string
	res, findings, err := moduleVulns(t.Context(), goBin, []string{"PATH=" + os.Getenv("PATH"), "STREAM=" + stream}, "file:///db", work[0], work, &rep,
		func(msg string, _ time.Duration) { progress = append(progress, msg) })
	require.NoError(t, err)
	assert.Equal(t, "platform", res.Dir)
	assert.Equal(t, 3, res.Findings)
	assert.Equal(t, 1, res.Called)
	assert.Len(t, findings, 3)
	assert.Len(t, progress, 2, "govulncheck's progress messages")
	assert.Equal(t, "govulncheck@v1.9.0", rep.Scanner)

	_, _, err = moduleVulns(t.Context(), goBin, []string{"PATH=" + os.Getenv("PATH"), "STREAM=" + stream, "EXIT=3"}, "file:///db", work[0], work, &Report{}, func(string, time.Duration) {})
	require.Error(t, err)
	assert.Equal(t, "exit status 3: "+strings.Join(lastLines(3, 12), " | "), err.Error(), "the last ten lines of its stderr")

	require.NoError(t, os.WriteFile(stream, []byte(`{"config": `), 0o644))
	_, _, err = moduleVulns(t.Context(), goBin, []string{"PATH=" + os.Getenv("PATH"), "STREAM=" + stream}, "file:///db", work[0], work, &Report{}, func(string, time.Duration) {})
	assert.ErrorContains(t, err, "read govulncheck's JSON")
}

// lastLines are the fake govulncheck's stderr lines from..to.
func lastLines(from, to int) []string {
	var lines []string
	for i := from; i <= to; i++ {
		lines = append(lines, "govulncheck: line "+strconv.Itoa(i))
	}
	return lines
}

func TestWriteSBOMs(t *testing.T) {
	goBin := fakeGo(t)
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "tools", "gen"), 0o755))
	dir := filepath.Join(t.TempDir(), "sbom")

	var progress bytes.Buffer
	sboms, err := writeSBOMs(t.Context(), goBin, root, []string{"PATH=" + os.Getenv("PATH")}, []string{"user", "order"}, dir, &progress)
	require.NoError(t, err)
	require.Len(t, sboms, 2)
	assert.Equal(t, "user", sboms[0].Service)
	assert.Equal(t, filepath.Join(dir, "user.cdx.json"), sboms[0].Path)
	assert.Equal(t, 3, sboms[0].Components)
	assert.FileExists(t, filepath.Join(dir, "order.cdx.json"))
	assert.Contains(t, progress.String(), "scan: building user, order for the SBOMs\n")

	sboms, err = writeSBOMs(t.Context(), goBin, root, []string{"PATH=" + os.Getenv("PATH"), "FAIL_SBOM=order"}, []string{"user", "order"}, dir, &progress)
	require.Error(t, err)
	assert.Equal(t, "SBOM: order: exit status 2: no module info in order", err.Error())
	require.Len(t, sboms, 1, "the SBOMs that could be written are kept")
	assert.Equal(t, "user", sboms[0].Service)

	_, err = writeSBOMs(t.Context(), goBin, root, []string{"PATH=" + os.Getenv("PATH"), "FAIL_BUILD=user"}, []string{"user"}, dir, &progress)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "build the services for the SBOMs: exit status 1\ncannot build user")
}

// TestRunWithAFakeGo runs the verb's whole sequence with the fake go first
// on PATH: two modules, one of which fails, and an SBOM.
func TestRunWithAFakeGo(t *testing.T) {
	goBin := fakeGo(t)
	t.Setenv("PATH", filepath.Dir(goBin)+string(filepath.ListSeparator)+os.Getenv("PATH"))
	root := t.TempDir()
	for _, dir := range []string{"platform", "api", "tools/gen", "services/user/cmd/user"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.FromSlash(dir)), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "services/user/cmd/user/main.go"), []byte("package main\n"), 0o644))
	stream := filepath.Join(t.TempDir(), "stream.json")
	require.NoError(t, os.WriteFile(stream, []byte(testStream), 0o644))

	var stdout, progress bytes.Buffer
	err := Run(t.Context(), Options{
		Root: root, DB: fixtureURL(t, "vulndb-empty"), Services: []string{"user"}, JSON: true,
		Stdout: &stdout, Progress: &progress, Environ: []string{"PATH=" + os.Getenv("PATH"), "STREAM=" + stream, "FAIL_MODULE=api"},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "vulnerable code is called: GO-2099-0001 (called in platform)")
	assert.Contains(t, err.Error(), "govulncheck in api: exit status 1: api does not build")

	rep := decodeReport(t, stdout.Bytes())
	assert.True(t, rep.Failed)
	require.Len(t, rep.Modules, 2)
	assert.Equal(t, 3, rep.Modules[0].Findings)
	assert.Contains(t, rep.Modules[1].Error, "api does not build")
	require.Len(t, rep.SBOMs, 1)
	assert.Equal(t, filepath.Join(root, ".slipway", "sbom", "user.cdx.json"), rep.SBOMs[0].Path, "SBOMs go under the workspace by default")
	for _, want := range []string{"scan: 2 module(s) of " + filepath.Join(root, "go.work"), "scan: [1/2] platform: 3 finding(s), 1 called", "scan: [2/2] api: failed after", "scan: done in"} {
		assert.Contains(t, progress.String(), want)
	}
}

func decodeReport(t *testing.T, data []byte) Report {
	t.Helper()
	var rep Report
	require.NoError(t, json.Unmarshal(data, &rep), string(data))
	return rep
}
