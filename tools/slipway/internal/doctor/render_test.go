package doctor

import (
	"bytes"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCell(t *testing.T) {
	short := strings.Repeat("é", cellMax)
	assert.Equal(t, short, cell(short), "cellMax runes fit, whatever their bytes")
	long := strings.Repeat("é", cellMax+1)
	got := cell(long)
	assert.Equal(t, cellMax, len([]rune(got)))
	assert.True(t, strings.HasSuffix(got, "é…"))
}

func TestSummarize(t *testing.T) {
	rows := []Row{
		{Check: "go version", Status: OK},
		{Check: "ports", Status: Fail},
		{Check: "protoc", Status: Warn},
		{Check: "Redis", Status: Fail},
	}
	report, failed := summarize(true, rows)
	assert.Equal(t, Summary{OK: 1, Warn: 1, Fail: 2}, report.Summary)
	assert.Equal(t, "1 OK, 1 WARN, 2 FAIL", report.Summary.String())
	assert.True(t, report.CI)
	assert.Equal(t, []string{"ports", "Redis"}, failed, "in table order")
}

func TestSelectChecks(t *testing.T) {
	all, err := selectChecks(nil)
	require.NoError(t, err)
	assert.Len(t, all, len(checkNames()))

	some, err := selectChecks([]string{"disk", "go"})
	require.NoError(t, err)
	require.Len(t, some, 2)
	assert.Equal(t, "go", some[0].name, "table order, not --only order")
	assert.Equal(t, "disk", some[1].name)

	_, err = selectChecks([]string{"go", "gpu"})
	var uerr cli.UsageError
	require.ErrorAs(t, err, &uerr)
	assert.Contains(t, err.Error(), `unknown check "gpu" in --only (known: go, workspace, verify,`)
}

func TestRenderDetailsOnlyForCutRowsThatAreNotOK(t *testing.T) {
	long := strings.Repeat("x", cellMax+10)
	report := Report{Checks: []Row{
		{Check: "a", Expected: "e", Found: long, Status: OK},
		{Check: "b", Expected: long, Found: "f", Status: Warn, Fix: "do it"},
	}, Summary: Summary{OK: 1, Warn: 1}}
	var out bytes.Buffer
	require.NoError(t, render(&out, report))
	text := out.String()
	assert.NotContains(t, text, "--ci", "no --ci line without --ci")
	assert.Contains(t, text, "\n1 OK, 1 WARN, 0 FAIL\n")
	assert.Contains(t, text, "\nb (WARN)\n  expected: "+long+"\n  found:    f\n")
	assert.NotContains(t, text, "\na (OK)", "an OK row needs no details")
	assert.Regexp(t, `(?m)^b\s+x+…\s+f\s+WARN\s+do it$`, text)
}
