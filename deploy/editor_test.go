package deploy

import (
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// consolePort is the console's port (docs/architecture.md, "Console": `--console-port` 8080).
const consolePort = 8080

// workspaceVar is how VS Code and devcontainer.json name the checkout.
const workspaceVar = "${workspaceFolder}"

// localPath resolves a path from an editor file against the checkout:
// ${workspaceFolder}/x and relative paths are under root. It fails on any
// other variable, which the test could not check.
func localPath(t testing.TB, root, p string) string {
	t.Helper()
	p = strings.ReplaceAll(p, workspaceVar, root)
	require.NotContains(t, p, "${", "path %q uses a variable the test cannot resolve", p)
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	return filepath.Clean(p)
}

type devcontainerFile struct {
	Build struct {
		Dockerfile string `json:"dockerfile"`
		Context    string `json:"context"`
	} `json:"build"`
	RemoteUser           string            `json:"remoteUser"`
	ContainerEnv         map[string]string `json:"containerEnv"`
	OnCreateCommand      json.RawMessage   `json:"onCreateCommand"`
	UpdateContentCommand json.RawMessage   `json:"updateContentCommand"`
	PostCreateCommand    json.RawMessage   `json:"postCreateCommand"`
	PostStartCommand     json.RawMessage   `json:"postStartCommand"`
	PostAttachCommand    json.RawMessage   `json:"postAttachCommand"`
	ForwardPorts         []json.RawMessage `json:"forwardPorts"`
	Customizations       struct {
		VSCode struct {
			Extensions []string       `json:"extensions"`
			Settings   map[string]any `json:"settings"`
		} `json:"vscode"`
	} `json:"customizations"`
}

// lifecycleCommands turns a devcontainer lifecycle command (a string run by
// a shell, an argv array, or an object of named commands of either form)
// into argv lists.
func lifecycleCommands(t testing.TB, raw json.RawMessage) [][]string {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return [][]string{strings.Fields(s)}
	}
	var argv []string
	if json.Unmarshal(raw, &argv) == nil {
		return [][]string{argv}
	}
	var named map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &named), "lifecycle command %s", raw)
	var out [][]string
	for _, name := range sortedNames(named) {
		out = append(out, lifecycleCommands(t, named[name])...)
	}
	return out
}

// Commands at a command position of a shell script: line start, or after
// ( ; && || |. make's flags are skipped to reach the target.
var (
	scriptMake = regexp.MustCompile(`(?m)(?:^|&&|\|\||[;(|])\s*make(?:\s+-\S+)*\s+([^\s;&|)]+)`)
	scriptCd   = regexp.MustCompile(`(?m)(?:^|&&|\|\||[;(|])\s*cd\s+([^\s;&|)]+)`)
)

// checkScript: the make targets a shell script runs exist, and so do the
// repository directories it changes into.
func checkScript(t testing.TB, root, script string, mk makefile) []string {
	t.Helper()
	data, err := os.ReadFile(script)
	require.NoError(t, err)
	var problems []string
	for _, m := range scriptMake.FindAllStringSubmatch(string(data), -1) {
		if target := m[1]; !mk.has(target) {
			problems = append(problems, fmt.Sprintf("%s runs make %s; the Makefile has no such target", filepath.Base(script), target))
		}
	}
	for _, m := range scriptCd.FindAllStringSubmatch(string(data), -1) {
		dir := m[1]
		if strings.ContainsAny(dir, `$"'`) {
			continue // computed at run time
		}
		if !exists(root, dir) {
			problems = append(problems, fmt.Sprintf("%s changes into %s, which does not exist", filepath.Base(script), dir))
		}
	}
	return problems
}

func TestDevcontainer(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, ".devcontainer")
	var dc devcontainerFile
	readJSONC(t, filepath.Join(dir, "devcontainer.json"), &dc)

	t.Run("build paths exist", func(t *testing.T) {
		require.NotEmpty(t, dc.Build.Dockerfile)
		assert.FileExists(t, filepath.Join(dir, dc.Build.Dockerfile))
		assert.DirExists(t, filepath.Join(dir, dc.Build.Context))
	})

	t.Run("the image runs as remoteUser, not root", func(t *testing.T) {
		b, err := convertDockerfile(t, filepath.Join(dir, dc.Build.Dockerfile), "", nil)
		require.NoError(t, err)
		assert.Empty(t, checkRuntimeUser(b))
		assert.Equal(t, dc.RemoteUser, b.image.Config.User)
		assert.Contains(t, b.image.Config.Env, "GOTOOLCHAIN=local")
	})

	t.Run("lifecycle scripts exist and run existing make targets", func(t *testing.T) {
		mk := readMakefile(t)
		var scripts int
		for _, raw := range []json.RawMessage{dc.OnCreateCommand, dc.UpdateContentCommand, dc.PostCreateCommand, dc.PostStartCommand, dc.PostAttachCommand} {
			for _, argv := range lifecycleCommands(t, raw) {
				require.NotEmpty(t, argv)
				if (argv[0] == "bash" || argv[0] == "sh") && len(argv) > 1 {
					script := localPath(t, root, argv[1])
					if assert.FileExists(t, script) {
						scripts++
						assert.Empty(t, checkScript(t, root, script, mk))
					}
				}
			}
		}
		assert.NotZero(t, scripts, "postCreateCommand runs no script that installs the tools")
	})

	t.Run("every service port and the console are forwarded", func(t *testing.T) {
		var forwarded []int
		for _, raw := range dc.ForwardPorts {
			var n int
			if json.Unmarshal(raw, &n) == nil {
				forwarded = append(forwarded, n)
			}
		}
		want := []int{consolePort}
		for _, svc := range slipwayServices(t) {
			want = append(want, svc.GRPCPort, svc.HTTPPort)
		}
		for _, p := range want {
			assert.Contains(t, forwarded, p)
		}
	})

	t.Run("the Go extension is installed", func(t *testing.T) {
		assert.Contains(t, dc.Customizations.VSCode.Extensions, "golang.go")
	})
}

type launchFile struct {
	Configurations []launchConfig `json:"configurations"`
	Compounds      []struct {
		Name           string   `json:"name"`
		Configurations []string `json:"configurations"`
	} `json:"compounds"`
}

type launchConfig struct {
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	Request        string            `json:"request"`
	Mode           string            `json:"mode"`
	Program        string            `json:"program"`
	Cwd            string            `json:"cwd"`
	EnvFile        string            `json:"envFile"`
	Env            map[string]string `json:"env"`
	Host           string            `json:"host"`
	Port           int               `json:"port"`
	PreLaunchTask  string            `json:"preLaunchTask"`
	SubstitutePath []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"substitutePath"`
}

// isMainPackage reports whether dir holds a package main.
func isMainPackage(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.PackageClauseOnly)
		if err == nil && f.Name.Name == "main" {
			return true
		}
	}
	return false
}

func TestVSCodeLaunch(t *testing.T) {
	root := repoRoot(t)
	services := slipwayServices(t)
	var lf launchFile
	readJSONC(t, filepath.Join(root, ".vscode", "launch.json"), &lf)
	require.NotEmpty(t, lf.Configurations)
	var tf tasksFile
	readJSONC(t, filepath.Join(root, ".vscode", "tasks.json"), &tf)

	names := make(map[string]bool)
	launched := make(map[string]bool)
	attachPorts := make(map[int]string)
	for _, c := range lf.Configurations {
		assert.False(t, names[c.Name], "two configurations are named %q", c.Name)
		names[c.Name] = true
		assert.Equal(t, "go", c.Type, "%s", c.Name)

		t.Run(c.Name, func(t *testing.T) {
			if c.Cwd != "" {
				assert.DirExists(t, localPath(t, root, c.Cwd))
			}
			if c.EnvFile != "" {
				assert.FileExists(t, localPath(t, root, c.EnvFile))
			}
			if c.PreLaunchTask != "" {
				assert.NotNil(t, tf.task(c.PreLaunchTask), "preLaunchTask %q is not in tasks.json", c.PreLaunchTask)
			}
			switch c.Request {
			case "launch":
				program := localPath(t, root, c.Program)
				require.True(t, isMainPackage(program), "program %s is not a main package", c.Program)
				rel, err := filepath.Rel(root, program)
				require.NoError(t, err)
				parts := strings.Split(filepath.ToSlash(rel), "/")
				if len(parts) == 4 && parts[0] == "services" && parts[2] == "cmd" && parts[1] == parts[3] {
					svc, ok := services[parts[1]]
					require.True(t, ok)
					launched[svc.Name] = true
					for _, key := range sortedNames(c.Env) {
						assert.True(t, svc.allows(key), "%s gets %s, which services/%s's config does not read", c.Name, key, svc.Name)
					}
				}
			case "attach":
				assert.Equal(t, "remote", c.Mode, "attach to a headless dlv")
				require.NotZero(t, c.Port)
				assert.NotContains(t, attachPorts, c.Port, "%s attaches to the port of %q", c.Name, attachPorts[c.Port])
				attachPorts[c.Port] = c.Name
			default:
				t.Errorf("request %q: want launch or attach", c.Request)
			}
		})
	}

	t.Run("service accounts match the user service's", func(t *testing.T) {
		env := make(map[string]map[string]string)
		for _, c := range lf.Configurations {
			if _, ok := services[c.Name]; ok && c.Request == "launch" {
				env[c.Name] = c.Env
			}
		}
		assert.Empty(t, checkServiceAccounts(env))
	})

	t.Run("every service can be launched", func(t *testing.T) {
		assert.ElementsMatch(t, sortedNames(services), sortedNames(launched))
	})

	t.Run("attach to slipway debug's dlv", func(t *testing.T) {
		assert.Contains(t, attachPorts, dlvPort)
	})

	t.Run("attach to each compose service's dlv, /src mapped to the checkout", func(t *testing.T) {
		p := loadCompose(t, filepath.Join(root, composeDir), []string{composeFile, composeOverride}, nil)
		buildDir := debugBuildDir(t, root, sortedNames(services)[0])

		for _, name := range sortedNames(p.Services) {
			s := p.Services[name]
			if slipwayName(s) == "" {
				continue
			}
			var hostPort int
			for _, port := range s.Ports {
				if port.Target == dlvPort {
					hostPort, _ = strconv.Atoi(port.Published)
				}
			}
			require.NotZero(t, hostPort, "%s publishes no dlv port", name)
			i := slices.IndexFunc(lf.Configurations, func(c launchConfig) bool { return c.Request == "attach" && c.Port == hostPort })
			if !assert.GreaterOrEqual(t, i, 0, "no attach configuration for %s's dlv on port %d", name, hostPort) {
				continue
			}
			c := lf.Configurations[i]
			assert.True(t, strings.HasPrefix(c.Name, slipwayName(s)), "configuration %q attaches to %s", c.Name, name)
			require.Len(t, c.SubstitutePath, 1, "%s", c.Name)
			assert.Equal(t, workspaceVar, c.SubstitutePath[0].From, "%s", c.Name)
			assert.Equal(t, buildDir, c.SubstitutePath[0].To, "%s: the image builds in %s", c.Name, buildDir)
		}
	})

	t.Run("attach to dlv in a Kubernetes pod through kubectl port-forward", func(t *testing.T) {
		buildDir := debugBuildDir(t, root, sortedNames(services)[0])
		var forwarded int
		for _, c := range lf.Configurations {
			task := tf.task(c.PreLaunchTask)
			if c.Request != "attach" || task == nil || task.Command != "kubectl" {
				continue
			}
			forwarded++
			assert.Empty(t, checkPortForward(*task, tf.Inputs, c.Host, c.Port), "%s", c.Name)
			require.Len(t, c.SubstitutePath, 1, "%s", c.Name)
			assert.Equal(t, workspaceVar, c.SubstitutePath[0].From, "%s", c.Name)
			assert.Equal(t, buildDir, c.SubstitutePath[0].To, "%s: the image builds in %s", c.Name, buildDir)
		}
		assert.NotZero(t, forwarded, "no attach configuration starts a kubectl port-forward task")
	})

	t.Run("compounds name existing configurations", func(t *testing.T) {
		for _, comp := range lf.Compounds {
			for _, n := range comp.Configurations {
				assert.True(t, names[n], "compound %q names %q", comp.Name, n)
			}
		}
	})
}

// debugBuildDir is the directory the Dockerfile's debug target builds a
// service in: the path its binaries' debug information names.
func debugBuildDir(t testing.TB, root, service string) string {
	t.Helper()
	b, err := convertDockerfile(t, filepath.Join(root, dockerfile), "debug", map[string]string{"SERVICE": service})
	require.NoError(t, err)
	var dir string
	for _, e := range b.execs {
		if strings.Contains(execScript(e), "go build") {
			dir = e.Meta.Cwd
		}
	}
	require.NotEmpty(t, dir, "no go build step in the debug target")
	return dir
}

type tasksFile struct {
	Tasks  []vscodeTask `json:"tasks"`
	Inputs []taskInput  `json:"inputs"`
}

type vscodeTask struct {
	Label        string   `json:"label"`
	Type         string   `json:"type"`
	Command      string   `json:"command"`
	Args         []string `json:"args"`
	IsBackground bool     `json:"isBackground"`
	// ProblemMatcher is a name, a list, or one matcher object.
	ProblemMatcher json.RawMessage `json:"problemMatcher"`
}

// background returns the patterns by which VS Code knows that a background
// task's run has begun and is ready; empty unless ProblemMatcher is one
// matcher object.
func (task vscodeTask) background() (begins, ends string) {
	var m struct {
		Background struct {
			BeginsPattern string `json:"beginsPattern"`
			EndsPattern   string `json:"endsPattern"`
		} `json:"background"`
	}
	if json.Unmarshal(task.ProblemMatcher, &m) != nil {
		return "", ""
	}
	return m.Background.BeginsPattern, m.Background.EndsPattern
}

// taskInput is a variable tasks use as ${input:<ID>}, asked for at run time.
type taskInput struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// task returns the task labelled label, or nil.
func (tf *tasksFile) task(label string) *vscodeTask {
	for i := range tf.Tasks {
		if tf.Tasks[i].Label == label {
			return &tf.Tasks[i]
		}
	}
	return nil
}

var inputVar = regexp.MustCompile(`\$\{input:([^}]+)\}`)

// checkPortForward: task runs `kubectl port-forward` from host:port to the
// debug image's dlv port, every ${input:x} it uses is declared, and it is a
// background task whose end pattern matches kubectl's "Forwarding from"
// line, so VS Code attaches only once the forward is up.
func checkPortForward(task vscodeTask, inputs []taskInput, host string, port int) []string {
	var problems []string
	if len(task.Args) == 0 || task.Args[0] != "port-forward" {
		return []string{fmt.Sprintf("task %q runs kubectl %s, not kubectl port-forward", task.Label, strings.Join(task.Args, " "))}
	}
	mapping := fmt.Sprintf("%d:%d", port, dlvPort)
	if !slices.Contains(task.Args, mapping) {
		problems = append(problems, fmt.Sprintf("task %q does not forward %s (local port %d to dlv's %d): %s", task.Label, mapping, port, dlvPort, strings.Join(task.Args, " ")))
	}
	if i := slices.Index(task.Args, "--address"); i < 0 || i+1 >= len(task.Args) || task.Args[i+1] != host {
		problems = append(problems, fmt.Sprintf("task %q does not listen on --address %s, the configuration's host", task.Label, host))
	}
	declared := make(map[string]bool)
	for _, in := range inputs {
		declared[in.ID] = true
	}
	for _, arg := range task.Args {
		for _, m := range inputVar.FindAllStringSubmatch(arg, -1) {
			if !declared[m[1]] {
				problems = append(problems, fmt.Sprintf("task %q uses ${input:%s}, which tasks.json does not declare", task.Label, m[1]))
			}
		}
	}
	if !task.IsBackground {
		problems = append(problems, fmt.Sprintf("task %q is not a background task: VS Code would wait for kubectl to exit", task.Label))
	}
	// What kubectl port-forward prints once it listens.
	ready := fmt.Sprintf("Forwarding from %s:%d -> %d", host, port, dlvPort)
	begins, ends := task.background()
	for name, pattern := range map[string]string{"beginsPattern": begins, "endsPattern": ends} {
		re, err := regexp.Compile(pattern)
		switch {
		case pattern == "":
			problems = append(problems, fmt.Sprintf("task %q has no background %s", task.Label, name))
		case err != nil:
			problems = append(problems, fmt.Sprintf("task %q: %s: %v", task.Label, name, err))
		case !re.MatchString(ready):
			problems = append(problems, fmt.Sprintf("task %q: %s %q does not match %q", task.Label, name, pattern, ready))
		}
	}
	slices.Sort(problems)
	return problems
}

func TestVSCodeTasks(t *testing.T) {
	root := repoRoot(t)
	mk := readMakefile(t)
	var tf tasksFile
	readJSONC(t, filepath.Join(root, ".vscode", "tasks.json"), &tf)

	targets := make(map[string]string) // label -> make target
	for _, task := range tf.Tasks {
		argv := append(strings.Fields(task.Command), task.Args...)
		if len(argv) >= 2 && argv[0] == "make" {
			targets[task.Label] = argv[1]
		}
	}
	// issue 4: "tasks.json: gen, wire, test, cover, run".
	want := map[string]string{"gen": "gen", "wire": "gen-go", "test": "test", "cover": "cover", "run": "run"}
	for _, label := range sortedNames(want) {
		t.Run(label, func(t *testing.T) {
			require.Equal(t, want[label], targets[label], "task %q runs make %s", label, want[label])
			assert.True(t, mk.has(targets[label]), "task %q runs `make %s`, but the Makefile has no target %s", label, targets[label], targets[label])
		})
	}
	for _, label := range sortedNames(targets) {
		if _, checked := want[label]; !checked {
			assert.True(t, mk.has(targets[label]), "task %q runs `make %s`, but the Makefile has no such target", label, targets[label])
		}
	}
}

func TestVSCodeSettings(t *testing.T) {
	root := repoRoot(t)
	var settings struct {
		AutoUpdate *bool `json:"go.toolsManagement.autoUpdate"`
		Gopls      struct {
			BuildFlags []string `json:"buildFlags"`
		} `json:"gopls"`
	}
	readJSONC(t, filepath.Join(root, ".vscode", "settings.json"), &settings)
	if assert.NotNil(t, settings.AutoUpdate, "go.toolsManagement.autoUpdate") {
		assert.False(t, *settings.AutoUpdate, "tools are pinned; the extension must not update them")
	}

	// gopls must see the injector files, whatever tag they use.
	wireFiles, err := filepath.Glob(filepath.Join(root, "services", "*", "internal", "app", "wire.go"))
	require.NoError(t, err)
	require.NotEmpty(t, wireFiles, "no services/*/internal/app/wire.go")
	for _, f := range wireFiles {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		m := regexp.MustCompile(`(?m)^//go:build\s+(\w+)\s*$`).FindSubmatch(data)
		require.NotNil(t, m, "%s has no //go:build line", f)
		assert.Contains(t, settings.Gopls.BuildFlags, "-tags="+string(m[1]), "gopls buildFlags for %s", f)
	}
}

func TestVSCodeExtensions(t *testing.T) {
	root := repoRoot(t)
	var ext struct {
		Recommendations         []string `json:"recommendations"`
		UnwantedRecommendations []string `json:"unwantedRecommendations"`
	}
	readJSONC(t, filepath.Join(root, ".vscode", "extensions.json"), &ext)
	assert.Contains(t, ext.Recommendations, "golang.go")

	// Both conflict with golang.go: its deprecated former id, and a second
	// test explorer over the one golang.go has.
	for _, id := range []string{"ms-vscode.go", "premparihar.gotestexplorer"} {
		assert.Contains(t, ext.UnwantedRecommendations, id)
	}
	var dc devcontainerFile
	readJSONC(t, filepath.Join(root, ".devcontainer", "devcontainer.json"), &dc)
	for _, id := range ext.UnwantedRecommendations {
		assert.NotContains(t, ext.Recommendations, id, "extensions.json both recommends and rejects %s", id)
		assert.NotContains(t, dc.Customizations.VSCode.Extensions, id, "the dev container installs %s, which extensions.json rejects", id)
	}
}

// TestEditorChecksFindProblems runs the script check on a script that
// breaks it, so the check is known to fail when it should.
func TestEditorChecksFindProblems(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(root, "tools"), 0o755))
	script := filepath.Join(root, "setup.sh")
	require.NoError(t, os.WriteFile(script, []byte(`cd "$(dirname "$0")"
(cd tools && make -s build)
echo "next: make help"
cd missing && make lint
`), 0o600))
	mk := makefile{targets: map[string]bool{"build": true}}
	problems := checkScript(t, root, script, mk)
	assert.ElementsMatch(t, []string{
		"setup.sh runs make lint; the Makefile has no such target",
		"setup.sh changes into missing, which does not exist",
	}, problems)
}

// TestPortForwardCheckFindsProblems runs the port-forward check on tasks
// that break it, one way each, and on one that keeps it.
func TestPortForwardCheckFindsProblems(t *testing.T) {
	inputs := []taskInput{{ID: "ns", Type: "promptString"}, {ID: "pod", Type: "promptString"}}
	matcher := json.RawMessage(`{"background": {"beginsPattern": "^Forwarding from", "endsPattern": "^Forwarding from 127\\.0\\.0\\.1:2350 "}}`)
	good := vscodeTask{
		Label: "pf", Command: "kubectl", IsBackground: true, ProblemMatcher: matcher,
		Args: []string{"port-forward", "-n", "${input:ns}", "--address", "127.0.0.1", "${input:pod}", "2350:2345"},
	}
	tests := []struct {
		name string
		edit func(*vscodeTask)
		want []string
	}{
		{"a good task", func(*vscodeTask) {}, nil},
		{"another kubectl verb", func(task *vscodeTask) { task.Args = []string{"logs", "pod/x"} },
			[]string{`task "pf" runs kubectl logs pod/x, not kubectl port-forward`}},
		{"the wrong remote port", func(task *vscodeTask) { task.Args[6] = "2350:2346" },
			[]string{`task "pf" does not forward 2350:2345 (local port 2350 to dlv's 2345): port-forward -n ${input:ns} --address 127.0.0.1 ${input:pod} 2350:2346`}},
		{"every address", func(task *vscodeTask) { task.Args[4] = "0.0.0.0" },
			[]string{`task "pf" does not listen on --address 127.0.0.1, the configuration's host`}},
		{"an undeclared input", func(task *vscodeTask) { task.Args[2] = "${input:namespace}" },
			[]string{`task "pf" uses ${input:namespace}, which tasks.json does not declare`}},
		{"a foreground task", func(task *vscodeTask) { task.IsBackground = false },
			[]string{`task "pf" is not a background task: VS Code would wait for kubectl to exit`}},
		{"a matcher by name", func(task *vscodeTask) { task.ProblemMatcher = json.RawMessage(`["$go"]`) },
			[]string{`task "pf" has no background beginsPattern`, `task "pf" has no background endsPattern`}},
		{"an end pattern for another port", func(task *vscodeTask) {
			task.ProblemMatcher = json.RawMessage(`{"background": {"beginsPattern": "^Forwarding", "endsPattern": "^Forwarding from 127\\.0\\.0\\.1:2345 "}}`)
		}, []string{`task "pf": endsPattern "^Forwarding from 127\\.0\\.0\\.1:2345 " does not match "Forwarding from 127.0.0.1:2350 -> 2345"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := good
			task.Args = slices.Clone(good.Args)
			tt.edit(&task)
			assert.Equal(t, tt.want, checkPortForward(task, inputs, "127.0.0.1", 2350))
		})
	}
}
