package doctor

import (
	"context"
	"fmt"
	"go/version"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/semver"
)

// checkWorkspace checks that every go.work module exists and resolves, and
// that `go work sync` would change no go.mod.
func checkWorkspace(ctx context.Context, e *checkEnv) []Row {
	if e.wsErr != nil {
		return e.repoFailed("go.work modules")
	}
	work := e.ws.workModules()
	modules := Row{
		Check:    "go.work modules",
		Expected: fmt.Sprintf("%d modules exist and resolve", len(work)),
	}
	var problems []string
	for _, m := range work {
		switch {
		case m.Err != nil:
			problems = append(problems, m.Dir+": "+errLine(m.Err))
		case version.Compare("go"+m.Go, "go"+e.ws.Go) > 0:
			problems = append(problems, fmt.Sprintf("%s: go %s > go.work go %s", m.Dir, m.Go, e.ws.Go))
		}
	}
	for _, m := range e.ws.otherModules() {
		if strings.HasPrefix(m.Dir, "services/") {
			problems = append(problems, m.Dir+" is not in go.work")
		}
	}
	out, err := e.goCommand(ctx, "go list -m (workspace)", ".", e.workEnviron(), "list", "-m", "-f", "{{.Path}}")
	if err != nil {
		problems = append(problems, "go list -m: "+errLine(err))
	} else {
		listed := strings.Fields(out)
		for _, m := range work {
			if m.Err == nil && !slices.Contains(listed, m.Path) {
				problems = append(problems, "go list -m misses "+m.Path)
			}
		}
	}
	if len(problems) == 0 {
		modules.Found, modules.Status = fmt.Sprintf("%d modules resolve (go list -m)", len(work)), OK
	} else {
		modules.Found, modules.Status = strings.Join(problems, "; "), Fail
		modules.Fix = "go work use -r . adds modules and raises go.work's go line; restore or remove missing directories"
	}

	return []Row{modules, workSyncRow(ctx, e, work)}
}

// workSyncRow checks that `go work sync` would be a no-op: that every
// requirement of every workspace module is at the version the workspace
// selects, so that a module built alone (GOWORK=off) gets what CI tested.
func workSyncRow(ctx context.Context, e *checkEnv, work []module) Row {
	row := Row{Check: "go work sync", Expected: "no-op: go.mod versions = workspace build list"}
	out, err := e.goCommand(ctx, "go list -m all (workspace)", ".", e.workEnviron(), "list", "-m", "-f", "{{.Path}} {{.Version}}", "all")
	if err != nil {
		row.Found, row.Status = "go list -m all: "+errLine(err), Fail
		row.Fix = "run go list -m all in the root for the whole error (a missing module, or a go.sum line)"
		return row
	}
	selected := map[string]string{}
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			selected[f[0]] = f[1]
		}
	}
	var behind []string
	changed := map[string]bool{}
	for _, m := range work {
		for _, r := range m.Require {
			if v, ok := selected[r.Path]; ok && semver.Compare(v, r.Version) > 0 {
				behind = append(behind, fmt.Sprintf("%s: %s %s → %s", m.Dir, r.Path, r.Version, v))
				changed[m.Dir] = true
			}
		}
	}
	if len(behind) == 0 {
		row.Found, row.Status = "in sync", OK
		return row
	}
	const shown = 3
	found := fmt.Sprintf("%d requirements behind in %d modules: %s", len(behind), len(changed), strings.Join(behind[:min(shown, len(behind))], "; "))
	if len(behind) > shown {
		found += "; …"
	}
	row.Found, row.Status = found, Warn
	row.Fix = "go work sync, then review the go.mod diffs: the workspace already builds with the newer versions, a module built alone would not"
	return row
}

// checkVerify runs `go mod verify` where CI does: in the workspace and in
// every module outside it that is not a tool module (tools/gen, tools/lint),
// whose dependencies the tools check builds instead. It is the slowest
// check: it hashes every module the build list holds.
func checkVerify(ctx context.Context, e *checkEnv) []Row {
	if e.wsErr != nil {
		return e.repoFailed("go mod verify")
	}
	type target struct {
		name, dir string
		environ   []string
	}
	targets := []target{{"workspace", ".", e.workEnviron()}}
	for _, m := range e.ws.otherModules() {
		if len(m.Tools) > 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join(e.root, filepath.FromSlash(m.Dir), "go.sum")); err == nil {
			targets = append(targets, target{m.Dir, m.Dir, e.moduleEnviron()})
		}
	}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			_, errs[i] = e.goCommand(ctx, "go mod verify ("+t.name+")", t.dir, t.environ, "mod", "verify")
		})
	}
	wg.Wait()

	var names, problems []string
	for i, t := range targets {
		names = append(names, t.name)
		if errs[i] != nil {
			problems = append(problems, t.name+": "+errLine(errs[i]))
		}
	}
	row := Row{Check: "go mod verify", Expected: "module cache matches go.sum"}
	if len(problems) == 0 {
		row.Found, row.Status = "all verified: "+strings.Join(names, ", "), OK
		return []Row{row}
	}
	row.Found, row.Status = strings.Join(problems, "; "), Fail
	row.Fix = "go clean -modcache, then go mod download; if a hash still differs, find out why before touching go.sum"
	return []Row{row}
}

// toolName is the name `go tool` knows a tool by: the last element of its
// package path that is not a major version suffix.
func toolName(pkg string) string {
	elems := strings.Split(pkg, "/")
	for i := len(elems) - 1; i > 0; i-- {
		if v := elems[i]; len(v) < 2 || v[0] != 'v' || strings.Trim(v[1:], "0123456789") != "" {
			return v
		}
	}
	return elems[0]
}

// checkTools checks that every tool a go.mod pins builds through `go tool
// -n`, which prints the tool's path without running it (building it into the
// build cache on first use). Workspace tools run in the workspace, the
// others with GOWORK=off in their module, as the Makefile runs them.
func checkTools(ctx context.Context, e *checkEnv) []Row {
	if e.wsErr != nil {
		return e.repoFailed("go tool")
	}
	var mods []module
	for _, m := range e.ws.Modules {
		if m.Err == nil && len(m.Tools) > 0 {
			mods = append(mods, m)
		}
	}
	rows := make([]Row, len(mods))
	var wg sync.WaitGroup
	for i, m := range mods {
		wg.Go(func() { rows[i] = toolsRow(ctx, e, m) })
	}
	wg.Wait()
	return rows
}

func toolsRow(ctx context.Context, e *checkEnv, m module) Row {
	dir, environ, prefix := ".", e.workEnviron(), "go tool"
	if !m.InWork {
		dir, environ, prefix = m.Dir, e.moduleEnviron(), "GOWORK=off go tool"
	}
	names := make([]string, len(m.Tools))
	for i, t := range m.Tools {
		names[i] = toolName(t)
	}
	row := Row{Check: "go tool (" + m.Dir + ")", Expected: fmt.Sprintf("its %d pinned tools build", len(names))}
	if len(names) == 1 {
		row.Expected = "its pinned tool builds"
	}
	var problems []string
	for i, t := range m.Tools {
		// One at a time per module: a first build of each is CPU-bound.
		if _, err := e.goCommand(ctx, "build tool "+names[i]+" ("+m.Dir+")", dir, environ, "tool", "-n", t); err != nil {
			problems = append(problems, names[i]+": "+errLine(err))
		}
	}
	if len(problems) == 0 {
		sorted := slices.Sorted(slices.Values(names))
		row.Found, row.Status = prefix+" builds "+strings.Join(sorted, ", "), OK
		return row
	}
	row.Found, row.Status = strings.Join(problems, "; "), Fail
	row.Fix = fmt.Sprintf("cd %s && %s <name> shows the whole error; go mod download fetches missing modules", m.Dir, prefix)
	return row
}
