// The registry of services is services.json beside this file (RegistryFile), the
// one source every other list derives from: Known here, the Makefile's
// SERVICES and MODULES (from the services/*/go.mod on disk), the embedded
// OpenAPI documents (tools/gen/openapi), and the maps of chaos, loadgen and
// fleet. It is plain JSON, which allows no comments: an array of
// {"name", "grpcPort", "httpPort"} in start order. `slipway new service`
// appends to it (package register); names and ports must be unique.

package workspace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
)

// Service is one of the shop's services and its default ports.
type Service struct {
	Name     string `json:"name"`
	GRPCPort int    `json:"grpcPort"`
	HTTPPort int    `json:"httpPort"`
}

// Known lists the shop's services in start order, with their
// default ports (docs/architecture.md, "Names and ports"), as the embedded
// registry (services.json) lists them. A port base flag shifts every port by
// the same offset.
var Known = mustParseRegistry(registry)

// Default port bases: the ports of the first service.
const (
	DefaultGRPCBase = 50051
	DefaultHTTPBase = 8081
)

// FindRoot walks up from dir to the directory holding go.work.
func FindRoot(dir string) (string, error) {
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

// MainDir is the package directory of a service's main, relative to the root.
func MainDir(svc string) string {
	return filepath.Join("services", svc, "cmd", svc)
}

// Existing returns the known services whose main package exists
// under root (services/<svc>/cmd/<svc>), in start order.
func Existing(root string) ([]Service, error) {
	var found []Service
	for _, s := range Known {
		fi, err := os.Stat(filepath.Join(root, MainDir(s.Name)))
		switch {
		case err == nil && fi.IsDir():
			found = append(found, s)
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}
	return found, nil
}

// BinaryPath is where dev builds and runs a service: <root>/.slipway/bin/<svc>.
func BinaryPath(root, svc string) string {
	name := svc
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return filepath.Join(root, ".slipway", "bin", name)
}

// Identities of dev --tls besides the services: the console (its server
// certificate, and its client one for calls to the services) and the CLI
// itself (health polling, probe, ready, load).
const (
	ConsoleIdentity = "console"
	CLIIdentity     = "cli"
)

// TLSDir is where dev keeps its certificate authority and certificates.
func TLSDir(root string) string { return filepath.Join(root, ".slipway", "tls") }

// TLSFiles are the paths of name's certificate and key, as devcert
// writes them.
func TLSFiles(root, name string) (cert, key string) {
	dir := TLSDir(root)
	return filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
}

// TLSIdentities are the certificates dev --tls keeps: every known
// service's (so a later --services run finds them too), the console's and
// the CLI's.
func TLSIdentities() []devcert.Identity {
	ids := make([]devcert.Identity, 0, len(Known)+2)
	for _, d := range Known {
		ids = append(ids, devcert.Identity{Name: d.Name, Usage: devcert.ServerAndClient})
	}
	return append(ids,
		devcert.Identity{Name: ConsoleIdentity, Usage: devcert.ServerAndClient},
		devcert.Identity{Name: CLIIdentity, Usage: devcert.ClientOnly})
}
