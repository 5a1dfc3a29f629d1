// Package register plans the registration of a new service in the
// workspace-level files: the service registry, go.work, the editor's launch
// and dev-container files and the console's clients (package deployreg does
// deploy/, the Dockerfile included). Each
// edit inserts text and leaves the rest of the file byte for byte as it was;
// an edit whose anchor is missing fails, naming the file and what it looked
// for, and nothing is written (the caller writes the plan).
package register

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Edit is one file to write, new or replaced whole; Path slash-separated,
// relative to the repo root.
type Edit struct {
	Path string
	Data []byte
	New  bool
}

// Files the planner edits, relative to the repository root.
const (
	GoWork           = "go.work"
	LaunchFile       = ".vscode/launch.json"
	DevcontainerFile = ".devcontainer/devcontainer.json"
	ClientsFile      = "web/src/lib/clients.ts"
)

// AnchorError is an edit that could not find the text it inserts next to.
type AnchorError struct {
	File string // slash-separated, relative to the root
	Want string // what the edit looked for
}

// Error names the file and the anchor.
func (e *AnchorError) Error() string {
	return fmt.Sprintf("%s: cannot register the service: found no %s", e.File, e.Want)
}

// registry reads and validates the registry file under root: the tree's,
// not the compiled-in workspace.Known, since the binary may be older.
func registry(root string) ([]workspace.Service, []byte, error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(workspace.RegistryFile))) //nolint:gosec // G304: the workspace's registry
	if err != nil {
		return nil, nil, fmt.Errorf("read the service registry: %w", err)
	}
	svcs, err := workspace.ParseRegistry(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", workspace.RegistryFile, err)
	}
	return svcs, data, nil
}

// NextPorts is the gRPC and HTTP port of a new service: each one above the
// highest of its kind in the registry under root, moved further up past any
// port some service uses.
func NextPorts(root string) (grpc, http int, err error) {
	svcs, _, err := registry(root)
	if err != nil {
		return 0, 0, err
	}
	return nextPorts(svcs)
}

func nextPorts(svcs []workspace.Service) (grpc, http int, err error) {
	used := map[int]bool{}
	grpc, http = workspace.DefaultGRPCBase-1, workspace.DefaultHTTPBase-1
	for _, s := range svcs {
		used[s.GRPCPort], used[s.HTTPPort] = true, true
		grpc, http = max(grpc, s.GRPCPort), max(http, s.HTTPPort)
	}
	next := func(p int) int {
		for p++; used[p]; p++ {
		}
		used[p] = true
		return p
	}
	grpc, http = next(grpc), next(http)
	if grpc > 65535 || http > 65535 {
		return 0, 0, errors.New("no free port is left above the registered ones")
	}
	return grpc, http, nil
}

// Registered reports whether name is in the registry under root.
func Registered(root, name string) (bool, error) {
	svcs, _, err := registry(root)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(svcs, func(s workspace.Service) bool { return s.Name == name }), nil
}

// Workspace returns the edits that register svc in the workspace-level
// files under root. It refuses a name or a port already registered.
func Workspace(root string, svc workspace.Service) ([]Edit, error) {
	svcs, reg, err := registry(root)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(svcs, func(s workspace.Service) bool { return s.Name == svc.Name }) {
		return nil, fmt.Errorf("service %q is already registered (%s)", svc.Name, workspace.RegistryFile)
	}
	edits := []struct {
		path string
		plan func([]byte) ([]byte, error)
	}{
		{workspace.RegistryFile, func([]byte) ([]byte, error) { return addToRegistry(reg, svc) }},
		{GoWork, func(b []byte) ([]byte, error) { return addToGoWork(b, svc.Name) }},
		{LaunchFile, func(b []byte) ([]byte, error) { return addToLaunch(root, b, svc.Name) }},
		{DevcontainerFile, func(b []byte) ([]byte, error) { return addToDevcontainer(b, svc) }},
		{ClientsFile, func(b []byte) ([]byte, error) { return addToClients(b, svc.Name) }},
	}
	var out []Edit
	var errs []error
	for _, e := range edits {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(e.path))) //nolint:gosec // G304: one of the workspace files listed above
		if err != nil {
			errs = append(errs, err)
			continue
		}
		data, err = e.plan(data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, Edit{Path: e.path, Data: data})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// insert returns data with text inserted at offset at.
func insert(data []byte, at int, text string) []byte {
	out := make([]byte, 0, len(data)+len(text))
	out = append(out, data[:at]...)
	out = append(out, text...)
	return append(out, data[at:]...)
}
