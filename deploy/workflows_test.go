package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const workflowsDir = ".github/workflows"

// The GitHub Actions workflow syntax, the subset these workflows use. A key
// this subset does not know fails the strict decode: add it here, with
// GitHub's name, when a workflow starts using it.

type ghWorkflow struct {
	Name        string               `yaml:"name"`
	On          map[string]yaml.Node `yaml:"on"`
	Concurrency *ghConcurrency       `yaml:"concurrency"`
	Permissions map[string]string    `yaml:"permissions"`
	Env         map[string]string    `yaml:"env"`
	Jobs        map[string]*ghJob    `yaml:"jobs"`
	Defaults    map[string]yaml.Node `yaml:"defaults"`
	RunName     string               `yaml:"run-name"`
	raw         string               // the file, for the comments the decode drops
	file        string               // its name, ci.yml
}

type ghConcurrency struct {
	Group            string `yaml:"group"`
	CancelInProgress string `yaml:"cancel-in-progress"`
}

type ghJob struct {
	Name           string            `yaml:"name"`
	RunsOn         string            `yaml:"runs-on"`
	Needs          ghStrings         `yaml:"needs"`
	If             string            `yaml:"if"`
	TimeoutMinutes int               `yaml:"timeout-minutes"`
	Permissions    map[string]string `yaml:"permissions"`
	Container      *struct {
		Image string `yaml:"image"`
	} `yaml:"container"`
	Env      map[string]string `yaml:"env"`
	Strategy *struct {
		FailFast *bool               `yaml:"fail-fast"`
		Matrix   map[string][]string `yaml:"matrix"`
	} `yaml:"strategy"`
	Steps []ghStep `yaml:"steps"`
}

type ghStep struct {
	ID              string            `yaml:"id"`
	Name            string            `yaml:"name"`
	If              string            `yaml:"if"`
	Uses            string            `yaml:"uses"`
	Run             string            `yaml:"run"`
	Shell           string            `yaml:"shell"`
	With            map[string]string `yaml:"with"`
	Env             map[string]string `yaml:"env"`
	ContinueOnError bool              `yaml:"continue-on-error"`
}

// ghStrings is a YAML string or list of strings (needs: a or needs: [a, b]).
type ghStrings []string

func (s *ghStrings) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = ghStrings{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*s = list
	return nil
}

// decodeYAMLStrict decodes one YAML document into v, refusing keys v does
// not declare and a second document.
func decodeYAMLStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	return nil
}

func parseWorkflow(file string, data []byte) (*ghWorkflow, error) {
	var wf ghWorkflow
	if err := decodeYAMLStrict(data, &wf); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(wf.On) == 0 || len(wf.Jobs) == 0 {
		return nil, fmt.Errorf("%s: a workflow needs both an on and a jobs key", file)
	}
	for name, j := range wf.Jobs {
		if j == nil || j.RunsOn == "" || len(j.Steps) == 0 {
			return nil, fmt.Errorf("%s: job %s needs runs-on and steps", file, name)
		}
		for i, st := range j.Steps {
			if (st.Uses == "") == (st.Run == "") {
				return nil, fmt.Errorf("%s: job %s step %d: want exactly one of uses and run", file, name, i)
			}
		}
	}
	wf.raw, wf.file = string(data), file
	return &wf, nil
}

func readWorkflows(t testing.TB) map[string]*ghWorkflow {
	t.Helper()
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, workflowsDir, "*.yml"))
	require.NoError(t, err)
	out := map[string]*ghWorkflow{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		wf, err := parseWorkflow(filepath.Base(f), data)
		require.NoError(t, err)
		out[wf.file] = wf
	}
	for _, want := range []string{"ci.yml", "release.yml", "scan.yml", "chaos.yml"} {
		require.Contains(t, out, want, "no %s/%s", workflowsDir, want)
	}
	return out
}

// allowedWrites is every write permission a job may hold, and why. Anything
// else, or any write at the top level, fails: a new one is added here with
// its reason, in review.
var allowedWrites = map[string]map[string][]string{
	"release.yml": {
		"image":     {"packages", "id-token"}, // push to ghcr.io; cosign's OIDC token for Fulcio
		"cli-image": {"packages", "id-token"}, // the same, for the slipway CLI image
		"release":   {"contents"},             // create the GitHub release with the SBOMs
	},
	"scan.yml": {
		"scan": {"security-events", "issues"}, // upload SARIF; open an issue per finding
	},
}

// checkPermissions: the workflow declares its permissions at the top level,
// read-only, and each job writes only what allowedWrites grants it.
func checkPermissions(wf *ghWorkflow) []string {
	var problems []string
	if wf.Permissions == nil {
		problems = append(problems, wf.file+": no top-level permissions: the token would get the repository's default, often write-all")
	}
	for scope, level := range wf.Permissions {
		if level != "read" && level != "none" {
			problems = append(problems, fmt.Sprintf("%s: top-level permission %s: %s; grant writes per job", wf.file, scope, level))
		}
	}
	for _, name := range sortedNames(wf.Jobs) {
		for scope, level := range wf.Jobs[name].Permissions {
			switch level {
			case "read", "none":
			case "write":
				if !slices.Contains(allowedWrites[wf.file][name], scope) {
					problems = append(problems, fmt.Sprintf("%s: job %s writes %s, which allowedWrites does not grant it", wf.file, name, scope))
				}
			default:
				problems = append(problems, fmt.Sprintf("%s: job %s: permission %s: %q is not read, write or none", wf.file, name, scope, level))
			}
		}
	}
	return problems
}

// pinnedUse is an action at a full commit SHA, with the version it is in a
// comment: `uses: actions/checkout@<40 hex> # v4.2.2`.
var (
	usesLine  = regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*(\S+)(.*)$`)
	pinnedUse = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$`)
	versionOf = regexp.MustCompile(`^\s+#\s+v\d+(\.\d+)*\s*$`)
)

// checkPins: every action is pinned by commit SHA and names its version;
// the same action is at the same SHA everywhere (one version to update).
func checkPins(wfs map[string]*ghWorkflow) []string {
	var problems []string
	sha := map[string]string{}
	for _, file := range sortedNames(wfs) {
		wf := wfs[file]
		lines := usesLine.FindAllStringSubmatch(wf.raw, -1)
		uses := 0
		for _, j := range wf.Jobs {
			for _, st := range j.Steps {
				if st.Uses != "" {
					uses++
				}
			}
		}
		if len(lines) != uses {
			problems = append(problems, fmt.Sprintf("%s: %d uses: lines, %d steps that use an action", file, len(lines), uses))
		}
		for _, m := range lines {
			ref, rest := m[1], m[2]
			if strings.HasPrefix(ref, "./") {
				continue // an action of this repository, at this commit
			}
			if !pinnedUse.MatchString(ref) {
				problems = append(problems, fmt.Sprintf("%s: %s is not pinned by a full commit SHA", file, ref))
				continue
			}
			if !versionOf.MatchString(rest) {
				problems = append(problems, fmt.Sprintf("%s: %s has no version comment (# vX.Y.Z)", file, ref))
			}
			action, at, _ := strings.Cut(ref, "@")
			action = strings.Join(strings.SplitN(action, "/", 3)[:2], "/") // codeql-action/upload-sarif is codeql-action
			if prev, ok := sha[action]; ok && prev != at {
				problems = append(problems, fmt.Sprintf("%s: %s at %s, elsewhere at %s", file, action, at, prev))
			}
			sha[action] = at
		}
	}
	return problems
}

var (
	ciRunCall = regexp.MustCompile(`(?m)^\s*(?:bash\s+)?\.ci/run\s*$`)
	makeCall  = regexp.MustCompile(`\bmake\s+(?:--no-print-directory\s+|-s\s+)*([a-z][a-z0-9-]*)`)
)

// makeTargets lists the make targets a script runs, in order.
func makeTargets(script string) []string {
	var out []string
	for _, line := range strings.Split(script, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range makeCall.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// checkCIRunsCIScript: CI checks what .ci/run checks. Either a job runs
// .ci/run itself, or its steps run the same make targets in the same order.
func checkCIRunsCIScript(wf *ghWorkflow, ciRun string) []string {
	want := makeTargets(ciRun)
	if len(want) == 0 {
		return []string{".ci/run runs no make target: cannot compare"}
	}
	var problems []string
	for _, name := range sortedNames(wf.Jobs) {
		var got []string
		for _, st := range wf.Jobs[name].Steps {
			if ciRunCall.MatchString(st.Run) {
				return nil
			}
			got = append(got, makeTargets(st.Run)...)
		}
		if slices.Equal(got, want) {
			return nil
		}
		problems = append(problems, fmt.Sprintf("%s: job %s neither runs .ci/run nor its make targets in order:\n got %v\nwant %v", wf.file, name, got, want))
	}
	return problems
}

// step returns the first step of job that uses the action (owner/repo,
// without the @ref), or nil.
func (j *ghJob) step(action string) *ghStep {
	for i, st := range j.Steps {
		if a, _, _ := strings.Cut(st.Uses, "@"); a == action {
			return &j.Steps[i]
		}
	}
	return nil
}

// runs returns the steps of job whose run script matches re.
func (j *ghJob) runs(re *regexp.Regexp) []*ghStep {
	var out []*ghStep
	for i, st := range j.Steps {
		if re.MatchString(st.Run) {
			out = append(out, &j.Steps[i])
		}
	}
	return out
}

var (
	cosignSign   = regexp.MustCompile(`cosign sign --yes "\$\{IMAGE\}@\$\{DIGEST\}"`)
	cosignAttest = regexp.MustCompile(`cosign attest --yes --type cyclonedx --predicate "sbom/\$\{SERVICE\}\.cdx\.json" "\$\{IMAGE\}@\$\{DIGEST\}"`)
	sbomScan     = regexp.MustCompile(`slipway scan .*--sbom sbom\b`)
	digestOutput = regexp.MustCompile(`^\$\{\{ steps\.([a-z0-9_-]+)\.outputs\.digest \}\}$`)
)

// checkRelease: on a tag, every service image is built by BuildKit with a
// registry cache in ghcr.io, an SBOM and provenance, signed by cosign
// keylessly by digest, with slipway scan's CycloneDX SBOM attested.
func checkRelease(wf *ghWorkflow, services []string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if push, ok := wf.On["push"]; !ok || !strings.Contains(nodeText(&push), "tags") {
		bad("release.yml does not run on a tag push")
	}
	sbomJobs := 0
	for _, name := range sortedNames(wf.Jobs) {
		if len(wf.Jobs[name].runs(sbomScan)) > 0 {
			sbomJobs++
		}
	}
	if sbomJobs == 0 {
		bad("release.yml: no job runs slipway scan --sbom sbom")
	}
	var image *ghJob
	for _, name := range sortedNames(wf.Jobs) {
		if wf.Jobs[name].step("docker/build-push-action") != nil {
			image = wf.Jobs[name]
		}
	}
	if image == nil {
		return append(problems, "release.yml: no job uses docker/build-push-action")
	}
	if image.Strategy == nil || !slices.Equal(sortedCopy(image.Strategy.Matrix["service"]), services) {
		var got []string
		if image.Strategy != nil {
			got = image.Strategy.Matrix["service"]
		}
		bad("release.yml: the image matrix builds %v, the services are %v", got, services)
	}
	build := image.step("docker/build-push-action")
	w := build.With
	for _, key := range []string{"cache-from", "cache-to"} {
		if !strings.HasPrefix(w[key], "type=registry,ref=") {
			bad("release.yml: %s %q is not a registry cache", key, w[key])
		}
	}
	if !strings.Contains(w["cache-to"], "mode=max") {
		bad("release.yml: cache-to %q without mode=max caches the final stage only", w["cache-to"])
	}
	if w["sbom"] != "true" {
		bad("release.yml: build-push-action sbom is %q, want true", w["sbom"])
	}
	if w["provenance"] == "" || w["provenance"] == "false" {
		bad("release.yml: build-push-action attaches no provenance")
	}
	if w["push"] != "true" || w["file"] != "deploy/docker/Dockerfile" || w["target"] != "runtime" {
		bad("release.yml: build-push-action must push the runtime target of deploy/docker/Dockerfile")
	}
	if !strings.Contains(wf.raw, `ghcr.io/${OWNER,,}/slipway/`) {
		bad("release.yml: the images are not named ghcr.io/<owner>/slipway/<service>")
	}
	if image.Permissions["id-token"] != "write" || image.Permissions["packages"] != "write" {
		bad("release.yml: the image job needs id-token: write (keyless cosign) and packages: write (ghcr.io)")
	}
	installer := slices.IndexFunc(image.Steps, func(s ghStep) bool { return strings.HasPrefix(s.Uses, "sigstore/cosign-installer@") })
	signs := image.runs(cosignSign)
	if installer < 0 || len(signs) == 0 {
		bad("release.yml: the image job does not install cosign and run cosign sign --yes by digest")
	}
	for _, s := range append(signs, image.runs(cosignAttest)...) {
		if slices.IndexFunc(image.Steps, func(x ghStep) bool { return x.Run == s.Run }) < installer {
			bad("release.yml: %q runs before cosign is installed", s.Name)
		}
		m := digestOutput.FindStringSubmatch(s.Env["DIGEST"])
		if m == nil || m[1] != build.ID {
			bad("release.yml: step %q signs DIGEST %q, not the digest build-push-action returned", s.Name, s.Env["DIGEST"])
		}
	}
	if len(image.runs(cosignAttest)) == 0 {
		bad("release.yml: slipway scan's CycloneDX SBOM is not attested to the image")
	}
	return problems
}

func nodeText(n *yaml.Node) string {
	out, err := yaml.Marshal(n)
	if err != nil {
		return ""
	}
	return string(out)
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestWorkflowsDecodeStrictly(t *testing.T) {
	readWorkflows(t) // each file decodes into the structs above, or fails
	for _, tt := range []struct{ name, yaml, want string }{
		{"misspelt key", "on: {push: {}}\njobs:\n  a:\n    runs-on: x\n    step: []\n", "field step not found"},
		{"uses and run", "on: {push: {}}\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: a/b@v1\n        run: echo\n", "exactly one of uses and run"},
		{"no jobs", "on: {push: {}}\n", "needs both an on and a jobs key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWorkflow("x.yml", []byte(tt.yaml))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestWorkflowPermissionsAreLeastPrivilege(t *testing.T) {
	wfs := readWorkflows(t)
	for _, file := range sortedNames(wfs) {
		assert.Empty(t, checkPermissions(wfs[file]), file)
	}
	// Attacks: no top-level block, a top-level write, an ungranted job write.
	ci := *wfs["ci.yml"]
	ci.Permissions = nil
	assert.Contains(t, strings.Join(checkPermissions(&ci), "\n"), "no top-level permissions")
	ci.Permissions = map[string]string{"contents": "write"}
	assert.Contains(t, strings.Join(checkPermissions(&ci), "\n"), "top-level permission contents: write")
	scan := *wfs["scan.yml"]
	scan.Jobs = map[string]*ghJob{"scan": {Permissions: map[string]string{"contents": "write"}}}
	assert.Contains(t, strings.Join(checkPermissions(&scan), "\n"), "job scan writes contents")
}

func TestWorkflowActionsArePinned(t *testing.T) {
	wfs := readWorkflows(t)
	assert.Empty(t, checkPins(wfs))
	for _, tt := range []struct{ name, line, want string }{
		{"tag", "actions/checkout@v4", "not pinned by a full commit SHA"},
		{"short SHA", "actions/checkout@11bd719", "not pinned by a full commit SHA"},
		{"no version comment", "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "no version comment"},
		{"two SHAs of one action", "actions/checkout@0000000000000000000000000000000000000000 # v4.0.0", "elsewhere at"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wf := *wfs["chaos.yml"]
			wf.raw = strings.Replace(wf.raw, "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", tt.line, 1)
			require.NotEqual(t, wfs["chaos.yml"].raw, wf.raw)
			broken := map[string]*ghWorkflow{"ci.yml": wfs["ci.yml"], "chaos.yml": &wf}
			assert.Contains(t, strings.Join(checkPins(broken), "\n"), tt.want)
		})
	}
}

// ci.yml checks what .ci/run checks: it runs it.
func TestCIWorkflowRunsCIScript(t *testing.T) {
	root := repoRoot(t)
	wfs := readWorkflows(t)
	ciRun, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	require.NoError(t, err)
	ci := wfs["ci.yml"]
	assert.Empty(t, checkCIRunsCIScript(ci, string(ciRun)))
	assert.Contains(t, ci.On, "push")
	assert.Contains(t, ci.On, "pull_request")
	if assert.NotNil(t, ci.Concurrency, "ci.yml has no concurrency group") {
		assert.Contains(t, ci.Concurrency.Group, "github.ref")
	}
	setupGo := ci.Jobs["ci"].step("actions/setup-go")
	if assert.NotNil(t, setupGo, "ci.yml does not set up Go") {
		assert.Equal(t, "true", setupGo.With["cache"], "Go module and build caches")
		assert.Contains(t, setupGo.With["cache-dependency-path"], "**/go.sum")
	}
	// Every script a workflow runs from the repository exists and is executable.
	for _, file := range sortedNames(wfs) {
		for _, j := range wfs[file].Jobs {
			for _, st := range j.Steps {
				for _, script := range regexp.MustCompile(`(?m)^\s*(?:bash\s+)?(\.(?:ci|github)/[\w./-]+)`).FindAllStringSubmatch(st.Run, -1) {
					info, err := os.Stat(filepath.Join(root, script[1]))
					if assert.NoError(t, err, "%s runs %s", file, script[1]) {
						assert.NotZero(t, info.Mode()&0o100, "%s is not executable", script[1])
					}
				}
			}
		}
	}

	// The other way of keeping one definition: the same make targets in the
	// same order passes; a subset, or the right ones out of order, fails.
	targets := makeTargets(string(ciRun))
	require.Contains(t, targets, "test")
	same := &ghWorkflow{file: "ci.yml", Jobs: map[string]*ghJob{"ci": {}}}
	for _, tg := range targets {
		same.Jobs["ci"].Steps = append(same.Jobs["ci"].Steps, ghStep{Run: "make " + tg})
	}
	assert.Empty(t, checkCIRunsCIScript(same, string(ciRun)))
	subset := &ghWorkflow{file: "ci.yml", Jobs: map[string]*ghJob{"ci": {Steps: []ghStep{{Run: "make lint"}, {Run: "make test"}}}}}
	assert.Contains(t, strings.Join(checkCIRunsCIScript(subset, string(ciRun)), "\n"), "neither runs .ci/run nor its make targets")
	swapped := slices.Clone(same.Jobs["ci"].Steps)
	swapped[0], swapped[len(swapped)-1] = swapped[len(swapped)-1], swapped[0]
	assert.NotEmpty(t, checkCIRunsCIScript(&ghWorkflow{file: "ci.yml", Jobs: map[string]*ghJob{"ci": {Steps: swapped}}}, string(ciRun)))
}

func TestReleaseWorkflow(t *testing.T) {
	wfs := readWorkflows(t)
	services := sortedNames(slipwayServices(t))
	assert.Empty(t, checkRelease(wfs["release.yml"], services))

	for _, tt := range []struct {
		name   string
		mutate func(w map[string]string, j *ghJob)
		want   string
	}{
		{"no registry cache", func(w map[string]string, _ *ghJob) { w["cache-from"] = "type=gha" }, "cache-from \"type=gha\" is not a registry cache"},
		{"cache-to of the last stage only", func(w map[string]string, _ *ghJob) { w["cache-to"] = "type=registry,ref=x:buildcache" }, "without mode=max"},
		{"no SBOM", func(w map[string]string, _ *ghJob) { delete(w, "sbom") }, "sbom is \"\", want true"},
		{"no provenance", func(w map[string]string, _ *ghJob) { w["provenance"] = "false" }, "attaches no provenance"},
		{"no OIDC token", func(_ map[string]string, j *ghJob) { delete(j.Permissions, "id-token") }, "needs id-token: write"},
		{"signed by tag", func(_ map[string]string, j *ghJob) {
			for i := range j.Steps {
				j.Steps[i].Run = strings.ReplaceAll(j.Steps[i].Run, "@${DIGEST}", ":latest")
			}
		}, "cosign sign --yes by digest"},
		{"a service left out", func(_ map[string]string, j *ghJob) { j.Strategy.Matrix["service"] = j.Strategy.Matrix["service"][1:] }, "the image matrix builds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(repoRoot(t), workflowsDir, "release.yml"))
			require.NoError(t, err)
			wf, err := parseWorkflow("release.yml", data)
			require.NoError(t, err)
			j := wf.Jobs["image"]
			tt.mutate(j.step("docker/build-push-action").With, j)
			assert.Contains(t, strings.Join(checkRelease(wf, services), "\n"), tt.want)
		})
	}
}

// cliImageJob is the release job that builds the cli target of
// deploy/docker/Dockerfile, and its name, or nil.
func cliImageJob(wf *ghWorkflow) (string, *ghJob) {
	for _, name := range sortedNames(wf.Jobs) {
		if b := wf.Jobs[name].step("docker/build-push-action"); b != nil && b.With["target"] == "cli" {
			return name, wf.Jobs[name]
		}
	}
	return "", nil
}

// checkCLIRelease: on a tag, the slipway CLI image the drift CronJob runs
// (deploy/k8s/drift's slipway/slipway) is built from the cli target, pushed
// as ghcr.io/<owner>/slipway/slipway with a registry cache, an SBOM and
// provenance, signed by cosign by digest, and the GitHub release waits for it.
func checkCLIRelease(wf *ghWorkflow) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	name, job := cliImageJob(wf)
	if job == nil {
		return []string{"release.yml: no job builds the cli target of deploy/docker/Dockerfile (the drift CronJob's slipway/slipway)"}
	}
	build := job.step("docker/build-push-action")
	w := build.With
	if w["push"] != "true" || w["file"] != "deploy/docker/Dockerfile" {
		bad("release.yml: %s must push the cli target of deploy/docker/Dockerfile", name)
	}
	if strings.Contains(w["build-args"], "SERVICE=") {
		bad("release.yml: %s passes SERVICE to the cli target, which builds no service", name)
	}
	if !strings.Contains(w["build-args"], "VERSION=${{ github.ref_name }}") {
		bad("release.yml: %s does not stamp the tag as VERSION", name)
	}
	for _, key := range []string{"cache-from", "cache-to"} {
		if !strings.HasPrefix(w[key], "type=registry,ref=") {
			bad("release.yml: %s: %s %q is not a registry cache", name, key, w[key])
		}
	}
	if w["sbom"] != "true" || w["provenance"] == "" || w["provenance"] == "false" {
		bad("release.yml: %s attaches no SBOM or no provenance", name)
	}
	image := ""
	if st := job.runs(regexp.MustCompile(`GITHUB_OUTPUT`)); len(st) > 0 {
		image = st[0].Run
	}
	if !strings.Contains(image, `image=ghcr.io/${OWNER,,}/slipway/slipway"`) {
		bad("release.yml: %s does not name its image ghcr.io/<owner>/slipway/slipway", name)
	}
	if job.Permissions["id-token"] != "write" || job.Permissions["packages"] != "write" {
		bad("release.yml: %s needs id-token: write (keyless cosign) and packages: write (ghcr.io)", name)
	}
	installer := slices.IndexFunc(job.Steps, func(s ghStep) bool { return strings.HasPrefix(s.Uses, "sigstore/cosign-installer@") })
	signs := job.runs(cosignSign)
	if installer < 0 || len(signs) == 0 {
		bad("release.yml: %s does not install cosign and run cosign sign --yes by digest", name)
	}
	for _, s := range signs {
		if slices.IndexFunc(job.Steps, func(x ghStep) bool { return x.Run == s.Run }) < installer {
			bad("release.yml: %s: %q runs before cosign is installed", name, s.Name)
		}
		m := digestOutput.FindStringSubmatch(s.Env["DIGEST"])
		if m == nil || m[1] != build.ID {
			bad("release.yml: %s: step %q signs DIGEST %q, not the digest build-push-action returned", name, s.Name, s.Env["DIGEST"])
		}
	}
	if !slices.Contains(job.Needs, "sbom") {
		bad("release.yml: %s does not wait for slipway scan, which gates every image", name)
	}
	if rel, ok := wf.Jobs["release"]; !ok || !slices.Contains(rel.Needs, name) {
		bad("release.yml: the GitHub release does not wait for %s", name)
	}
	return problems
}

func TestReleaseWorkflowBuildsTheCLIImage(t *testing.T) {
	wfs := readWorkflows(t)
	assert.Empty(t, checkCLIRelease(wfs["release.yml"]))

	// The image the release names is the one the drift CronJob runs.
	cronJob, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "k8s", "drift", "cronjob.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(cronJob), "image: slipway/slipway\n", "the CronJob's image, which the release's kustomize edit pins")
	assert.Contains(t, wfs["release.yml"].raw, "kustomize edit set image slipway/slipway=${IMAGE}@${DIGEST}")

	for _, tt := range []struct {
		name   string
		mutate func(w map[string]string, j *ghJob, wf *ghWorkflow)
		want   string
	}{
		{"no CLI job", func(w map[string]string, _ *ghJob, _ *ghWorkflow) { w["target"] = "runtime" }, "no job builds the cli target"},
		{"a SERVICE", func(w map[string]string, _ *ghJob, _ *ghWorkflow) { w["build-args"] += "SERVICE=user\n" }, "passes SERVICE"},
		{"not pushed", func(w map[string]string, _ *ghJob, _ *ghWorkflow) { w["push"] = "false" }, "must push the cli target"},
		{"no provenance", func(w map[string]string, _ *ghJob, _ *ghWorkflow) { w["provenance"] = "false" }, "no SBOM or no provenance"},
		{"a GitHub Actions cache", func(w map[string]string, _ *ghJob, _ *ghWorkflow) { w["cache-to"] = "type=gha" }, "is not a registry cache"},
		{"no OIDC token", func(_ map[string]string, j *ghJob, _ *ghWorkflow) { delete(j.Permissions, "id-token") }, "needs id-token: write"},
		{"signed by tag", func(_ map[string]string, j *ghJob, _ *ghWorkflow) {
			for i := range j.Steps {
				j.Steps[i].Run = strings.ReplaceAll(j.Steps[i].Run, "@${DIGEST}", ":latest")
			}
		}, "cosign sign --yes by digest"},
		{"another image name", func(_ map[string]string, j *ghJob, _ *ghWorkflow) {
			for i := range j.Steps {
				j.Steps[i].Run = strings.ReplaceAll(j.Steps[i].Run, "/slipway/slipway", "/slipway/cli")
			}
		}, "ghcr.io/<owner>/slipway/slipway"},
		{"released without it", func(_ map[string]string, _ *ghJob, wf *ghWorkflow) { wf.Jobs["release"].Needs = ghStrings{"image"} }, "does not wait for cli-image"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(repoRoot(t), workflowsDir, "release.yml"))
			require.NoError(t, err)
			wf, err := parseWorkflow("release.yml", data)
			require.NoError(t, err)
			_, j := cliImageJob(wf)
			require.NotNil(t, j)
			tt.mutate(j.step("docker/build-push-action").With, j, wf)
			assert.Contains(t, strings.Join(checkCLIRelease(wf), "\n"), tt.want)
		})
	}
}

var scanCall = regexp.MustCompile(`slipway scan\b[^\n]*`)

// Every make target a workflow runs is one the Makefile has.
func TestWorkflowMakeTargetsExist(t *testing.T) {
	mk := readMakefile(t)
	wfs := readWorkflows(t)
	n := 0
	for _, file := range sortedNames(wfs) {
		for _, j := range wfs[file].Jobs {
			for _, st := range j.Steps {
				for _, target := range makeTargets(st.Run) {
					n++
					assert.True(t, mk.has(target), "%s runs make %s, which the Makefile does not have", file, target)
				}
			}
		}
	}
	assert.NotZero(t, n, "no workflow runs make: the pattern is broken")
	assert.False(t, mk.has("no-such-target"))
}

// scanBaseline is the layout of slipway scan's --baseline file.
type scanBaseline struct {
	Format   int `json:"format"`
	Findings []struct {
		Module   string   `json:"module"`
		OSV      string   `json:"osv"`
		Aliases  []string `json:"aliases"`
		Summary  string   `json:"summary"`
		Affected string   `json:"affected_module"`
		Version  string   `json:"version"`
		Fixed    string   `json:"fixed_version"`
		Reach    string   `json:"reach"`
	} `json:"findings"`
}

func TestScanWorkflowBaseline(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), ".github", "vuln-baseline.json"))
	require.NoError(t, err, "scan.yml compares with .github/vuln-baseline.json")
	var b scanBaseline
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&b), "not a slipway scan baseline")
	assert.Equal(t, 1, b.Format, "the baseline format slipway scan reads")
	for _, f := range b.Findings {
		assert.NotEmpty(t, f.Module, "an accepted finding names its module")
		assert.NotEmpty(t, f.OSV, "an accepted finding names its advisory")
	}
}

func TestScanAndChaosWorkflows(t *testing.T) {
	wfs := readWorkflows(t)
	for _, file := range []string{"scan.yml", "chaos.yml"} {
		assert.Contains(t, wfs[file].On, "schedule", "%s runs on a schedule", file)
		assert.Contains(t, wfs[file].On, "workflow_dispatch", "%s can be run by hand", file)
	}

	scan := wfs["scan.yml"].Jobs["scan"]
	require.NotNil(t, scan)
	require.NotEmpty(t, scan.runs(regexp.MustCompile(`(?m)^make vulndb$`)), "scan.yml does not build the vulnerability database")
	steps := scan.runs(regexp.MustCompile(`go run ./tools/slipway scan`))
	require.Len(t, steps, 1)
	call := scanCall.FindString(strings.ReplaceAll(steps[0].Run, "\\\n", " ")) // continuation lines joined
	for _, flag := range []string{"--baseline .github/vuln-baseline.json", "--sarif scan.sarif", "--issues issues/"} {
		assert.Contains(t, call, flag)
	}
	upload := scan.step("github/codeql-action/upload-sarif")
	if assert.NotNil(t, upload, "scan.yml does not upload the SARIF") {
		assert.Equal(t, "scan.sarif", upload.With["sarif_file"])
		assert.Contains(t, upload.If, "always()", "findings make scan exit 1; the SARIF must still go up")
	}
	issues := scan.runs(regexp.MustCompile(`gh issue create`))
	if assert.Len(t, issues, 1, "scan.yml opens no issues") {
		assert.Contains(t, issues[0].Run, "issues/*")
		assert.Contains(t, issues[0].Run, "gh issue list --state open", "issues are deduplicated against the open ones")
		assert.Contains(t, issues[0].Run, "grep -Fxq", "by exact title")
	}

	chaos := wfs["chaos.yml"].Jobs["chaos"]
	require.NotNil(t, chaos)
	assert.NotEmpty(t, chaos.runs(regexp.MustCompile(`(?m)^make chaos\b`)), "chaos.yml does not run make chaos")
	reports := chaos.step("actions/upload-artifact")
	if assert.NotNil(t, reports, "chaos.yml uploads no reports") {
		assert.Equal(t, "always()", reports.If, "a failed experiment's report matters most")
		for _, f := range []string{"report.json", "report.md", "report.html"} {
			assert.Contains(t, reports.With["path"], ".slipway/chaos/**/"+f)
		}
	}
}
