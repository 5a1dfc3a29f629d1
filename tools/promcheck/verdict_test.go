package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestVerdict(t *testing.T) {
	tests := []struct {
		name string
		c    Check
		want Status
	}{
		{"a panel with series", Check{Kind: MustHaveData, Series: 3}, OK},
		{"a panel with no series fails", Check{Kind: MustHaveData}, Fail},
		{"an error fails even with series", Check{Kind: MustHaveData, Series: 1, Err: errors.New("parse error")}, Fail},
		{"an alert not firing", Check{Kind: MayBeEmpty}, OK},
		{"an alert that does not parse", Check{Kind: MayBeEmpty, Err: errors.New("parse error")}, Fail},
		{"a recorded series offset further back than the run", Check{Kind: MustHaveData, History: 72 * time.Hour, Ran: time.Minute}, EmptyOK},
		{"a recorded series the run could fill", Check{Kind: MustHaveData, History: 30 * time.Second, Ran: time.Minute}, Fail},
		{"a panel of NaN alone fails", Check{Kind: MustHaveData, Series: 2, NaN: 2}, Fail},
		{"a panel with one series of numbers", Check{Kind: MustHaveData, Series: 2, NaN: 1}, OK},
		{"an alert returning NaN parses and evaluates", Check{Kind: MayBeEmpty, Series: 1, NaN: 1}, OK},
		{"a long offset does not excuse an error", Check{Kind: MustHaveData, History: 72 * time.Hour, Ran: time.Minute, Err: errors.New("bad")}, Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := tt.c.Verdict()
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReportCountsFailures(t *testing.T) {
	var out bytes.Buffer
	failed := Report(&out, []Check{
		{Source: "slipway.json", Name: "Request rate (A)", Expr: "sum  by (service)\n(rate(x[1m]))", Series: 5},
		{Source: "slipway.json", Name: "Renamed (A)", Expr: "rate(renamed_total[1m])"},
		{Source: "rules/slo.yml", Name: "record slipway:x:rate5m_offset3d", History: 72 * time.Hour, Ran: time.Minute},
	})
	assert.Equal(t, 1, failed)
	text := out.String()
	assert.Contains(t, text, "sum by (service) (rate(x[1m]))", "an expression fits on one line")
	assert.Contains(t, text, "no series: the panel would show no data")
	assert.Contains(t, text, "reads data at least 72h0m0s old, the run lasted 1m0s")
	assert.Contains(t, text, "3 checks: 1 OK, 1 FAIL, 1 EMPTY-OK (offset longer than the run)")
	assert.Len(t, strings.Split(strings.TrimSpace(text), "\n"), 6) // header, 3 rows, blank, summary
}
