// Package stripetest runs stripe-mock, Stripe's own mock of its API, for the
// tests of the Stripe provider and of the payment service on it. stripe-mock
// refuses any request its OpenAPI spec does not allow. It is pinned as a tool
// in tools/gen/go.mod and built from there, into the Go build cache, the
// first time.
package stripetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stripeMockTool is the tool's package path in tools/gen/go.mod.
const stripeMockTool = "github.com/stripe/stripe-mock"

const (
	stripeMockBuildTimeout = 10 * time.Minute
	stripeMockStartTimeout = 30 * time.Second
)

// stripeMock is a built stripe-mock: its executable and its module's
// directory, which holds the fixtures it answers with.
type stripeMock struct{ bin, moduleDir string }

var buildStripeMock = sync.OnceValues(func() (stripeMock, error) {
	dir, err := toolsDir()
	if err != nil {
		return stripeMock{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), stripeMockBuildTimeout)
	defer cancel()
	bin, err := goIn(ctx, dir, "tool", "-n", stripeMockTool)
	if err != nil {
		return stripeMock{}, err
	}
	mod, err := goIn(ctx, dir, "list", "-m", "-f", "{{.Dir}}", stripeMockTool)
	if err != nil {
		return stripeMock{}, err
	}
	return stripeMock{bin: bin, moduleDir: mod}, nil
})

// goIn runs the go command in dir, outside the workspace, and returns its
// trimmed output.
func goIn(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...) //nolint:gosec // G204: the go command, with fixed arguments and the tool's path
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// toolsDir finds tools/gen, whose go.mod pins stripe-mock, above the
// working directory (a test runs in its package's directory).
func toolsDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, "tools", "gen")
		if _, err := os.Stat(filepath.Join(candidate, "go.mod")); err == nil {
			return candidate, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no tools/gen/go.mod above %s: stripe-mock is pinned there", wd)
		}
	}
}

// StartMock runs stripe-mock on a free 127.0.0.1 port until the test
// ends and returns its base URL. Its PaymentIntent fixture is made a
// manual-capture hold (status requires_capture), as Stripe answers a
// confirmed PaymentIntent with capture_method=manual. When stripe-mock
// cannot be built the test is skipped, unless CI=true: then it fails.
func StartMock(t *testing.T) string {
	t.Helper()
	mock, err := buildStripeMock()
	if err != nil {
		msg := fmt.Sprintf("stripe-mock cannot be built from tools/gen: %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	fixtures := holdFixtures(t, filepath.Join(mock.moduleDir, "embedded", "openapi", "fixtures3.json"))

	pr, pw := io.Pipe()
	cmd := exec.CommandContext(context.Background(), mock.bin, //nolint:gosec // the stripe-mock built from tools/gen's pin
		"-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0", "-fixtures", fixtures)
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = pw.Close()
	})

	addr := make(chan string, 1)
	go func() {
		const prefix = "Listening for HTTP at address: "
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, prefix) {
				addr <- strings.TrimPrefix(line, prefix)
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(stripeMockStartTimeout):
		t.Fatalf("stripe-mock did not listen within %s", stripeMockStartTimeout)
		return ""
	}
}

// holdFixtures writes stripe-mock's bundled fixtures with the PaymentIntent
// in status requires_capture and returns their path.
func holdFixtures(t *testing.T, bundled string) string {
	t.Helper()
	raw, err := os.ReadFile(bundled) //nolint:gosec // G304: stripe-mock's own fixtures, in its module directory
	require.NoError(t, err)
	var fixtures struct {
		Resources map[string]map[string]any `json:"resources"`
	}
	require.NoError(t, json.Unmarshal(raw, &fixtures))
	pi, ok := fixtures.Resources["payment_intent"]
	require.True(t, ok, "stripe-mock's fixtures have a payment_intent")
	pi["status"] = "requires_capture"
	out, err := json.Marshal(fixtures)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "fixtures.json")
	require.NoError(t, os.WriteFile(path, out, 0o600))
	return path
}
