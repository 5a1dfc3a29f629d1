// Package stripetest runs stripe-mock, Stripe's own mock of its API, for the
// tests of the Stripe provider and of the payment service on it. stripe-mock
// refuses any request its OpenAPI spec does not allow. It is pinned as a tool
// in tools/gen/go.mod and built from there, into the Go build cache, the
// first time.
package stripetest

import (
	"bufio"
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

	"github.com/slipway-dev/slipway/platform/gentool"
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
	ctx, cancel := context.WithTimeout(context.Background(), stripeMockBuildTimeout)
	defer cancel()
	bin, err := gentool.Go(ctx, "tool", "-n", stripeMockTool)
	if err != nil {
		return stripeMock{}, err
	}
	mod, err := gentool.Go(ctx, "list", "-m", "-f", "{{.Dir}}", stripeMockTool)
	if err != nil {
		return stripeMock{}, err
	}
	return stripeMock{bin: bin, moduleDir: mod}, nil
})

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
