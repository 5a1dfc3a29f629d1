package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tailscale/hujson"
	"golang.org/x/mod/modfile"
)

// modulePrefix starts the import path of every package in this repository.
const modulePrefix = "github.com/slipway-dev/slipway/"

// otelEnv are the standard OpenTelemetry variables a service honours: the
// ones platform/telemetry reads itself and the ones the Go SDK's OTLP trace
// exporter and batch span processor read. No other OTEL_* name does anything.
var otelEnv = []string{
	"OTEL_SERVICE_NAME",
	"OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_TRACES_SAMPLER",
	"OTEL_TRACES_SAMPLER_ARG",
	"OTEL_TRACES_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_EXPORTER_OTLP_HEADERS",
	"OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	"OTEL_EXPORTER_OTLP_COMPRESSION",
	"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
	"OTEL_EXPORTER_OTLP_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
	"OTEL_BSP_SCHEDULE_DELAY",
	"OTEL_BSP_EXPORT_TIMEOUT",
	"OTEL_BSP_MAX_QUEUE_SIZE",
	"OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
}

// runtimeEnv are read by the Go runtime of every binary.
var runtimeEnv = []string{"GOMAXPROCS", "GOMEMLIMIT", "GOGC", "GODEBUG", "GOTRACEBACK"}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// repoRoot is the directory holding go.work, found from the test's working
// directory upwards.
func repoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = fmt.Errorf("no go.work above the working directory")
				return
			}
			dir = parent
		}
	})
	require.NoError(t, rootErr)
	return rootDir
}

// service is one Slipway service as its code declares it.
type service struct {
	Name     string
	GRPCPort int
	HTTPPort int
	// Env is every environment variable the service's config reads.
	Env map[string]bool
}

// allows reports whether the service reads the environment variable name:
// through its config, as a standard OpenTelemetry variable or in the Go runtime.
func (s service) allows(name string) bool {
	return s.Env[name] || slices.Contains(otelEnv, name) || slices.Contains(runtimeEnv, name)
}

// slipwayServices reads every services/<svc> that has a cmd/<svc>: its
// default ports and the variables of its config.
func slipwayServices(t testing.TB) map[string]service {
	t.Helper()
	root := repoRoot(t)
	dirs, err := os.ReadDir(filepath.Join(root, "services"))
	require.NoError(t, err)
	out := make(map[string]service)
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		name := d.Name()
		if _, err := os.Stat(filepath.Join(root, "services", name, "cmd", name)); err != nil {
			continue
		}
		cfgDir := filepath.Join(root, "services", name, "internal", "config")
		env, err := configEnv(root, cfgDir, "Config")
		require.NoError(t, err, "service %s", name)
		consts, err := intConsts(cfgDir)
		require.NoError(t, err, "service %s", name)
		require.NotZero(t, consts["DefaultGRPCPort"], "services/%s/internal/config declares no DefaultGRPCPort", name)
		require.NotZero(t, consts["DefaultHTTPPort"], "services/%s/internal/config declares no DefaultHTTPPort", name)
		out[name] = service{Name: name, GRPCPort: consts["DefaultGRPCPort"], HTTPPort: consts["DefaultHTTPPort"], Env: env}
	}
	require.NotEmpty(t, out, "no services under services/")
	return out
}

// sortedNames returns the keys of m in order.
func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// goPackage is the parsed non-test files of one directory.
type goPackage struct {
	files []*ast.File
	types map[string]typeDecl
}

type typeDecl struct {
	expr ast.Expr
	file *ast.File
}

func parseGoDir(dir string) (*goPackage, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	pkg := &goPackage{types: make(map[string]typeDecl)}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		pkg.files = append(pkg.files, f)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				pkg.types[ts.Name.Name] = typeDecl{expr: ts.Type, file: f}
			}
		}
	}
	return pkg, nil
}

// configEnv returns the environment variables (env:"NAME" struct tags) of
// the struct type typeName in the package at dir, following its fields into
// named struct types of the same package and of packages in this
// repository, as config.Load does for embedded and nested structs. It reads
// the source, never imports it, so any service's config can be checked.
func configEnv(root, dir, typeName string) (map[string]bool, error) {
	w := envWalker{root: root, pkgs: make(map[string]*goPackage), seen: make(map[string]bool), env: make(map[string]bool)}
	if err := w.named(dir, typeName); err != nil {
		return nil, err
	}
	if len(w.env) == 0 {
		return nil, fmt.Errorf("%s.%s reads no environment variable", dir, typeName)
	}
	return w.env, nil
}

type envWalker struct {
	root string
	pkgs map[string]*goPackage
	seen map[string]bool
	env  map[string]bool
}

func (w *envWalker) pkg(dir string) (*goPackage, error) {
	if p, ok := w.pkgs[dir]; ok {
		return p, nil
	}
	p, err := parseGoDir(dir)
	if err != nil {
		return nil, err
	}
	w.pkgs[dir] = p
	return p, nil
}

func (w *envWalker) named(dir, name string) error {
	key := dir + "." + name
	if w.seen[key] {
		return nil
	}
	w.seen[key] = true
	p, err := w.pkg(dir)
	if err != nil {
		return err
	}
	td, ok := p.types[name]
	if !ok {
		return fmt.Errorf("no type %s in %s", name, dir)
	}
	return w.expr(dir, td.file, td.expr)
}

func (w *envWalker) expr(dir string, file *ast.File, e ast.Expr) error {
	switch e := e.(type) {
	case *ast.StructType:
		for _, f := range e.Fields.List {
			if f.Tag != nil {
				tag, err := strconv.Unquote(f.Tag.Value)
				if err != nil {
					return err
				}
				if name := reflect.StructTag(tag).Get("env"); name != "" {
					w.env[name] = true
				}
			}
			if err := w.expr(dir, file, f.Type); err != nil {
				return err
			}
		}
	case *ast.StarExpr:
		return w.expr(dir, file, e.X)
	case *ast.Ident:
		if p, _ := w.pkg(dir); p != nil {
			if _, ok := p.types[e.Name]; ok {
				return w.named(dir, e.Name)
			}
		}
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return nil
		}
		if imp := importPath(file, x.Name); strings.HasPrefix(imp, modulePrefix) {
			return w.named(filepath.Join(w.root, filepath.FromSlash(strings.TrimPrefix(imp, modulePrefix))), e.Sel.Name)
		}
	}
	return nil
}

// importPath is the path file imports under the name local ("" if none).
func importPath(file *ast.File, local string) string {
	for _, imp := range file.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		name := path.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		if name == local {
			return p
		}
	}
	return ""
}

// intConsts returns the integer constants declared in the package at dir.
func intConsts(dir string) (map[string]int, error) {
	p, err := parseGoDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int)
	for _, f := range p.files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.INT {
						if v, err := strconv.Atoi(lit.Value); err == nil {
							out[n.Name] = v
						}
					}
				}
			}
		}
	}
	return out, nil
}

// platformMetrics returns the metrics platform declares (Name: "slipway_..."
// in a collector's options) with the labels each series can carry: the
// variable labels of a New*Vec call, the keys of the prometheus.Labels
// literals in the same function (its constant labels), "le" for histograms,
// and the job and instance labels Prometheus adds to every target.
func platformMetrics(t testing.TB) map[string]map[string]bool {
	t.Helper()
	root := repoRoot(t)
	out := make(map[string]map[string]bool)
	err := filepath.WalkDir(filepath.Join(root, "platform"), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		pkg, err := parseGoDir(p)
		if err != nil {
			return err
		}
		for _, f := range pkg.files {
			for _, decl := range f.Decls {
				if fn, ok := decl.(*ast.FuncDecl); ok && fn.Body != nil {
					collectMetrics(fn.Body, out)
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, out, "platform declares no slipway_ metric")
	return out
}

// constLabelKeys are the keys of every prometheus.Labels literal in body:
// the constant labels a function gives the metrics it declares.
func constLabelKeys(body ast.Node) []string {
	keys := []string{}
	ast.Inspect(body, func(n ast.Node) bool {
		if cl, ok := n.(*ast.CompositeLit); ok && isSelector(cl.Type, "prometheus", "Labels") {
			for _, elt := range cl.Elts {
				if kv, ok := elt.(*ast.KeyValueExpr); ok {
					if k, ok := stringLit(kv.Key); ok {
						keys = append(keys, k)
					}
				}
			}
		}
		return true
	})
	return keys
}

func collectMetrics(body *ast.BlockStmt, out map[string]map[string]bool) {
	constLabels := constLabelKeys(body)
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasPrefix(sel.Sel.Name, "New") {
			return true
		}
		opts, ok := call.Args[0].(*ast.CompositeLit)
		if !ok {
			return true
		}
		name, labels := "", map[string]bool{"job": true, "instance": true}
		for _, elt := range opts.Elts {
			kv, ok := elt.(*ast.KeyValueExpr)
			key, isIdent := kv.Key.(*ast.Ident)
			if !ok || !isIdent {
				continue
			}
			switch key.Name {
			case "Name":
				name, _ = stringLit(kv.Value)
			case "ConstLabels":
				for _, l := range constLabels {
					labels[l] = true
				}
			}
		}
		if !strings.HasPrefix(name, "slipway_") {
			return true
		}
		if strings.Contains(sel.Sel.Name, "Histogram") {
			labels["le"] = true
		}
		if len(call.Args) > 1 {
			if vl, ok := call.Args[1].(*ast.CompositeLit); ok {
				for _, elt := range vl.Elts {
					if l, ok := stringLit(elt); ok {
						labels[l] = true
					}
				}
			}
		}
		out[name] = labels
		return true
	})
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == pkg && sel.Sel.Name == name
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	v, err := strconv.Unquote(lit.Value)
	return v, err == nil
}

// goWork is the parsed go.work.
func goWork(t testing.TB) *modfile.WorkFile {
	t.Helper()
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "go.work"))
	require.NoError(t, err)
	wf, err := modfile.ParseWork("go.work", data, nil)
	require.NoError(t, err)
	return wf
}

// toolchainVersion is go.work's toolchain without "go" (1.26.8), or its go
// line when it names no toolchain.
func toolchainVersion(t testing.TB) string {
	t.Helper()
	wf := goWork(t)
	if wf.Toolchain != nil {
		return strings.TrimPrefix(wf.Toolchain.Name, "go")
	}
	require.NotNil(t, wf.Go, "go.work has no go line")
	return wf.Go.Version
}

// workspaceModuleDirs are go.work's use directories, slash-separated and
// relative to the root ("services/user").
func workspaceModuleDirs(t testing.TB) []string {
	t.Helper()
	var dirs []string
	for _, u := range goWork(t).Use {
		dirs = append(dirs, path.Clean(strings.TrimPrefix(u.Path, "./")))
	}
	require.NotEmpty(t, dirs)
	return dirs
}

// makefile is what make itself knows about the repository's Makefile.
type makefile struct {
	targets  map[string]bool
	patterns []string // pattern rules, e.g. "print-%"
}

// has reports whether `make target` names a rule.
func (m makefile) has(target string) bool {
	if m.targets[target] {
		return true
	}
	for _, p := range m.patterns {
		prefix, suffix, _ := strings.Cut(p, "%")
		if len(target) > len(prefix)+len(suffix) && strings.HasPrefix(target, prefix) && strings.HasSuffix(target, suffix) {
			return true
		}
	}
	return false
}

var (
	makeOnce sync.Once
	makeDB   makefile
	makeErr  error
)

// readMakefile asks make for its database of the root Makefile (make -p,
// without built-in rules, running nothing), so includes, variables in
// target names and pattern rules count as make counts them.
func readMakefile(t testing.TB) makefile {
	t.Helper()
	root := repoRoot(t)
	makeOnce.Do(func() {
		var out bytes.Buffer
		cmd := exec.Command("make", "-C", root, "-f", "Makefile", "-p", "-q", "-r", "-R")
		cmd.Stdout = &out
		err := cmd.Run()
		var exitErr *exec.ExitError
		// -q exits 1 when the default goal is out of date: not an error here.
		if err != nil && (!errors.As(err, &exitErr) || exitErr.ExitCode() != 1) {
			makeErr = fmt.Errorf("make -p: %w (make is needed by the Makefile anyway)", err)
			return
		}
		makeDB = parseMakeDatabase(out.Bytes())
	})
	require.NoError(t, makeErr)
	require.NotEmpty(t, makeDB.targets, "make -p listed no target")
	return makeDB
}

// parseMakeDatabase reads the "# Files" and "# Implicit Rules" sections of
// `make -p` output: one "target: prerequisites" line per rule, the ones
// make merely mentions marked "# Not a target:" on the line before.
func parseMakeDatabase(out []byte) makefile {
	m := makefile{targets: make(map[string]bool)}
	rule := regexp.MustCompile(`^([^#\s][^:=]*?)::?(\s|$)`)
	inRules, notTarget := false, false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch line {
		case "# Files", "# Implicit Rules":
			inRules = true
			continue
		case "# Variables", "# Directories", "# Pattern-specific Variable Values", "# VPATH Search Paths":
			inRules = false
			continue
		case "# Not a target:":
			notTarget = true
			continue
		}
		mm := rule.FindStringSubmatch(line)
		if !inRules || mm == nil {
			continue
		}
		if notTarget {
			notTarget = false
			continue
		}
		for _, name := range strings.Fields(mm[1]) {
			switch {
			case strings.HasPrefix(name, ".") && !strings.Contains(name, "/"):
				// special targets: .PHONY, .DEFAULT, .SUFFIXES
			case strings.Contains(name, "%"):
				m.patterns = append(m.patterns, name)
			default:
				m.targets[name] = true
			}
		}
	}
	return m
}

// readJSONC decodes a JSON-with-comments file (the format of VS Code and
// devcontainer.json: comments and trailing commas allowed) into v.
func readJSONC(t testing.TB, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	std, err := hujson.Standardize(data)
	require.NoError(t, err, "%s is not JSON with comments", file)
	dec := json.NewDecoder(bytes.NewReader(std))
	require.NoError(t, dec.Decode(v), "%s", file)
}

// exists reports whether the slash-separated path rel, relative to root, exists.
func exists(root, rel string) bool {
	_, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
	return err == nil
}

// platformShutdownDefaults are the DrainDelay and ShutdownTimeout that
// config.Base.SetDefaults assigns (b.DrainDelay = 5 * time.Second).
func platformShutdownDefaults(t testing.TB) (drain, shutdown time.Duration) {
	t.Helper()
	p, err := parseGoDir(filepath.Join(repoRoot(t), "platform", "config"))
	require.NoError(t, err)
	units := map[string]time.Duration{"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute}
	found := make(map[string]time.Duration)
	for _, f := range p.files {
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "SetDefaults" || fn.Body == nil {
				continue
			}
			for _, stmt := range fn.Body.List {
				as, ok := stmt.(*ast.AssignStmt)
				if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
					continue
				}
				sel, ok := as.Lhs[0].(*ast.SelectorExpr)
				bin, isBin := as.Rhs[0].(*ast.BinaryExpr)
				if !ok || !isBin || bin.Op != token.MUL {
					continue
				}
				lit, okLit := bin.X.(*ast.BasicLit)
				unit, okUnit := bin.Y.(*ast.SelectorExpr)
				if !okLit || !okUnit || lit.Kind != token.INT {
					continue
				}
				n, err := strconv.Atoi(lit.Value)
				if err == nil && units[unit.Sel.Name] != 0 {
					found[sel.Sel.Name] = time.Duration(n) * units[unit.Sel.Name]
				}
			}
		}
	}
	require.Contains(t, found, "DrainDelay", "config.Base.SetDefaults sets no DrainDelay as N * time.Unit")
	require.Contains(t, found, "ShutdownTimeout", "config.Base.SetDefaults sets no ShutdownTimeout as N * time.Unit")
	return found["DrainDelay"], found["ShutdownTimeout"]
}

// declaresStringVar reports whether decl declares the variable name as a
// string the linker can set with -X: typed string, or initialised with a
// string literal (not a function call).
func declaresStringVar(decl ast.Decl, name string) bool {
	gd, ok := decl.(*ast.GenDecl)
	if !ok || gd.Tok != token.VAR {
		return false
	}
	for _, spec := range gd.Specs {
		vs := spec.(*ast.ValueSpec)
		for i, n := range vs.Names {
			if n.Name != name {
				continue
			}
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" {
				return i >= len(vs.Values) || isStringLit(vs.Values[i])
			}
			if vs.Type == nil && i < len(vs.Values) {
				return isStringLit(vs.Values[i])
			}
		}
	}
	return false
}

func isStringLit(e ast.Expr) bool {
	lit, ok := e.(*ast.BasicLit)
	return ok && lit.Kind == token.STRING
}
