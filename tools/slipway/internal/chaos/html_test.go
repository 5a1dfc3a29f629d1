package chaos

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
)

// knownReport is a 60 s run at 20/s with a fault window from 10 s to 50 s,
// in which second 20 lost 2 of its 20 requests and p99 rose to 200 ms.
func knownReport() *Report {
	r := &Report{
		Experiment: "inventory-errors", File: "deploy/chaos/inventory-errors.yaml", Scale: 1,
		Database: "SQLite", Broker: "embedded JetStream",
		StartedAt: time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC), FinishedAt: time.Date(2026, 12, 7, 23, 1, 10, 0, time.UTC),
		Faults: []string{"at 10s for 40s: inventory gRPC UNAVAILABLE on 40% of calls"},
		Load: loadFigures{Rate: 20, DurationSec: 60, Planned: 1200, Requests: 1200, OK: 1198, Errors: 2,
			SuccessRate: 1198.0 / 1200, P50: 20, P99: 150, Max: 210},
		FaultWindow: &windowFigures{FromSec: 10, ToSec: 50, Requests: 800, Errors: 2, SuccessRate: 798.0 / 800, P50: 25, P99: 200},
		Analysis:    []check{{Metric: "success rate", Condition: ">= 99.50%", Observed: "99.83% (1198 of 1200)", Passed: true}},
		Invariants:  []invariant{{Name: invStock, Passed: true, Checked: 3}},
		Passed:      true,
	}
	for s := range 60 {
		sec := loadgen.TimelineSecond{Second: s, Count: 20, P50: 20, P99: 40}
		if s >= 10 && s < 50 {
			sec.P99 = 200
		}
		if s == 20 {
			sec.Errors = 2
		}
		r.PerSecond = append(r.PerSecond, sec)
	}
	fr := 0.9
	r.Thresholds.SuccessRate, r.Thresholds.P99, r.Thresholds.FaultRate, r.Thresholds.FaultP99 = 0.995, "320ms", &fr, "500ms"
	r.Thresholds.Source = "deploy/slo.yaml"
	return r
}

// render renders r and parses it, failing on a document that is not
// well-formed (strict XML, which HTML's lenient parser would let pass).
func render(t *testing.T, r *Report) (string, *html.Node) {
	t.Helper()
	var page bytes.Buffer
	require.NoError(t, renderHTML(&page, r))
	dec := xml.NewDecoder(bytes.NewReader(page.Bytes()))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the report is well-formed")
	}
	root, err := html.Parse(bytes.NewReader(page.Bytes()))
	require.NoError(t, err)
	return page.String(), root
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// find returns the elements under n named tag whose class list holds class.
func find(n *html.Node, tag, class string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag && (class == "" || strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byID(t *testing.T, root *html.Node, tag, id string) *html.Node {
	t.Helper()
	for _, n := range find(root, tag, "") {
		if attr(n, "id") == id {
			return n
		}
	}
	t.Fatalf("no <%s id=%q>", tag, id)
	return nil
}

func num(t *testing.T, n *html.Node, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(attr(n, key), 64)
	require.NoError(t, err, "%s=%q", key, attr(n, key))
	return v
}

// The plot area of every chart runs from x=64 to x=876 (812 units for the
// 60 s axis, 13.533 a second) and, 300 high, from y=256 (bottom) to y=46
// (210 units).
func TestHTMLReportChartsTheFaultWindowAndTheGates(t *testing.T) {
	_, root := render(t, knownReport())

	for _, id := range []string{"success-rate", "latency"} {
		t.Run(id+" shades the fault window from 10 s to 50 s", func(t *testing.T) {
			bands := find(byID(t, root, "svg", id), "rect", "fault-window")
			require.Len(t, bands, 1)
			assert.InDelta(t, 199.3, num(t, bands[0], "x"), 0.05, "64 + 10 × 13.533")
			assert.InDelta(t, 541.4, num(t, bands[0], "width"), 0.05, "40 × 13.533")
			assert.InDelta(t, 46, num(t, bands[0], "y"), 0)
			assert.InDelta(t, 210, num(t, bands[0], "height"), 0)
		})
	}

	t.Run("success-rate gates", func(t *testing.T) {
		svg := byID(t, root, "svg", "success-rate")
		// The lowest point is 90% (second 20, and the window's gate): the
		// axis runs from 85% to 100%, 210 units for 15 points.
		run := find(svg, "line", "gate-success")
		require.Len(t, run, 1)
		assert.InDelta(t, 53, num(t, run[0], "y1"), 0.05, "99.5%: 256 - 14.5/15 × 210")
		assert.InDelta(t, num(t, run[0], "y1"), num(t, run[0], "y2"), 0)
		assert.InDelta(t, 64, num(t, run[0], "x1"), 0, "the run's gate spans the run")
		assert.InDelta(t, 876, num(t, run[0], "x2"), 0)

		window := find(svg, "line", "gate-fault-success")
		require.Len(t, window, 1)
		assert.InDelta(t, 186, num(t, window[0], "y1"), 0.05, "90%: 256 - 5/15 × 210")
		assert.InDelta(t, 199.3, num(t, window[0], "x1"), 0.05, "the window's gate spans the window only")
		assert.InDelta(t, 740.7, num(t, window[0], "x2"), 0.05)

		dots := find(svg, "circle", "errors")
		require.Len(t, dots, 1, "one second had errors")
		assert.InDelta(t, 341.4, num(t, dots[0], "cx"), 0.05, "the middle of second 20: 64 + 20.5 × 13.533")
		assert.InDelta(t, 186, num(t, dots[0], "cy"), 0.05, "18 of 20")
	})

	t.Run("p99 gates", func(t *testing.T) {
		svg := byID(t, root, "svg", "latency")
		// The highest figure is the window's 500 ms gate: the axis runs to
		// 600 ms (500 × 1.1, rounded up to a step of 200).
		run := find(svg, "line", "gate-p99")
		require.Len(t, run, 1)
		assert.InDelta(t, 144, num(t, run[0], "y1"), 0.05, "320 ms: 256 - 320/600 × 210")
		window := find(svg, "line", "gate-fault-p99")
		require.Len(t, window, 1)
		assert.InDelta(t, 81, num(t, window[0], "y1"), 0.05, "500 ms: 256 - 500/600 × 210")
		assert.InDelta(t, 199.3, num(t, window[0], "x1"), 0.05)
		assert.Len(t, find(svg, "path", "p99"), 1)
		assert.Len(t, find(svg, "path", "p50"), 1)
	})

	t.Run("no fault-window gate where the experiment set none", func(t *testing.T) {
		r := knownReport()
		r.Thresholds.FaultRate, r.Thresholds.FaultP99 = nil, ""
		_, root := render(t, r)
		assert.Empty(t, find(root, "line", "gate-fault-success"))
		assert.Empty(t, find(root, "line", "gate-fault-p99"))
		assert.Len(t, find(root, "line", "gate-success"), 1)
		assert.Len(t, find(root, "line", "gate-p99"), 1)
	})
}

func TestHTMLReportShowsThePostgresOutage(t *testing.T) {
	r := knownReport()
	r.Load.DurationSec, r.PerSecond = 40, r.PerSecond[:40]
	r.FaultWindow = &windowFigures{FromSec: 15, ToSec: 17.4, Requests: 48, SuccessRate: 1, P99: 700}
	r.Outages = []span{{FromSec: 15.02, ToSec: 15.21}}
	r.Thresholds.FaultP99, r.Thresholds.FaultRate = "", nil
	r.Thresholds.P99, r.Thresholds.OverOutage, r.Thresholds.Outage = "940ms", "750ms", "190ms"
	doc, root := render(t, r)

	svg := byID(t, root, "svg", "latency")
	outage := find(svg, "rect", "outage")
	require.Len(t, outage, 1)
	// 40 s over 812 units: 20.3 a second.
	assert.InDelta(t, 368.9, num(t, outage[0], "x"), 0.05, "64 + 15.02 × 20.3")
	assert.InDelta(t, 3.9, num(t, outage[0], "width"), 0.05, "0.19 s × 20.3")
	gate := find(svg, "line", "gate-p99")
	require.Len(t, gate, 1)
	// 940 × 1.1 = 1034: an axis to 1250, in steps of 250.
	assert.InDelta(t, 98.1, num(t, gate[0], "y1"), 0.05, "256 - 940/1250 × 210")
	assert.Contains(t, doc, "gate: whole run p99 ≤ 940ms (outage 190ms + 750ms)")
	assert.Contains(t, doc, "PostgreSQL away 0.19 s")

	t.Run("a short outage is still visible", func(t *testing.T) {
		r.Outages = []span{{FromSec: 15, ToSec: 15.01}}
		_, root := render(t, r)
		outage := find(byID(t, root, "svg", "success-rate"), "rect", "outage")
		require.Len(t, outage, 1)
		assert.InDelta(t, 2, num(t, outage[0], "width"), 0, "10 ms is 0.2 units: drawn 2 wide")
	})
}

func TestHTMLReportEscapesWhatItShows(t *testing.T) {
	r := knownReport()
	r.Experiment = `<script>alert(1)</script>`
	r.Description = `<img src=x onerror="alert(2)">`
	r.Load.Codes = []loadgen.ErrorCount{{Code: "Unavailable", Count: 2, Example: `<iframe src="https://example.com">`}}
	r.Failures = []string{`invariant "<marquee>moving</marquee>" & more`}
	r.Invariants[0].Examples = []string{`order <o1> & "o2"`}
	r.Env = map[string][]string{"order": {`A=<script>`, "PEER_RETRY_ATTEMPTS=1"}}
	doc, root := render(t, r)

	assert.Contains(t, doc, "<li>env of order: <code>A=&lt;script&gt; PEER_RETRY_ATTEMPTS=1</code></li>", "an env that changes the experiment is shown by its faults")
	for _, tag := range []string{"script", "img", "iframe", "marquee"} {
		assert.Empty(t, find(root, tag, ""), "no <%s> element: the text is escaped", tag)
	}
	assert.Contains(t, doc, "&lt;script&gt;alert(1)&lt;/script&gt;")
	assert.Contains(t, doc, `&lt;img src=x onerror=&#34;alert(2)&#34;&gt;`)
	assert.Contains(t, doc, "order &lt;o1&gt; &amp; &#34;o2&#34;")
	assert.Empty(t, find(root, "link", ""), "nothing fetched")
	assert.Contains(t, doc, "&lt;iframe src=&#34;https://example.com&#34;&gt;")
}

func TestHTMLReportWithoutRequestsSaysSo(t *testing.T) {
	tests := []struct {
		name    string
		report  *Report
		verdict string
		message string
	}{
		{"could not run", &Report{Experiment: "x", File: "x.yaml", Scale: 1, Failures: []string{"could not run: order never answered SERVING"}},
			"FAIL", "No request completed, so there is nothing to chart. See the failures above."},
		{"skipped", &Report{Experiment: "x", File: "x.yaml", Scale: 1, Skipped: "needs REDIS_URL"},
			"SKIP", "The experiment was skipped: needs REDIS_URL"},
		{"no request completed", func() *Report {
			r := knownReport()
			r.Load = loadFigures{Rate: 20, DurationSec: 60, Planned: 1200}
			r.PerSecond, r.FaultWindow = nil, nil
			r.Passed = false
			return r
		}(), "FAIL", "No request completed, so there is nothing to chart."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, root := render(t, tt.report)
			assert.Empty(t, find(root, "svg", ""), "no chart of nothing")
			empty := byID(t, root, "p", "empty")
			assert.Equal(t, tt.message, empty.FirstChild.Data)
			assert.Contains(t, doc, `<span class="verdict `+tt.verdict+`">`+tt.verdict+`</span>`)
			for _, f := range tt.report.Failures {
				assert.Contains(t, doc, "<li>"+f+"</li>")
			}
		})
	}
}

func TestHTMLReportVerdictTable(t *testing.T) {
	r := knownReport()
	r.Effects = []effect{{Fault: "inventory gRPC UNAVAILABLE", Evidence: "injected errors counted", Observed: "0", Seen: false}}
	r.Invariants = append(r.Invariants, invariant{Name: invNotifications, Checked: 40, Violations: 1, Examples: []string{"order o1 has 0 notifications"}})
	_, root := render(t, r)
	table := byID(t, root, "table", "verdict")
	var got [][2]string
	for _, td := range find(table, "td", "result") {
		name := td.Parent.FirstChild.NextSibling.FirstChild.Data
		got = append(got, [2]string{name, td.FirstChild.Data})
	}
	assert.Equal(t, [][2]string{
		{"success rate", "PASS"},
		{"inventory gRPC UNAVAILABLE", "FAIL"},
		{invStock, "PASS"},
		{invNotifications, "FAIL"},
	}, got)
}

func TestWriteFilesWritesTheHTMLBesideTheJSON(t *testing.T) {
	dir := t.TempDir()
	r := knownReport()
	base := filepath.Join(dir, "inventory-errors-20261207T230000000Z")
	r.Files.JSON, r.Files.Markdown, r.Files.HTML = base+".json", base+".md", base+".html"
	require.NoError(t, writeFiles(r))
	page, err := os.ReadFile(base + ".html")
	require.NoError(t, err)
	assert.Contains(t, string(page), `<svg xmlns="http://www.w3.org/2000/svg" id="success-rate"`)

	r.Files.HTML = filepath.Join(dir, "missing", "r.html")
	assert.Error(t, writeFiles(r), "a report that cannot be written is an error")
}
