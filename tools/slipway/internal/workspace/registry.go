package workspace

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RegistryFile is the registry's path relative to the repository root,
// slash-separated: the file `slipway new service` appends to.
const RegistryFile = "tools/slipway/internal/workspace/services.json"

//go:embed services.json
var registry []byte

// validName is what a service name may be: it is a directory, a Go package
// path element, a proto package element and, title-cased, a Go identifier.
var validName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// ParseRegistry decodes a registry file (a JSON array of
// {"name", "grpcPort", "httpPort"} in start order) and checks that every
// name is valid and that no name or port is used twice.
func ParseRegistry(data []byte) ([]Service, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var svcs []Service
	if err := dec.Decode(&svcs); err != nil {
		return nil, fmt.Errorf("service registry: %w", err)
	}
	if dec.More() {
		return nil, errors.New("service registry: data after the array")
	}
	var errs []error
	names := map[string]bool{}
	ports := map[int]string{}
	for _, s := range svcs {
		if !validName.MatchString(s.Name) {
			errs = append(errs, fmt.Errorf("service name %q: want lower-case letters and digits, starting with a letter", s.Name))
		}
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("service %q is listed twice", s.Name))
		}
		names[s.Name] = true
		for _, p := range []int{s.GRPCPort, s.HTTPPort} {
			if p < 1 || p > 65535 {
				errs = append(errs, fmt.Errorf("service %q: port %d is out of range", s.Name, p))
				continue
			}
			if other, dup := ports[p]; dup {
				errs = append(errs, fmt.Errorf("port %d is used by both %s and %s", p, other, s.Name))
			}
			ports[p] = s.Name
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("service registry: %w", err)
	}
	return svcs, nil
}

func mustParseRegistry(data []byte) []Service {
	svcs, err := ParseRegistry(data)
	if err != nil {
		panic(err) // the embedded file is checked by TestRegistryIsValid
	}
	return svcs
}

// Title upper-cases the first letter of a service name: "user" -> "User",
// the stem of its Go and proto identifiers.
func Title(name string) string {
	r, n := utf8.DecodeRuneInString(name)
	return string(unicode.ToUpper(r)) + name[n:]
}

// ProtoPackage is the proto package of a service's API: "slipway.user.v1".
func ProtoPackage(name string) string { return "slipway." + strings.ToLower(name) + ".v1" }

// GRPCService is the full name of a service's gRPC service:
// "slipway.user.v1.UserService".
func GRPCService(name string) string { return ProtoPackage(name) + "." + Title(name) + "Service" }
