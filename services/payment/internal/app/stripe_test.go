package app_test

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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
)

// TestRunChargesThroughStripe runs the service with PAYMENT_PROVIDER=stripe
// against stripe-mock, Stripe's own mock of its API, at STRIPE_API_URL: the
// order service authorizes and captures, and the payment records Stripe's
// PaymentIntent.
func TestRunChargesThroughStripe(t *testing.T) {
	s := start(t, "PAYMENT_PROVIDER=stripe", "STRIPE_API_KEY=sk_test_123", "STRIPE_API_URL="+startStripeMock(t))
	ctx := s.asOrder(t)
	authorized, err := s.client.AuthorizePayment(ctx, authorizeReq("o-stripe", "user-alice", "pm_card_visa"))
	require.NoError(t, err)
	p := authorized.GetPayment()
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_AUTHORIZED, p.GetState())
	assert.Equal(t, "stripe", p.GetProvider())
	assert.True(t, strings.HasPrefix(p.GetProviderRef(), "pi_"), "a PaymentIntent id: %q", p.GetProviderRef())

	captured, err := s.client.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{OrderId: "o-stripe", Amount: usd1999, IdempotencyKey: "o-stripe:capture"})
	require.NoError(t, err)
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_CAPTURED, captured.GetPayment().GetState())
}

// stripe-mock is pinned as a tool in tools/gen/go.mod and built from there,
// into the Go build cache, the first time (as the stripe provider's
// contract test does).
const (
	stripeMockTool         = "github.com/stripe/stripe-mock"
	stripeMockBuildTimeout = 10 * time.Minute
	stripeMockStartTimeout = 30 * time.Second
)

// stripeMock is a built stripe-mock: its executable and its module's
// directory, which holds the fixtures it answers with.
type stripeMock struct{ bin, moduleDir string }

var buildStripeMock = sync.OnceValues(func() (stripeMock, error) {
	wd, err := os.Getwd()
	if err != nil {
		return stripeMock{}, err
	}
	dir := ""
	for d := wd; dir == ""; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "tools", "gen", "go.mod")); err == nil {
			dir = filepath.Join(d, "tools", "gen")
		} else if filepath.Dir(d) == d {
			return stripeMock{}, fmt.Errorf("no tools/gen/go.mod above %s: stripe-mock is pinned there", wd)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), stripeMockBuildTimeout)
	defer cancel()
	goIn := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "GOWORK=off")
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go %s in %s: %w", strings.Join(args, " "), dir, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	bin, err := goIn("tool", "-n", stripeMockTool)
	if err != nil {
		return stripeMock{}, err
	}
	mod, err := goIn("list", "-m", "-f", "{{.Dir}}", stripeMockTool)
	if err != nil {
		return stripeMock{}, err
	}
	return stripeMock{bin: bin, moduleDir: mod}, nil
})

// startStripeMock runs stripe-mock on a free 127.0.0.1 port until the test
// ends and returns its base URL. Its PaymentIntent fixture is made a
// manual-capture hold (status requires_capture), as Stripe answers a
// confirmed PaymentIntent with capture_method=manual. When stripe-mock
// cannot be built the test is skipped, unless CI=true: then it fails.
func startStripeMock(t *testing.T) string {
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
	raw, err := os.ReadFile(bundled)
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
