package drift

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// loadConfigSchema reads the keys of services/<svc>/internal/config's Config
// struct from source, following the tags config.Load follows: yaml names,
// inline structs (config.Base), env, secret and redact.
func loadConfigSchema(root, svc string) (*configSchema, error) {
	r := configSchemaReader{root: root, pkgs: map[string]*configASTPackage{}}
	dir := filepath.Join(root, "services", svc, "internal", "config")
	pkg, err := r.pkg(dir)
	if err != nil {
		return nil, err
	}
	typ, ok := pkg.types["Config"]
	if !ok {
		return nil, fmt.Errorf("no type Config in %s", dir)
	}
	s := &configSchema{byKey: map[string]configField{}, byEnv: map[string]configField{}}
	if err := r.walk(typ, "", s, 0); err != nil {
		return nil, err
	}
	return s, nil
}

// configASTPackage is the type declarations of one parsed package.
type configASTPackage struct {
	dir   string
	types map[string]configASTType
}

// configASTType is a type declaration and the imports of its file.
type configASTType struct {
	pkg     *configASTPackage
	expr    ast.Expr
	imports map[string]string // local name -> import path
}

type configSchemaReader struct {
	root string
	pkgs map[string]*configASTPackage
}

func (r *configSchemaReader) pkg(dir string) (*configASTPackage, error) {
	if p, ok := r.pkgs[dir]; ok {
		return p, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	p := &configASTPackage{dir: dir, types: map[string]configASTType{}}
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
		imports := map[string]string{}
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			local := filepath.Base(path)
			if im.Name != nil {
				local = im.Name.Name
			}
			imports[local] = path
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				if ts, ok := spec.(*ast.TypeSpec); ok {
					p.types[ts.Name.Name] = configASTType{pkg: p, expr: ts.Type, imports: imports}
				}
			}
		}
	}
	r.pkgs[dir] = p
	return p, nil
}

// resolve finds the declaration of a named type used in from: a type of the
// same package, or of a workspace package imported by from's file.
func (r *configSchemaReader) resolve(from configASTType, expr ast.Expr) (configASTType, bool) {
	switch e := expr.(type) {
	case *ast.Ident:
		t, ok := from.pkg.types[e.Name]
		return t, ok
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return configASTType{}, false
		}
		path, ok := from.imports[x.Name]
		if !ok {
			return configASTType{}, false
		}
		dir, ok := r.workspaceDir(path)
		if !ok {
			return configASTType{}, false
		}
		p, err := r.pkg(dir)
		if err != nil {
			return configASTType{}, false
		}
		t, ok := p.types[e.Sel.Name]
		return t, ok
	}
	return configASTType{}, false
}

// workspaceDir maps an import path to a directory under the root: the
// longest tail of the path that exists there ("<module>/platform/config" is
// <root>/platform/config), so a fork's module path needs no configuration.
func (r *configSchemaReader) workspaceDir(path string) (string, bool) {
	parts := strings.Split(path, "/")
	for i := range parts {
		dir := filepath.Join(append([]string{r.root}, parts[i:]...)...)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir, true
		}
	}
	return "", false
}

// walk adds the fields of the struct type t to s, under prefix.
func (r *configSchemaReader) walk(t configASTType, prefix string, s *configSchema, depth int) error {
	if depth > 10 {
		return errors.New("config structs nest too deep")
	}
	st, ok := t.expr.(*ast.StructType)
	if !ok {
		return errors.New("not a struct")
	}
	for _, fd := range st.Fields.List {
		var tag reflect.StructTag
		if fd.Tag != nil {
			raw, _ := strconv.Unquote(fd.Tag.Value)
			tag = reflect.StructTag(raw)
		}
		name, opts, _ := strings.Cut(tag.Get("yaml"), ",")
		embedded := len(fd.Names) == 0
		if slices.Contains(strings.Split(opts, ","), "inline") || (embedded && name == "") {
			inner, ok := r.resolve(t, fd.Type)
			if !ok {
				return fmt.Errorf("cannot find the inline struct %s", configTypeString(fd.Type))
			}
			if err := r.walk(inner, prefix, s, depth+1); err != nil {
				return err
			}
			continue
		}
		for _, id := range fd.Names {
			if !id.IsExported() || name == "-" {
				continue
			}
			key := name
			if key == "" {
				key = strings.ToLower(id.Name)
			}
			kind, nested := r.kindOf(t, fd.Type, 0)
			if nested != nil {
				if err := r.walk(*nested, prefix+key+".", s, depth+1); err != nil {
					return err
				}
				continue
			}
			f := configField{
				Key:    prefix + key,
				Env:    tag.Get("env"),
				Kind:   kind,
				Secret: tag.Get("secret") == "true",
				URL:    tag.Get("redact") == "url",
			}
			s.byKey[f.Key] = f
			if f.Env != "" {
				s.byEnv[f.Env] = f
			}
		}
	}
	return nil
}

// kindOf is the kind of a field type, or the struct it nests.
func (r *configSchemaReader) kindOf(from configASTType, expr ast.Expr, depth int) (configKind, *configASTType) {
	switch e := expr.(type) {
	case *ast.Ident:
		switch e.Name {
		case "string":
			return configKindString, nil
		case "bool":
			return configKindBool, nil
		case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
			"float32", "float64":
			return configKindNumber, nil
		}
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && from.imports[x.Name] == "time" && e.Sel.Name == "Duration" {
			return configKindDuration, nil
		}
	case *ast.ArrayType:
		if id, ok := e.Elt.(*ast.Ident); ok && e.Len == nil && id.Name == "string" {
			return configKindList, nil
		}
		return configKindUnknown, nil
	default:
		return configKindUnknown, nil
	}
	// A named type: nest its struct, or use the kind of its underlying type.
	// Types with their own text form stay unknown and take the running shape.
	t, ok := r.resolve(from, expr)
	if !ok || depth > 5 {
		return configKindUnknown, nil
	}
	if _, isStruct := t.expr.(*ast.StructType); isStruct {
		return configKindUnknown, &t
	}
	k, _ := r.kindOf(t, t.expr, depth+1)
	return k, nil
}

func configTypeString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return configTypeString(e.X) + "." + e.Sel.Name
	}
	return fmt.Sprintf("%T", e)
}
