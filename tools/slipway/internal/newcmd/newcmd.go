// Package newcmd is `slipway new service NAME` and `slipway new rpc SERVICE
// Method` (cmd/go names such packages <verb>cmd): it plans every file a new
// service or method needs, from the templates of package scaffold and addrpc
// and the registrations of packages register and deployreg, then writes them
// all or, on any error, none.
package newcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/addrpc"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/deployreg"
	"github.com/slipway-dev/slipway/tools/slipway/internal/register"
	"github.com/slipway-dev/slipway/tools/slipway/internal/scaffold"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Kinds of thing new makes.
const (
	KindService = "service"
	KindRPC     = "rpc"
)

// Options are the inputs of Run.
type Options struct {
	Kind     string // KindService or KindRPC
	Name     string // the new service, or the service an RPC joins
	Method   string // KindRPC: the new method, UpperCamelCase
	Resource string // KindService: the Go name of its resource; "" derives it from Name
	Root     string // workspace root; "" walks up to go.work
	DryRun   bool   // print what would be written, write nothing
	Stdout   io.Writer
}

// Main parses the command line of `slipway new` and runs it.
func Main(_ context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "new", "service NAME [--resource Name] [--dry-run] | rpc SERVICE Method [--dry-run]",
		"service NAME generates a service in the shape of Slipway's own (proto with REST bindings\n"+
			"and validation, cmd, app with wire, config, domain with ports and mocks, handler, store\n"+
			"with SQLite and PostgreSQL migrations, README and passing tests) and registers it\n"+
			"everywhere services are listed: the registry, go.work, the Dockerfile, compose, k8s,\n"+
			"deploy/config, Prometheus, .vscode, .devcontainer and the console. Its ports are the\n"+
			"next free pair. Then run make gen, make test and make run.\n\n"+
			"rpc SERVICE Method adds a method to a service's proto, with its policy entry, a handler\n"+
			"that answers UNIMPLEMENTED and a test that pins that answer; the output says what to\n"+
			"edit next.\n\n"+
			"Nothing is written when a name is invalid or taken; --dry-run lists the files instead.")
	opts := Options{Stdout: env.Stdout}
	fs.StringVar(&opts.Resource, "resource", "", "service: the Go `name` of its resource (default: NAME singular, capitalised)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "print the files that would be created or edited, and write nothing")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")

	words, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		fs.Usage()
		return cli.UsageErrorf("want service NAME or rpc SERVICE Method")
	}
	opts.Kind = words[0]
	switch {
	case opts.Kind == KindService && len(words) == 2:
		opts.Name = words[1]
	case opts.Kind == KindRPC && len(words) == 3:
		opts.Name, opts.Method = words[1], words[2]
	case opts.Kind == KindService:
		return cli.UsageErrorf("want service NAME, got %d words after service", len(words)-1)
	case opts.Kind == KindRPC:
		return cli.UsageErrorf("want rpc SERVICE Method, got %d words after rpc", len(words)-1)
	default:
		return cli.UsageErrorf("want service or rpc, got %q", opts.Kind)
	}
	if opts.Kind == KindRPC && opts.Resource != "" {
		return cli.UsageErrorf("--resource is for new service")
	}
	return Run(opts)
}

// Run plans the change and writes it, or with DryRun prints it.
func Run(opts Options) error {
	root := opts.Root
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if root, err = workspace.FindRoot(wd); err != nil {
			return err
		}
	}
	var (
		changes []change
		next    []string
		err     error
	)
	switch opts.Kind {
	case KindService:
		changes, next, err = planService(root, opts)
	case KindRPC:
		changes, next, err = planRPC(root, opts)
	default:
		err = cli.UsageErrorf("want service or rpc, got %q", opts.Kind)
	}
	if err != nil {
		return err
	}
	if err := checkTargets(root, changes); err != nil {
		return err
	}
	if opts.DryRun {
		printPlan(opts.Stdout, changes, "would create", "would edit")
		fmt.Fprintln(opts.Stdout, "dry run: nothing written")
		return nil
	}
	if err := apply(root, changes); err != nil {
		return err
	}
	printPlan(opts.Stdout, changes, "created", "edited")
	fmt.Fprintln(opts.Stdout, "\nnext:")
	for i, step := range next {
		fmt.Fprintf(opts.Stdout, "  %d. %s\n", i+1, step)
	}
	return nil
}

// change is one file new writes: created (it must not exist) or edited
// (replaced whole; it must exist).
type change struct {
	path    string // slash-separated, relative to the root
	data    []byte
	created bool
}

// planService validates the name, picks the ports and gathers the
// service's own files and every registration.
func planService(root string, opts Options) ([]change, []string, error) {
	name := opts.Name
	if err := scaffold.ValidateName(name); err != nil {
		return nil, nil, cli.UsageError{Err: fmt.Errorf("service name %q: %w", name, err)}
	}
	if name == scaffold.TestName {
		return nil, nil, cli.UsageError{Err: fmt.Errorf("service name %q is reserved for the CLI's tests, which register it", name)}
	}
	resource := opts.Resource
	if resource == "" {
		resource = scaffold.DefaultResource(name)
	} else if err := addrpc.ValidateMethod(resource); err != nil {
		return nil, nil, cli.UsageError{Err: fmt.Errorf("--resource %q: %w", resource, err)}
	}
	registered, err := register.Registered(root, name)
	if err != nil {
		return nil, nil, err
	}
	if registered {
		return nil, nil, fmt.Errorf("service %q exists: it is in the registry (%s)", name, registryPath)
	}
	for _, dir := range []string{filepath.Join("services", name), filepath.Join("api", "proto", "slipway", name)} {
		if _, err := os.Stat(filepath.Join(root, dir)); err == nil {
			return nil, nil, fmt.Errorf("service %q exists: %s is there", name, filepath.ToSlash(dir))
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, nil, err
		}
	}
	grpcPort, httpPort, err := register.NextPorts(root)
	if err != nil {
		return nil, nil, fmt.Errorf("choose ports: %w", err)
	}

	files, err := scaffold.ServiceFiles(root, scaffold.Service{Name: name, Resource: resource, GRPCPort: grpcPort, HTTPPort: httpPort})
	if err != nil {
		return nil, nil, fmt.Errorf("render service %s: %w", name, err)
	}
	var changes []change
	for _, f := range files {
		changes = append(changes, change{path: f.Path, data: f.Data, created: true})
	}
	svc := workspace.Service{Name: name, GRPCPort: grpcPort, HTTPPort: httpPort}
	ws, err := register.Workspace(root, svc)
	if err != nil {
		return nil, nil, fmt.Errorf("register %s in the workspace: %w", name, err)
	}
	for _, e := range ws {
		changes = append(changes, change{path: e.Path, data: e.Data, created: e.New})
	}
	dep, err := deployreg.Deploy(root, name, grpcPort, httpPort)
	if err != nil {
		return nil, nil, fmt.Errorf("register %s in deploy/: %w", name, err)
	}
	for _, e := range dep {
		changes = append(changes, change{path: e.Path, data: e.Data, created: e.New})
	}
	next := []string{
		"make gen      # Go, OpenAPI, wire, mocks and the console's TypeScript for " + name,
		"make test     # " + name + "'s domain, store (SQLite; PostgreSQL when it answers) and protocol tests",
		fmt.Sprintf("make run      # %s serves gRPC on 127.0.0.1:%d and REST, gRPC-Web and /openapi.yaml on http://127.0.0.1:%d", name, grpcPort, httpPort),
		fmt.Sprintf("then edit api/proto/slipway/%s/v1/%s.proto and services/%s/internal/domain; add methods with: slipway new rpc %s Method", name, name, name, name),
	}
	return changes, next, nil
}

// registryPath is where the service registry lives, for messages.
const registryPath = "tools/slipway/internal/workspace"

// planRPC adds a method to an existing service.
func planRPC(root string, opts Options) ([]change, []string, error) {
	if err := addrpc.ValidateMethod(opts.Method); err != nil {
		return nil, nil, cli.UsageError{Err: fmt.Errorf("method %q: %w", opts.Method, err)}
	}
	plan, err := addrpc.New(root, opts.Name, opts.Method)
	if err != nil {
		return nil, nil, err
	}
	changes := make([]change, 0, len(plan.Files))
	for _, f := range plan.Files {
		changes = append(changes, change{path: f.Path, data: f.Data, created: f.New})
	}
	return changes, plan.Next, nil
}

// checkTargets refuses, before anything is written, a created file that
// exists, an edited one that does not, and a path that leaves the root.
func checkTargets(root string, changes []change) error {
	seen := make(map[string]bool, len(changes))
	for _, c := range changes {
		clean := filepath.ToSlash(filepath.Clean(filepath.FromSlash(c.path)))
		if clean != c.path || filepath.IsAbs(c.path) || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("refusing path %q: not a clean path inside the workspace", c.path)
		}
		if seen[c.path] {
			return fmt.Errorf("internal error: %s is planned twice", c.path)
		}
		seen[c.path] = true
		_, err := os.Stat(filepath.Join(root, filepath.FromSlash(c.path)))
		switch {
		case c.created && err == nil:
			return fmt.Errorf("%s exists: nothing written", c.path)
		case !c.created && errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("%s is missing, so it cannot be edited: nothing written", c.path)
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return err
		}
	}
	return nil
}

// apply writes every change, each through a temporary file renamed into
// place. On the first error it puts back what it had written (edited files
// get their old bytes, created ones are removed, with the directories it
// made) and returns the error, so a failure leaves the tree as it was.
func apply(root string, changes []change) (err error) {
	type undo struct {
		path string
		old  []byte // nil: remove
		mode os.FileMode
	}
	var (
		undos   []undo
		madeDir []string
	)
	defer func() {
		if err == nil {
			return
		}
		for i := len(undos) - 1; i >= 0; i-- {
			u := undos[i]
			if u.old == nil {
				_ = os.Remove(u.path)
				continue
			}
			_ = os.WriteFile(u.path, u.old, u.mode)
		}
		for i := len(madeDir) - 1; i >= 0; i-- {
			_ = os.Remove(madeDir[i]) // only when empty
		}
	}()
	for _, c := range changes {
		path := filepath.Join(root, filepath.FromSlash(c.path))
		mode := os.FileMode(0o644)
		var old []byte
		if !c.created {
			fi, statErr := os.Stat(path)
			if statErr != nil {
				return statErr
			}
			mode = fi.Mode().Perm()
			if old, err = os.ReadFile(path); err != nil { //nolint:gosec // G304: a workspace file checkTargets admitted
				return err
			}
		}
		dirs, mkErr := mkdirAll(filepath.Dir(path))
		madeDir = append(madeDir, dirs...)
		if mkErr != nil {
			return mkErr
		}
		if err = writeFile(path, c.data, mode); err != nil {
			return fmt.Errorf("write %s: %w", c.path, err)
		}
		undos = append(undos, undo{path: path, old: old, mode: mode})
	}
	return nil
}

// mkdirAll is os.MkdirAll that returns the directories it created, outermost
// first.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, os.ErrExist) { //nolint:gosec // G301: source directories, as git checks them out
			return made, err
		}
		made = append(made, missing[i])
	}
	return made, nil
}

// writeFile writes data to path through a temporary file in the same
// directory, so a reader never sees half a file.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing there
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// printPlan lists the created and edited files, created first, each group
// sorted.
func printPlan(w io.Writer, changes []change, createdVerb, editedVerb string) {
	sorted := append([]change(nil), changes...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].created != sorted[j].created {
			return sorted[i].created
		}
		return sorted[i].path < sorted[j].path
	})
	for _, c := range sorted {
		verb := editedVerb
		if c.created {
			verb = createdVerb
		}
		fmt.Fprintf(w, "%-12s %s\n", verb, c.path)
	}
}
