package load

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

// TestHTMLReport renders a report and checks that it is a well-formed
// document (strict XML, which HTML's parser would not catch) holding both
// charts, standalone: no script and nothing fetched.
func TestHTMLReport(t *testing.T) {
	rec := loadgen.NewRecorder()
	start := time.Now()
	sched := loadgen.Schedule{Rate: 20, Duration: 3 * time.Second}
	rec.Begin(start, sched)
	for i := range sched.Len() {
		rec.Sent(start, 0, false)
		out := loadgen.Outcome{Code: loadgen.CodeOK}
		if i%7 == 0 {
			out = loadgen.Outcome{Code: "Unavailable", Message: `<b>"down" & out</b>`}
		}
		rec.Record(i, time.Duration(i+1)*time.Millisecond, out)
	}
	info := loadgen.RunInfo{Start: start, End: start.Add(3 * time.Second)}
	rec.Finish()
	sum := rec.Summary(info)
	res := result{
		Scenario: `rpc <script>alert(1)</script>`, StartedAt: start,
		Config: config{Rate: 20, Duration: "3s", Target: `x & "y" <z>`, Command: "slipway load --rate 20"},
		Totals: sum.Totals, Latency: sum.Latency, Errors: sum.Errors, Timeline: sum.Timeline, Histogram: sum.Histogram,
		Gate: &gate{MaxErrorRate: 0.01}, Report: files{JSON: "r.json", HTML: "r.html"},
	}
	var page bytes.Buffer
	require.NoError(t, renderHTML(&page, res))
	doc := page.String()

	dec := xml.NewDecoder(strings.NewReader(doc))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the report is well-formed")
	}

	root, err := html.Parse(strings.NewReader(doc))
	require.NoError(t, err)
	svgs := map[string]*html.Node{}
	var scripts, fetches int
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "svg" {
				svgs[attr(n, "id")] = n
			}
			if n.Data == "script" || n.Data == "link" || n.Data == "img" {
				scripts++
			}
			for _, a := range n.Attr {
				if a.Key == "src" || a.Key == "href" {
					fetches++
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	assert.Zero(t, scripts, "no script, stylesheet or image element: the escaped scenario name stays text")
	assert.Zero(t, fetches, "nothing to fetch")

	require.Contains(t, svgs, "latency-over-time")
	lines := find(svgs["latency-over-time"], "path", "series")
	require.Len(t, lines, 2, "p50 and p99")
	d := attr(lines[1], "d")
	assert.Equal(t, 3, strings.Count(d, "M")+strings.Count(d, "L"), "one point a second: %s", d)
	require.Contains(t, svgs, "latency-histogram")
	bars := find(svgs["latency-histogram"], "rect", "bin")
	assert.NotEmpty(t, bars)
	require.Contains(t, svgs, "requests-per-second")
	assert.Contains(t, doc, "&lt;b&gt;&#34;down&#34; &amp; out&lt;/b&gt;", "messages are escaped")
	assert.NotContains(t, doc, "Services' CPU and memory", "no usage, no section")

	t.Run("the services' CPU and memory", func(t *testing.T) {
		orders := int64(60)
		res := res
		res.Usage = &runUsage{Seconds: 3, Orders: &orders, Services: []serviceRun{
			{Service: "order", CPUSeconds: 1.5, CPUCores: 0.5, RSSBytesStart: 50 << 20, RSSBytesEnd: 70 << 20, RSSBytesAvg: 60 << 20},
		}}
		var page bytes.Buffer
		require.NoError(t, renderHTML(&page, res))
		assert.Contains(t, page.String(), "3.0 s apart); 60 orders placed")
		assert.Contains(t, page.String(), `<td>order</td><td class="num">1.50</td><td class="num">0.500</td><td class="num">50.0</td><td class="num">70.0</td>`)
	})
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func find(n *html.Node, tag, class string) []*html.Node {
	var found []*html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == tag && attr(c, "class") == class {
			found = append(found, c)
		}
		found = append(found, find(c, tag, class)...)
	}
	return found
}
