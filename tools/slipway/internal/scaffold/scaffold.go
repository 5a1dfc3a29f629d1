// Package scaffold renders the files of a new Slipway service (`slipway new
// service NAME`): its proto contract, its module with the layout the shop's
// services share (cmd, internal/{app,config,domain,rpc,store}) and their
// tests. It only renders; the caller writes the files and registers the
// service with the workspace, the Makefile and the OpenAPI embed.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"unicode"
)

// Service describes the service to generate.
type Service struct {
	Name     string // "widgets": lower-case letters and digits, starts with a letter
	Resource string // "Widget": the exported Go name of its one resource
	GRPCPort int
	HTTPPort int
}

// File is one file to write, Path slash-separated and relative to the repo root.
type File struct {
	Path string
	Data []byte
}

// maxNameLen bounds a service name: it becomes a directory, a Go package
// suffix, a proto package and a database name.
const maxNameLen = 20

// reserved are names the repository already uses for something other than
// a service (top-level directories, shared proto packages, generated trees)
// or that would read as a package named for no one job.
var reserved = []string{
	"api", "buf", "cmd", "common", "deploy", "docs", "e2e", "events", "gen",
	"google", "grpc", "health", "internal", "main", "misc", "money", "openapi",
	"platform", "proto", "services", "slipway", "test", "testdata", "tools",
	"util", "vendor", "web",
}

// TestName is the service the CLI's own tests register, plan and
// generate against the real tree; slipway new refuses it, so that no
// service a team adds (widgets, say) can collide with them and fail make
// test.
const TestName = "gadgets"

// ValidateName reports why name cannot name a new service, or nil.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("service name is empty: want lower-case letters and digits, starting with a letter")
	case len(name) > maxNameLen:
		return fmt.Errorf("service name %q is %d characters long: want at most %d", name, len(name), maxNameLen)
	case name[0] < 'a' || name[0] > 'z':
		return fmt.Errorf("service name %q must start with a lower-case letter", name)
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return fmt.Errorf("service name %q has %q: want only lower-case letters and digits", name, r)
		}
	}
	switch {
	case token.IsKeyword(name):
		return fmt.Errorf("service name %q is a Go keyword", name)
	case types.Universe.Lookup(name) != nil:
		return fmt.Errorf("service name %q is a predeclared Go identifier", name)
	case slices.Contains(reserved, name):
		return fmt.Errorf("service name %q is reserved by the repository", name)
	}
	return nil
}

// DefaultResource is the resource a service named name keeps when none is
// given: the name capitalised, with one plural "s" dropped ("widgets" ->
// "Widget") but not a double one ("address" -> "Address").
func DefaultResource(name string) string {
	if strings.HasSuffix(name, "s") && !strings.HasSuffix(name, "ss") && len(name) > 1 {
		name = strings.TrimSuffix(name, "s")
	}
	return upperFirst(name)
}

// takenResources are the names of the generated code that a resource (or
// its plural, or either as a variable) would collide with.
var takenResources = []string{
	"A", "Actor", "All", "Body", "C", "Code", "Created", "Ctx", "Err", "Fields", "Get", "Got", "H",
	"ID", "Id", "Ids", "Invalid", "List", "Name", "Names", "None", "Out", "Owned", "Owner", "Page",
	"Q", "R", "Req", "Resp", "Rest", "Role", "Rows", "S", "Scan", "Service", "Store", "T", "Timestamp", "Tt",
}

// validateResource reports why resource cannot name the service's resource.
func validateResource(resource string) error {
	if resource == "" {
		return errors.New("resource name is empty")
	}
	if len(resource) > 40 {
		return fmt.Errorf("resource name %q is too long: want at most 40 characters", resource)
	}
	if slices.Contains(takenResources, resource) || slices.Contains(takenResources, pluralize(resource)) {
		return fmt.Errorf("resource name %q collides with a name the generated code uses", resource)
	}
	for _, v := range []string{lowerFirst(resource), lowerFirst(pluralize(resource))} {
		if token.IsKeyword(v) || types.Universe.Lookup(v) != nil {
			return fmt.Errorf("resource name %q makes the Go variable %q, a Go keyword or predeclared identifier", resource, v)
		}
	}
	for i, r := range resource {
		switch {
		case i == 0 && (r < 'A' || r > 'Z'):
			return fmt.Errorf("resource name %q must start with an upper-case letter (an exported Go name)", resource)
		case r > unicode.MaxASCII || (!unicode.IsLetter(r) && !unicode.IsDigit(r)):
			return fmt.Errorf("resource name %q has %q: want only ASCII letters and digits", resource, r)
		}
	}
	return nil
}

//go:embed templates
var templates embed.FS

// templateRoot is the directory of the service templates; below it, the
// path of each template is the path of the file it renders, with NAME for
// the service's name and a .tmpl suffix so Go never compiles them.
const templateRoot = "templates/service"

// data is what the templates see.
type data struct {
	Name          string // widgets
	Title         string // Widgets: proto service prefix, openapi variable
	Resource      string // Widget
	Plural        string // Widgets
	ResourceVar   string // widget: a Go variable
	PluralVar     string // widgets: a Go variable
	ResourceSnake string // widget: proto fields, SQL
	PluralSnake   string // widgets: proto fields, SQL tables
	Words         string // "widget": the resource in prose
	PluralWords   string // "widgets"
	Repo          string // github.com/slipway-dev/slipway
	Module        string // github.com/slipway-dev/slipway/services/widgets
	API           string // the service's generated Go package: .../api/gen/go/slipway/widgets/v1
	APIAlias      string // widgetsv1
	GRPCPort      int
	HTTPPort      int
}

func newData(repo string, s Service) data {
	snake := snakeCase(s.Resource)
	plural := pluralize(s.Resource)
	return data{
		Name:          s.Name,
		Title:         upperFirst(s.Name),
		Resource:      s.Resource,
		Plural:        plural,
		ResourceVar:   lowerFirst(s.Resource),
		PluralVar:     lowerFirst(plural),
		ResourceSnake: snake,
		PluralSnake:   snakeCase(plural),
		Words:         strings.ReplaceAll(snake, "_", " "),
		PluralWords:   strings.ReplaceAll(snakeCase(plural), "_", " "),
		Repo:          repo,
		Module:        repo + "/services/" + s.Name,
		API:           repo + "/api/gen/go/slipway/" + s.Name + "/v1",
		APIAlias:      s.Name + "v1",
		GRPCPort:      s.GRPCPort,
		HTTPPort:      s.HTTPPort,
	}
}

// ServiceFiles returns every file of the new service, sorted by path. root
// is the repository root: the module path and the dependencies (go.mod
// requirements and go.sum lines) come from its existing services, so the new
// module builds with no network. A service whose directories exist is refused.
func ServiceFiles(root string, s Service) ([]File, error) {
	if err := ValidateName(s.Name); err != nil {
		return nil, err
	}
	if err := validateResource(s.Resource); err != nil {
		return nil, err
	}
	if err := validPort("gRPC", s.GRPCPort); err != nil {
		return nil, err
	}
	if err := validPort("HTTP", s.HTTPPort); err != nil {
		return nil, err
	}
	if s.GRPCPort == s.HTTPPort {
		return nil, fmt.Errorf("the gRPC and HTTP ports are both %d", s.GRPCPort)
	}
	for _, dir := range []string{"services/" + s.Name, "api/proto/slipway/" + s.Name} {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dir))); err == nil {
			return nil, fmt.Errorf("%s exists: service %q is taken", dir, s.Name)
		}
	}
	repo, err := repoModule(root)
	if err != nil {
		return nil, err
	}
	files, err := render(newData(repo, s))
	if err != nil {
		return nil, err
	}
	mod, sum, err := moduleFiles(root, repo, s.Name)
	if err != nil {
		return nil, err
	}
	files = append(files,
		File{Path: "services/" + s.Name + "/go.mod", Data: mod},
		File{Path: "services/" + s.Name + "/go.sum", Data: sum})
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

func validPort(what string, port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("%s port %d: want 1 to 65535", what, port)
	}
	return nil
}

// render executes every template with d; Go files are gofmt'ed, since
// alignment depends on the names put in.
func render(d data) ([]File, error) {
	var files []File
	err := fs.WalkDir(templates, templateRoot, func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		src, err := templates.ReadFile(name)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(name, templateRoot+"/")
		t, err := template.New(rel).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return fmt.Errorf("template %s: %w", rel, err)
		}
		var out bytes.Buffer
		if err := t.Execute(&out, d); err != nil {
			return fmt.Errorf("template %s: %w", rel, err)
		}
		target := strings.ReplaceAll(strings.TrimSuffix(rel, ".tmpl"), "NAME", d.Name)
		rendered := out.Bytes()
		if path.Ext(target) == ".go" {
			if rendered, err = format.Source(rendered); err != nil {
				return fmt.Errorf("template %s renders Go that does not parse: %w", rel, err)
			}
		}
		files = append(files, File{Path: target, Data: rendered})
		return nil
	})
	return files, err
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// snakeCase is an exported Go name in lower_snake_case: "PaymentMethod" ->
// "payment_method", "HTTPRoute" -> "http_route".
func snakeCase(s string) string {
	var b strings.Builder
	runes := []rune(s)
	for i, r := range runes {
		if unicode.IsUpper(r) {
			prevLower := i > 0 && (unicode.IsLower(runes[i-1]) || unicode.IsDigit(runes[i-1]))
			nextLower := i > 0 && i+1 < len(runes) && unicode.IsLower(runes[i+1]) && unicode.IsUpper(runes[i-1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pluralize is the English plural of a resource name, enough for names:
// "Widget" -> "Widgets", "Address" -> "Addresses", "Category" -> "Categories".
func pluralize(s string) string {
	lower := strings.ToLower(s)
	for _, suffix := range []string{"s", "x", "z", "ch", "sh"} {
		if strings.HasSuffix(lower, suffix) {
			return s + "es"
		}
	}
	if n := len(lower); n > 1 && lower[n-1] == 'y' && !strings.ContainsRune("aeiou", rune(lower[n-2])) {
		return s[:n-1] + "ies"
	}
	return s + "s"
}
