// Package envvar edits KEY=value environment lists: lookups, replacements
// and the environment slipway builds for each service it starts.
package envvar

import (
	"slices"
	"strings"
)

// Var is one environment variable.
type Var struct{ Key, Value string }

// Lookup finds key in a KEY=value list; the last entry wins, as in os/exec.
func Lookup(environ []string, key string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// Set returns environ with every entry of key replaced by key=value.
func Set(environ []string, key, value string) []string {
	environ = slices.DeleteFunc(environ, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == key
	})
	return append(environ, key+"="+value)
}

// servicePrefix is the prefix of parent variables meant for one service
// only: SLIPWAY_INVENTORY_DATABASE_URL becomes DATABASE_URL for inventory.
func servicePrefix(svc string) string {
	return "SLIPWAY_" + strings.ToUpper(svc) + "_"
}

// ForService builds a child's environment from the parent's. In increasing
// order of precedence:
//
//   - defaults, for variables the parent leaves unset or empty, so that
//     `export DATABASE_URL=postgres://...` runs the fleet on PostgreSQL;
//   - the parent's environment;
//   - SLIPWAY_<SVC>_<NAME> variables of the parent, as NAME for that service;
//   - fixed, set whatever the parent says (the listen addresses, which
//     slipway must know to probe the service).
func ForService(parent []string, svc string, defaults, fixed []Var) []string {
	env := slices.Clone(parent)
	for _, d := range defaults {
		if v, _ := Lookup(env, d.Key); v == "" {
			env = Set(env, d.Key, d.Value)
		}
	}
	prefix := servicePrefix(svc)
	for _, kv := range parent {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, prefix); ok && name != "" {
			env = Set(env, name, v)
		}
	}
	for _, f := range fixed {
		env = Set(env, f.Key, f.Value)
	}
	return env
}

// Replace returns vars with the value of every key entry replaced by
// value, adding it when there is none.
func Replace(vars []Var, key, value string) []Var {
	found := false
	for i := range vars {
		if vars[i].Key == key {
			vars[i].Value, found = value, true
		}
	}
	if !found {
		vars = append(vars, Var{key, value})
	}
	return vars
}
