package cost

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

const (
	rulesFile     = "deploy/prometheus/rules/cost.yml"
	rulesTestFile = "deploy/prometheus/tests/cost_test.yml"
)

func rulesOf(t *testing.T, p *Prices) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, Rules(&b, p))
	return b.String()
}

func TestCommittedRulesCarryThePriceTable(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	p, err := LoadPrices(filepath.Join(root, DefaultPrices))
	require.NoError(t, err)
	committed, err := os.ReadFile(filepath.Join(root, rulesFile))
	require.NoError(t, err)
	assert.Equal(t, rulesOf(t, p), string(committed),
		"%s disagrees with %s: run go run ./tools/slipway cost --rules > %s", rulesFile, DefaultPrices, rulesFile)

	t.Run("a changed price changes the rules", func(t *testing.T) {
		changed := *p
		changed.Clouds = map[string]Cloud{}
		for k, v := range p.Clouds {
			changed.Clouds[k] = v
		}
		aws := changed.Clouds["aws"]
		aws.Spot.GiBHour += 0.0001
		changed.Clouds["aws"] = aws
		assert.NotEqual(t, string(committed), rulesOf(t, &changed))
	})
}

// promtool runs promtool, which CI installs; elsewhere the test is skipped
// when it is missing.
func promtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (CI installs it: .ci/run)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput() //nolint:gosec // promtool with the test's files
	return string(out), err
}

func TestRulesPassPromtool(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	out, err := promtool(t, "check", "rules", filepath.Join(root, rulesFile))
	require.NoError(t, err, out)
	out, err = promtool(t, "test", "rules", filepath.Join(root, rulesTestFile))
	require.NoError(t, err, out)
	assert.Contains(t, out, "SUCCESS")

	t.Run("the unit tests catch a price that moved", func(t *testing.T) {
		p, err := LoadPrices(filepath.Join(root, DefaultPrices))
		require.NoError(t, err)
		gcp := p.Clouds["gcp"]
		gcp.Spot.VCPUHour *= 2
		p.Clouds["gcp"] = gcp
		dir := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "rules"), 0o750))
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "tests"), 0o750))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "rules", "cost.yml"), []byte(rulesOf(t, p)), 0o600))
		unit, err := os.ReadFile(filepath.Join(root, rulesTestFile))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "tests", "cost_test.yml"), unit, 0o600))
		out, err := promtool(t, "test", "rules", filepath.Join(dir, "tests", "cost_test.yml"))
		require.Error(t, err, out)
		assert.True(t, strings.Contains(out, `cloud="gcp", pricing="spot"`), out)
	})
}
