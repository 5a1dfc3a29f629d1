package cost

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// validTable is a table every case below breaks one way.
const validTable = `as_of: 2026-01-01
currency: USD
hours_per_month: 730
clouds:
  test:
    family: t
    region: here
    on_demand: {vcpu_hour: 0.04, gib_hour: 0.005, source: page}
    spot: {vcpu_hour: 0.01, gib_hour: 0.001, source: page}
`

func TestParsePricesRejectsABadTable(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown key", "currency: USD", "currency: USD\ndiscount: 0.2", "field discount not found"},
		{"unknown key in a row", "source: page}\n  ", "source: page, ri: 1}\n  ", "field ri not found"},
		{"negative price", "vcpu_hour: 0.01", "vcpu_hour: -0.01", "clouds.test.spot.vcpu_hour -0.01: a price cannot be negative"},
		{"missing price", "gib_hour: 0.005, ", "", "clouds.test.on_demand.gib_hour: missing or zero"},
		{"not a number", "gib_hour: 0.005", "gib_hour: .nan", "clouds.test.on_demand.gib_hour: not a number"},
		{"no source", "0.001, source: page}", "0.001}", "clouds.test.spot.source: missing"},
		{"bad date", "as_of: 2026-01-01", "as_of: last week", `as_of "last week": want a date`},
		{"no date", "as_of: 2026-01-01\n", "", "as_of: missing"},
		{"no currency", "currency: USD\n", "", "currency: missing"},
		{"month too long", "hours_per_month: 730", "hours_per_month: 8760", "hours_per_month 8760"},
		{"spot above on-demand", "spot: {vcpu_hour: 0.01", "spot: {vcpu_hour: 0.5", "spot prices above on-demand"},
		{"no region", "    region: here\n", "", "family and region"},
		{"bad cloud name", "  test:", "  Test Cloud:", "lower case letters"},
		{"a price as text", "vcpu_hour: 0.04", "vcpu_hour: cheap", "cannot unmarshal"},
		{"two documents", "currency: USD", "currency: USD\n---\nas_of: 2027-01-01", "more than one YAML document"},
		{"empty", validTable, "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Contains(t, validTable, tt.old)
			_, err := ParsePrices([]byte(strings.Replace(validTable, tt.old, tt.new, 1)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("the valid table", func(t *testing.T) {
		p, err := ParsePrices([]byte(validTable))
		require.NoError(t, err)
		assert.Equal(t, Rate{VCPUHour: 0.04, GiBHour: 0.005, Source: "page"}, p.Clouds["test"].Rate(OnDemand))
		assert.Equal(t, Rate{VCPUHour: 0.01, GiBHour: 0.001, Source: "page"}, p.Clouds["test"].Rate(Spot))
	})
}

func TestLoadPricesNamesTheFile(t *testing.T) {
	_, err := LoadPrices(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "price table: open")
	_, err = LoadPrices(filepath.Join("testdata", "load-report.json"))
	require.ErrorContains(t, err, "price table testdata/load-report.json:")
}

func TestTheCommittedTableIsValidAndCoversThreeClouds(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	p, err := LoadPrices(filepath.Join(root, DefaultPrices))
	require.NoError(t, err)
	assert.Equal(t, []string{"aws", "azure", "gcp"}, p.CloudNames())
	assert.Equal(t, 730.0, p.HoursPerMonth)
	for _, c := range p.Clouds {
		// Spot is a discount, and a big one: a row where it is not was mistyped.
		assert.Less(t, c.Spot.VCPUHour, 0.7*c.OnDemand.VCPUHour, c.Family)
	}
}

func TestStaleTable(t *testing.T) {
	p, err := ParsePrices([]byte(validTable))
	require.NoError(t, err)
	at := func(s string) time.Time {
		v, err := time.Parse(time.DateOnly, s)
		require.NoError(t, err)
		return v
	}
	_, stale := p.Stale(at("2026-06-30"), 180)
	assert.False(t, stale, "180 days old is not older than 180")
	msg, stale := p.Stale(at("2026-07-01"), 180)
	assert.True(t, stale)
	assert.Contains(t, msg, "the price table is 181 days old (as_of 2026-01-01, more than 180)")
	_, stale = p.Stale(at("2030-01-01"), 0)
	assert.False(t, stale, "0 days: never stale")
}
