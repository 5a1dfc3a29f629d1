// Package addrpc plans `slipway new rpc SERVICE Method`: the edits that add
// a method to a service, its rpc and messages in the proto, a Policy entry,
// a handler that answers Unimplemented and a test that says so, and the
// steps left to the user. It writes nothing itself: the verb writes the
// Plan's files.
package addrpc

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"golang.org/x/mod/modfile"
)

// File is one file to write (new or replaced whole), Path slash-separated,
// relative to the repo root.
type File struct {
	Path string
	Data []byte
	New  bool
}

// Plan is what adding the method writes, and what the user edits next.
type Plan struct {
	Files []File
	Next  []string
}

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

// New plans adding method to service in the repository at root: it reads
// the service's proto and internal/rpc package and returns every file to
// write. It fails, planning nothing, when the service does not exist, the
// method name is invalid, or the method (or a name it needs) is taken.
func New(root, service, method string) (Plan, error) {
	if err := ValidateMethod(method); err != nil {
		return Plan{}, err
	}
	protoPath := path.Join("api/proto/slipway", service, "v1", service+".proto")
	rpcDir := path.Join("services", service, "internal/rpc")
	if err := checkService(root, service, protoPath, rpcDir); err != nil {
		return Plan{}, err
	}

	src, err := os.ReadFile(filepath.Join(root, protoPath)) //nolint:gosec // G304: the workspace's proto of a checked service name
	if err != nil {
		return Plan{}, err
	}
	proto, err := parseProto(src)
	if err != nil {
		return Plan{}, fmt.Errorf("%s: %w", protoPath, err)
	}
	if slices.Contains(proto.rpcs, method) {
		return Plan{}, fmt.Errorf("%s already has a method %s (%s)", proto.service, method, protoPath)
	}
	for _, name := range []string{method + "Request", method + "Response"} {
		if slices.Contains(proto.types, name) {
			return Plan{}, fmt.Errorf("%s already declares %s: pick another method name", protoPath, name)
		}
	}
	httpPath := proto.httpPath(service, method)
	if slices.Contains(proto.httpPaths, httpPath) {
		return Plan{}, fmt.Errorf("%s already binds %s to another method", protoPath, httpPath)
	}

	pkg, err := parseRPCPackage(filepath.Join(root, filepath.FromSlash(rpcDir)), proto.goPackage)
	if err != nil {
		return Plan{}, err
	}
	key := proto.service + "_" + method + "_FullMethodName"
	genName := pkg.genName
	switch {
	case pkg.methods[method]:
		return Plan{}, fmt.Errorf("%s: Handler already has a method %s", rpcDir, method)
	case pkg.hasKey(key):
		return Plan{}, fmt.Errorf("%s: the policy already has an entry for %s", rpcDir, method)
	case pkg.genName == "":
		return Plan{}, fmt.Errorf("%s: the file holding the policy does not import %s", rpcDir, proto.goPackage)
	}
	methodFile := path.Join(rpcDir, snake(method)+".go")
	testFile := path.Join(rpcDir, snake(method)+"_test.go")
	data := templateData{
		Package: pkg.name, Receiver: pkg.receiver,
		GenName: genName, GenImport: proto.goPackage,
		Service: proto.service, Svc: service, Method: method,
		ProtoPath: protoPath,
		TestName:  "Test" + method + "AnswersUnimplementedUntilWritten",
	}
	if pkg.tests[data.TestName] {
		return Plan{}, fmt.Errorf("%s: a test %s exists already", rpcDir, data.TestName)
	}
	for _, f := range []string{methodFile, testFile} {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(f))); !errors.Is(err, fs.ErrNotExist) {
			return Plan{}, fmt.Errorf("%s exists already: a new method needs it", f)
		}
	}
	gomod, err := os.ReadFile(filepath.Join(root, "services", service, "go.mod")) //nolint:gosec // G304: the workspace's own go.mod
	if err != nil {
		return Plan{}, err
	}
	data.PackageImport = modfile.ModulePath(gomod) + "/internal/rpc"
	if data.PackageImport == "/internal/rpc" {
		return Plan{}, fmt.Errorf("services/%s/go.mod names no module", service)
	}

	policy, err := pkg.withEntry(genName+"."+key, pkg.authName+".Authenticated")
	if err != nil {
		return Plan{}, err
	}
	handler, err := render("method.go.tmpl", data)
	if err != nil {
		return Plan{}, err
	}
	test, err := render("method_test.go.tmpl", data)
	if err != nil {
		return Plan{}, err
	}
	policyPath, err := filepath.Rel(root, pkg.policyFile)
	if err != nil {
		return Plan{}, err
	}
	return Plan{
		Files: []File{
			{Path: protoPath, Data: proto.withMethod(method, httpPath)},
			{Path: filepath.ToSlash(policyPath), Data: policy},
			{Path: methodFile, Data: handler, New: true},
			{Path: testFile, Data: test, New: true},
		},
		Next: []string{
			"make gen: generate the Go for " + method + "Request, " + method + "Response and the " + method + " method; the service builds again once it has run",
			"edit " + method + "Request and " + method + "Response in " + protoPath + ": their fields and buf.validate rules, the rpc's comment and its HTTP binding (POST " + httpPath + "); then make gen again",
			"implement " + method + ": the rules in services/" + service + "/internal/domain, the translation in " + methodFile,
			"update " + testFile + ": " + data.TestName + " fails once " + method + " is written; replace it with tests of what it does",
			"choose the policy rule in " + filepath.ToSlash(policyPath) + ": " + method + " got auth.Authenticated (any signed-in person); auth.Public, auth.Admin or auth.Internal.For(\"<service>\") may fit better",
		},
	}, nil
}

// templateData fills the templates.
type templateData struct {
	Package, Receiver, PackageImport string
	GenName, GenImport               string
	Service, Svc, Method             string
	ProtoPath, TestName              string
}

// render executes the named template and gofmts the result.
func render(name string, data templateData) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, err
	}
	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s renders Go that does not parse: %w", name, err)
	}
	return out, nil
}

// checkService fails unless service has both a proto and an rpc handler,
// naming the services that do.
func checkService(root, service, protoPath, rpcDir string) error {
	known := strings.Join(services(root), ", ")
	switch {
	case service == "":
		return fmt.Errorf("the service name is empty; services: %s", known)
	case strings.ContainsAny(service, `/\.`) || service != filepath.Base(service):
		return fmt.Errorf("no service %q: a service is named as its directory under services/; services: %s", service, known)
	case !exists(root, protoPath) || !exists(root, path.Join(rpcDir, "handler.go")):
		return fmt.Errorf("no service %q: want %s and %s/handler.go; services: %s", service, protoPath, rpcDir, known)
	}
	return nil
}

// services are the services under root that New can add a method to.
func services(root string) []string {
	handlers, _ := filepath.Glob(filepath.Join(root, "services", "*", "internal", "rpc", "handler.go"))
	var out []string
	for _, h := range handlers {
		name := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(h))))
		if exists(root, path.Join("api/proto/slipway", name, "v1", name+".proto")) {
			out = append(out, name)
		}
	}
	return out
}

func exists(root, rel string) bool {
	st, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
	return err == nil && !st.IsDir()
}
