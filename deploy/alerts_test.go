package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// runbookURLPrefix is where every alert's runbook_url points: the runbook
// of alert A is docs/runbooks/A.md of the repository.
const runbookURLPrefix = "https://github.com/slipway-dev/slipway/blob/main/docs/runbooks/"

// runbookSections are the headings every runbook has, in this order.
var runbookSections = []string{"## Meaning", "## Confirm", "## Mitigate", "## Escalate"}

// severities are the values of the severity label alertmanager.yml routes.
var severities = []string{"page", "ticket"}

// rule is one rule of a Prometheus rule file. The files are decoded here
// with the YAML library deploy already uses: Prometheus's rulefmt would
// pull its whole PromQL engine into this module's dependencies.
type rule struct {
	Record        string            `yaml:"record"`
	Alert         string            `yaml:"alert"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Limit    int    `yaml:"limit"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

// alertRule is one alerting rule and the file it is in.
type alertRule struct {
	file string
	rule
}

// requireTool finds a binary, or skips the test when it is not installed,
// except in CI (CI=true), where a missing tool fails it with the package
// to install.
func requireTool(t testing.TB, name, aptPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI must run this check: apt-get install %s", name, aptPackage)
	}
	t.Skipf("%s is not installed (apt-get install %s); CI=true makes this a failure", name, aptPackage)
	return ""
}

func rulesDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "deploy", "prometheus", "rules")
}

func ruleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(rulesDir(t), "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no rule files in %s", rulesDir(t))
	return files
}

// loadAlertRules decodes every rule file strictly (an unknown key, such as
// a misspelt "annotation", is an error), checks every expression parses as
// PromQL, and returns the alerting rules.
func loadAlertRules(t testing.TB) []alertRule {
	t.Helper()
	promql := parser.NewParser(parser.Options{})
	var rules []alertRule
	for _, file := range ruleFiles(t) {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		var rf ruleFile
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&rf); err != nil && !errors.Is(err, io.EOF) { // an empty file has no groups
			t.Fatalf("%s: %v", file, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				name := r.Alert + r.Record
				_, err := promql.ParseExpr(r.Expr)
				require.NoError(t, err, "%s: rule %s: expr", filepath.Base(file), name)
				if r.Alert != "" {
					rules = append(rules, alertRule{file: filepath.Base(file), rule: r})
				}
			}
		}
	}
	return rules
}

// readRunbooks returns the runbooks of dir by alert name (the file name
// without .md); README.md is the index, not a runbook.
func readRunbooks(t testing.TB, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	books := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".md") || e.Name() == "README.md" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		books[strings.TrimSuffix(e.Name(), ".md")] = string(data)
	}
	return books
}

// checkAlertRules returns what is wrong with rules and runbooks: an alert
// without a page or ticket severity, a summary or description, or a
// runbook_url naming its own runbook; a runbook that is missing, does not
// name its alert in its title or lacks a section; a runbook with no alert.
func checkAlertRules(rules []alertRule, runbooks map[string]string) []string {
	var problems []string
	alerts := map[string]bool{}
	for _, r := range rules {
		where := fmt.Sprintf("%s: alert %s", r.file, r.Alert)
		alerts[r.Alert] = true
		if sev := r.Labels["severity"]; !slices.Contains(severities, sev) {
			problems = append(problems, fmt.Sprintf("%s: severity %q, want one of %v", where, sev, severities))
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				problems = append(problems, fmt.Sprintf("%s: no %s annotation", where, a))
			}
		}
		if got, want := r.Annotations["runbook_url"], runbookURLPrefix+r.Alert+".md"; got != want {
			problems = append(problems, fmt.Sprintf("%s: runbook_url %q, want %q", where, got, want))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(alerts)) {
		book, ok := runbooks[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("alert %s: no runbook docs/runbooks/%s.md", name, name))
			continue
		}
		if !strings.HasPrefix(book, "# "+name+"\n") {
			problems = append(problems, fmt.Sprintf("docs/runbooks/%s.md: the first line is not the title \"# %s\"", name, name))
		}
		last := -1
		for _, s := range runbookSections {
			i := strings.Index(book, "\n"+s+"\n")
			switch {
			case i < 0:
				problems = append(problems, fmt.Sprintf("docs/runbooks/%s.md: no %q section", name, s))
			case i < last:
				problems = append(problems, fmt.Sprintf("docs/runbooks/%s.md: section %q out of order (want %v)", name, s, runbookSections))
			default:
				last = i
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(runbooks)) {
		if !alerts[name] {
			problems = append(problems, fmt.Sprintf("docs/runbooks/%s.md: no alert named %s in deploy/prometheus/rules", name, name))
		}
	}
	return problems
}

func TestAlertRulesHaveSeverityAnnotationsAndRunbooks(t *testing.T) {
	rules := loadAlertRules(t)
	require.NotEmpty(t, rules)
	books := readRunbooks(t, filepath.Join(repoRoot(t), "docs", "runbooks"))

	assert.Empty(t, checkAlertRules(rules, books))
}

func TestRunbookIndexLinksEveryRunbook(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "docs", "runbooks")
	index, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	for name := range readRunbooks(t, dir) {
		assert.Contains(t, string(index), "["+name+"]("+name+".md)", "docs/runbooks/README.md does not link %s.md", name)
	}
}

func TestAlertRuleChecksFindProblems(t *testing.T) {
	book := func(name string) string {
		return "# " + name + "\n\n## Meaning\n\nx\n\n## Confirm\n\nx\n\n## Mitigate\n\nx\n\n## Escalate\n\nx\n"
	}
	good := func() ([]alertRule, map[string]string) {
		return []alertRule{{file: "x.yml", rule: rule{
			Alert:  "Broken",
			Labels: map[string]string{"severity": "page"},
			Annotations: map[string]string{
				"summary": "s", "description": "d", "runbook_url": runbookURLPrefix + "Broken.md",
			},
		}}}, map[string]string{"Broken": book("Broken")}
	}
	rules, books := good()
	require.Empty(t, checkAlertRules(rules, books), "the baseline must pass")

	tests := []struct {
		name  string
		spoil func(r *alertRule, books map[string]string)
		want  string
	}{
		{"no severity", func(r *alertRule, _ map[string]string) { delete(r.Labels, "severity") }, `severity ""`},
		{"an unrouted severity", func(r *alertRule, _ map[string]string) { r.Labels["severity"] = "critical" }, `severity "critical"`},
		{"no summary", func(r *alertRule, _ map[string]string) { delete(r.Annotations, "summary") }, "no summary annotation"},
		{"no description", func(r *alertRule, _ map[string]string) { r.Annotations["description"] = " " }, "no description annotation"},
		{"no runbook_url", func(r *alertRule, _ map[string]string) { delete(r.Annotations, "runbook_url") }, `runbook_url ""`},
		{"another alert's runbook", func(r *alertRule, _ map[string]string) {
			r.Annotations["runbook_url"] = runbookURLPrefix + "RedisDown.md"
		}, "want \"" + runbookURLPrefix + "Broken.md\""},
		{"no runbook file", func(_ *alertRule, b map[string]string) { delete(b, "Broken") }, "no runbook docs/runbooks/Broken.md"},
		{"a runbook titled for another alert", func(_ *alertRule, b map[string]string) {
			b["Broken"] = strings.Replace(book("Broken"), "# Broken", "# Other", 1)
		}, `not the title "# Broken"`},
		{"a missing section", func(_ *alertRule, b map[string]string) {
			b["Broken"] = strings.Replace(book("Broken"), "## Escalate", "## Later", 1)
		}, `no "## Escalate" section`},
		{"sections out of order", func(_ *alertRule, b map[string]string) {
			b["Broken"] = "# Broken\n\n## Confirm\n\n## Meaning\n\n## Mitigate\n\n## Escalate\n"
		}, "out of order"},
		{"an orphan runbook", func(_ *alertRule, b map[string]string) { b["Gone"] = book("Gone") }, "docs/runbooks/Gone.md: no alert named Gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, books := good()
			tt.spoil(&rules[0], books)
			problems := checkAlertRules(rules, books)
			require.Len(t, problems, 1, "%v", problems)
			assert.Contains(t, problems[0], tt.want)
		})
	}
}

// runTool runs a tool and returns its combined output, failing the test
// with that output when it exits non-zero.
func runTool(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

func TestAlertRulesPassPromtoolCheck(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	out := runTool(t, rulesDir(t), promtool, append([]string{"check", "rules"}, ruleFiles(t)...)...)
	assert.NotContains(t, out, "FAILED")
}

func testFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "prometheus", "tests", "*_test.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func TestAlertRulesPassPromtoolUnitTests(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	files := testFiles(t)
	t.Logf("promtool test rules: %d files (the multi-day burn-rate windows take a few seconds each)", len(files))
	out := runTool(t, filepath.Dir(files[0]), promtool, append([]string{"test", "rules"}, files...)...)
	assert.NotContains(t, out, "FAILED")
}

// alertTest is one alert_rule_test of a promtool test file.
type alertTest struct {
	EvalTime  string `yaml:"eval_time"`
	Alertname string `yaml:"alertname"`
	ExpAlerts []struct {
		ExpLabels map[string]string `yaml:"exp_labels"`
	} `yaml:"exp_alerts"`
}

// alertCoverage is what the promtool tests assert of each alert: which
// severities they see firing, and whether one sees it quiet.
type alertCoverage struct {
	firing map[string]bool
	quiet  bool
}

func readAlertTests(t testing.TB) map[string]*alertCoverage {
	t.Helper()
	cover := map[string]*alertCoverage{}
	for _, file := range testFiles(t) {
		var doc struct {
			Tests []struct {
				AlertRuleTest []alertTest `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		readYAML(t, file, &doc)
		for _, tc := range doc.Tests {
			for _, at := range tc.AlertRuleTest {
				c := cover[at.Alertname]
				if c == nil {
					c = &alertCoverage{firing: map[string]bool{}}
					cover[at.Alertname] = c
				}
				if len(at.ExpAlerts) == 0 {
					c.quiet = true
				}
				for _, a := range at.ExpAlerts {
					c.firing[a.ExpLabels["severity"]] = true
				}
			}
		}
	}
	return cover
}

// A rule without a test firing it could be dead; one without a test where
// it stays quiet could fire on anything.
func TestAlertRulesAreUnitTestedFiringAndQuiet(t *testing.T) {
	cover := readAlertTests(t)
	for _, r := range loadAlertRules(t) {
		c := cover[r.Alert]
		if !assert.NotNil(t, c, "%s: alert %s has no alert_rule_test in deploy/prometheus/tests", r.file, r.Alert) {
			continue
		}
		assert.True(t, c.firing[r.Labels["severity"]], "%s: no promtool test sees %s fire with severity %s", r.file, r.Alert, r.Labels["severity"])
		assert.True(t, c.quiet, "%s: no promtool test sees %s stay quiet", r.file, r.Alert)
	}
}

func alertmanagerConfig(t testing.TB) string {
	return filepath.Join(repoRoot(t), "deploy", "alertmanager", "alertmanager.yml")
}

func TestAlertmanagerConfigPassesAmtool(t *testing.T) {
	amtool := requireTool(t, "amtool", "prometheus-alertmanager")
	out := runTool(t, repoRoot(t), amtool, "check-config", alertmanagerConfig(t))
	assert.Contains(t, out, "SUCCESS")
}

// Every alert's severity reaches its receiver: page the pager, ticket the
// ticket system.
func TestAlertmanagerRoutesEveryAlertBySeverity(t *testing.T) {
	amtool := requireTool(t, "amtool", "prometheus-alertmanager")
	want := map[string]string{"page": "pager", "ticket": "ticket"}
	seen := map[string]bool{}
	for _, r := range loadAlertRules(t) {
		key := r.Alert + "/" + r.Labels["severity"]
		if seen[key] {
			continue
		}
		seen[key] = true
		out := runTool(t, repoRoot(t), amtool, "config", "routes", "test", "--config.file="+alertmanagerConfig(t),
			"alertname="+r.Alert, "severity="+r.Labels["severity"], "service=order")
		assert.Equal(t, want[r.Labels["severity"]], lastLine(out), "alert %s with severity %s", r.Alert, r.Labels["severity"])
	}
}

// lastLine is the last non-empty line of s (amtool prints warnings first).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// The runbook README and rule files name only files that exist.
func TestRunbookLinksInRulesAndIndexResolve(t *testing.T) {
	root := repoRoot(t)
	link := regexp.MustCompile(`\]\(([A-Za-z0-9]+\.md)\)`)
	index, err := os.ReadFile(filepath.Join(root, "docs", "runbooks", "README.md"))
	require.NoError(t, err)
	for _, m := range link.FindAllStringSubmatch(string(index), -1) {
		_, err := os.Stat(filepath.Join(root, "docs", "runbooks", m[1]))
		assert.NoError(t, err, "docs/runbooks/README.md links %s", m[1])
	}
	err = filepath.WalkDir(rulesDir(t), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range regexp.MustCompile(regexp.QuoteMeta(runbookURLPrefix)+`([^\s"']+)`).FindAllSubmatch(data, -1) {
			_, err := os.Stat(filepath.Join(root, "docs", "runbooks", string(m[1])))
			assert.NoError(t, err, "%s links docs/runbooks/%s", filepath.Base(path), m[1])
		}
		return nil
	})
	require.NoError(t, err)
}

// amAlert is an alert as Alertmanager's API v2 takes and returns it.
type amAlert struct {
	Labels    map[string]string `json:"labels"`
	StartsAt  time.Time         `json:"startsAt,omitzero"`
	EndsAt    time.Time         `json:"endsAt,omitzero"`
	Status    *amStatus         `json:"status,omitempty"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers,omitempty"`
}

type amStatus struct {
	State string `json:"state"`
}

// startAlertmanager runs the Alertmanager binary on alertmanager.yml, on a
// free loopback port without clustering, and returns its URL once ready.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin := ""
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} { // Debian's name, then upstream's
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		bin = requireTool(t, "alertmanager", "prometheus-alertmanager")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+alertmanagerConfig(t), "--storage.path="+t.TempDir(),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 100*time.Millisecond, "alertmanager at %s never became ready", url)
	return url
}

// Inhibition runs the real Alertmanager on alertmanager.yml, fires alerts
// as the rules would, and reads back which Alertmanager holds back and
// where it routes the rest.
func TestAlertmanagerInhibitsAndRoutes(t *testing.T) {
	url := startAlertmanager(t)
	type want struct {
		labels   map[string]string
		state    string // active or suppressed
		receiver string
	}
	cases := map[string]want{
		"slo page":                          {map[string]string{"alertname": "AvailabilityErrorBudgetBurn", "severity": "page", "service": "order"}, "active", "pager"},
		"its own ticket":                    {map[string]string{"alertname": "AvailabilityErrorBudgetBurn", "severity": "ticket", "service": "order"}, "suppressed", "ticket"},
		"the same ticket of a calm service": {map[string]string{"alertname": "AvailabilityErrorBudgetBurn", "severity": "ticket", "service": "user"}, "active", "ticket"},
		"its latency ticket":                {map[string]string{"alertname": "LatencyErrorBudgetBurn", "severity": "ticket", "service": "order"}, "suppressed", "ticket"},
		"its shedding ticket":               {map[string]string{"alertname": "LoadShedding", "severity": "ticket", "service": "order"}, "suppressed", "ticket"},
		"a peer's open circuit (a cause)":   {map[string]string{"alertname": "CircuitBreakerOpen", "severity": "ticket", "service": "order", "instance": "order-1:8082", "peer": "inventory"}, "active", "ticket"},
		"redis down":                        {map[string]string{"alertname": "RedisDown", "severity": "ticket", "service": "inventory", "instance": "inventory-1:8083", "client": "ratelimit-inventory"}, "active", "ticket"},
		"the pool it loads":                 {map[string]string{"alertname": "DBPoolSaturated", "severity": "ticket", "service": "inventory", "instance": "inventory-1:8083"}, "suppressed", "ticket"},
		"another service's pool":            {map[string]string{"alertname": "DBPoolSaturated", "severity": "ticket", "service": "payment", "instance": "payment-1:8085"}, "active", "ticket"},
		"a stalled consumer":                {map[string]string{"alertname": "ConsumerStalled", "severity": "page", "service": "notification", "consumer": "notification"}, "active", "pager"},
		"its lag":                           {map[string]string{"alertname": "ConsumerLag", "severity": "ticket", "service": "notification", "consumer": "notification"}, "suppressed", "ticket"},
		"another consumer's lag":            {map[string]string{"alertname": "ConsumerLag", "severity": "ticket", "service": "inventory", "consumer": "inventory"}, "active", "ticket"},
		"a certificate due tonight":         {map[string]string{"alertname": "TLSCertificateExpiry", "severity": "page", "service": "payment", "instance": "payment-1:8085"}, "active", "pager"},
		"its ticket":                        {map[string]string{"alertname": "TLSCertificateExpiry", "severity": "ticket", "service": "payment", "instance": "payment-1:8085"}, "suppressed", "ticket"},
		"another instance's ticket":         {map[string]string{"alertname": "TLSCertificateExpiry", "severity": "ticket", "service": "payment", "instance": "payment-2:8085"}, "active", "ticket"},
	}
	now := time.Now()
	var post []amAlert
	for name, c := range cases {
		labels := maps.Clone(c.labels)
		labels["case"] = name
		post = append(post, amAlert{Labels: labels, StartsAt: now, EndsAt: now.Add(time.Hour)})
	}
	body, err := json.Marshal(post)
	require.NoError(t, err)
	resp, err := http.Post(url+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// The inhibitor takes in new alerts asynchronously: read until every
	// case is as wanted, or report the last answer.
	var mismatches []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		mismatches = nil
		resp, err := http.Get(url + "/api/v2/alerts")
		require.NoError(t, err)
		var got []amAlert
		err = json.NewDecoder(resp.Body).Decode(&got)
		_ = resp.Body.Close()
		require.NoError(t, err)
		byCase := map[string]amAlert{}
		for _, a := range got {
			byCase[a.Labels["case"]] = a
		}
		for _, name := range slices.Sorted(maps.Keys(cases)) {
			c := cases[name]
			a, ok := byCase[name]
			switch {
			case !ok:
				mismatches = append(mismatches, name+": not in Alertmanager")
			case a.Status == nil || a.Status.State != c.state:
				mismatches = append(mismatches, fmt.Sprintf("%s: state %+v, want %s", name, a.Status, c.state))
			case len(a.Receivers) != 1 || a.Receivers[0].Name != c.receiver:
				mismatches = append(mismatches, fmt.Sprintf("%s: receivers %+v, want %s", name, a.Receivers, c.receiver))
			}
		}
		if len(mismatches) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	assert.Empty(t, mismatches)
}
