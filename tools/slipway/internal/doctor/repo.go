package doctor

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
)

// module is one go.mod of the repository.
type module struct {
	Dir       string // slash path relative to the root: "tools/gen"
	Path      string // module path
	Go        string // go line: "1.26.7"
	Toolchain string // toolchain line: "go1.26.8", or ""
	Tools     []string
	Require   []requirement
	InWork    bool  // listed in go.work
	Err       error // reading or parsing the go.mod
}

// requirement is one require line of a go.mod.
type requirement struct{ Path, Version string }

// repo is the root's go.work and the modules of the repository.
type repo struct {
	Go        string   // go.work's go line
	Toolchain string   // go.work's toolchain line, or ""
	Modules   []module // go.work's modules in its order, then the others the root holds
}

// ciToolchain is the toolchain CI runs: go.work's toolchain line, or the
// release its go line names.
func (w *repo) ciToolchain() string {
	if w.Toolchain != "" {
		return w.Toolchain
	}
	return "go" + w.Go
}

func (w *repo) workModules() []module {
	return slices.DeleteFunc(slices.Clone(w.Modules), func(m module) bool { return !m.InWork })
}

func (w *repo) otherModules() []module {
	return slices.DeleteFunc(slices.Clone(w.Modules), func(m module) bool { return m.InWork })
}

// loadRepo parses root's go.work and every go.mod it uses, plus the
// go.mod files one or two directories down that it does not use (tools/gen,
// tools/lint, deploy: outside the workspace on purpose).
func loadRepo(root string) (*repo, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.work")) //nolint:gosec // G304: the workspace's own go.work
	if err != nil {
		return nil, err
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		return nil, err
	}
	ws := &repo{}
	if wf.Go != nil {
		ws.Go = wf.Go.Version
	}
	if wf.Toolchain != nil && wf.Toolchain.Name != "default" {
		ws.Toolchain = wf.Toolchain.Name
	}
	seen := map[string]bool{}
	for _, u := range wf.Use {
		dir := filepath.ToSlash(filepath.Clean(u.Path))
		seen[dir] = true
		m := loadModule(root, dir)
		m.InWork = true
		ws.Modules = append(ws.Modules, m)
	}
	for _, pattern := range []string{"*/go.mod", "*/*/go.mod"} {
		matches, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, match := range matches {
			rel, err := filepath.Rel(root, filepath.Dir(match))
			if err != nil {
				continue
			}
			dir := filepath.ToSlash(rel)
			if seen[dir] || skipDir(dir) {
				continue
			}
			seen[dir] = true
			ws.Modules = append(ws.Modules, loadModule(root, dir))
		}
	}
	return ws, nil
}

// skipDir reports whether a go.mod under dir is not one of ours to
// check: hidden directories, testdata and node_modules.
func skipDir(dir string) bool {
	for elem := range strings.SplitSeq(dir, "/") {
		if strings.HasPrefix(elem, ".") || strings.HasPrefix(elem, "_") || elem == "testdata" || elem == "node_modules" {
			return true
		}
	}
	return false
}

func loadModule(root, dir string) module {
	m := module{Dir: dir}
	name := filepath.Join(root, filepath.FromSlash(dir), "go.mod")
	data, err := os.ReadFile(name) //nolint:gosec // G304: a go.mod of the workspace
	if err != nil {
		m.Err = err
		return m
	}
	mf, err := modfile.Parse(name, data, nil)
	if err != nil {
		m.Err = err
		return m
	}
	if mf.Module != nil {
		m.Path = mf.Module.Mod.Path
	}
	if mf.Go != nil {
		m.Go = mf.Go.Version
	}
	if mf.Toolchain != nil && mf.Toolchain.Name != "default" {
		m.Toolchain = mf.Toolchain.Name
	}
	for _, t := range mf.Tool {
		m.Tools = append(m.Tools, t.Path)
	}
	for _, r := range mf.Require {
		m.Require = append(m.Require, requirement{r.Mod.Path, r.Mod.Version})
	}
	return m
}

// repoFailed is the row a check reports when go.work cannot be read.
func (e *checkEnv) repoFailed(check string) []Row {
	return []Row{{
		Check:    check,
		Expected: "a readable go.work",
		Found:    errLine(e.wsErr),
		Status:   Fail,
		Fix:      "fix go.work (go work edit -fmt shows the syntax error)",
	}}
}
