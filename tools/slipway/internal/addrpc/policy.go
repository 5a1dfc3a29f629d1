package addrpc

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const authImport = "github.com/slipway-dev/slipway/platform/auth"

// goPackage is what New needs to know of a service's rpc package: its
// name, the file holding its auth.Policy literal, and the names it declares.
type goPackage struct {
	name       string
	receiver   string          // the name Handler's methods give their receiver
	methods    map[string]bool // Handler's methods
	tests      map[string]bool // the package's Test functions
	policyFile string          // path of the file holding the policy literal
	policySrc  []byte
	policy     *ast.CompositeLit
	fset       *token.FileSet
	authName   string // how the policy file names platform/auth
	genName    string // how the policy file names the generated package ("" if it does not import it)
}

// parseRPCPackage reads the Go files of dir, the service's internal/rpc.
// Like tools/gen/openapi, which documents the policy, it wants exactly one
// auth.Policy literal there.
func parseRPCPackage(dir, genImport string) (*goPackage, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	pkg := &goPackage{receiver: "h", methods: map[string]bool{}, tests: map[string]bool{}, fset: token.NewFileSet()}
	var found []string
	for _, name := range names {
		src, err := os.ReadFile(name) //nolint:gosec // G304: a Go file of the service's rpc package
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(pkg.fset, name, src, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(name, "_test.go") {
			for _, d := range f.Decls {
				if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
					pkg.tests[fn.Name.Name] = true
				}
			}
			continue
		}
		pkg.name = f.Name.Name
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv != nil && receiverType(fn.Recv) == "Handler" {
				pkg.methods[fn.Name.Name] = true
				if r := fn.Recv.List[0].Names; len(r) == 1 && filepath.Base(name) == "handler.go" {
					pkg.receiver = r[0].Name
				}
			}
		}
		authName := importName(f, authImport)
		if authName == "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if ok && isSelector(lit.Type, authName, "Policy") {
				found = append(found, name)
				pkg.policyFile, pkg.policySrc, pkg.policy = name, src, lit
				pkg.authName, pkg.genName = authName, importName(f, genImport)
			}
			return true
		})
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%s: want one auth.Policy literal, found %d", dir, len(found))
	}
	return pkg, nil
}

// receiverType is the name of the type a method's receiver is, pointer or not.
func receiverType(recv *ast.FieldList) string {
	t := recv.List[0].Type
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// importName is the name under which f imports path, "" if it does not.
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p != path {
			continue
		}
		if imp.Name != nil {
			return imp.Name.Name
		}
		return path[strings.LastIndex(path, "/")+1:]
	}
	return ""
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// hasKey reports whether the policy already has an entry keyed by a
// constant named key.
func (g *goPackage) hasKey(key string) bool {
	for _, elt := range g.policy.Elts {
		if kv, ok := elt.(*ast.KeyValueExpr); ok {
			if sel, ok := kv.Key.(*ast.SelectorExpr); ok && sel.Sel.Name == key {
				return true
			}
		}
	}
	return false
}

// withEntry returns the policy file with "key: value," as the literal's
// last entry, gofmt'd (which realigns the map). The literal is found by
// the parser; the entry is spliced in by offset and the result reparsed.
func (g *goPackage) withEntry(key, value string) ([]byte, error) {
	file := g.fset.File(g.policy.Pos())
	src := g.policySrc
	rbrace := file.Offset(g.policy.Rbrace)
	entry := key + ": " + value + ",\n"

	var out bytes.Buffer
	lastLine := file.Line(g.policy.Lbrace)
	if n := len(g.policy.Elts); n > 0 {
		lastLine = file.Line(g.policy.Elts[n-1].End())
	}
	if file.Line(g.policy.Rbrace) > lastLine {
		// "}" is on a line of its own: the entry goes on the line before.
		at := bytes.LastIndexByte(src[:rbrace], '\n') + 1
		out.Write(src[:at])
		out.WriteString(entry)
		out.Write(src[at:])
	} else {
		out.Write(src[:rbrace])
		if len(g.policy.Elts) > 0 && !endsWithComma(src[file.Offset(g.policy.Elts[len(g.policy.Elts)-1].End()):rbrace]) {
			out.WriteString(",")
		}
		out.WriteString("\n" + entry)
		out.Write(src[rbrace:])
	}
	formatted, err := format.Source(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: the policy with %s added does not parse: %w", g.policyFile, key, err)
	}
	return formatted, nil
}

// endsWithComma reports whether the Go source between a literal's last
// element and its "}" holds a comma (it may hold comments too).
func endsWithComma(between []byte) bool {
	var s scanner.Scanner
	fset := token.NewFileSet()
	s.Init(fset.AddFile("", -1, len(between)), between, nil, 0)
	for {
		_, tok, _ := s.Scan()
		switch tok {
		case token.COMMA:
			return true
		case token.EOF:
			return false
		}
	}
}
