package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// serviceDef is one of the shop's services and its default ports.
type serviceDef struct {
	Name     string
	GRPCPort int
	HTTPPort int
}

// knownServices lists the shop's services in start order, with their
// default ports (docs/architecture.md, "Names and ports"). A port base flag
// shifts every port by the same offset.
var knownServices = []serviceDef{
	{"user", 50051, 8081},
	{"order", 50052, 8082},
	{"inventory", 50053, 8083},
	{"notification", 50054, 8084},
}

// Default port bases: the ports of the first service.
const (
	defaultGRPCBase = 50051
	defaultHTTPBase = 8081
)

// findWorkspaceRoot walks up from dir to the directory holding go.work.
func findWorkspaceRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		if fi, err := os.Stat(filepath.Join(d, "go.work")); err == nil && !fi.IsDir() {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.work in %s or any parent: run slipway inside the Slipway workspace", dir)
		}
		d = parent
	}
}

// serviceMainDir is the package directory of a service's main, relative to the root.
func serviceMainDir(svc string) string {
	return filepath.Join("services", svc, "cmd", svc)
}

// existingServices returns the known services whose main package exists
// under root (services/<svc>/cmd/<svc>), in start order.
func existingServices(root string) ([]serviceDef, error) {
	var found []serviceDef
	for _, s := range knownServices {
		fi, err := os.Stat(filepath.Join(root, serviceMainDir(s.Name)))
		switch {
		case err == nil && fi.IsDir():
			found = append(found, s)
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}
	return found, nil
}
