package slo

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestObjectiveHolds(t *testing.T) {
	tests := []struct {
		op    string
		value float64
		want  bool
	}{
		{"<", 0.5, true}, {"<", 1, false},
		{"<=", 1, true}, {"<=", 1.5, false},
		{">", 1.5, true}, {">", 1, false},
		{">=", 1, true}, {">=", 0.5, false},
		{"==", 1, false}, // an unknown operator never holds
	}
	for _, tt := range tests {
		o := Objective{Metric: MetricCPU, Op: tt.op, Threshold: 1}
		assert.Equal(t, tt.want, o.Holds(tt.value), "%v %s 1", tt.value, tt.op)
	}
}

// TestEvaluate covers every row Evaluate can produce: a value that holds or
// not, a NaN that is N/A or missing data, a metric without a value and a
// service in scope that was not measured at all.
func TestEvaluate(t *testing.T) {
	file := File{Objectives: []Objective{
		{Metric: MetricP99, Op: "<", Threshold: 0.3},
		{Metric: MetricOutbox, Op: "<", Threshold: 5, Services: []string{"order", "ghost"}},
	}}
	var m Measurement
	m.Services = []string{"user", "order"}
	m.Unmeasured = "no --targets entry for this service"
	m.NoData = "is it scraped?"
	m.Set(MetricP99, "user", 0.1)
	m.Set(MetricP99, "order", math.NaN()) // no requests: N/A
	m.Set(MetricOutbox, "order", 9)

	checks := Evaluate(file, m)
	require.Len(t, checks, 4, "p99 for each measured service, outbox for the two named")
	bySvc := map[string]Check{}
	for _, c := range checks {
		bySvc[c.Metric+"/"+c.Service] = c
	}

	user := bySvc[MetricP99+"/user"]
	assert.Equal(t, Pass, user.Result)
	require.NotNil(t, user.Observed)
	assert.InDelta(t, 0.1, *user.Observed, 1e-12)
	assert.Equal(t, "seconds", user.Unit)

	na := bySvc[MetricP99+"/order"]
	assert.Equal(t, Pass, na.Result, "a NaN latency means no requests: N/A passes")
	assert.Nil(t, na.Observed)
	assert.Equal(t, "N/A: no requests in the window", na.Note)

	outbox := bySvc[MetricOutbox+"/order"]
	assert.Equal(t, Fail, outbox.Result, "9s is not < 5s")
	require.NotNil(t, outbox.Observed)
	assert.Equal(t, 9.0, *outbox.Observed)

	ghost := bySvc[MetricOutbox+"/ghost"]
	assert.Equal(t, Fail, ghost.Result)
	assert.Equal(t, "no data: no --targets entry for this service", ghost.Note)
}

func TestEvaluateMissingData(t *testing.T) {
	file := File{Objectives: []Objective{
		{Metric: MetricCPU, Op: "<", Threshold: 0.8},
		{Metric: MetricOutbox, Op: "<", Threshold: 5},
	}}
	var m Measurement
	m.Services = []string{"user"}
	m.NoData = "does Prometheus scrape it?"
	m.Set(MetricOutbox, "user", math.NaN()) // the outbox age has no N/A reading

	checks := Evaluate(file, m)
	require.Len(t, checks, 2)
	for _, c := range checks {
		assert.Equal(t, Fail, c.Result, c.Metric)
		assert.Nil(t, c.Observed, c.Metric)
		assert.Contains(t, c.Note, "no data: needs "+Metrics[c.Metric].Needs, c.Metric)
		assert.Contains(t, c.Note, "; does Prometheus scrape it?", c.Metric)
	}
}

func TestEvaluateWithoutObjectivesOrServices(t *testing.T) {
	assert.Empty(t, Evaluate(File{}, Measurement{Services: []string{"user"}}))
	assert.Empty(t, Evaluate(File{Objectives: []Objective{{Metric: MetricCPU, Op: "<", Threshold: 1}}}, Measurement{}),
		"an objective for every service checks none when nothing was measured")
}
