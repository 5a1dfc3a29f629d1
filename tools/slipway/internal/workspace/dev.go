// Package workspace describes the Slipway workspace: where its root is, its
// services with their ports and main packages, where slipway keeps its state
// (.slipway), and the dev credentials every session shares.
package workspace

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
)

// Dev-only credentials of the admin account the user service seeds. They are
// documented and only ever set when the parent environment has none.
const (
	DevAdminEmail    = "admin@slipway.local"
	DevAdminPassword = "slipway-admin"
)

// Names lists the services' names in order.
func Names(defs []Service) []string {
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.Name
	}
	return names
}

// Resolve is the workspace root: root when given, else the directory
// holding go.work above dir ("" is the working directory).
func Resolve(root, dir string) (string, error) {
	if root != "" {
		return filepath.Abs(root)
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		dir = wd
	}
	return FindRoot(dir)
}

// Select returns the services to run: the existing ones, or the
// requested subset, each of which must exist.
func Select(root string, want []string) ([]Service, error) {
	existing, err := Existing(root)
	if err != nil {
		return nil, err
	}
	if len(want) == 0 {
		if len(existing) == 0 {
			return nil, fmt.Errorf("no services to run: none of %s has a main package under %s",
				strings.Join(Names(Known), ", "), filepath.Join(root, "services", "<svc>", "cmd", "<svc>"))
		}
		return existing, nil
	}
	var defs []Service
	for _, d := range existing {
		if slices.Contains(want, d.Name) {
			defs = append(defs, d)
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(defs, func(d Service) bool { return d.Name == w }) {
			return nil, fmt.Errorf("service %s does not exist yet: no %s", w, filepath.Join(root, MainDir(w)))
		}
	}
	return defs, nil
}

// AdminCredentials are the admin the user service seeds under slipway dev:
// ADMIN_EMAIL and ADMIN_PASSWORD from environ, else dev's defaults. The
// console and drift log in with them, since /debug/config answers admins
// only.
func AdminCredentials(environ []string) (email, password string) {
	email, _ = envvar.Lookup(environ, "ADMIN_EMAIL")
	password, _ = envvar.Lookup(environ, "ADMIN_PASSWORD")
	if email == "" && password == "" {
		return DevAdminEmail, DevAdminPassword
	}
	return email, password
}

// AdminEmail is the email of AdminCredentials.
func AdminEmail(environ []string) string { e, _ := AdminCredentials(environ); return e }

// AdminPassword is the password of AdminCredentials.
func AdminPassword(environ []string) string { _, p := AdminCredentials(environ); return p }

// FingerprintKeyFile is where slipway dev keeps the fingerprint key it
// gives every service of a session.
func FingerprintKeyFile(root string) string {
	return filepath.Join(root, ".slipway", "keys", "config-fingerprint.key")
}

// FingerprintKeyIn returns slipway dev's fingerprint key under root, or "".
func FingerprintKeyIn(root string) string {
	key, err := os.ReadFile(FingerprintKeyFile(root))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(key))
}

// FingerprintKey returns slipway dev's fingerprint key under root,
// creating it (32 random bytes, hex, mode 0600) on first use, so every
// service of every session shares one and drift can read it. On error it
// returns "": the services then draw keys of their own and warn.
func FingerprintKey(root string) string {
	if key := FingerprintKeyIn(root); key != "" {
		return key
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return ""
	}
	key := hex.EncodeToString(b[:])
	path := FingerprintKeyFile(root)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return ""
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return ""
	}
	return key
}
