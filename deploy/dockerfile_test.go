package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/pb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

const (
	dockerfile     = "deploy/docker/Dockerfile"
	buildflagsFile = "deploy/docker/buildflags.mk"
	goModCache     = "/go/pkg/mod"
	goBuildCache   = "/root/.cache/go-build"
)

// imageBuild is what BuildKit makes of a Dockerfile for one target and set
// of build arguments: the same conversion `docker build` runs, stopped
// before anything is pulled or executed.
type imageBuild struct {
	image    *dockerspec.DockerOCIImage // the config of the built image
	warnings []string                   // BuildKit's lint warnings (docker build --check)
	sources  []string                   // COPY sources read from the build context
	execs    []*pb.ExecOp               // RUN steps the target needs
	bases    []string                   // base images, normalised (docker.io/library/golang:1.26.8)
}

// offlineResolver stands in for a registry: it records the base images and
// answers with an empty config, so the conversion needs no network.
type offlineResolver struct {
	mu   sync.Mutex
	refs []string
}

func (r *offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	r.mu.Lock()
	r.refs = append(r.refs, ref)
	r.mu.Unlock()
	img := ocispecs.Image{Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}}
	img.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	dt, err := json.Marshal(img)
	return ref, digest.FromBytes(dt), dt, err
}

// convertDockerfile converts the Dockerfile at file for target ("" is the
// last stage) with the build arguments args.
func convertDockerfile(t testing.TB, file, target string, args map[string]string) (imageBuild, error) {
	t.Helper()
	dt, err := os.ReadFile(file)
	require.NoError(t, err)
	resolver := &offlineResolver{}
	var b imageBuild
	res, err := dockerfile2llb.Dockerfile2LLB(context.Background(), dt, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{BuildArgs: args, Target: target},
		MetaResolver: resolver,
		Warn: func(rule, _, _, msg string, loc []parser.Range) {
			line := 0
			if len(loc) > 0 {
				line = loc[0].Start.Line
			}
			b.warnings = append(b.warnings, fmt.Sprintf("%s:%d: %s: %s", filepath.Base(file), line, rule, msg))
		},
	})
	if err != nil {
		return b, err
	}
	b.image = res.Image
	b.bases = resolver.refs

	def, err := res.State.Marshal(context.Background())
	require.NoError(t, err)
	ops := make(map[digest.Digest]*pb.Op)
	for _, raw := range def.Def {
		var op pb.Op
		require.NoError(t, op.UnmarshalVT(raw))
		ops[digest.FromBytes(raw)] = &op
	}
	for _, op := range ops {
		if e := op.GetExec(); e != nil {
			b.execs = append(b.execs, e)
		}
		f := op.GetFile()
		if f == nil {
			continue
		}
		for _, a := range f.Actions {
			c := a.GetCopy()
			if c == nil || a.SecondaryInput < 0 || int(a.SecondaryInput) >= len(op.Inputs) {
				continue
			}
			from := ops[digest.Digest(op.Inputs[a.SecondaryInput].Digest)]
			if s := from.GetSource(); s != nil && s.Identifier == "local://context" {
				b.sources = append(b.sources, strings.TrimPrefix(c.Src, "/"))
			}
		}
	}
	slices.Sort(b.sources)
	return b, nil
}

// goCommand matches a RUN step that downloads modules or compiles.
var goCommand = regexp.MustCompile(`\bgo (build|install|mod download|test|generate|run)\b`)

func execScript(e *pb.ExecOp) string { return strings.Join(e.Meta.Args, " ") }

func execEnv(e *pb.ExecOp, key string) (string, bool) {
	for _, kv := range e.Meta.Env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v, true
		}
	}
	return "", false
}

// checkGoCaches: every RUN step that runs the go command mounts BuildKit
// caches for the module cache and the build cache, and GOMODCACHE/GOCACHE,
// if set, point at them.
func checkGoCaches(b imageBuild) []string {
	var problems []string
	var goSteps int
	for _, e := range b.execs {
		script := execScript(e)
		if !goCommand.MatchString(script) {
			continue
		}
		goSteps++
		caches := make(map[string]bool)
		for _, m := range e.Mounts {
			if m.MountType == pb.MountType_CACHE {
				caches[m.Dest] = true
			}
		}
		for _, want := range []struct{ env, dir string }{{"GOMODCACHE", goModCache}, {"GOCACHE", goBuildCache}} {
			if !caches[want.dir] {
				problems = append(problems, fmt.Sprintf("RUN %.60q... has no cache mount at %s", script, want.dir))
			}
			if v, ok := execEnv(e, want.env); ok && v != want.dir {
				problems = append(problems, fmt.Sprintf("RUN %.60q...: %s=%s, but the cache is mounted at %s", script, want.env, v, want.dir))
			}
		}
	}
	if goSteps == 0 {
		problems = append(problems, "no RUN step runs the go command")
	}
	return problems
}

// checkRuntimeUser: the image runs as a user other than root.
func checkRuntimeUser(b imageBuild) []string {
	user := b.image.Config.User
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		return []string{fmt.Sprintf("the image runs as %q (root); want a non-root USER", user)}
	}
	return nil
}

// checkHealthcheck: the image has a HEALTHCHECK.
func checkHealthcheck(b imageBuild) []string {
	hc := b.image.Config.Healthcheck
	if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return []string{"the image has no HEALTHCHECK"}
	}
	return nil
}

// checkSources: every COPY source from the build context exists under root
// (globs resolved as BuildKit does) and is not excluded by .dockerignore.
func checkSources(root string, b imageBuild, ignore *patternmatcher.PatternMatcher) []string {
	var problems []string
	if len(b.sources) == 0 {
		return []string{"nothing is copied from the build context"}
	}
	for _, src := range b.sources {
		matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(src)))
		if err != nil || len(matches) == 0 {
			problems = append(problems, fmt.Sprintf("COPY source %s does not exist", src))
			continue
		}
		if ignore == nil {
			continue
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			if excluded, _ := ignore.MatchesOrParentMatches(filepath.ToSlash(rel)); excluded {
				problems = append(problems, fmt.Sprintf("COPY source %s is excluded by .dockerignore", filepath.ToSlash(rel)))
			}
		}
	}
	return problems
}

// dockerignore is the repository's .dockerignore as BuildKit reads it.
func dockerignore(t testing.TB) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), ".dockerignore"))
	require.NoError(t, err)
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	require.NoError(t, err)
	pm, err := patternmatcher.New(patterns)
	require.NoError(t, err)
	return pm
}

// printMake prints a variable of the shared build flags file.
func printMake(t testing.TB, variable string, vars ...string) string {
	t.Helper()
	args := append([]string{"-s", "-f", buildflagsFile}, vars...)
	cmd := exec.Command("make", append(args, "print-"+variable)...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	require.NoError(t, err, "make -f %s print-%s", buildflagsFile, variable)
	return strings.TrimSpace(string(out))
}

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	file := filepath.Join(root, dockerfile)
	ignore := dockerignore(t)
	modules := workspaceModuleDirs(t)
	services := slipwayServices(t)

	for _, svc := range services {
		for _, target := range []string{"runtime", "debug"} {
			t.Run(svc.Name+"/"+target, func(t *testing.T) {
				b, err := convertDockerfile(t, file, target, map[string]string{"SERVICE": svc.Name, "VERSION": "v0.0.0-test"})
				require.NoError(t, err, "BuildKit cannot convert %s", dockerfile)

				assert.Empty(t, b.warnings, "docker build --check warnings")
				assert.Empty(t, checkGoCaches(b))
				assert.Empty(t, checkRuntimeUser(b))
				assert.Empty(t, checkHealthcheck(b))
				assert.Empty(t, checkSources(root, b, ignore))

				cfg := b.image.Config
				assert.Equal(t, []string{"CMD", "/usr/local/bin/slipway", "probe", "--timeout=2s"}, cfg.Healthcheck.Test,
					"the health check is slipway probe, which reads GRPC_ADDR")
				assert.Contains(t, cfg.Env, fmt.Sprintf("GRPC_ADDR=:%d", svc.GRPCPort))
				assert.Contains(t, cfg.Env, fmt.Sprintf("HTTP_ADDR=:%d", svc.HTTPPort))
				ports := []string{fmt.Sprintf("%d/tcp", svc.GRPCPort), fmt.Sprintf("%d/tcp", svc.HTTPPort)}
				if target == "debug" {
					ports = append(ports, fmt.Sprintf("%d/tcp", dlvPort))
				}
				assert.ElementsMatch(t, ports, sortedNames(cfg.ExposedPorts))

				for _, dir := range modules {
					assert.Contains(t, b.sources, dir+"/go.mod", "go.work uses %s, so the build needs its go.mod", dir)
				}
				assert.Contains(t, b.sources, "services/"+svc.Name, "the service's sources")
				for _, other := range services {
					if other.Name != svc.Name {
						assert.NotContains(t, b.sources, "services/"+other.Name, "another service's sources would bust this image's cache")
					}
				}

				switch target {
				case "runtime":
					assert.Equal(t, []string{"/usr/local/bin/service"}, cfg.Entrypoint)
					assert.Equal(t, "v0.0.0-test", cfg.Labels["org.opencontainers.image.version"])
				case "debug":
					assert.Equal(t, []string{"/usr/local/bin/dlv", "exec", "/usr/local/bin/service",
						"--headless", fmt.Sprintf("--listen=:%d", dlvPort), "--api-version=2", "--accept-multiclient", "--continue", "--"},
						cfg.Entrypoint)
				}
			})
		}
	}
}

func TestDockerfileBuildsWithSharedFlags(t *testing.T) {
	root := repoRoot(t)
	svc := sortedNames(slipwayServices(t))[0]
	release := []string{"GO_BUILDFLAGS", "GO_LDFLAGS"}
	for _, tt := range []struct {
		target  string
		service []string // variables of buildflags.mk the service's go build uses
	}{
		{"runtime", release},
		{"debug", []string{"GO_DEBUG_BUILDFLAGS", "GO_DEBUG_GCFLAGS", "GO_DEBUG_LDFLAGS"}},
	} {
		t.Run(tt.target, func(t *testing.T) {
			b, err := convertDockerfile(t, filepath.Join(root, dockerfile), tt.target, map[string]string{"SERVICE": svc})
			require.NoError(t, err)
			assert.Contains(t, b.sources, buildflagsFile)
			built := make(map[string]bool)
			for _, e := range b.execs {
				script := execScript(e)
				if !strings.Contains(script, "go build") {
					continue
				}
				want := release
				switch {
				case strings.Contains(script, "./services/${SERVICE}/cmd/${SERVICE}"):
					built["service"] = true
					want = tt.service
				case strings.Contains(script, "./tools/slipway"):
					built["probe"] = true
				}
				assert.Equal(t, "/src", e.Meta.Cwd, "the editor maps /src to the checkout (.vscode/launch.json)")
				assert.Contains(t, script, "make -s -f "+buildflagsFile, "the build reads its flags from %s", buildflagsFile)
				for _, flag := range want {
					assert.Regexp(t, `\(flag `+flag+`\)`, script, "the build uses %s", flag)
				}
			}
			assert.Equal(t, map[string]bool{"service": true, "probe": true}, built, "go build steps of the service and the probe")
		})
	}

	t.Run("flags", func(t *testing.T) {
		assert.Contains(t, strings.Fields(printMake(t, "GO_BUILDFLAGS")), "-trimpath")
		assert.Equal(t, "all=-N -l", printMake(t, "GO_DEBUG_GCFLAGS"), "dlv needs optimisations and inlining off")
		versionVar := printMake(t, "VERSION_VAR")
		for _, v := range []string{"GO_LDFLAGS", "GO_DEBUG_LDFLAGS"} {
			assert.Contains(t, printMake(t, v, "VERSION=v1.2.3"), "-X "+versionVar+"=v1.2.3", "%s carries VERSION", v)
		}
	})

	// The linker ignores -X for a variable that does not exist, so the
	// version would silently be lost.
	t.Run("VERSION_VAR exists", func(t *testing.T) {
		versionVar := printMake(t, "VERSION_VAR")
		pkgPath, name, ok := cutLast(versionVar, ".")
		require.True(t, ok && strings.HasPrefix(pkgPath, modulePrefix), "VERSION_VAR %q: want %s<pkg>.<Var>", versionVar, modulePrefix)
		dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(pkgPath, modulePrefix)))
		assert.True(t, hasStringVar(t, dir, name),
			"%s: no package-level string variable %s in %s; the build's -X %s=$(VERSION) sets nothing", buildflagsFile, name, dir, versionVar)
	})
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// hasStringVar reports whether the package in dir declares a package-level
// variable name that -X can set (a string, declared without a function call).
func hasStringVar(t testing.TB, dir, name string) bool {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		return false
	}
	p, err := parseGoDir(dir)
	require.NoError(t, err)
	for _, f := range p.files {
		for _, decl := range f.Decls {
			if found := declaresStringVar(decl, name); found {
				return true
			}
		}
	}
	return false
}

func TestDockerfileNeedsService(t *testing.T) {
	// The default target and the two service targets; only cli needs none.
	for _, target := range []string{"", "runtime", "debug"} {
		_, err := convertDockerfile(t, filepath.Join(repoRoot(t), dockerfile), target, nil)
		require.Error(t, err, "target %q: a build without --build-arg SERVICE must fail, not build some service", target)
		assert.Contains(t, err.Error(), "SERVICE: is not allowed to be unset", "target %q", target)
	}
}

// The cli target is the slipway CLI alone (the drift CronJob's image): it
// builds without SERVICE, from the CLI's sources and no service's, with
// the release flags, and runs the CLI as a non-root user.
func TestDockerfileCLI(t *testing.T) {
	root := repoRoot(t)
	for _, args := range []map[string]string{
		{"VERSION": "v0.0.0-test"},
		// A SERVICE left in the environment changes nothing.
		{"VERSION": "v0.0.0-test", "SERVICE": sortedNames(slipwayServices(t))[0]},
	} {
		t.Run(fmt.Sprintf("SERVICE=%q", args["SERVICE"]), func(t *testing.T) {
			b, err := convertDockerfile(t, filepath.Join(root, dockerfile), "cli", args)
			require.NoError(t, err, "BuildKit cannot convert the cli target")
			assert.Empty(t, b.warnings, "docker build --check warnings")
			assert.Empty(t, checkGoCaches(b))
			assert.Empty(t, checkRuntimeUser(b))
			assert.Empty(t, checkSources(root, b, dockerignore(t)))

			cfg := b.image.Config
			assert.Equal(t, []string{"/usr/local/bin/slipway"}, cfg.Entrypoint, "the arguments are the verb: drift ...")
			assert.Nil(t, cfg.Healthcheck, "a job that runs to completion serves no health check")
			assert.Empty(t, cfg.ExposedPorts)
			assert.Equal(t, "slipway", cfg.Labels["org.opencontainers.image.title"])
			assert.Equal(t, "v0.0.0-test", cfg.Labels["org.opencontainers.image.version"])
			assert.Contains(t, b.sources, "tools/slipway")
			for _, src := range b.sources {
				if rest, ok := strings.CutPrefix(src, "services/"); ok {
					assert.True(t, strings.HasSuffix(rest, "/go.mod") || strings.HasSuffix(rest, "/go.sum"),
						"the CLI image copies %s: a service's sources would bust its cache", src)
				}
			}
			var builds []string
			for _, e := range b.execs {
				if script := execScript(e); strings.Contains(script, "go build") {
					builds = append(builds, script)
					assert.Regexp(t, `\(flag GO_BUILDFLAGS\)`, script, "release flags")
					assert.Regexp(t, `\(flag GO_LDFLAGS\)`, script, "the version stamped")
				}
			}
			require.Len(t, builds, 1, "one go build")
			assert.Contains(t, builds[0], "-o /out/slipway ./tools/slipway")
		})
	}
}

func TestDockerfileToolchains(t *testing.T) {
	root := repoRoot(t)
	want := "docker.io/library/golang:" + toolchainVersion(t)
	for _, tt := range []struct {
		file string
		args map[string]string
	}{
		{dockerfile, map[string]string{"SERVICE": sortedNames(slipwayServices(t))[0]}},
		{".devcontainer/Dockerfile", nil},
	} {
		t.Run(tt.file, func(t *testing.T) {
			b, err := convertDockerfile(t, filepath.Join(root, tt.file), "", tt.args)
			require.NoError(t, err)
			var golang []string
			for _, ref := range b.bases {
				if strings.HasPrefix(ref, "docker.io/library/golang:") {
					golang = append(golang, ref)
				}
			}
			require.NotEmpty(t, golang, "%s builds FROM no golang image", tt.file)
			for _, ref := range golang {
				assert.Equal(t, want, ref, "%s must build with go.work's toolchain, as CI does", tt.file)
			}
			assert.Empty(t, b.warnings, "docker build --check warnings")
		})
	}
}

// TestDockerfileDelvePin keeps the debug image's dlv at the version the
// workspace pins (for slipway debug), once it pins one.
func TestDockerfileDelvePin(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, dockerfile))
	require.NoError(t, err)
	res, err := parser.Parse(bytes.NewReader(data))
	require.NoError(t, err)
	_, metaArgs, err := instructions.Parse(res.AST, nil)
	require.NoError(t, err)
	var dlv string
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Key == "DLV_VERSION" && kv.Value != nil {
				dlv = *kv.Value
			}
		}
	}
	require.True(t, semver.IsValid(dlv), "ARG DLV_VERSION=%q: want a pinned version such as v1.27.2", dlv)

	for _, dir := range workspaceModuleDirs(t) {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), "go.mod"))
		require.NoError(t, err)
		mf, err := modfile.ParseLax(path.Join(dir, "go.mod"), data, nil)
		require.NoError(t, err)
		for _, r := range mf.Require {
			if r.Mod.Path == "github.com/go-delve/delve" {
				assert.Equal(t, r.Mod.Version, dlv, "%s pins dlv %s; the Dockerfile's DLV_VERSION must match", dir, r.Mod.Version)
			}
		}
	}
}

func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	ignore := dockerignore(t)

	t.Run("local state and secrets stay out of the build context", func(t *testing.T) {
		for _, p := range []string{
			".git/config",
			".slipway/keys/user-ed25519.pem",
			".slipway/data/user.db",
			"services/user/.slipway/data/user.db",
			"web/node_modules/react/index.js",
			"node_modules/x/index.js",
			"coverage.html",
			"platform/coverage.out",
			".env",
			"services/order/.env.local",
		} {
			excluded, err := ignore.MatchesOrParentMatches(p)
			require.NoError(t, err)
			assert.True(t, excluded, "%s reaches the build context", p)
		}
	})

	t.Run("everything the build compiles or embeds is sent", func(t *testing.T) {
		b, err := convertDockerfile(t, filepath.Join(root, dockerfile), "", map[string]string{"SERVICE": sortedNames(slipwayServices(t))[0]})
		require.NoError(t, err)
		var dirs []string
		for _, src := range b.sources {
			if st, err := os.Stat(filepath.Join(root, filepath.FromSlash(src))); err == nil && st.IsDir() {
				dirs = append(dirs, src)
			}
		}
		require.NotEmpty(t, dirs)
		for _, dir := range dirs {
			for _, f := range buildInputs(t, root, dir) {
				excluded, err := ignore.MatchesOrParentMatches(f)
				require.NoError(t, err)
				assert.False(t, excluded, "%s is needed by the build but excluded by .dockerignore", f)
			}
		}
	})
}

// embedDirective is a //go:embed line.
var embedDirective = regexp.MustCompile(`(?m)^//go:embed\s+(.+)$`)

// buildInputs lists the files under dir (slash-separated, relative to
// root) that go build reads: non-test Go files, go.mod and go.sum, and the
// files matched by //go:embed patterns.
func buildInputs(t testing.TB, root, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(root, filepath.FromSlash(dir)), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		isGo := strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
		if !isGo && name != "go.mod" && name != "go.sum" {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		if !isGo {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range embedDirective.FindAllStringSubmatch(string(src), -1) {
			for _, pattern := range strings.Fields(m[1]) {
				pattern = strings.TrimPrefix(strings.Trim(pattern, "\"`"), "all:")
				matches, _ := filepath.Glob(filepath.Join(filepath.Dir(p), filepath.FromSlash(pattern)))
				for _, match := range matches {
					_ = filepath.WalkDir(match, func(e string, d os.DirEntry, err error) error {
						if err == nil && !d.IsDir() {
							rel, _ := filepath.Rel(root, e)
							out = append(out, filepath.ToSlash(rel))
						}
						return err
					})
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// TestDockerfileChecksFindProblems runs the checks on a Dockerfile that
// breaks each rule, so a check that cannot fail is caught.
func TestDockerfileChecksFindProblems(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "present.txt"), []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(`# syntax=docker/dockerfile:1
FROM golang:1.26.8 as build
ENV GOCACHE=/tmp/gocache
RUN --mount=type=cache,target=/go/pkg/mod go build -o /out/app .
FROM scratch
COPY present.txt missing.txt /
COPY secret.pem /
COPY --from=build /out/app /app
USER root
`), 0o600))
	b, err := convertDockerfile(t, filepath.Join(dir, "Dockerfile"), "", nil)
	require.NoError(t, err)
	ignore, err := patternmatcher.New([]string{"*.pem"})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.pem"), []byte("x"), 0o600))

	tests := []struct {
		name     string
		problems []string
		want     string
	}{
		{"lint warning", b.warnings, "FromAsCasing"},
		{"build cache not mounted", checkGoCaches(b), "has no cache mount at " + goBuildCache},
		{"GOCACHE elsewhere", checkGoCaches(b), "GOCACHE=/tmp/gocache, but the cache is mounted at " + goBuildCache},
		{"root user", checkRuntimeUser(b), `the image runs as "root"`},
		{"no health check", checkHealthcheck(b), "the image has no HEALTHCHECK"},
		{"missing COPY source", checkSources(dir, b, ignore), "COPY source missing.txt does not exist"},
		{"ignored COPY source", checkSources(dir, b, ignore), "COPY source secret.pem is excluded by .dockerignore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.True(t, slices.ContainsFunc(tt.problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, tt.problems)
		})
	}
}
