package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Rule is an RPC's access rule as platform/auth declares it: its kind
// (public, authenticated, admin, internal) and the services it names.
type Rule struct {
	Kind     string
	Services []string
}

// String is the rule as auth.Rule prints it, e.g. "internal(order)".
func (r Rule) String() string {
	if len(r.Services) == 0 {
		return r.Kind
	}
	return r.Kind + "(" + strings.Join(r.Services, ",") + ")"
}

// Policy maps an operation id (Service_Method, as protoc-gen-openapi names
// operations) to its Rule.
type Policy map[string]Rule

// Rule returns the rule of opID; like auth.Policy, a method the policy does
// not name needs Authenticated.
func (p Policy) Rule(opID string) Rule {
	if r, ok := p[opID]; ok {
		return r
	}
	return Rule{Kind: "authenticated"}
}

// ruleKinds are the auth package's Rule values.
var ruleKinds = map[string]string{
	"Public": "public", "Authenticated": "authenticated", "Admin": "admin", "Internal": "internal",
}

// ReadPolicy reads the auth.Policy literal in the Go files of dir (a
// service's internal/rpc package, where the policy the server enforces is
// declared). Its keys are the generated <Service>_<Method>_FullMethodName
// constants; its values auth.Public, auth.Authenticated, auth.Admin,
// auth.Internal, optionally .For("svc", ...). Anything else is an error, so
// a new way of writing the policy cannot be silently documented wrong.
func ReadPolicy(dir string) (Policy, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var found []*ast.CompositeLit
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.CompositeLit); ok && isSelector(lit.Type, "auth", "Policy") {
				found = append(found, lit)
			}
			return true
		})
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%s: want one auth.Policy literal, found %d", dir, len(found))
	}
	p := Policy{}
	for _, elt := range found[0].Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			return nil, fmt.Errorf("%s: policy entry is not key: value", fset.Position(elt.Pos()))
		}
		key, ok := kv.Key.(*ast.SelectorExpr)
		if !ok || !strings.HasSuffix(key.Sel.Name, "_FullMethodName") {
			return nil, fmt.Errorf("%s: policy key is not a generated _FullMethodName constant", fset.Position(kv.Key.Pos()))
		}
		rule, err := parseRule(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fset.Position(kv.Value.Pos()), err)
		}
		p[strings.TrimSuffix(key.Sel.Name, "_FullMethodName")] = rule
	}
	return p, nil
}

// parseRule reads auth.<Kind> or auth.<Kind>.For("a", "b").
func parseRule(e ast.Expr) (Rule, error) {
	var services []string
	if call, ok := e.(*ast.CallExpr); ok {
		fn, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || fn.Sel.Name != "For" {
			return Rule{}, fmt.Errorf("policy value: only auth.<Rule>.For(...) calls are understood")
		}
		for _, arg := range call.Args {
			lit, ok := arg.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return Rule{}, fmt.Errorf("policy value: For takes string literals")
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return Rule{}, err
			}
			services = append(services, s)
		}
		e = fn.X
	}
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || !isSelector(sel, "auth", sel.Sel.Name) || ruleKinds[sel.Sel.Name] == "" {
		return Rule{}, fmt.Errorf("policy value: not an auth rule")
	}
	slices.Sort(services)
	return Rule{Kind: ruleKinds[sel.Sel.Name], Services: slices.Compact(services)}, nil
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}
