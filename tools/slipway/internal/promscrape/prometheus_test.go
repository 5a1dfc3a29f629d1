package promscrape

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoSLO is the checked-in deploy/slo.yaml, from this package's directory.
var repoSLO = filepath.Join("..", "..", "..", "..", "deploy", "slo.yaml")

// TestSuccessRateQuery keeps the two modes on one definition:
// the shared PromQL counts as successes exactly the codes the scrape
// computation does, and ready can aim it at any service and window.
func TestSuccessRateQuery(t *testing.T) {
	spec, err := slo.Load(repoSLO)
	require.NoError(t, err)
	for name, query := range map[string]string{"deploy/promql/success_rate.promql": spec.SuccessRateQuery, "built-in": builtinSuccessRate()} {
		t.Run(name, func(t *testing.T) {
			matcher := regexp.MustCompile(`code!~"([^"]+)"`).FindStringSubmatch(query)
			require.NotNil(t, matcher, "the query counts errors as code!~\"<successes>\"")
			got := strings.Split(matcher[1], "|")
			want := slices.Clone(successCodes)
			slices.Sort(got)
			slices.Sort(want)
			assert.Equal(t, want, got)

			q, perService, err := successRateFor(query, "user", "15s")
			require.NoError(t, err)
			assert.True(t, perService)
			assert.NotContains(t, q, "{{")
			assert.Contains(t, q, `service="user"`)
			assert.Contains(t, q, "[15s]")
			assert.NotRegexp(t, `\[(?:[0-9]+[a-z]+)+\]`, strings.ReplaceAll(q, "[15s]", ""), "every range is the window")
			assert.NotRegexp(t, `[^_]service="(?:[^u]|u[^s])`, q, "every service matcher names user")
		})
	}

	q, perService, err := successRateFor("# a comment\nsum by (service) (rate(x{code=\"OK\"}[1m30s]))", "user", "15s")
	require.NoError(t, err)
	assert.False(t, perService, "no service matcher: one query for every service")
	assert.Equal(t, `sum by (service) (rate(x{code="OK"}[15s]))`, q)

	_, _, err = successRateFor(`sum(rate(x[{{args.interval}}]))`, "user", "15s")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown placeholder {{args.interval}}")
}
